"""What capture of approvals needs to know: the ``approvals:`` section of ``accord.yaml``.

``accord.yaml`` may carry::

    approvals:
      psa: {system: kantata, connection: kantata}   # default: lead_to_project's PSA
      capture_interval_s: 5                         # 0: do not poll approvals

Everything is optional. The PSA defaults to the one lead-to-project provisions projects in
(its ``psa`` setting, else the rules' ``psa`` section), so that time is read from where the
projects are. The section is read once per process (:func:`approval_settings`).

What does *not* belong here: posting to the ERP (the billing flow's settings) and the rules.
"""

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from accord.errors import ConfigError
from accord.flows.provisioning.settings import flow_settings, rules_for

__all__ = ["SECTION", "ApprovalSettings", "approval_settings", "load_approval_settings"]

SECTION = "approvals"
"""The top-level key of ``accord.yaml`` this module reads."""

PsaSystem = Literal["kantata", "certinia"]


@dataclass(frozen=True)
class ApprovalSettings:
    """Where approvals are read from and how often.

    Attributes:
        psa_system: ``kantata`` or ``certinia``.
        psa_connection: The connection of that PSA.
        capture_interval_s: Seconds between polls; ``0`` turns polling off (tests driving
            capture themselves).
    """

    psa_system: PsaSystem
    psa_connection: str
    capture_interval_s: int = 5


def _document(config_file: Path) -> Mapping[str, Any]:
    try:
        document = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {SECTION} from {config_file}") from exc
    return document if isinstance(document, Mapping) else {}


def load_approval_settings(config_file: Path | None) -> ApprovalSettings:
    """Read the ``approvals:`` section, defaulting the PSA to lead-to-project's.

    Raises:
        ConfigError: The section is malformed, or the PSA must come from unreadable rules.
    """
    raw: Any = _document(config_file).get(SECTION) if config_file and config_file.exists() else None
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{config_file}: {SECTION!r} must be a mapping")
    psa = raw.get("psa") or {}
    if not isinstance(psa, Mapping):
        raise ConfigError(f"{config_file}: {SECTION}.psa must be a mapping")
    system = psa.get("system")
    if system is not None and system not in ("kantata", "certinia"):
        raise ConfigError(f"{config_file}: {SECTION}.psa.system must be kantata or certinia")
    interval = raw.get("capture_interval_s", 5)
    if not isinstance(interval, int) or isinstance(interval, bool) or interval < 0:
        raise ConfigError(f"{config_file}: {SECTION}.capture_interval_s must be a whole number")
    connection = str(psa["connection"]) if psa.get("connection") else None
    if system is None or connection is None:
        # Time is read where lead-to-project provisions the projects.
        l2p = flow_settings(config_file)
        default_system, default_connection = l2p.psa(rules_for(l2p))
        if system is None:
            system = default_system
            connection = connection or default_connection
        connection = connection or system
    return ApprovalSettings(
        psa_system=system, psa_connection=connection, capture_interval_s=interval
    )


_lock = threading.Lock()
_settings: dict[Path | None, ApprovalSettings] = {}


def approval_settings(config_file: Path | None) -> ApprovalSettings:
    """The approval settings of this process's ``accord.yaml``, read once."""
    with _lock:
        found = _settings.get(config_file)
        if found is None:
            found = _settings[config_file] = load_approval_settings(config_file)
        return found
