"""Delivery: projects, tasks, assignments, time and expenses (the PSA's records).

PSA owns project execution; ERP owns the project as costed. Approved time and expenses are
what the time-and-expense-to-bill flow posts to the ERP; a project's status, tasks and
assignments are what the delivery flow keeps in step between the two.
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import ClassVar, Self

from pydantic import Field, model_validator

from accord.domain.base import CanonicalModel, ExternalRef
from accord.domain.enums import (
    AssignmentStatus,
    BillingModel,
    ExpenseCategory,
    ExpenseStatus,
    ProjectStatus,
    TaskStatus,
    TimesheetStatus,
)
from accord.domain.money import CurrencyCode, Money
from accord.domain.types import Hours, Identifier, NonNegativeDecimal, UtcDatetime

__all__ = [
    "Assignment",
    "Expense",
    "Project",
    "ProjectFieldsChange",
    "ProjectStatusChange",
    "ProjectTask",
    "TimeEntry",
    "Timesheet",
]

_MAX_HOURS_PER_DAY = Decimal(24)


def _check_dates(start: dt.date | None, end: dt.date | None) -> None:
    if start is not None and end is not None and end < start:
        raise ValueError(f"end date {end} is before start date {start}")


class Project(CanonicalModel):
    """A delivery project provisioned from a won opportunity (or a contract)."""

    __schema_version__: ClassVar[str] = "1.0"

    id: Identifier
    name: Identifier
    customer_id: Identifier
    opportunity_id: Identifier | None = None
    contract_id: Identifier | None = None
    legal_entity: Identifier
    practice: Identifier
    region: Identifier
    billing_model: BillingModel
    status: ProjectStatus
    currency: CurrencyCode
    budget: Money | None = None
    start_date: dt.date
    end_date: dt.date | None = None
    template: Identifier | None = Field(default=None, description="PSA project template used.")
    project_manager_id: Identifier | None = None
    refs: tuple[ExternalRef, ...] = ()
    updated_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_dates(self.start_date, self.end_date)
        if self.budget is not None and self.budget.currency != self.currency:
            raise ValueError(f"project budget must be in {self.currency}")
        return self


class ProjectStatusChange(CanonicalModel):
    """A project moved from one status to another (data of ``project.status_changed``)."""

    __schema_version__: ClassVar[str] = "1.0"

    project_id: Identifier
    previous_status: ProjectStatus
    status: ProjectStatus
    changed_at: UtcDatetime
    reason: str | None = None

    @model_validator(mode="after")
    def _changed(self) -> Self:
        if self.previous_status is self.status:
            raise ValueError("a status change needs two different statuses")
        return self


class ProjectFieldsChange(CanonicalModel):
    """Firm-specific fields of a project changed (data of ``project.fields_changed``).

    The fields are the rules' ``custom_fields`` names (never a system's own field names),
    with their new values (``None``: cleared).
    """

    __schema_version__: ClassVar[str] = "1.0"

    project_id: Identifier
    fields: dict[Identifier, str | None] = Field(min_length=1)
    changed_at: UtcDatetime


class ProjectTask(CanonicalModel):
    """A task of a project's work breakdown (a phase, a deliverable), with its estimate.

    ``percent_complete`` is what the system holding the task reports (it may pass 100 when
    the work overruns its estimate).
    """

    __schema_version__: ClassVar[str] = "1.0"

    id: Identifier
    project_id: Identifier
    name: Identifier
    parent_id: Identifier | None = Field(default=None, description="The parent task, if any.")
    status: TaskStatus = TaskStatus.NOT_STARTED
    estimated_hours: NonNegativeDecimal | None = None
    actual_hours: NonNegativeDecimal | None = None
    percent_complete: NonNegativeDecimal | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    billable: bool = True
    refs: tuple[ExternalRef, ...] = ()
    updated_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_dates(self.start_date, self.end_date)
        if self.parent_id == self.id:
            raise ValueError("a task cannot be its own parent")
        return self


class Assignment(CanonicalModel):
    """A resource assigned to a project (or to one of its tasks) for a period, in a role."""

    __schema_version__: ClassVar[str] = "1.1"

    id: Identifier
    project_id: Identifier
    resource_id: Identifier
    role: Identifier
    start_date: dt.date
    end_date: dt.date
    planned_hours: NonNegativeDecimal | None = None
    bill_rate: Money | None = None
    status: AssignmentStatus = AssignmentStatus.CONFIRMED
    refs: tuple[ExternalRef, ...] = ()
    task_id: Identifier | None = Field(
        default=None, description="The task the resource is assigned to (None: the project)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_dates(self.start_date, self.end_date)
        return self


class TimeEntry(CanonicalModel):
    """Hours one resource worked on one project on one day."""

    __schema_version__: ClassVar[str] = "1.0"

    id: Identifier
    project_id: Identifier
    resource_id: Identifier
    date: dt.date
    hours: Hours
    billable: bool
    bill_rate: Money | None = Field(default=None, description="Hourly rate, if billable.")
    role: Identifier | None = None
    notes: str = ""
    refs: tuple[ExternalRef, ...] = ()

    @model_validator(mode="after")
    def _rate(self) -> Self:
        if self.bill_rate is not None and self.bill_rate.amount < 0:
            raise ValueError("bill rate cannot be negative")
        return self

    def billable_amount(self) -> Money | None:
        """Return hours x bill rate, or ``None`` when not billable or unrated."""
        if not self.billable or self.bill_rate is None:
            return None
        return self.bill_rate.mul(self.hours)


class Timesheet(CanonicalModel):
    """A timesheet submission: one resource's entries on one project for one week.

    Every entry must belong to the timesheet's resource and project, fall within the week
    starting on ``week_start``, and no day may total more than 24 hours.
    """

    __schema_version__: ClassVar[str] = "1.0"

    id: Identifier
    resource_id: Identifier
    project_id: Identifier
    week_start: dt.date
    status: TimesheetStatus
    entries: tuple[TimeEntry, ...] = Field(min_length=1)
    submitted_at: UtcDatetime | None = None
    approved_at: UtcDatetime | None = None
    refs: tuple[ExternalRef, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.status is TimesheetStatus.APPROVED and self.approved_at is None:
            raise ValueError("an approved timesheet needs approved_at")
        week_end = self.week_start + dt.timedelta(days=6)
        per_day: defaultdict[dt.date, Decimal] = defaultdict(Decimal)
        ids: set[str] = set()
        for entry in self.entries:
            if entry.resource_id != self.resource_id or entry.project_id != self.project_id:
                raise ValueError(f"entry {entry.id} belongs to another resource or project")
            if not self.week_start <= entry.date <= week_end:
                raise ValueError(f"entry {entry.id} is outside the week of {self.week_start}")
            if entry.id in ids:
                raise ValueError(f"entry {entry.id} appears twice")
            ids.add(entry.id)
            per_day[entry.date] += entry.hours
            if per_day[entry.date] > _MAX_HOURS_PER_DAY:
                raise ValueError(f"more than 24 hours on {entry.date}")
        return self

    @property
    def total_hours(self) -> Decimal:
        """Sum of the entries' hours."""
        return sum((entry.hours for entry in self.entries), Decimal(0))


class Expense(CanonicalModel):
    """An expense a resource (or, with ``vendor_id``, a vendor or subcontractor) incurred."""

    __schema_version__: ClassVar[str] = "1.1"

    id: Identifier
    project_id: Identifier
    resource_id: Identifier | None = None
    date: dt.date
    category: ExpenseCategory
    amount: Money
    billable: bool
    status: ExpenseStatus
    description: str = ""
    approved_at: UtcDatetime | None = None
    refs: tuple[ExternalRef, ...] = ()
    vendor_id: Identifier | None = Field(
        default=None, description="The vendor billing it (a pass-through or subcontractor cost)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.amount.amount <= 0:
            raise ValueError("expense amount must be positive")
        return self
