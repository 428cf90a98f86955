"""Validation of approved time and expenses before posting: pure functions, no I/O.

Given what the ERP says about the project (:class:`ProjectFacts`), the legal entity's
accounting periods (:class:`PeriodTable`) and the rules, :func:`check_entry` collects every
problem of one entry and decides how it posts (:class:`EntryPlan`): the posting date, the
billable flag, the dimensions and the tax and revenue treatment.

The billable rule (by the billing model's revenue policy, ``rules/default.yaml`` ``revenue``):

- ``billing: time_entries`` (time and materials): time is billed from the entries, so a
  billable entry needs a bill rate in the project's currency; non-billable time posts as is.
- any other billing (fixed fee, milestone, retainer): the customer is billed by schedule,
  milestone or recurring fee, never by the hour, so billable time posts **non-billable** (as
  cost) and the memo says so. Refusing it would block the cost of delivery on a
  bookkeeping flag; posting it billable would bill the hours on top of the fee.
- expenses keep their flag on every model (pass-through expenses are billed on fixed-fee work
  too), but a billable expense must be in the project's currency.

Codes (the rules route them: ``project.*`` to delivery-ops, ``billing.*`` and ``period.*`` to
finance-ops): ``project.unknown``, ``project.inactive``, ``project.date_outside``,
``billing.billable_mismatch``, ``billing.dimension_unmapped``, ``period.closed``.
"""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Final

from accord.domain import BillingModel, Expense, TimeEntry
from accord.errors import RuleViolation
from accord.rules import Rules

__all__ = [
    "BILLABLE_MISMATCH",
    "DATE_OUTSIDE",
    "DIMENSION_UNMAPPED",
    "INACTIVE",
    "PERIOD_CLOSED",
    "UNKNOWN_PROJECT",
    "EntryPlan",
    "PeriodTable",
    "Problem",
    "ProjectFacts",
    "check_entry",
    "month_of",
    "redate_memo",
]

UNKNOWN_PROJECT: Final = "project.unknown"
INACTIVE: Final = "project.inactive"
DATE_OUTSIDE: Final = "project.date_outside"
BILLABLE_MISMATCH: Final = "billing.billable_mismatch"
DIMENSION_UNMAPPED: Final = "billing.dimension_unmapped"
PERIOD_CLOSED: Final = "period.closed"

_MAX_MONTHS_AHEAD: Final = 36
"""How far a re-date looks for an open period before giving up."""


@dataclass(frozen=True)
class Problem:
    """One reason an entry cannot post: a code (routes the exception) and what to say."""

    code: str
    message: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProjectFacts:
    """The project as its ERP holds it (plus the legal entity the rules place it in).

    Attributes:
        project_id: Canonical project id (``PRJ-...``).
        erp: ``netsuite`` or ``business_central``.
        connection: The ERP connection.
        erp_id: NetSuite internal id of the ``job`` / Business Central project number.
        legal_entity: The firm's entity code the project books in.
        active: Whether the ERP takes new postings on it.
        status: The ERP's own status text (for people).
        start_date: First day time may be booked.
        end_date: Last day time may be booked (``None``: open-ended).
        billing_model: From the ERP's billing type (Accord's note tells retainer from fixed fee).
        practice: Practice code (from the ERP department through the rules).
        region: Region code (from the ERP class / area through the rules).
        currency: The project's currency.
    """

    project_id: str
    erp: str
    connection: str
    erp_id: str
    legal_entity: str
    active: bool
    status: str
    start_date: dt.date | None
    end_date: dt.date | None
    billing_model: BillingModel
    practice: str | None
    region: str | None
    currency: str


def month_of(day: dt.date) -> str:
    """``YYYY-MM`` of a day."""
    return f"{day.year:04d}-{day.month:02d}"


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)


@dataclass(frozen=True)
class PeriodTable:
    """The closed months of one legal entity in its ERP (months not listed are open)."""

    closed: frozenset[str] = frozenset()

    def is_closed(self, day: dt.date) -> bool:
        """Whether ``day`` falls in a closed period."""
        return month_of(day) in self.closed

    def first_open_on_or_after(self, day: dt.date) -> dt.date | None:
        """``day`` if its period is open, else the first day of the next open period."""
        if not self.is_closed(day):
            return day
        current = _next_month(day)
        for _ in range(_MAX_MONTHS_AHEAD):
            if not self.is_closed(current):
                return current
            current = _next_month(current)
        return None

    def with_closed(self, month: str) -> "PeriodTable":
        """A copy with one more closed month (learnt from an ERP refusal)."""
        return PeriodTable(closed=self.closed | {month})


@dataclass(frozen=True)
class EntryPlan:
    """How one valid entry posts.

    Attributes:
        posting_date: The date sent to the ERP (the entry's, or the re-date).
        billable: The billable flag sent (see the module docstring).
        period_closed: The entry's own date is in a closed period.
        dimensions: What the rules mapped: department, class, cost center, and the mapping
            that produced them (shown in an invalid-dimension exception).
        treatment: Tax and revenue treatment by the rules (kept in the ledger).
        notes: Why the flag or the date differ from the entry's.
    """

    posting_date: dt.date
    billable: bool
    period_closed: bool
    dimensions: dict[str, str]
    treatment: dict[str, str]
    notes: tuple[str, ...] = ()


def redate_memo(memo: str, original: dt.date) -> str:
    """The memo of a re-dated posting: the original date stays readable."""
    note = f"[Accord: approved for {original.isoformat()}, re-dated into an open period]"
    return f"{memo} {note}".strip()


def _dimensions(rules: Rules, project: ProjectFacts) -> tuple[dict[str, str], dict[str, str]]:
    placement = rules.placement(
        legal_entity=project.legal_entity,
        practice=project.practice or "",
        region=project.region or "",
    )
    revenue = rules.revenue_policy(project.billing_model)
    dims = {
        "department": placement.department,
        "class": placement.class_,
        "cost_center": placement.cost_center,
        "mapping": (
            f"practice {project.practice} -> department {placement.department}; "
            f"region {project.region} -> class {placement.class_}; "
            f"cost center {placement.cost_center} (rules {rules.version[:12]})"
        ),
    }
    treatment = {
        "tax_region": placement.tax_region,
        "tax_kind": placement.tax.kind.value,
        "tax_code": placement.tax.netsuite_tax_code or placement.tax.bc_tax_group or "",
        "revenue_recognition": revenue.recognition.value,
        "revenue_billing": revenue.billing,
        "billing_model": project.billing_model.value,
    }
    return dims, treatment


def _billable(
    entry: TimeEntry | Expense, project: ProjectFacts, rules: Rules, problems: list[Problem]
) -> tuple[bool, list[str]]:
    """The billable flag to post (module docstring), appending a mismatch to ``problems``."""
    revenue = rules.revenue_policy(project.billing_model)
    model = {"billing_model": project.billing_model.value}
    if isinstance(entry, Expense):
        if entry.billable and entry.amount.currency != project.currency:
            problems.append(
                Problem(
                    BILLABLE_MISMATCH,
                    f"billable expense in {entry.amount.currency}, project in {project.currency}",
                    model,
                )
            )
        return entry.billable, []
    if revenue.billing != "time_entries":
        if entry.billable:
            return False, [f"billable time posted non-billable: {project.billing_model.value}"]
        return False, []
    if entry.billable and entry.bill_rate is None:
        problems.append(
            Problem(
                BILLABLE_MISMATCH,
                "billable time on a time-and-materials project needs a bill rate",
                model,
            )
        )
    elif entry.bill_rate is not None and entry.bill_rate.currency != project.currency:
        problems.append(
            Problem(
                BILLABLE_MISMATCH,
                f"bill rate in {entry.bill_rate.currency}, project in {project.currency}",
                model,
            )
        )
    return entry.billable, []


def check_entry(
    entry: TimeEntry | Expense,
    *,
    project: ProjectFacts | None,
    periods: PeriodTable,
    rules: Rules,
    posting_date: dt.date | None = None,
) -> tuple[EntryPlan | None, list[Problem]]:
    """Every problem of one entry, and its posting plan when it has none (but a closed period).

    A closed period is reported as a :data:`PERIOD_CLOSED` problem *and* the plan is still
    returned (``period_closed=True``), so that the caller's policy can re-date or hold it.

    Args:
        entry: A time entry or an expense.
        project: The ERP's project, or ``None`` when the ERP does not know it.
        periods: The closed periods of the project's legal entity.
        rules: The rules version of the run.
        posting_date: An operator's re-date (the exception's ``posting_date`` override), used
            for entries whose own date is in a closed period.
    """
    if project is None:
        return None, [
            Problem(
                UNKNOWN_PROJECT,
                f"project {entry.project_id} is not in the ERP (no erp_project cross-reference)",
                {"project_id": entry.project_id},
            )
        ]
    problems: list[Problem] = []
    if not project.active:
        problems.append(
            Problem(
                INACTIVE,
                f"project {project.project_id} is {project.status} in {project.erp}",
                {"status": project.status},
            )
        )
    if (project.start_date and entry.date < project.start_date) or (
        project.end_date and entry.date > project.end_date
    ):
        problems.append(
            Problem(
                DATE_OUTSIDE,
                f"{entry.date} is outside the project's dates "
                f"({project.start_date} to {project.end_date or 'open'})",
                {
                    "start_date": str(project.start_date),
                    "end_date": str(project.end_date) if project.end_date else None,
                },
            )
        )
    billable, notes = _billable(entry, project, rules, problems)
    try:
        dims, treatment = _dimensions(rules, project)
    except RuleViolation as exc:
        problems.append(
            Problem(
                DIMENSION_UNMAPPED,
                f"the rules map no ERP dimension: {exc}",
                {"practice": project.practice, "region": project.region},
            )
        )
        return None, problems
    if problems:
        return None, problems
    closed = periods.is_closed(entry.date)
    date = entry.date
    if closed and posting_date is not None:
        date = posting_date
        notes.append(f"re-dated by an operator to {posting_date}")
    plan = EntryPlan(
        posting_date=date,
        billable=billable,
        period_closed=closed and periods.is_closed(date),
        dimensions=dims,
        treatment=treatment,
        notes=tuple(notes),
    )
    if plan.period_closed:
        return plan, [
            Problem(
                PERIOD_CLOSED,
                f"{date} is in a closed accounting period of {project.legal_entity}",
                {"period": month_of(date), "legal_entity": project.legal_entity},
            )
        ]
    return plan, []
