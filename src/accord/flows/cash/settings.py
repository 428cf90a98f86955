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

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from accord.errors import ConfigError

__all__ = ["CashSettings", "MilestoneSettings", "cash_settings", "milestone_settings"]


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


def _section(config_file: Path | None, name: str) -> Mapping[str, Any]:
    if config_file is None or not config_file.exists():
        return {}
    try:
        document = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {name} from {config_file}") from exc
    raw = document.get(name) if isinstance(document, Mapping) else None
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{config_file}: {name!r} must be a mapping")
    return raw


def _interval(raw: Mapping[str, Any], name: str) -> int:
    value = raw.get("capture_interval_s", 0)
    if not isinstance(value, int) or value < 0:
        raise ConfigError(f"{name}.capture_interval_s must be a whole number")
    return value


_lock = threading.Lock()
_cache: dict[tuple[str, Path | None], object] = {}


def cash_settings(config_file: Path | None) -> CashSettings:
    """The ``cash:`` section of this process's ``accord.yaml`` (read once).

    Raises:
        ConfigError: The section is malformed.
    """
    with _lock:
        found = _cache.get(("cash", config_file))
    if isinstance(found, CashSettings):
        return found
    raw = _section(config_file, "cash")
    settings = CashSettings(
        capture_interval_s=_interval(raw, "cash"),
        netsuite_connection=str(raw.get("netsuite_connection") or "netsuite"),
        business_central_connection=str(
            raw.get("business_central_connection") or "business-central"
        ),
    )
    with _lock:
        _cache["cash", config_file] = settings
    return settings


def milestone_settings(config_file: Path | None) -> MilestoneSettings:
    """The ``milestones:`` section of this process's ``accord.yaml`` (read once).

    Raises:
        ConfigError: The section is malformed.
    """
    with _lock:
        found = _cache.get(("milestones", config_file))
    if isinstance(found, MilestoneSettings):
        return found
    raw = _section(config_file, "milestones")
    line_object = raw.get("bc_line_object")
    settings = MilestoneSettings(
        capture_interval_s=_interval(raw, "milestones"),
        netsuite_item_id=str(raw.get("netsuite_item_id") or "1"),
        bc_line_type=str(raw.get("bc_line_type") or "Item"),
        bc_line_object=str(line_object) if line_object else None,
    )
    with _lock:
        _cache["milestones", config_file] = settings
    return settings
