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

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from accord.errors import ConfigError
from accord.flows.config_sections import PerFileCache, read_section
from accord.flows.shared.settings import flow_settings, read_psa, rules_for

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


def load_approval_settings(config_file: Path | None) -> ApprovalSettings:
    """Read the ``approvals:`` section, defaulting the PSA to lead-to-project's.

    Raises:
        ConfigError: The section is malformed, or the PSA must come from unreadable rules.
    """
    raw = read_section(config_file, SECTION) or {}
    system, connection = read_psa(config_file, SECTION, raw)
    interval = raw.get("capture_interval_s", 5)
    if not isinstance(interval, int) or isinstance(interval, bool) or interval < 0:
        raise ConfigError(f"{config_file}: {SECTION}.capture_interval_s must be a whole number")
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


_settings = PerFileCache(load_approval_settings, reload=False)


def approval_settings(config_file: Path | None) -> ApprovalSettings:
    """The approval settings of this process's ``accord.yaml``, read once."""
    return _settings(config_file)
