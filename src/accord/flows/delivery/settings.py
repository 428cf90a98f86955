"""What delivery sync reads from ``accord.yaml``: the ``delivery:`` section.

``accord.yaml`` may carry::

    delivery:
      capture_interval_s: 10        # 0 (or no section): do not poll the PSA and the ERPs
      erp_connections: [netsuite, business-central]   # default: the rules' legal entities'

The PSA polled is lead-to-project's. Which system owns a project's status (and so which way a
change flows) is the rules' field ownership (``field_ownership.objects.project``, the PSA by
default); which owns each firm-specific field is its ``custom_fields`` entry's ``owner``.
Polling starts at the time it is first enabled.

What does *not* belong here: the rules (:mod:`accord.rules`), connection configs.
"""

from dataclasses import dataclass
from pathlib import Path

from accord.errors import ConfigError
from accord.flows.config_sections import PerFileCache, read_section

__all__ = ["SECTION", "DeliverySettings", "delivery_settings", "load_delivery_settings"]

SECTION = "delivery"
"""The top-level key of ``accord.yaml`` this module reads."""


@dataclass(frozen=True)
class DeliverySettings:
    """The ``delivery:`` section, resolved.

    Attributes:
        capture_interval_s: Seconds between polls of the PSA's and ERPs' delivery feeds.
        erp_connections: The ERP connections polled; ``None``: the rules' legal entities'.
    """

    capture_interval_s: int = 0
    erp_connections: tuple[str, ...] | None = None


def load_delivery_settings(config_file: Path | None) -> DeliverySettings:
    """Read the ``delivery:`` section (a missing file or section gives defaults).

    Raises:
        ConfigError: The section is malformed.
    """
    raw = read_section(config_file, SECTION) or {}
    interval = raw.get("capture_interval_s", 0)
    if not isinstance(interval, int) or isinstance(interval, bool) or interval < 0:
        raise ConfigError(f"{SECTION}.capture_interval_s must be a whole number")
    listed = raw.get("erp_connections")
    if listed is not None and (
        not isinstance(listed, list) or not all(isinstance(c, str) and c for c in listed)
    ):
        raise ConfigError(f"{SECTION}.erp_connections must be a list of connection names")
    return DeliverySettings(
        capture_interval_s=interval,
        erp_connections=tuple(listed) if listed is not None else None,
    )


_delivery = PerFileCache(load_delivery_settings, reload=False)


def delivery_settings(config_file: Path | None) -> DeliverySettings:
    """The ``delivery:`` section of this process's ``accord.yaml`` (read once).

    Raises:
        ConfigError: The section is malformed.
    """
    return _delivery(config_file)
