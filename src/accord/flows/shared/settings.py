"""What lead-to-project needs to know besides the rules: the ``lead_to_project:`` section.

``accord.yaml`` may carry::

    lead_to_project:
      crm_connection: salesforce          # where opportunities and accounts live
      psa: {system: certinia, connection: certinia}   # overrides the rules' ``psa`` section
      rules: rules/default.yaml           # relative to accord.yaml
      capture_interval_s: 5               # 0: do not poll opportunities

Everything is optional: the CRM connection defaults to ``salesforce``, the PSA to the rules'
``psa`` section, and the rules file to ``ACCORD_RULES_FILE`` or the ``rules/default.yaml``
Accord ships (:func:`accord.resources.default_rules_path`, found from any working directory).
The section is read once per process (:func:`flow_settings`). The rules in force are governed
(:func:`rules_for`): the file seeds, or with approval off updates, the active version in the
database, and each run keeps the version it started with.

What does *not* belong here: connection configs (:mod:`accord.flows.connections`) and the
rules themselves (:mod:`accord.rules`).
"""

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from accord.errors import ConfigError
from accord.flows.config_sections import PerFileCache, read_section
from accord.flows.pinning import governed_rules
from accord.resources import default_rules_path
from accord.rules import Rules, load_rules

__all__ = [
    "SECTION",
    "FlowSettings",
    "flow_settings",
    "load_flow_settings",
    "read_psa",
    "rules_for",
]

SECTION = "lead_to_project"
"""The top-level key of ``accord.yaml`` this module reads."""

PsaSystem = Literal["kantata", "certinia"]


@dataclass(frozen=True)
class FlowSettings:
    """The flow's configuration, resolved.

    Attributes:
        crm_connection: Connection of the CRM (Salesforce).
        psa_system: ``kantata`` or ``certinia``; ``None`` means "as the rules say".
        psa_connection: Connection of that PSA; ``None`` means "as the rules say".
        rules_path: The rules file.
        capture_interval_s: Seconds between polls of the CRM's opportunities; ``0`` turns
            polling off (webhooks, tests driving capture themselves).
    """

    crm_connection: str = "salesforce"
    psa_system: PsaSystem | None = None
    psa_connection: str | None = None
    rules_path: Path = field(default_factory=default_rules_path)
    capture_interval_s: int = 5

    def psa(self, rules: Rules) -> tuple[PsaSystem, str]:
        """The PSA system and connection to provision in (configuration wins over rules)."""
        system: PsaSystem = self.psa_system or rules.spec.psa.system
        connection = self.psa_connection or (
            rules.spec.psa.connection if system == rules.spec.psa.system else system
        )
        return system, connection


def read_psa(
    config_file: Path | None, section: str, raw: Mapping[str, Any]
) -> tuple[PsaSystem | None, str | None]:
    """The ``psa: {system, connection}`` of a section (either may be unset).

    Raises:
        ConfigError: ``psa`` is not a mapping, or its system is neither kantata nor certinia.
    """
    psa = raw.get("psa") or {}
    if not isinstance(psa, Mapping):
        raise ConfigError(f"{config_file}: {section}.psa must be a mapping")
    system = psa.get("system")
    if system is not None and system not in ("kantata", "certinia"):
        raise ConfigError(f"{config_file}: {section}.psa.system must be kantata or certinia")
    return system, str(psa["connection"]) if psa.get("connection") else None


def load_flow_settings(config_file: Path | None, env: Mapping[str, str]) -> FlowSettings:
    """Read the ``lead_to_project:`` section of ``accord.yaml`` (a missing file gives defaults).

    Raises:
        ConfigError: The section is malformed.
    """
    named = env.get("ACCORD_RULES_FILE")
    default_rules = Path(named) if named else default_rules_path()
    raw = read_section(config_file, SECTION)
    if config_file is None or raw is None:
        return FlowSettings(rules_path=default_rules)
    system, psa_connection = read_psa(config_file, SECTION, raw)
    rules = raw.get("rules")
    rules_path = default_rules
    if rules is not None:
        rules_path = Path(str(rules)).expanduser()
        if not rules_path.is_absolute():
            rules_path = config_file.parent / rules_path
    interval = raw.get("capture_interval_s", 5)
    if not isinstance(interval, int) or interval < 0:
        raise ConfigError(f"{config_file}: {SECTION}.capture_interval_s must be a whole number")
    return FlowSettings(
        capture_interval_s=interval,
        crm_connection=str(raw.get("crm_connection") or "salesforce"),
        psa_system=system,
        psa_connection=psa_connection,
        rules_path=rules_path,
    )


_lock = threading.Lock()
_settings = PerFileCache(
    lambda config_file: load_flow_settings(config_file, os.environ), reload=False
)
_rules: dict[Path, tuple[float, Rules]] = {}


def flow_settings(config_file: Path | None) -> FlowSettings:
    """The flow settings of this process's ``accord.yaml``, read once."""
    return _settings(config_file, key=os.environ.get("ACCORD_RULES_FILE", ""))


def rules_for(settings: FlowSettings) -> Rules:
    """The rules in force: the run's pinned version, else the active one (docs/governance.md).

    Without a launched runtime (no database to govern with) it is ``settings.rules_path``,
    reloaded when the file changes.

    Raises:
        ConfigError: The file is missing or invalid.
    """
    governed = governed_rules(settings.rules_path)
    if governed is not None:
        return governed
    path = settings.rules_path
    try:
        stamp = path.stat().st_mtime
    except OSError as exc:
        raise ConfigError(f"rules file {path} is not readable") from exc
    with _lock:
        cached = _rules.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    rules = load_rules(path)
    with _lock:
        _rules[path] = (stamp, rules)
    return rules
