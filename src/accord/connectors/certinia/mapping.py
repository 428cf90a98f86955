"""Certinia PSA records <-> canonical models, as plain typed functions.

Same conventions as :mod:`accord.connectors.salesforce.mapping`: inbound functions read a SOQL
page row (parents' ``Accord_Id__c`` and the regions' and practices' ``Code__c`` nested) or a
``get`` answer plus :data:`Lookups`, and raise one :class:`RecordMappingError` naming every
missing or invalid native field; outbound functions return an ``upsert`` body. Lookups for
code lists are keyed by sObject (``pse__Region__c``: Salesforce id -> region code) and, for an
account's legal entity, by ``Account.Legal_Entity__c``.

What the PSA owns and sends: project execution (``pse__Proj__c`` <-> Project, both ways: the
lead-to-project flow provisions it, the PSA then owns its status and dates), milestones (both
ways), approved timecards -> Timesheet with one TimeEntry per day that has hours, approved
expenses -> Expense.

Certinia has no native approval or completion timestamps on these objects: ``approved_at`` and
``completed_at`` are the record's ``SystemModstamp`` when it is read in the approved state,
which is when change capture saw the approval (close to, never before, the real moment).
"""

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from accord.connectors.certinia.connector import DAYS
from accord.connectors.salesforce.mapping import reference_body
from accord.connectors.salesforce.records import Lookups, RecordMappingError, RecordReader
from accord.connectors.types import RawRecord
from accord.domain import (
    BillingModel,
    Expense,
    ExpenseCategory,
    ExpenseStatus,
    Milestone,
    MilestoneStatus,
    Money,
    Project,
    ProjectStatus,
    TimeEntry,
    Timesheet,
    TimesheetStatus,
)
from accord.errors import MappingError

__all__ = [
    "BILLING_TYPES",
    "EXPENSE_TYPES",
    "PROJECT_STAGES",
    "RATE_CARDS",
    "Lookups",
    "RecordMappingError",
    "expense_to_canonical",
    "milestone_from_canonical",
    "milestone_to_canonical",
    "project_from_canonical",
    "project_to_canonical",
    "timecard_rate_currency",
    "timecard_to_timesheet",
]

RATE_CARDS = "pse__Rate_Card__c"
"""The lookups key of rate-card rates: ``"<role>|<currency>"`` -> hourly bill rate."""


def timecard_rate_currency(record: Mapping[str, Any]) -> str | None:
    """The currency a timecard without an assignment is priced in from the rate cards.

    The project's (its customer is billed in it, whichever legal entity employs the
    resource), else the resource's when the project's currency was not read.
    """
    for relation in ("pse__Project__r", "pse__Resource__r"):
        related = record.get(relation)
        currency = related.get("CurrencyIsoCode") if isinstance(related, Mapping) else None
        if isinstance(currency, str) and currency:
            return currency
    return None


PROJECT_STAGES: dict[str, ProjectStatus] = {
    "Planned": ProjectStatus.PLANNED,
    "Draft": ProjectStatus.PLANNED,
    "In Progress": ProjectStatus.ACTIVE,
    "On Hold": ProjectStatus.ON_HOLD,
    "Completed": ProjectStatus.COMPLETED,
    "Closed": ProjectStatus.COMPLETED,
    "Canceled": ProjectStatus.CANCELLED,
    "Cancelled": ProjectStatus.CANCELLED,
}
"""``pse__Stage__c`` -> canonical status (both spellings of cancelled occur in orgs)."""
_STAGE_OUT = {
    ProjectStatus.PLANNED: "Planned",
    ProjectStatus.ACTIVE: "In Progress",
    ProjectStatus.ON_HOLD: "On Hold",
    ProjectStatus.COMPLETED: "Completed",
    ProjectStatus.CANCELLED: "Canceled",
}

BILLING_TYPES: dict[str, BillingModel] = {
    "Time and Materials": BillingModel.TIME_AND_MATERIALS,
    "Fixed Price": BillingModel.FIXED_FEE,
    "T&M/Fixed": BillingModel.TIME_AND_MATERIALS,
}
"""``pse__Billing_Type__c`` -> canonical billing model. Lossy: milestone and retainer
engagements are ``Fixed Price`` in Certinia and come back as ``fixed_fee``; the contract, not
the project, is the source of the billing model."""
_BILLING_OUT = {
    BillingModel.TIME_AND_MATERIALS: "Time and Materials",
    BillingModel.FIXED_FEE: "Fixed Price",
    BillingModel.MILESTONE: "Fixed Price",
    BillingModel.RETAINER: "Fixed Price",
}

EXPENSE_TYPES: dict[str, ExpenseCategory] = {
    "Airfare": ExpenseCategory.TRAVEL,
    "Auto Rental": ExpenseCategory.TRAVEL,
    "Ground Transportation": ExpenseCategory.TRAVEL,
    "Lodging": ExpenseCategory.LODGING,
    "Hotel": ExpenseCategory.LODGING,
    "Meals": ExpenseCategory.MEALS,
    "Mileage": ExpenseCategory.MILEAGE,
    "Software": ExpenseCategory.SOFTWARE,
    "Supplies": ExpenseCategory.SUPPLIES,
    "Other": ExpenseCategory.OTHER,
}
"""``pse__Type__c`` -> canonical category; an org's other types map to ``other`` (the type is
org configuration, and refusing an approved expense for it would block billing)."""

_SUBMITTED = {
    "Submitted": TimesheetStatus.SUBMITTED,
    "Approved": TimesheetStatus.APPROVED,
    "Rejected": TimesheetStatus.REJECTED,
}
_EXPENSE_STATUS = {
    "Submitted": ExpenseStatus.SUBMITTED,
    "Approved": ExpenseStatus.APPROVED,
    "Rejected": ExpenseStatus.REJECTED,
}
# Milestone pse__Status__c values; pse__Invoiced__c and pse__Approved__c refine them below.
_MILESTONE_STATUS = {
    "Planned": MilestoneStatus.PLANNED,
    "Open": MilestoneStatus.PLANNED,
    "Approved": MilestoneStatus.COMPLETED,
    "Complete": MilestoneStatus.COMPLETED,
    "Completed": MilestoneStatus.COMPLETED,
    "Canceled": MilestoneStatus.CANCELLED,
    "Cancelled": MilestoneStatus.CANCELLED,
}
_MAX_DAY_HOURS = Decimal(24)
_CLOSED_FOR_ENTRY = frozenset(
    {ProjectStatus.ON_HOLD, ProjectStatus.COMPLETED, ProjectStatus.CANCELLED}
)


def _number(value: Decimal) -> float:
    return float(value)


def _modstamp(reader: RecordReader) -> dt.datetime | None:
    return reader.datetime("SystemModstamp") or reader.datetime("LastModifiedDate")


# --------------------------------------------------------------------------- project
_PROJECT_NATIVE = {
    "name": "Name",
    "customer_id": "pse__Account__c",
    "opportunity_id": "pse__Opportunity__c",
    "legal_entity": "pse__Account__c",
    "practice": "pse__Practice__c",
    "region": "pse__Region__c",
    "billing_model": "pse__Billing_Type__c",
    "status": "pse__Stage__c",
    "currency": "CurrencyIsoCode",
    "budget": "pse__Bookings__c",
    "start_date": "pse__Start_Date__c",
    "end_date": "pse__End_Date__c",
    "project_manager_id": "pse__Project_Manager__c",
}


def project_to_canonical(record: RawRecord, *, lookups: Lookups | None = None) -> Project:
    """A ``pse__Proj__c`` as a canonical :class:`Project`.

    The legal entity is the account's ``Legal_Entity__c``; region and practice are their
    records' ``Code__c``; the budget is ``pse__Bookings__c`` when set.

    Raises:
        RecordMappingError: Naming every missing or invalid field.
    """
    reader = RecordReader(record, "pse__Proj__c", lookups)
    canonical, refs = reader.identity()
    currency = reader.text("CurrencyIsoCode")
    bookings = reader.decimal("pse__Bookings__c", required=False)
    budget = Money.of(bookings, currency) if bookings is not None and currency else None
    values = {
        "id": canonical,
        "name": reader.text("Name"),
        "customer_id": reader.reference("pse__Account__c", "pse__Account__r", "Account"),
        "opportunity_id": reader.reference(
            "pse__Opportunity__c", "pse__Opportunity__r", "Opportunity", required=False
        ),
        "legal_entity": reader.code(
            "pse__Account__c", "pse__Account__r", "Legal_Entity__c", "Account.Legal_Entity__c"
        ),
        "practice": reader.code(
            "pse__Practice__c", "pse__Practice__r", "Code__c", "pse__Practice__c"
        ),
        "region": reader.code("pse__Region__c", "pse__Region__r", "Code__c", "pse__Region__c"),
        "billing_model": reader.choice("pse__Billing_Type__c", BILLING_TYPES),
        "status": reader.choice("pse__Stage__c", PROJECT_STAGES),
        "currency": currency,
        "budget": budget,
        "start_date": reader.date("pse__Start_Date__c"),
        "end_date": reader.date("pse__End_Date__c", required=False),
        "project_manager_id": reader.reference(
            "pse__Project_Manager__c", "pse__Project_Manager__r", "Contact", required=False
        ),
        "refs": refs,
        "updated_at": _modstamp(reader),
    }
    return reader.build(Project, _PROJECT_NATIVE, **values)


def project_from_canonical(project: Project, *, lookups: Lookups | None = None) -> dict[str, Any]:
    """The ``pse__Proj__c`` upsert body for a canonical project (upsert key: ``project.id``).

    On hold, completed and cancelled projects are closed for time and expense entry, so that
    the PSA refuses new time while Accord (or finance) holds the project.
    """
    status = project.status
    closed = status in _CLOSED_FOR_ENTRY
    body: dict[str, Any] = {
        "Name": project.name,
        "pse__Project_Type__c": "Client",
        "pse__Stage__c": _STAGE_OUT[status],
        "pse__Billing_Type__c": _BILLING_OUT[project.billing_model],
        "pse__Is_Active__c": status not in {ProjectStatus.COMPLETED, ProjectStatus.CANCELLED},
        "pse__Is_Billable__c": True,
        "pse__Closed_for_Time_Entry__c": closed,
        "pse__Closed_for_Expense_Entry__c": closed,
        "pse__Start_Date__c": project.start_date.isoformat(),
        "pse__End_Date__c": project.end_date.isoformat() if project.end_date else None,
        "CurrencyIsoCode": project.currency,
    }
    body |= reference_body(
        "pse__Account__c", "pse__Account__r", "Account", project.customer_id, lookups=lookups
    )
    body |= reference_body(
        "pse__Region__c",
        "pse__Region__r",
        "pse__Region__c",
        project.region,
        lookups=lookups,
        key_field="Code__c",
    )
    body |= reference_body(
        "pse__Practice__c",
        "pse__Practice__r",
        "pse__Practice__c",
        project.practice,
        lookups=lookups,
        key_field="Code__c",
    )
    if project.opportunity_id is not None:
        body |= reference_body(
            "pse__Opportunity__c",
            "pse__Opportunity__r",
            "Opportunity",
            project.opportunity_id,
            lookups=lookups,
        )
    if project.project_manager_id is not None:
        body |= reference_body(
            "pse__Project_Manager__c",
            "pse__Project_Manager__r",
            "Contact",
            project.project_manager_id,
            lookups=lookups,
        )
    if project.budget is not None:
        body["pse__Bookings__c"] = _number(project.budget.amount)
    return body


# --------------------------------------------------------------------------- milestone
_MILESTONE_NATIVE = {
    "name": "Name",
    "amount": "pse__Milestone_Amount__c",
    "project_id": "pse__Project__c",
    "due_date": "pse__Target_Date__c",
    "status": "pse__Status__c",
    "completed_at": "SystemModstamp",
}


def milestone_to_canonical(record: RawRecord, *, lookups: Lookups | None = None) -> Milestone:
    """A ``pse__Milestone__c`` as a canonical :class:`Milestone`.

    ``pse__Invoiced__c`` makes it invoiced, ``pse__Approved__c`` (or an approved status)
    completed; ``completed_at`` is then the record's ``SystemModstamp``.

    Raises:
        RecordMappingError: Naming every missing or invalid field.
    """
    reader = RecordReader(record, "pse__Milestone__c", lookups)
    canonical, refs = reader.identity()
    status = reader.choice("pse__Status__c", _MILESTONE_STATUS, required=False)
    status = status or MilestoneStatus.PLANNED
    if status is not MilestoneStatus.CANCELLED:
        if reader.flag("pse__Invoiced__c"):
            status = MilestoneStatus.INVOICED
        elif reader.flag("pse__Approved__c"):
            status = MilestoneStatus.COMPLETED
    done = status in {MilestoneStatus.COMPLETED, MilestoneStatus.INVOICED}
    values = {
        "id": canonical,
        "name": reader.text("Name"),
        "amount": reader.money("pse__Milestone_Amount__c"),
        "project_id": reader.reference("pse__Project__c", "pse__Project__r", "pse__Proj__c"),
        "due_date": reader.date("pse__Target_Date__c", required=False),
        "status": status,
        "completed_at": _modstamp(reader) if done else None,
        "refs": refs,
    }
    return reader.build(Milestone, _MILESTONE_NATIVE, **values)


def milestone_from_canonical(
    milestone: Milestone, *, lookups: Lookups | None = None
) -> dict[str, Any]:
    """The ``pse__Milestone__c`` upsert body for a canonical milestone.

    Raises:
        MappingError: The milestone belongs to no project (Certinia requires one).
    """
    if milestone.project_id is None:
        raise MappingError(f"milestone {milestone.id} has no project")
    status = milestone.status
    approved = status in {MilestoneStatus.COMPLETED, MilestoneStatus.INVOICED}
    body: dict[str, Any] = {
        "Name": milestone.name,
        "pse__Target_Date__c": milestone.due_date.isoformat() if milestone.due_date else None,
        "pse__Milestone_Amount__c": _number(milestone.amount.amount),
        "CurrencyIsoCode": milestone.amount.currency,
        "pse__Status__c": "Canceled"
        if status is MilestoneStatus.CANCELLED
        else ("Approved" if approved else "Planned"),
        "pse__Approved__c": approved,
        "pse__Invoiced__c": status is MilestoneStatus.INVOICED,
    }
    return body | reference_body(
        "pse__Project__c", "pse__Project__r", "pse__Proj__c", milestone.project_id, lookups=lookups
    )


# --------------------------------------------------------------------------- time
_TIMESHEET_NATIVE = {
    "resource_id": "pse__Resource__c",
    "project_id": "pse__Project__c",
    "week_start": "pse__Start_Date__c",
    "status": "pse__Status__c",
    "approved_at": "SystemModstamp",
    "entries": "(hours)",
}
_ENTRY_NATIVE = {"hours": "(hours)", "bill_rate": "pse__Assignment__r.pse__Bill_Rate__c"}


def _day_date(week_start: dt.date, weekday: int) -> dt.date:
    """The date of ``weekday`` (Monday 0) in the week that starts on ``week_start``.

    Certinia's week start is org configuration (often Sunday or Monday), so the day fields are
    placed relative to it rather than assumed to start on Monday.
    """
    return week_start + dt.timedelta(days=(weekday - week_start.weekday()) % 7)


def timecard_to_timesheet(record: RawRecord, *, lookups: Lookups | None = None) -> Timesheet:
    """A submitted, approved or rejected ``pse__Timecard_Header__c`` as a :class:`Timesheet`.

    One :class:`TimeEntry` per day with non-zero hours (id ``<timesheet id>-<date>``), billable
    as the header says, at the assignment's bill rate when the page carries it, else at the
    rate card of the resource's role in its currency: ``lookups["pse__Rate_Card__c"]`` maps
    ``"<role>|<currency>"`` to the rate (see ``CertiniaConnector.rate_card_rates``). A saved
    (unsubmitted) timecard, a timecard without hours and negative hours are refused.

    Raises:
        RecordMappingError: Naming every missing or invalid field.
    """
    reader = RecordReader(record, "pse__Timecard_Header__c", lookups)
    canonical, refs = reader.identity()
    status_text = reader.text("pse__Status__c")
    status = _SUBMITTED.get(status_text or "")
    if status_text is not None and status is None:
        reader.problem("pse__Status__c", f"is {status_text!r}: only submitted timecards map")
    resource_id = reader.reference("pse__Resource__c", "pse__Resource__r", "Contact")
    project_id = reader.reference("pse__Project__c", "pse__Project__r", "pse__Proj__c")
    week_start = reader.date("pse__Start_Date__c")
    billable = reader.flag("pse__Billable__c", default=True)
    rate = reader.decimal("pse__Assignment__r.pse__Bill_Rate__c", required=False)
    rate_currency = reader.text("pse__Assignment__r.CurrencyIsoCode", required=False)
    if rate is None:
        # Time logged without an assignment (projects may allow it) is priced at the rate
        # card of the resource's role ([inferred] precedence, as an assignment's rate is), in
        # the project's currency: a consultant of another legal entity bills at the project's
        # rates (docs/flows/multi-entity.md).
        role_of = reader.text("pse__Resource__r.pse__Resource_Role__c", required=False)
        rate_currency = timecard_rate_currency(record)
        card = (lookups or {}).get(RATE_CARDS, {}).get(f"{role_of}|{rate_currency}")
        rate = Decimal(card) if card is not None else None
    rate_currency = rate_currency or reader.text("CurrencyIsoCode", required=False)
    bill_rate = Money.of(rate, rate_currency) if rate is not None and rate_currency else None
    role = reader.text("pse__Assignment__r.pse__Role__c", required=False)
    days: list[tuple[int, str, Decimal]] = []
    for weekday, day in enumerate(DAYS):
        field = f"pse__{day}_Hours__c"
        hours = reader.decimal(field, required=False)
        if hours is None or hours == 0:
            continue
        if hours < 0 or hours > _MAX_DAY_HOURS:
            reader.problem(field, "must be between 0 and 24 hours")
            continue
        days.append((weekday, day, hours))
    if not days and not reader.problems:
        reader.problem("pse__Total_Hours__c", "the timecard has no hours")
    reader.raise_problems()
    if week_start is None or resource_id is None or project_id is None:
        # Unreachable: each of them noted a problem when missing. Kept for the type checker.
        raise RecordMappingError(reader.sobject, reader.record_id, reader.problems)
    entries = []
    dated = sorted((_day_date(week_start, weekday), day, hours) for weekday, day, hours in days)
    for when, day, hours in dated:
        entries.append(
            reader.build(
                TimeEntry,
                _ENTRY_NATIVE | {"date": f"pse__{day}_Hours__c"},
                id=f"{canonical}-{when.isoformat()}",
                project_id=project_id,
                resource_id=resource_id,
                date=when,
                hours=hours,
                billable=billable,
                bill_rate=bill_rate,
                role=role,
                notes=reader.text(f"pse__{day}_Notes__c", required=False) or "",
                refs=refs,
            )
        )
    values = {
        "id": canonical,
        "resource_id": resource_id,
        "project_id": project_id,
        "week_start": week_start,
        "status": status,
        "entries": tuple(entries),
        "approved_at": _modstamp(reader) if status is TimesheetStatus.APPROVED else None,
        "refs": refs,
    }
    return reader.build(Timesheet, _TIMESHEET_NATIVE, **values)


# --------------------------------------------------------------------------- expenses
_EXPENSE_NATIVE = {
    "project_id": "pse__Project__c",
    "resource_id": "pse__Resource__c",
    "date": "pse__Expense_Date__c",
    "category": "pse__Type__c",
    "amount": "pse__Amount__c",
    "billable": "pse__Billable__c",
    "status": "pse__Status__c",
    "description": "pse__Description__c",
    "approved_at": "SystemModstamp",
}


def expense_to_canonical(record: RawRecord, *, lookups: Lookups | None = None) -> Expense:
    """A submitted, approved or rejected ``pse__Expense__c`` as a canonical :class:`Expense`.

    Raises:
        RecordMappingError: Naming every missing or invalid field (a draft is refused).
    """
    reader = RecordReader(record, "pse__Expense__c", lookups)
    canonical, refs = reader.identity()
    status_text = reader.text("pse__Status__c")
    status = _EXPENSE_STATUS.get(status_text or "")
    if status_text is not None and status is None:
        reader.problem("pse__Status__c", f"is {status_text!r}: only submitted expenses map")
    kind = reader.text("pse__Type__c", required=False)
    values = {
        "id": canonical,
        "project_id": reader.reference("pse__Project__c", "pse__Project__r", "pse__Proj__c"),
        "resource_id": reader.reference(
            "pse__Resource__c", "pse__Resource__r", "Contact", required=False
        ),
        "date": reader.date("pse__Expense_Date__c"),
        "category": EXPENSE_TYPES.get(kind or "Other", ExpenseCategory.OTHER),
        "amount": reader.money("pse__Amount__c"),
        "billable": reader.flag("pse__Billable__c", default=True),
        "status": status,
        "description": reader.text("pse__Description__c", required=False) or "",
        "approved_at": _modstamp(reader) if status is ExpenseStatus.APPROVED else None,
        "refs": refs,
    }
    return reader.build(Expense, _EXPENSE_NATIVE, **values)
