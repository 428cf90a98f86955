"""The delivery workflows: one durable run per delivery event (docs/flows/delivery.md).

- ``project.status_changed`` / ``project.activated`` (:data:`STATUS`): the side that owns a
  project's status moves the other side (:func:`~.steps.sync_status`); a change on the side
  that does not own it is filed with delivery ops (``project.not_owner``), never propagated.
  A completed or cancelled project takes no more postings in the ERP: time-to-bill refuses
  them (``project.inactive``, delivery ops).
- ``project.fields_changed`` (:data:`FIELDS`): each firm-specific field its owner changed is
  written to the other side; changes by a non-owner are filed (``project.not_owner``).
- ``task.upserted`` (:data:`TASK`): the task and its estimate are upserted in the ERP, which
  computes percent complete; the run's output has both sides' percent complete.
- ``assignment.upserted`` (:data:`ASSIGNMENT`): the person is put on the ERP project or task;
  a person the ERP does not employ in the project's legal entity is named in a
  ``project.resource_unknown`` exception (delivery ops).
- ``vendor_expense.approved`` (:data:`VENDOR_EXPENSE`): the expense becomes one vendor bill in
  the ERP (:mod:`.costs`); a vendor the ERP does not have (``billing.vendor_unknown``) or a
  refusal (``billing.vendor_bill_refused``) goes to finance ops.
- ``vendor_bill.posted`` (:data:`VENDOR_BILL`): the bill's lines become project expenses in the
  PSA, once.

After a fix, an exception's retry re-runs the event (``accord.flows.replay``); every write is
idempotent, so nothing is written twice.
"""

import json
from typing import Any, Final

from dbos import DBOS

from accord.domain import Assignment, Expense, ProjectStatus, ProjectTask, VendorBill
from accord.flows.delivery.costs import (
    BillRequest,
    ExpenseRequest,
    bill_vendor_expense,
    record_vendor_bill,
)
from accord.flows.delivery.steps import (
    AssignmentRequest,
    FieldsRequest,
    Report,
    StatusRequest,
    TaskRequest,
    report,
    resolve,
    sync_assignment,
    sync_fields,
    sync_status,
    sync_task,
)
from accord.flows.record_event import EventRef, finish_run, load_event

__all__ = [
    "ASSIGNMENT",
    "FIELDS",
    "STATUS",
    "TASK",
    "VENDOR_BILL",
    "VENDOR_EXPENSE",
    "WORKFLOWS",
    "sync_assignment_run",
    "sync_fields_run",
    "sync_status_run",
    "sync_task_run",
    "vendor_bill_run",
    "vendor_expense_run",
]

STATUS: Final = "delivery_status"
FIELDS: Final = "delivery_fields"
TASK: Final = "delivery_task"
ASSIGNMENT: Final = "delivery_assignment"
VENDOR_EXPENSE: Final = "delivery_vendor_expense"
VENDOR_BILL: Final = "delivery_vendor_bill"
WORKFLOWS: Final[dict[str, str]] = {
    "project.status_changed": STATUS,
    "project.activated": STATUS,
    "project.fields_changed": FIELDS,
    "task.upserted": TASK,
    "assignment.upserted": ASSIGNMENT,
    "vendor_expense.approved": VENDOR_EXPENSE,
    "vendor_bill.posted": VENDOR_BILL,
}
"""Event type -> the delivery workflow its runs start (the runtime's table lists the same)."""


def _file(ref: EventRef, code: str, title: str, detail: dict[str, Any], dedupe_key: str) -> int:
    return report(
        Report(
            code=code,
            title=title[:255],
            detail=detail,
            business_key=ref.business_key,
            dedupe_key=dedupe_key,
        )
    )


def _why(result: dict[str, Any]) -> str:
    rejected = result.get("rejected")
    if isinstance(rejected, dict):
        return str(rejected.get("detail") or rejected.get("error"))
    return str(result.get("unplaced") or result.get("vendor_unknown") or "refused")


# ---------------------------------------------------------------------- status and fields
@DBOS.workflow(name=STATUS)
def sync_status_run(ref: EventRef) -> dict[str, Any]:
    """Sync one project status change (see the module docstring)."""
    loaded = load_event(ref)
    data = loaded["data"]
    project_id = str(data.get("project_id") or data.get("id"))
    status = str(data.get("status") or ProjectStatus.ACTIVE.value)
    reason = str(data.get("reason") or f"{ref.type} {ref.event_id}")
    result = sync_status(
        StatusRequest(project_id=project_id, status=status, source=loaded["source"],
                      reason=reason, event_id=ref.event_id)
    )  # fmt: skip
    key = f"delivery:{project_id}:status"
    if result.get("in_step"):
        return finish_run(STATUS, "in_step", result)
    if result.get("not_owner"):
        opened = _file(
            ref,
            "project.not_owner",
            f"Project {project_id} was set {status} in the {result['from'].upper()}, but the "
            f"{result['owner'].upper()} owns its status ({result['owner_status']}): "
            "not propagated",
            result,
            key,
        )
        return finish_run(STATUS, "not_owner", {**result, "exception": opened})
    if "rejected" in result:
        opened = _file(
            ref, "project.status_refused",
            f"Project {project_id} could not be set {status}: {_why(result)}", result, key,
        )  # fmt: skip
        return finish_run(STATUS, "refused", {**result, "exception": opened})
    resolved = resolve((key,), f"status synced ({status})")
    return finish_run(STATUS, "synced", {**result, "resolved": resolved})


@DBOS.workflow(name=FIELDS)
def sync_fields_run(ref: EventRef) -> dict[str, Any]:
    """Sync one change of firm-specific project fields (see the module docstring)."""
    loaded = load_event(ref)
    data = loaded["data"]
    project_id = str(data["project_id"])
    result = sync_fields(
        FieldsRequest(project_id=project_id, fields_json=json.dumps(data["fields"]),
                      source=loaded["source"], event_id=ref.event_id)
    )  # fmt: skip
    key = f"delivery:{project_id}:fields"
    if "rejected" in result:
        opened = _file(ref, "project.fields_refused",
                       f"Fields of project {project_id} were not written: {_why(result)}",
                       result, key)  # fmt: skip
        return finish_run(FIELDS, "refused", {**result, "exception": opened})
    if result["ignored"]:
        opened = _file(
            ref, "project.not_owner",
            f"Project {project_id}: {', '.join(result['ignored'])} changed in the "
            f"{result['from'].upper()}, which does not own them: not propagated",
            result, key,
        )  # fmt: skip
        return finish_run(FIELDS, "partly_synced", {**result, "exception": opened})
    resolve((key,), "fields synced")
    return finish_run(FIELDS, "synced", result)


# ---------------------------------------------------------------------- tasks and people
@DBOS.workflow(name=TASK)
def sync_task_run(ref: EventRef) -> dict[str, Any]:
    """Upsert one task in the ERP (see the module docstring)."""
    task = ProjectTask.model_validate(load_event(ref)["data"])
    result = sync_task(TaskRequest(task_json=task.model_dump_json(), event_id=ref.event_id))
    key = f"delivery:task:{task.id}"
    if "unplaced" in result or "rejected" in result:
        code = "project.unplaced" if "unplaced" in result else "project.task_refused"
        opened = _file(ref, code, f"Task {task.name} ({task.id}) is not in the ERP: "
                       f"{_why(result)}", result, key)  # fmt: skip
        return finish_run(TASK, "refused", {**result, "exception": opened})
    resolve((key,), "task synced")
    return finish_run(TASK, "synced", result)


@DBOS.workflow(name=ASSIGNMENT)
def sync_assignment_run(ref: EventRef) -> dict[str, Any]:
    """Put one person on the ERP project or task (see the module docstring)."""
    assignment = Assignment.model_validate(load_event(ref)["data"])
    result = sync_assignment(
        AssignmentRequest(assignment_json=assignment.model_dump_json(), event_id=ref.event_id)
    )
    key = f"delivery:assignment:{assignment.id}"
    if "unknown_person" in result:
        opened = _file(
            ref,
            "project.resource_unknown",
            f"{assignment.resource_id} is not an employee of {result['legal_entity']} in the "
            f"ERP: not put on project {assignment.project_id}",
            result,
            key,
        )
        return finish_run(ASSIGNMENT, "unknown_person", {**result, "exception": opened})
    if "unplaced" in result or "rejected" in result:
        code = "project.unplaced" if "unplaced" in result else "project.assignment_refused"
        opened = _file(ref, code, f"{assignment.resource_id} was not put on project "
                       f"{assignment.project_id}: {_why(result)}", result, key)  # fmt: skip
        return finish_run(ASSIGNMENT, "refused", {**result, "exception": opened})
    resolve((key,), "person assigned")
    return finish_run(ASSIGNMENT, "assigned", result)


# ---------------------------------------------------------------------- vendor costs
@DBOS.workflow(name=VENDOR_EXPENSE)
def vendor_expense_run(ref: EventRef) -> dict[str, Any]:
    """Bill one approved vendor expense in the ERP (see the module docstring)."""
    expense = Expense.model_validate(load_event(ref)["data"])
    result = bill_vendor_expense(
        ExpenseRequest(expense_json=expense.model_dump_json(), event_id=ref.event_id)
    )
    key = f"delivery:vendor_expense:{expense.id}"
    for field, code in (
        ("vendor_unknown", "billing.vendor_unknown"),
        ("unplaced", "billing.unplaced"),
        ("rejected", "billing.vendor_bill_refused"),
    ):
        if field in result:
            opened = _file(ref, code, f"Vendor expense {expense.id} was not billed: "
                           f"{_why(result)}", result, key)  # fmt: skip
            return finish_run(VENDOR_EXPENSE, "refused", {**result, "exception": opened})
    resolve((key,), f"billed as {result.get('number') or result['erp_id']}")
    outcome = "billed" if result.get("created") else "already_billed"
    return finish_run(VENDOR_EXPENSE, outcome, result)


@DBOS.workflow(name=VENDOR_BILL)
def vendor_bill_run(ref: EventRef) -> dict[str, Any]:
    """Record one ERP vendor bill's lines in the PSA (see the module docstring)."""
    bill = VendorBill.model_validate(load_event(ref)["data"])
    result = record_vendor_bill(BillRequest(bill_json=bill.model_dump_json(),
                                            event_id=ref.event_id))  # fmt: skip
    key = f"delivery:vendor_bill:{bill.id}"
    problems = [*result["unplaced"], *result["rejected"]]
    if problems:
        opened = _file(ref, "billing.vendor_cost_refused",
                       f"Vendor bill {bill.number or bill.id}: {len(problems)} line(s) not "
                       "recorded in the PSA", result, key)  # fmt: skip
        return finish_run(VENDOR_BILL, "partly_recorded", {**result, "exception": opened})
    resolve((key,), "recorded in the PSA")
    return finish_run(VENDOR_BILL, "recorded", result)
