"""Kantata records <-> canonical models, as plain typed functions.

Inbound functions take a record as :class:`~accord.connectors.kantata.KantataConnector` returns
it (``external_references`` and, for timesheet submissions and invoices, the lines embedded)
and return a canonical model; outbound ones return the native attributes of an ``upsert`` (the
external reference travels separately). References between records are Kantata ids on one side
and canonical ids on the other; :class:`KantataLookups` carries both directions (built by the
flow layer from xref).

Kantata counts money in cents (integers) and time in minutes: both become ``Decimal`` exactly.
Hours are kept at two places (the canonical ``Hours``), so 50 minutes read as 0.83 hours.

What Kantata owns or receives: workspace <-> Project (execution fields only: the commercial
ones come from the CRM and are passed in as ``base``), story (milestone) <-> Milestone,
time_entry -> TimeEntry, timesheet_submission -> Timesheet, expense -> Expense,
invoice -> Invoice and user -> Resource.
"""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import BaseModel

from accord.connectors.mapping import build_model, required_date, required_decimal, stamp_or_none
from accord.connectors.types import RawRecord
from accord.domain import (
    Expense,
    ExpenseCategory,
    ExpenseStatus,
    ExternalRef,
    Invoice,
    InvoiceLine,
    InvoiceLineKind,
    InvoiceStatus,
    Milestone,
    MilestoneStatus,
    Money,
    Project,
    ProjectStatus,
    Resource,
    System,
    TimeEntry,
    Timesheet,
    TimesheetStatus,
)
from accord.errors import MappingError

__all__ = [
    "STATUS_MESSAGES",
    "KantataLookups",
    "expense_to_canonical",
    "invoice_to_canonical",
    "milestone_from_canonical",
    "milestone_to_canonical",
    "time_entry_to_canonical",
    "timesheet_to_canonical",
    "user_to_canonical",
    "workspace_from_canonical",
    "workspace_to_canonical",
]

_M = TypeVar("_M", bound=BaseModel)
_CENTS = Decimal(100)
_MINUTES = Decimal(60)
_HOURS_STEP = Decimal("0.01")

STATUS_MESSAGES: dict[ProjectStatus, str] = {
    ProjectStatus.PLANNED: "Not Started",
    ProjectStatus.ACTIVE: "In Progress",
    ProjectStatus.ON_HOLD: "On Hold",
    ProjectStatus.COMPLETED: "Completed",
    ProjectStatus.CANCELLED: "Cancelled",
}
"""Workspace status message written for each canonical project status."""

_STATUS_IN: dict[str, ProjectStatus] = {
    **{message: status for status, message in STATUS_MESSAGES.items()},
    "In Planning": ProjectStatus.PLANNED,
}
_MILESTONE_STATE_IN = {
    "completed": MilestoneStatus.COMPLETED,
    "rejected": MilestoneStatus.CANCELLED,
}
_MILESTONE_STATE_OUT = {
    MilestoneStatus.PLANNED: "not started",
    MilestoneStatus.COMPLETED: "completed",
    MilestoneStatus.INVOICED: "completed",
    MilestoneStatus.CANCELLED: "rejected",
}
_TIMESHEET_STATUS_IN = {
    "pending": TimesheetStatus.SUBMITTED,
    "approved": TimesheetStatus.APPROVED,
    "rejected": TimesheetStatus.REJECTED,
}
_INVOICE_STATUS_IN = {
    "draft": InvoiceStatus.DRAFT,
    "submitted": InvoiceStatus.POSTED,
    "paid": InvoiceStatus.PAID,
    "void": InvoiceStatus.VOID,
}


@dataclass(frozen=True)
class KantataLookups:
    """Canonical ids on one side, Kantata ids on the other, per Kantata collection.

    Attributes:
        records: Collection (``workspaces``, ``users``, ``stories``, ``time_entries``,
            ``expenses``, ``timesheet_submissions``, ``invoices``) -> canonical id -> Kantata id.
            A record with no entry keeps its Kantata id as canonical id (prefixed
            ``kantata:``), so that records Accord did not create still map.
        legal_entity: Code of the legal entity Kantata's people and invoices belong to.
    """

    records: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    legal_entity: str | None = None

    def internal(self, collection: str, canonical_id: str, *, what: str) -> str:
        """The Kantata id of canonical ``canonical_id``."""
        table = self.records.get(collection, {})
        if canonical_id in table:
            return table[canonical_id]
        if canonical_id.startswith("kantata:"):
            return canonical_id.removeprefix("kantata:")
        raise MappingError(f"no Kantata {what} for {canonical_id!r}")

    def canonical(self, collection: str, kantata_id: object, *, what: str) -> str:
        """The canonical id of Kantata record ``kantata_id`` (``kantata:<id>`` if unknown)."""
        if kantata_id is None or kantata_id == "":
            raise MappingError(f"Kantata {what} reference is missing")
        text = str(kantata_id)
        for key, value in self.records.get(collection, {}).items():
            if value == text:
                return key
        return f"kantata:{text}"


# --------------------------------------------------------------------------- small helpers
def _refs(record: RawRecord) -> tuple[ExternalRef, ...]:
    return (ExternalRef(system=System.KANTATA, id=str(record["id"])),)


def _cents(value: object, what: str) -> Decimal:
    """Cents (an integer, or a decimal string) as an exact amount."""
    if isinstance(value, bool) or value is None:
        raise MappingError(f"{what} is missing")
    try:
        return Decimal(str(value)) / _CENTS
    except InvalidOperation:
        raise MappingError(f"{what} is not a number") from None


def _to_cents(amount: Decimal) -> int:
    return int((amount * _CENTS).to_integral_value())


def _opt_date(value: object) -> dt.date | None:
    return required_date(value, "date") if value else None


def _currency(record: RawRecord, default: str | None = None) -> str:
    currency = record.get("currency") or default
    if not isinstance(currency, str) or not currency:
        raise MappingError("record has no currency")
    return currency


# --------------------------------------------------------------------------- workspaces
def workspace_to_canonical(record: RawRecord, *, base: Project) -> Project:
    """A workspace's execution fields (title, status, dates, budget) over the known project.

    Args:
        record: The workspace.
        base: The canonical project as Accord knows it (customer, entity, practice, billing
            model are the CRM's and are not in Kantata).
    """
    status = record.get("status")
    message = status.get("message") if isinstance(status, dict) else status
    currency = _currency(record, base.currency)
    price = record.get("price_in_cents")
    budget = (
        Money.of(_cents(price, "price_in_cents"), currency)
        if record.get("budgeted") and price is not None
        else base.budget
    )
    refs = {(r.system, r.id): r for r in (*base.refs, *_refs(record))}
    return build_model(
        Project,
        **{
            **base.model_dump(),
            "name": record.get("title") or base.name,
            "status": _STATUS_IN.get(str(message), base.status),
            "currency": currency,
            "budget": budget,
            "start_date": _opt_date(record.get("start_date")) or base.start_date,
            "end_date": _opt_date(record.get("due_date")) or base.end_date,
            "refs": tuple(refs.values()),
            "updated_at": stamp_or_none(record.get("updated_at")),
        },
    )


def workspace_from_canonical(
    project: Project,
    *,
    rate_card_id: str | None = None,
    status: ProjectStatus | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """Workspace attributes for a project (the template-like create payload).

    Args:
        project: The canonical project.
        rate_card_id: Kantata rate card pricing its time (one per currency in most accounts).
        status: Status to write instead of the project's (``ON_HOLD`` until the deal is signed).
        description: Free text shown on the workspace.
    """
    body: dict[str, Any] = {
        "title": project.name,
        "currency": project.currency,
        "start_date": project.start_date.isoformat(),
        "status": STATUS_MESSAGES[status or project.status],
        "budgeted": project.budget is not None,
    }
    if project.budget is not None:
        body["price_in_cents"] = _to_cents(project.budget.amount)
    if project.end_date is not None:
        body["due_date"] = project.end_date.isoformat()
    if rate_card_id is not None:
        body["rate_card_id"] = rate_card_id
    if description is not None:
        body["description"] = description
    return body


# --------------------------------------------------------------------------- milestones
def milestone_to_canonical(
    record: RawRecord, *, lookups: KantataLookups, currency: str
) -> Milestone:
    """A ``milestone`` story as a canonical :class:`Milestone` (amount from its estimate)."""
    if record.get("story_type") != "milestone":
        raise MappingError("story is not a milestone")
    status = _MILESTONE_STATE_IN.get(str(record.get("state")), MilestoneStatus.PLANNED)
    estimate = record.get("budget_estimate_in_cents")
    amount = _cents(estimate, "budget_estimate_in_cents") if estimate is not None else Decimal(0)
    return build_model(
        Milestone,
        id=lookups.canonical("stories", record.get("id"), what="story"),
        name=record.get("title"),
        amount=Money.of(amount, currency),
        project_id=lookups.canonical("workspaces", record.get("workspace_id"), what="workspace"),
        due_date=_opt_date(record.get("due_date")),
        status=status,
        completed_at=(
            stamp_or_none(record.get("updated_at")) if status is MilestoneStatus.COMPLETED else None
        ),
        refs=_refs(record),
    )


def milestone_from_canonical(milestone: Milestone, *, lookups: KantataLookups) -> dict[str, Any]:
    """Story attributes for a milestone of a provisioned workspace."""
    if milestone.project_id is None:
        raise MappingError("a milestone needs its project to become a Kantata story")
    body: dict[str, Any] = {
        "workspace_id": lookups.internal("workspaces", milestone.project_id, what="workspace"),
        "title": milestone.name,
        "story_type": "milestone",
        "state": _MILESTONE_STATE_OUT[milestone.status],
        "budget_estimate_in_cents": _to_cents(milestone.amount.amount),
        "billable": True,
    }
    if milestone.due_date is not None:
        body["due_date"] = milestone.due_date.isoformat()
    return body


# --------------------------------------------------------------------------- time
def time_entry_to_canonical(record: RawRecord, *, lookups: KantataLookups) -> TimeEntry:
    """A time entry as a canonical :class:`TimeEntry` (minutes -> hours, cents -> rate)."""
    minutes = required_decimal(record.get("time_in_minutes"), "time_in_minutes")
    rate = record.get("rate_in_cents")
    currency = record.get("currency")
    bill_rate = (
        Money.of(_cents(rate, "rate_in_cents"), str(currency))
        if rate is not None and isinstance(currency, str) and currency
        else None
    )
    return build_model(
        TimeEntry,
        id=lookups.canonical("time_entries", record.get("id"), what="time entry"),
        project_id=lookups.canonical("workspaces", record.get("workspace_id"), what="workspace"),
        resource_id=lookups.canonical("users", record.get("user_id"), what="user"),
        date=required_date(record.get("date_performed"), "date_performed"),
        # Half-up, as the firm rounds by hand (whole minutes never fall on a tie).
        hours=(minutes / _MINUTES).quantize(_HOURS_STEP, rounding=ROUND_HALF_UP),
        billable=bool(record.get("billable", False)),
        bill_rate=bill_rate,
        notes=str(record.get("notes") or ""),
        refs=_refs(record),
    )


def timesheet_to_canonical(record: RawRecord, *, lookups: KantataLookups) -> Timesheet:
    """A timesheet submission with its embedded ``time_entries`` as a canonical timesheet."""
    entries = record.get("time_entries")
    if not isinstance(entries, list) or not entries:
        raise MappingError("timesheet submission has no embedded time entries")
    status = _TIMESHEET_STATUS_IN.get(str(record.get("status")))
    if status is None:
        raise MappingError(f"unknown timesheet status {record.get('status')!r}")
    resolved = stamp_or_none(record.get("resolved_at"))
    return build_model(
        Timesheet,
        id=lookups.canonical("timesheet_submissions", record.get("id"), what="timesheet"),
        resource_id=lookups.canonical("users", record.get("user_id"), what="user"),
        project_id=lookups.canonical("workspaces", record.get("workspace_id"), what="workspace"),
        week_start=required_date(record.get("start_date"), "start_date"),
        status=status,
        entries=tuple(time_entry_to_canonical(e, lookups=lookups) for e in entries),
        submitted_at=stamp_or_none(record.get("submitted_at")),
        approved_at=resolved if status is TimesheetStatus.APPROVED else None,
        refs=_refs(record),
    )


# --------------------------------------------------------------------------- expenses
def expense_to_canonical(record: RawRecord, *, lookups: KantataLookups) -> Expense:
    """An expense as a canonical :class:`~accord.domain.Expense` (category by name)."""
    category_name = str(record.get("category") or "").strip().lower()
    try:
        category = ExpenseCategory(category_name)
    except ValueError:
        category = ExpenseCategory.OTHER
    approved = bool(record.get("approved"))
    return build_model(
        Expense,
        id=lookups.canonical("expenses", record.get("id"), what="expense"),
        project_id=lookups.canonical("workspaces", record.get("workspace_id"), what="workspace"),
        resource_id=(
            lookups.canonical("users", record["user_id"], what="user")
            if record.get("user_id")
            else None
        ),
        date=required_date(record.get("date"), "date"),
        category=category,
        amount=Money.of(
            _cents(record.get("amount_in_cents"), "amount_in_cents"), _currency(record)
        ),
        billable=bool(record.get("billable", False)),
        status=ExpenseStatus.APPROVED if approved else ExpenseStatus.SUBMITTED,
        description=str(record.get("notes") or ""),
        refs=_refs(record),
    )


# --------------------------------------------------------------------------- invoices
def invoice_to_canonical(
    record: RawRecord, *, lookups: KantataLookups, customer_id: str, legal_entity: str
) -> Invoice:
    """A Kantata invoice (with embedded lines) as a canonical :class:`Invoice`.

    Kantata invoices carry no customer or tax: the customer comes from the workspace's
    project (``customer_id``), and tax is zero. Lines are built from the embedded time
    entries and expenses; the subtotal is Kantata's own.
    """
    currency = _currency(record)
    lines: list[InvoiceLine] = []
    for entry in record.get("time_entries") or ():
        hours = required_decimal(entry.get("time_in_minutes"), "time_in_minutes") / _MINUTES
        rate = Money.of(_cents(entry.get("rate_in_cents") or 0, "rate_in_cents"), currency)
        lines.append(
            build_model(
                InvoiceLine,
                kind=InvoiceLineKind.TIME,
                description=str(entry.get("notes") or "Time"),
                quantity=hours,
                unit_price=rate,
                amount=rate.mul(hours),
                source_id=lookups.canonical("time_entries", entry.get("id"), what="time entry"),
                project_id=lookups.canonical(
                    "workspaces", entry.get("workspace_id"), what="workspace"
                ),
            )
        )
    for expense in record.get("expenses") or ():
        amount = Money.of(_cents(expense.get("amount_in_cents"), "amount_in_cents"), currency)
        lines.append(
            build_model(
                InvoiceLine,
                kind=InvoiceLineKind.EXPENSE,
                description=str(expense.get("notes") or expense.get("category") or "Expense"),
                quantity=1,
                unit_price=amount,
                amount=amount,
                source_id=lookups.canonical("expenses", expense.get("id"), what="expense"),
                project_id=lookups.canonical(
                    "workspaces", expense.get("workspace_id"), what="workspace"
                ),
            )
        )
    subtotal = Money.of(required_decimal(record.get("subtotal", "0"), "subtotal"), currency)
    if lines and sum((ln.amount.amount for ln in lines), Decimal(0)) != subtotal.amount:
        # Kantata's own total wins; lines rounded differently would fail validation.
        lines = []
    status = _INVOICE_STATUS_IN.get(str(record.get("status")), InvoiceStatus.DRAFT)
    if record.get("paid"):
        status = InvoiceStatus.PAID
    workspaces = [str(w) for w in record.get("workspace_ids") or ()]
    issue = required_date(
        record.get("invoice_date") or str(record.get("created_at", ""))[:10], "date"
    )
    due = _opt_date(record.get("due_date")) or issue
    created = stamp_or_none(record.get("created_at"))
    zero = Money.zero(currency)
    return build_model(
        Invoice,
        id=lookups.canonical("invoices", record.get("id"), what="invoice"),
        customer_id=customer_id,
        legal_entity=legal_entity,
        project_id=(
            lookups.canonical("workspaces", workspaces[0], what="workspace")
            if len(workspaces) == 1
            else None
        ),
        status=status,
        currency=currency,
        issue_date=issue,
        due_date=max(due, issue),
        lines=tuple(lines),
        subtotal=subtotal,
        tax_total=zero,
        total=subtotal,
        amount_due=zero if status in {InvoiceStatus.PAID, InvoiceStatus.VOID} else subtotal,
        posted_at=created if status is not InvoiceStatus.DRAFT else None,
        paid_at=stamp_or_none(record.get("updated_at")) if status is InvoiceStatus.PAID else None,
        refs=_refs(record),
    )


# --------------------------------------------------------------------------- people
def user_to_canonical(record: RawRecord, *, lookups: KantataLookups) -> Resource:
    """A Kantata user as a canonical :class:`Resource` (rates flattened on the user)."""
    if lookups.legal_entity is None:
        raise MappingError("lookups.legal_entity is needed to map Kantata users")
    currency = record.get("currency")

    def rate(name: str) -> Money | None:
        value = record.get(name)
        if value is None or not isinstance(currency, str) or not currency:
            return None
        return Money.of(_cents(value, name), currency)

    return build_model(
        Resource,
        id=lookups.canonical("users", record.get("id"), what="user"),
        name=record.get("full_name"),
        email=record.get("email_address") or None,
        role=record.get("headline") or "Consultant",
        legal_entity=lookups.legal_entity,
        cost_rate=rate("cost_rate_in_cents"),
        bill_rate=rate("bill_rate_in_cents"),
        active=not record.get("disabled", False),
        refs=_refs(record),
    )
