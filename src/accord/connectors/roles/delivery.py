"""What the delivery flow hands a PSA and an ERP, and what they hand back (issue 23).

The delivery methods themselves are on :class:`~accord.connectors.roles.Psa` and
:class:`~accord.connectors.roles.Erp` (their ``# --- delivery`` sections); the small frozen
values they take and return live here, so that both roles share them.

Firm-specific project fields are named by the rules' ``custom_fields`` (canonical names); each
system maps a name to its own field (:func:`custom_field_names`), and only that system's role
ever sees its field names.
"""

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from accord.connectors.roles.feeds import ChangeFeed, Mapped, collection_feed
from accord.connectors.roles.xref import KnownIds
from accord.connectors.types import RawRecord
from accord.domain import (
    Assignment,
    Expense,
    ProjectStatus,
    ProjectTask,
    VendorBill,
    VendorBillLine,
)
from accord.rules import Rules

if TYPE_CHECKING:  # the connector base builds on the roles: no import at run time
    from accord.connectors.base import Connector

__all__ = [
    "DeliveryRecord",
    "ErpAssignment",
    "ErpTask",
    "PostedVendorBill",
    "ProjectState",
    "TaskProgress",
    "VendorBillRequest",
    "VendorCost",
    "custom_field_names",
    "project_state_feed",
]


@dataclass(frozen=True)
class ProjectState:
    """A project's status and firm-specific fields as one system holds them now.

    Attributes:
        project_id: The canonical project id.
        status: The system's status, in canonical terms.
        fields: Firm-specific fields by their canonical (rules) name; only the fields the
            rules map for the system, ``None`` for a blank value.
        changed_at: When the system last changed the project, if it says.
        label: How people recognise the project in the system (its name or number).
    """

    project_id: str
    status: ProjectStatus
    fields: Mapping[str, str | None] = field(default_factory=dict)
    changed_at: dt.datetime | None = None
    label: str = ""


DeliveryRecord = ProjectState | ProjectTask | Assignment | Expense | tuple[Expense, ...]
"""What a PSA's delivery feeds carry: a project's state, a task, an assignment (of a person
to the project or to a task), or approved vendor expenses (:class:`Expense` with a
``vendor_id``: one, or the lines of one approved vendor invoice)."""


@dataclass(frozen=True)
class ErpTask:
    """A project task to create or update in the ERP, keyed by its canonical id.

    Attributes:
        task: The canonical task (its estimate is what the ERP computes progress against).
        project: The ERP's id of the task's project.
        parent: The ERP's id of the parent task, when the task has one the ERP holds.
    """

    task: ProjectTask
    project: str
    parent: str | None = None


@dataclass(frozen=True)
class TaskProgress:
    """How far a task is, as the ERP computes it from its estimate and what was booked.

    Attributes:
        erp_id: The ERP's id of the task.
        estimated_hours: The estimate the ERP holds.
        actual_hours: Hours booked to the task in the ERP.
        percent_complete: Actual over estimate, in percent (``None`` without an estimate).
    """

    erp_id: str
    estimated_hours: Decimal | None
    actual_hours: Decimal
    percent_complete: Decimal | None


@dataclass(frozen=True)
class ErpAssignment:
    """A person to put on an ERP project (``task`` ``None``) or on one of its tasks.

    Attributes:
        assignment: The canonical assignment (``resource_id`` is the firm's consultant id).
        project: The ERP's id of the project.
        legal_entity: The legal entity the project books in: the person must be an employee
            there.
        task: The ERP's id of the task, for a task assignment.
    """

    assignment: Assignment
    project: str
    legal_entity: str
    task: str | None = None


@dataclass(frozen=True)
class VendorBillRequest:
    """A vendor bill to post in the ERP, exactly once per ``bill.id``.

    Attributes:
        bill: The canonical bill; its id is the idempotency key (the ERP's external id or
            the vendor invoice number Accord gives it).
        vendor: The ERP's id of the vendor.
        projects: Canonical project id -> the ERP's project id, for every line.
        tasks: Canonical task id -> the ERP's task id, for lines charged to a task.
    """

    bill: VendorBill
    vendor: str
    projects: Mapping[str, str]
    tasks: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PostedVendorBill:
    """What the ERP holds for a vendor bill after ``Erp.post_vendor_bill``.

    Attributes:
        erp_id: The ERP's id of the bill.
        number: Its document number, if the ERP gave it one.
        created: This call created it (``False``: the ERP held it already).
    """

    erp_id: str
    number: str | None
    created: bool


@dataclass(frozen=True)
class VendorCost:
    """One line of an ERP vendor bill to record on a PSA project as a project expense.

    Attributes:
        key: The canonical id of the PSA's record (``<bill id>-<line number>``): its
            idempotency key.
        bill: The bill the line is on (vendor, number, date, currency).
        line: The line.
        project: The PSA's id of the line's project.
        task: The PSA's id of the line's task, if it has one the PSA holds.
    """

    key: str
    bill: VendorBill
    line: VendorBillLine
    project: str
    task: str | None = None


def custom_field_names(rules: Rules, system: str) -> dict[str, str]:
    """The rules' firm-specific project fields mapped for ``system``: canonical -> its field."""
    return {
        name: mapped
        for name, spec in rules.spec.custom_fields.project.items()
        if (mapped := spec.field_of(system)) is not None
    }


def project_state_feed(
    source: "Connector[Any]",
    resource: str,
    ids: KnownIds,
    *,
    id_field: str,
    state: Callable[[RawRecord, str], ProjectState],
) -> ChangeFeed[Mapped[ProjectState] | None]:
    """The ``delivery:<resource>`` feed of an ERP's changed projects that Accord created.

    Args:
        source: The ERP's connector.
        resource: Its project resource.
        ids: The connection's cross-reference; a project it does not know maps to ``None``.
        id_field: The record's field holding the ERP's project id (``erp_project`` in ``ids``).
        state: A project record and its canonical id -> its state.
    """

    def mapped(record: RawRecord) -> Mapped[ProjectState] | None:
        erp_id = str(record.get(id_field) or "")
        project = ids.canonical("erp_project", erp_id) if erp_id else None
        if project is None:
            return None
        value = state(record, project)
        return Mapped(
            kind="project", record_id=erp_id, canonical_id=project, label=value.label, value=value
        )

    return replace(collection_feed(source, resource, mapped), name=f"delivery:{resource}")
