"""The ``governance:`` section of ``accord.yaml``: this environment's name and the change policy.

::

    governance:
      environment: production            # this deployment's name (console, bundles)
      environments:                      # the promotion path, in order
        - sandbox
        - {name: production, url: https://accord.example.com, description: Live systems}
      approval_required: true            # a second admin approves every rules change

Everything is optional. ``approval_required`` defaults to **true**: outside the demo (whose
``accord.yaml`` switches it off) no rules change goes live on one person's word, and the rules
file only seeds an empty database. With ``false``, an edited rules file is adopted as it is
(stored, activated and audited), as before governance existed.

What does not belong here: the rules of change themselves (:mod:`accord.governance.changes`).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accord.errors import ConfigError
from accord.flows.config_sections import PerFileCache, read_section

__all__ = ["SECTION", "Environment", "GovernanceSettings", "governance_settings", "load_governance"]

SECTION = "governance"
"""The top-level key of ``accord.yaml`` this module reads."""
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


@dataclass(frozen=True)
class Environment:
    """One environment of the promotion path."""

    name: str
    description: str = ""
    url: str = ""
    """Where its console is, for a link (optional)."""


@dataclass(frozen=True)
class GovernanceSettings:
    """How rules changes are governed in this environment."""

    environment: str = "default"
    environments: tuple[Environment, ...] = ()
    approval_required: bool = True

    def promotion(self) -> tuple[Environment, ...]:
        """The promotion path; this environment alone when none is configured."""
        if any(e.name == self.environment for e in self.environments):
            return self.environments
        return (*self.environments, Environment(self.environment))

    def direction(self, source: str) -> str:
        """``forward``, ``backward``, ``same`` or ``unknown``: a bundle from ``source`` to here."""
        names = [e.name for e in self.promotion()]
        if source == self.environment:
            return "same"
        if source not in names:
            return "unknown"
        return "forward" if names.index(source) < names.index(self.environment) else "backward"


def _name(value: Any, where: str) -> str:  # noqa: ANN401 - raw YAML
    text = str(value or "").strip()
    if not text or not set(text) <= _NAME_CHARS or len(text) > 64:
        raise ConfigError(f"{where}: an environment name is 1-64 letters, digits, '-', '_', '.'")
    return text


def _environment(raw: Any, where: str) -> Environment:  # noqa: ANN401 - raw YAML
    if isinstance(raw, Mapping):
        return Environment(
            name=_name(raw.get("name"), where),
            description=str(raw.get("description") or ""),
            url=str(raw.get("url") or ""),
        )
    return Environment(name=_name(raw, where))


def load_governance(config_file: Path | None) -> GovernanceSettings:
    """Read the ``governance:`` section (a missing file or section gives the defaults).

    Raises:
        ConfigError: The section is malformed.
    """
    raw = read_section(config_file, SECTION)
    if raw is None:
        return GovernanceSettings()
    where = f"{config_file}: {SECTION}"
    approval = raw.get("approval_required", True)
    if not isinstance(approval, bool):
        raise ConfigError(f"{where}.approval_required must be true or false")
    listed = raw.get("environments") or []
    if not isinstance(listed, list):
        raise ConfigError(f"{where}.environments must be a list")
    environments = tuple(
        _environment(item, f"{where}.environments[{i}]") for i, item in enumerate(listed)
    )
    names = [e.name for e in environments]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}.environments names an environment twice")
    return GovernanceSettings(
        environment=_name(raw.get("environment", "default"), f"{where}.environment"),
        environments=environments,
        approval_required=approval,
    )


_cache = PerFileCache(load_governance, reload=True)


def governance_settings(config_file: Path | None) -> GovernanceSettings:
    """This process's governance settings, re-read when ``accord.yaml`` changes."""
    return _cache(config_file)
