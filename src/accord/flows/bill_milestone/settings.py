"""What milestone billing reads from ``accord.yaml``: the ``milestones:`` section.

``accord.yaml`` may carry::

    milestones:
      capture_interval_s: 15        # 0 (or no section): do not poll the PSA

The PSA polled is lead-to-project's. Polling starts at the time it is first enabled.

What an ERP's milestone invoice line is made of (its item, line type, account) belongs to the
ERP's connection (``milestone_*`` settings of its kind). The section's keys of earlier versions
for them are ignored with a warning naming the connection setting that replaced each.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

from accord.errors import ConfigError
from accord.flows.config_sections import PerFileCache, read_section

__all__ = ["SECTION", "MilestoneSettings", "load_milestone_settings", "milestone_settings"]

logger = logging.getLogger(__name__)

SECTION = "milestones"
"""The top-level key of ``accord.yaml`` this module reads."""
_MOVED: dict[str, str] = {
    "netsuite_item_id": "milestone_item_id",
    "bc_line_type": "milestone_line_type",
    "bc_line_object": "milestone_line_object",
}
"""Keys of earlier versions -> the ERP connection setting that replaced each."""


@dataclass(frozen=True)
class MilestoneSettings:
    """The ``milestones:`` section, resolved.

    Attributes:
        capture_interval_s: Seconds between polls of PSA milestones; 0 = off.
    """

    capture_interval_s: int = 0


def load_milestone_settings(config_file: Path | None) -> MilestoneSettings:
    """Read the ``milestones:`` section (a missing file or section gives defaults).

    Raises:
        ConfigError: The section is malformed.
    """
    raw = read_section(config_file, SECTION) or {}
    for old, new in _MOVED.items():
        if old in raw:
            logger.warning(
                "%s.%s is ignored: set %s on the ERP connection instead", SECTION, old, new
            )
    interval = raw.get("capture_interval_s", 0)
    if not isinstance(interval, int) or isinstance(interval, bool) or interval < 0:
        raise ConfigError(f"{SECTION}.capture_interval_s must be a whole number")
    return MilestoneSettings(capture_interval_s=interval)


_milestones = PerFileCache(load_milestone_settings, reload=False)


def milestone_settings(config_file: Path | None) -> MilestoneSettings:
    """The ``milestones:`` section of this process's ``accord.yaml`` (read once).

    Raises:
        ConfigError: The section is malformed.
    """
    return _milestones(config_file)
