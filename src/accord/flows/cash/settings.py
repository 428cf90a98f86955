"""What the cash and milestone flows read from ``accord.yaml``.

The sections are ``cash:`` and ``milestones:``.

``accord.yaml`` may carry::

    cash:
      capture_interval_s: 30        # 0 (or no section): do not poll the ERPs
      netsuite_connection: netsuite
      business_central_connection: business-central
    milestones:
      capture_interval_s: 15        # 0 (or no section): do not poll the PSA
      netsuite_item_id: "1"         # service item of a milestone invoice line [inferred]
      bc_line_type: Item            # salesInvoiceLine lineType of a milestone line
      bc_line_object: null          # its item / account number, when the company needs one

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

__all__ = [
    "CashSettings",
    "MilestoneSettings",
    "cash_settings",
    "load_cash_settings",
    "load_milestone_settings",
    "milestone_settings",
]


@dataclass(frozen=True)
class CashSettings:
    """The ``cash:`` section, resolved.

    Attributes:
        capture_interval_s: Seconds between polls of ERP invoices and payments; 0 = off.
        netsuite_connection: The NetSuite connection polled.
        business_central_connection: The Business Central connection polled.
    """

    capture_interval_s: int = 0
    netsuite_connection: str = "netsuite"
    business_central_connection: str = "business-central"


@dataclass(frozen=True)
class MilestoneSettings:
    """The ``milestones:`` section, resolved.

    Attributes:
        capture_interval_s: Seconds between polls of PSA milestones; 0 = off.
        netsuite_item_id: Service item id of a milestone invoice line ([inferred]: the sandbox
            does not check items; a real account needs a real service item).
        bc_line_type: ``lineType`` of a Business Central milestone line.
        bc_line_object: ``lineObjectNumber`` of that line (item or G/L account), if any.
    """

    capture_interval_s: int = 0
    netsuite_item_id: str = "1"
    bc_line_type: str = "Item"
    bc_line_object: str | None = None


def _interval(raw: Mapping[str, Any], name: str) -> int:
    value = raw.get("capture_interval_s", 0)
    if not isinstance(value, int) or value < 0:
        raise ConfigError(f"{name}.capture_interval_s must be a whole number")
    return value


def load_cash_settings(config_file: Path | None) -> CashSettings:
    """Read the ``cash:`` section (a missing file or section gives defaults).

    Raises:
        ConfigError: The section is malformed.
    """
    raw = read_section(config_file, "cash") or {}
    return CashSettings(
        capture_interval_s=_interval(raw, "cash"),
        netsuite_connection=str(raw.get("netsuite_connection") or "netsuite"),
        business_central_connection=str(
            raw.get("business_central_connection") or "business-central"
        ),
    )


def load_milestone_settings(config_file: Path | None) -> MilestoneSettings:
    """Read the ``milestones:`` section (a missing file or section gives defaults).

    Raises:
        ConfigError: The section is malformed.
    """
    raw = read_section(config_file, "milestones") or {}
    line_object = raw.get("bc_line_object")
    return MilestoneSettings(
        capture_interval_s=_interval(raw, "milestones"),
        netsuite_item_id=str(raw.get("netsuite_item_id") or "1"),
        bc_line_type=str(raw.get("bc_line_type") or "Item"),
        bc_line_object=str(line_object) if line_object else None,
    )


_cash = PerFileCache(load_cash_settings, reload=False)
_milestones = PerFileCache(load_milestone_settings, reload=False)


def cash_settings(config_file: Path | None) -> CashSettings:
    """The ``cash:`` section of this process's ``accord.yaml`` (read once).

    Raises:
        ConfigError: The section is malformed.
    """
    return _cash(config_file)


def milestone_settings(config_file: Path | None) -> MilestoneSettings:
    """The ``milestones:`` section of this process's ``accord.yaml`` (read once).

    Raises:
        ConfigError: The section is malformed.
    """
    return _milestones(config_file)
