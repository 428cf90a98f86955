"""What time-to-bill needs to know besides the rules: the ``time_to_bill:`` section.

``accord.yaml`` may carry::

    time_to_bill:
      posting: per_entry              # or summary_per_project_day
      closed_period_policy: redate    # redate | hold | ask
      cache_ttl_s: 60                 # ERP reads (project, periods, employees) kept this long
      max_workers: 20                 # parallel postings of one submission (per process)
      hold_check_interval_s: 30       # how often held entries are re-checked; 0: never
      shadow_mode: validate           # a migrating entity's shadow ERP: validate | post | off
      shadow_test_connections:        # post mode: shadow connection -> its test company's
        dynamics-finance: dynamics-finance-test

Everything is optional. The rules file is the one lead-to-project uses (its ``rules:`` key,
``ACCORD_RULES_FILE`` or ``rules/default.yaml``), so both flows apply one version of the rules.

What does *not* belong here: the rules (:mod:`accord.rules`) and connection configs.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from accord.errors import ConfigError
from accord.flows.config_sections import PerFileCache, read_section

__all__ = [
    "SECTION",
    "BillingSettings",
    "ClosedPeriodPolicy",
    "PostingMode",
    "ShadowMode",
    "billing_settings",
    "load_billing_settings",
]

SECTION = "time_to_bill"
"""The top-level key of ``accord.yaml`` this module reads."""

PostingMode = Literal["per_entry", "summary_per_project_day"]
"""One ERP posting per entry, or one per project, day and submission."""
ClosedPeriodPolicy = Literal["redate", "hold", "ask"]
"""What happens to an entry dated in a closed accounting period."""
ShadowMode = Literal["validate", "post", "off"]
"""What a migrating entity's shadow ERP does with each accepted posting (docs/migration.md)."""


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
        shadow_mode: For a legal entity under migration, what its shadow ERP does with every
            posting the system of record accepts: ``validate`` (translate it and check it,
            writing nothing), ``post`` (book it in the shadow's test company, the connection
            ``shadow_test_connections`` names) or ``off``.
        shadow_test_connections: Shadow connection -> the connection of its test company or
            environment (a copy of the shadow with the same project ids), for ``post``. A
            shadow without one is only validated: Accord never books shadow work in the
            company the entity would cut over to.
    """

    posting: PostingMode = "per_entry"
    closed_period_policy: ClosedPeriodPolicy = "redate"
    cache_ttl_s: float = 60.0
    max_workers: int = 20
    hold_check_interval_s: int = 30
    shadow_mode: ShadowMode = "validate"
    shadow_test_connections: dict[str, str] = field(default_factory=dict)


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
    shadow: Any = _choice(raw, "shadow_mode", get_args(ShadowMode), "validate")
    tests = raw.get("shadow_test_connections") or {}
    if not isinstance(tests, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and k != v for k, v in tests.items()
    ):
        raise ConfigError(
            f"{SECTION}.shadow_test_connections must map a shadow connection to another one"
        )
    return BillingSettings(
        posting=posting,
        closed_period_policy=policy,
        cache_ttl_s=_number(raw, "cache_ttl_s", 60.0, minimum=0),
        max_workers=int(_number(raw, "max_workers", 20, minimum=1)),
        hold_check_interval_s=int(_number(raw, "hold_check_interval_s", 30, minimum=0)),
        shadow_mode=shadow,
        shadow_test_connections=dict(tests),
    )


_cache = PerFileCache(load_billing_settings, reload=True)


def billing_settings(config_file: Path | None) -> BillingSettings:
    """The settings of this process's ``accord.yaml``, re-read when the file changes."""
    return _cache(config_file)
