"""Postings: what one ERP posting carries and what each answer means.

A :class:`Unit` is one ERP posting: one entry (``posting: per_entry``) or the entries of one
project, day and submission with the same billable flag and rate
(``summary_per_project_day``). :func:`posting_of` shapes it for the ERP role
(:class:`~accord.connectors.roles.EntryPosting`); the connection's dispatcher sends it
(:mod:`.queue`). A refusal is an outcome, not an exception, and :func:`classify` turns the
refusal's canonical ``reason`` into an exception code.

Idempotency is the role's: every posting carries its key (the entry's id or the summary's),
and the ERP books a key once whatever happens (see each ERP's implementation).
"""

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Final

from accord.connectors.roles import EntryPosting, IntercompanyCharge, PostingAmounts
from accord.domain import Expense, Money, TimeEntry
from accord.errors import ConnectorError, MappingError, PermanentError
from accord.flows.time_to_bill.validation import (
    INACTIVE,
    PERIOD_CLOSED,
    EntryPlan,
    redate_memo,
)

__all__ = [
    "INVALID_DIMENSION",
    "POSTING_REJECTED",
    "RATE_MISSING",
    "RESOURCE_UNKNOWN",
    "UNCLASSIFIED",
    "Outcome",
    "Unit",
    "amount_of",
    "classify",
    "error_detail",
    "external_id_for",
    "make_units",
    "posting_of",
    "redated",
]

INVALID_DIMENSION: Final = "erp.dimension.invalid"
RESOURCE_UNKNOWN: Final = "erp.resource.unknown"
RATE_MISSING: Final = "erp.rate.missing"
"""No exchange rate for the posting's currency pair and date (the error names both)."""
POSTING_REJECTED: Final = "erp.posting.rejected"
UNCLASSIFIED: Final = "connector.refusal_unclassified"
"""A refusal whose connector set no reason: the integration team looks at the connector (it
routes there), rather than the refusal being silently filed as some business problem."""

_EID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_REASON_CODES: Final = {
    "period_closed": PERIOD_CLOSED,
    "dimension_invalid": INVALID_DIMENSION,
    "project_inactive": INACTIVE,
    "customer_inactive": INACTIVE,
    "entity_not_shared": INVALID_DIMENSION,
    "resource_unknown": RESOURCE_UNKNOWN,
    "rate_missing": RATE_MISSING,
}
"""Canonical refusal reason -> exception code (a refused customer is an inactive project:
the ERP will not book to the project's customer). Any other reason is
``erp.posting.rejected`` with the ERP's own code and text; none is :data:`UNCLASSIFIED`."""
_ATTEMPTS: Final = 8

Entry = TimeEntry | Expense


def external_id_for(entry_id: str) -> str:
    """The ERP external id of an entry: its own id when NetSuite accepts it, else a hash."""
    if _EID.match(entry_id):
        return entry_id
    return "ACC-" + hashlib.sha256(entry_id.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Unit:
    """One ERP posting and the entries it carries."""

    external_id: str
    entries: tuple[Entry, ...]
    plan: EntryPlan
    redated_from: Any = None
    """The entries' own date when the posting date is a re-date (memo keeps it)."""


@dataclass
class Outcome:
    """What the ERP said to one unit."""

    unit: Unit
    record_id: str | None = None
    error: PermanentError | MappingError | None = None
    code: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    amounts: PostingAmounts | None = None
    """The ERP role's transaction and base amounts of the posting (ledger detail ``fx``)."""
    intercompany: IntercompanyCharge | None = None
    """The intercompany pair booked with it (ledger detail ``intercompany``)."""

    @property
    def posted(self) -> bool:
        """The ERP holds it."""
        return self.record_id is not None


def make_units(
    planned: Sequence[tuple[Entry, EntryPlan]],
    *,
    summary: bool,
    submission_id: str,
) -> list[Unit]:
    """The postings for the planned entries: one each, or one per project, day and flag."""
    if not summary:
        return [
            Unit(
                external_id=external_id_for(entry.id),
                entries=(entry,),
                plan=plan,
                redated_from=entry.date if plan.posting_date != entry.date else None,
            )
            for entry, plan in planned
        ]
    groups: dict[tuple[Any, ...], list[tuple[Entry, EntryPlan]]] = {}
    for entry, plan in planned:
        rate = entry.bill_rate if isinstance(entry, TimeEntry) else None
        key = (
            type(entry).__name__,
            entry.project_id,
            entry.date,
            plan.posting_date,
            plan.billable,
            str(rate.amount) if rate else "",
        )
        groups.setdefault(key, []).append((entry, plan))
    units = []
    for key, members in groups.items():
        digest = hashlib.sha256("|".join(str(k) for k in (*key, submission_id)).encode())
        plan = members[0][1]
        units.append(
            Unit(
                external_id="SUM-" + digest.hexdigest()[:28],
                entries=tuple(e for e, _ in members),
                plan=plan,
                redated_from=members[0][0].date if plan.posting_date != key[2] else None,
            )
        )
    return units


def _memo(unit: Unit) -> str:
    first = unit.entries[0]
    text = first.notes if isinstance(first, TimeEntry) else first.description
    if len(unit.entries) > 1:
        text = f"Summary of {len(unit.entries)} entries ({first.date.isoformat()})"
    extra = "; ".join(unit.plan.notes)
    if extra:
        text = f"{text} [{extra}]"
    if unit.redated_from is not None:
        text = redate_memo(text, unit.redated_from)
    return text[:999]


def _time_entry(unit: Unit) -> TimeEntry:
    first = unit.entries[0]
    assert isinstance(first, TimeEntry)
    hours = sum((e.hours for e in unit.entries if isinstance(e, TimeEntry)), Decimal(0))
    return first.model_copy(
        update={
            "id": unit.external_id,
            "date": unit.plan.posting_date,
            "hours": hours,
            "billable": unit.plan.billable,
            "notes": _memo(unit),
        }
    )


def classify(error: ConnectorError | MappingError) -> str:
    """The exception code of an ERP refusal, from its canonical ``reason``."""
    if isinstance(error, MappingError):
        return POSTING_REJECTED
    if error.reason is None:
        return UNCLASSIFIED
    return _REASON_CODES.get(error.reason, POSTING_REJECTED)


def error_detail(error: ConnectorError | MappingError) -> dict[str, Any]:
    """The refusal as the ledger and the exception show it (code, reason, the ERP's text)."""
    if isinstance(error, ConnectorError):
        return {
            "error": type(error).__name__,
            "code": error.code,
            "reason": error.reason,
            "detail": error.detail or error.message,
            "status_code": error.status_code,
        }
    return {"error": type(error).__name__, "detail": str(error)}


def posting_of(unit: Unit) -> EntryPosting:
    """The ERP role's posting of a unit: the entry shaped for booking, its key, dimensions."""
    first = unit.entries[0]
    entry: TimeEntry | Expense
    if isinstance(first, TimeEntry):
        entry = _time_entry(unit)
    else:
        entry = first.model_copy(
            update={
                "date": unit.plan.posting_date,
                "billable": unit.plan.billable,
                "description": _memo(unit),
            }
        )
    dims = unit.plan.dimensions
    return EntryPosting(
        key=unit.external_id,
        entry=entry,
        entry_ids=tuple(e.id for e in unit.entries),
        dimensions={k: dims[k] for k in ("department", "class") if dims.get(k)},
    )


def amount_of(entry: Entry) -> Money | None:
    """What an entry is worth to the customer: hours x rate, or the expense amount."""
    if isinstance(entry, TimeEntry):
        return entry.billable_amount()
    return entry.amount


def redated(unit: Unit, plan: EntryPlan) -> Unit:
    """The unit posted on ``plan``'s date (a re-date after the ERP refused its period)."""
    return replace(unit, plan=plan, redated_from=unit.entries[0].date)
