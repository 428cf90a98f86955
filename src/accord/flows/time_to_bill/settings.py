"""What time-to-bill needs to know besides the rules: the ``time_to_bill:`` section.

``accord.yaml`` may carry::

    time_to_bill:
      posting: per_entry              # or summary_per_project_day
      closed_period_policy: redate    # redate | hold | ask
      cache_ttl_s: 60                 # ERP reads (project, periods, employees) kept this long
      max_workers: 20                 # parallel postings of one submission (per process)
      hold_check_interval_s: 30       # how often held entries are re-checked; 0: never

Everything is optional. The rules file is the one lead-to-project uses (its ``rules:`` key,
``ACCORD_RULES_FILE`` or ``rules/default.yaml``), so both flows apply one version of the rules.

What does *not* belong here: the rules (:mod:`accord.rules`) and connection configs.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from accord.errors import ConfigError
from accord.flows.config_sections import PerFileCache, read_section

__all__ = [
    "SECTION",
    "BillingSettings",
    "ClosedPeriodPolicy",
    "PostingMode",
    "billing_settings",
    "load_billing_settings",
]

SECTION = "time_to_bill"
"""The top-level key of ``accord.yaml`` this module reads."""

PostingMode = Literal["per_entry", "summary_per_project_day"]
"""One ERP posting per entry, or one per project, day and submission."""
ClosedPeriodPolicy = Literal["redate", "hold", "ask"]
"""What happens to an entry dated in a closed accounting period."""


@dataclass(frozen=True)
class BillingSettings:
    """The flow's configuration, resolved.

    Attributes:
        posting: ``per_entry`` (default) or ``summary_per_project_day``.
        closed_period_policy: ``redate`` (post on the first day of the first open period, the
            original date kept in the memo), ``hold`` (wait until the period reopens) or
            ``ask`` (a finance-ops exception waits for a person's re-date or retry).
        cache_ttl_s: Seconds an ERP read (project, periods, employee) is reused in a process.
        max_workers: Postings of one submission sent in parallel by one process; the
            connection's budget still caps what reaches the ERP.
        hold_check_interval_s: Seconds between checks of held entries; ``0`` turns it off.
    """

    posting: PostingMode = "per_entry"
    closed_period_policy: ClosedPeriodPolicy = "redate"
    cache_ttl_s: float = 60.0
    max_workers: int = 20
    hold_check_interval_s: int = 30


def _choice(raw: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = raw.get(key, default)
    if value not in allowed:
        raise ConfigError(f"{SECTION}.{key} must be one of {', '.join(allowed)}")
    return str(value)


def _number(raw: Mapping[str, Any], key: str, default: float, *, minimum: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigError(f"{SECTION}.{key} must be a number >= {minimum}")
    return float(value)


def load_billing_settings(config_file: Path | None) -> BillingSettings:
    """Read the ``time_to_bill:`` section of ``accord.yaml`` (a missing file gives defaults).

    Raises:
        ConfigError: The section is malformed.
    """
    raw = read_section(config_file, SECTION)
    if raw is None:
        return BillingSettings()
    posting: Any = _choice(raw, "posting", get_args(PostingMode), "per_entry")
    policy: Any = _choice(raw, "closed_period_policy", get_args(ClosedPeriodPolicy), "redate")
    return BillingSettings(
        posting=posting,
        closed_period_policy=policy,
        cache_ttl_s=_number(raw, "cache_ttl_s", 60.0, minimum=0),
        max_workers=int(_number(raw, "max_workers", 20, minimum=1)),
        hold_check_interval_s=int(_number(raw, "hold_check_interval_s", 30, minimum=0)),
    )


_cache = PerFileCache(load_billing_settings, reload=True)


def billing_settings(config_file: Path | None) -> BillingSettings:
    """The settings of this process's ``accord.yaml``, re-read when the file changes."""
    return _cache(config_file)
