"""What customer master needs besides the rules: the ``customer_master:`` section of accord.yaml.

``accord.yaml`` may carry::

    customer_master:
      erp_drift: raise          # or revert: what to do with an ERP change to a CRM-owned field
      capture_interval_s: 30    # 0: do not poll accounts and ERP customers (tests drive it)

Everything is optional. ``capture_interval_s`` defaults to 30 seconds, or to 0 (off) when
lead-to-project's polling is off: a deployment that drives capture itself turns both off.
The CRM connection and the rules file are lead-to-project's
(:mod:`accord.flows.shared.settings`): one CRM and one rules file serve both flows.
The section is re-read when the file changes, so an operator can switch ``erp_drift`` without
a restart (runs already past their decision keep it).

What does *not* belong here: field ownership (the rules' ``field_ownership`` section).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from accord.errors import ConfigError
from accord.flows.config_sections import PerFileCache, read_section

__all__ = ["SECTION", "CustomerMasterSettings", "customer_master_settings", "load_settings"]

SECTION = "customer_master"
"""The top-level key of ``accord.yaml`` this module reads."""

DriftPolicy = Literal["revert", "raise"]


@dataclass(frozen=True)
class CustomerMasterSettings:
    """The flow's configuration, resolved.

    Attributes:
        erp_drift: ``raise`` (default): an ERP change to a CRM-owned field opens an exception
            showing both values; ``revert``: the CRM's value is written back to the ERP.
        capture_interval_s: Seconds between polls of CRM accounts and ERP customers; ``0``
            turns polling off; ``None``: 30, or 0 when lead-to-project's polling is off.
    """

    erp_drift: DriftPolicy = "raise"
    capture_interval_s: int | None = None


def load_settings(config_file: Path | None) -> CustomerMasterSettings:
    """Read the ``customer_master:`` section (a missing file or section gives defaults).

    Raises:
        ConfigError: The section is malformed.
    """
    raw = read_section(config_file, SECTION)
    if raw is None:
        return CustomerMasterSettings()
    drift = raw.get("erp_drift", "raise")
    if drift not in ("revert", "raise"):
        raise ConfigError(f"{config_file}: {SECTION}.erp_drift must be revert or raise")
    interval = raw.get("capture_interval_s")
    if interval is not None and (
        not isinstance(interval, int) or isinstance(interval, bool) or interval < 0
    ):
        raise ConfigError(f"{config_file}: {SECTION}.capture_interval_s must be a whole number")
    return CustomerMasterSettings(erp_drift=drift, capture_interval_s=interval)


_cache = PerFileCache(load_settings, reload=True)


def customer_master_settings(config_file: Path | None) -> CustomerMasterSettings:
    """The section of this process's ``accord.yaml``, re-read when the file changes."""
    return _cache(config_file)
