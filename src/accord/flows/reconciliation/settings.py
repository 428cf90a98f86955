"""What reconciliation needs to know: the ``reconciliation:`` section of ``accord.yaml``.

``accord.yaml`` may carry::

    reconciliation:
      interval_minutes: 60        # scheduled runs; 0: on demand only
      full_every_hours: 24        # a scheduled run compares everything this often
      settle_minutes: 15          # work changed this recently may still be on its way
      checks: [time_expense, contract, customer, xref]

Everything is optional; the defaults are above. A scheduled run is **incremental**: it compares
the entries changed (in the PSA, the ERP or Accord's ledger) since the previous run began, less
``settle_minutes``; at most every ``full_every_hours`` it compares everything instead, which is
also what finds records deleted in a system (a deletion changes no record that remains).
Contracts, customers and cross-references are compared in full runs only. An on-demand run
(``accord reconcile``, ``POST /api/v1/reconciliations``) is full unless given ``since``.

What does *not* belong here: the comparisons (:mod:`.work`, :mod:`.terms`) and the run
(:mod:`.workflow`).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from accord.errors import ConfigError
from accord.flows.config_sections import PerFileCache, read_section

__all__ = [
    "CHECKS",
    "SECTION",
    "ReconciliationSettings",
    "load_reconciliation_settings",
    "reconciliation_settings",
]

SECTION: Final = "reconciliation"
"""The top-level key of ``accord.yaml`` this module reads."""
CHECKS: Final = ("time_expense", "contract", "customer", "xref")
"""Every check, in the order a run makes them."""


@dataclass(frozen=True)
class ReconciliationSettings:
    """The section, resolved.

    Attributes:
        interval_minutes: Minutes between scheduled runs; ``0`` schedules none.
        full_every_hours: How often a scheduled run compares everything.
        settle_minutes: Work changed this recently is not called drift yet (an approval
            still being posted, a posting still being recorded).
        checks: The checks runs make.
    """

    interval_minutes: int = 60
    full_every_hours: int = 24
    settle_minutes: int = 15
    checks: tuple[str, ...] = CHECKS


def _whole(raw: Any, key: str, default: int, *, minimum: int) -> int:  # noqa: ANN401 - YAML
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{SECTION}.{key} must be a whole number >= {minimum}")
    return value


def load_reconciliation_settings(config_file: Path | None) -> ReconciliationSettings:
    """Read the section (a missing file or section gives the defaults).

    Raises:
        ConfigError: A key is unknown or malformed.
    """
    raw = read_section(config_file, SECTION)
    if raw is None:
        return ReconciliationSettings()
    known = {"interval_minutes", "full_every_hours", "settle_minutes", "checks"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{SECTION}: unknown key {unknown[0]!r}")
    checks = raw.get("checks", list(CHECKS))
    if (
        not isinstance(checks, list)
        or not checks
        or any(c not in CHECKS for c in checks)
        or len(set(checks)) != len(checks)
    ):
        raise ConfigError(f"{SECTION}.checks must list some of {', '.join(CHECKS)}")
    return ReconciliationSettings(
        interval_minutes=_whole(raw, "interval_minutes", 60, minimum=0),
        full_every_hours=_whole(raw, "full_every_hours", 24, minimum=1),
        settle_minutes=_whole(raw, "settle_minutes", 15, minimum=0),
        checks=tuple(c for c in CHECKS if c in checks),
    )


_cache = PerFileCache(load_reconciliation_settings, reload=True)


def reconciliation_settings(config_file: Path | None) -> ReconciliationSettings:
    """The settings of this process's ``accord.yaml``, re-read when the file changes."""
    return _cache(config_file)
