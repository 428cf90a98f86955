"""What the cash flow reads from ``accord.yaml``: the ``cash:`` section.

``accord.yaml`` may carry::

    cash:
      capture_interval_s: 30        # 0 (or no section): do not poll the ERPs
      erp_connections: [netsuite, business-central]   # default: the rules' legal entities'

The ERP connections polled default to every connection the rules' legal entities book on.
The keys ``netsuite_connection`` and ``business_central_connection`` of earlier versions are
still read (each names one ERP connection polled) when ``erp_connections`` is not given.
Connections that are not configured are skipped. Polling starts at the time it is first
enabled (records that already exist then are the past: they are not replayed as events).

What does *not* belong here: connection configs (:mod:`accord.flows.connections`).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accord.errors import ConfigError
from accord.flows.config_sections import PerFileCache, read_section

__all__ = ["SECTION", "CashSettings", "cash_settings", "load_cash_settings"]

SECTION = "cash"
"""The top-level key of ``accord.yaml`` this module reads."""
_LEGACY: dict[str, str] = {
    "netsuite_connection": "netsuite",
    "business_central_connection": "business-central",
}
"""Keys of earlier versions naming one ERP connection each, with their defaults then."""


@dataclass(frozen=True)
class CashSettings:
    """The ``cash:`` section, resolved.

    Attributes:
        capture_interval_s: Seconds between polls of ERP invoices and payments; 0 = off.
        erp_connections: The ERP connections polled; ``None``: the rules' legal entities'.
    """

    capture_interval_s: int = 0
    erp_connections: tuple[str, ...] | None = None


def _interval(raw: Mapping[str, Any]) -> int:
    value = raw.get("capture_interval_s", 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{SECTION}.capture_interval_s must be a whole number")
    return value


def load_cash_settings(config_file: Path | None) -> CashSettings:
    """Read the ``cash:`` section (a missing file or section gives defaults).

    Raises:
        ConfigError: The section is malformed.
    """
    raw = read_section(config_file, SECTION) or {}
    listed = raw.get("erp_connections")
    if listed is not None and (
        not isinstance(listed, list) or not all(isinstance(c, str) and c for c in listed)
    ):
        raise ConfigError(f"{SECTION}.erp_connections must be a list of connection names")
    if listed is None and any(key in raw for key in _LEGACY):
        listed = [str(raw.get(key) or default) for key, default in _LEGACY.items()]
    return CashSettings(
        capture_interval_s=_interval(raw),
        erp_connections=tuple(listed) if listed is not None else None,
    )


_cash = PerFileCache(load_cash_settings, reload=False)


def cash_settings(config_file: Path | None) -> CashSettings:
    """The ``cash:`` section of this process's ``accord.yaml`` (read once).

    Raises:
        ConfigError: The section is malformed.
    """
    return _cash(config_file)
