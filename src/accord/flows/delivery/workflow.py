"""The delivery workflow: one durable run per delivery event (docs/flows/delivery.md).

One DBOS workflow, ``delivery`` (the flow's name, :mod:`.spec`), handles every delivery event
type; its output's ``scenario`` names which of these it carried:

- ``status``: ``project.status_changed`` / ``project.activated``: the side that owns a
  project's status moves the other side (:func:`~.steps.sync_status`); a change on the side
  that does not own it is filed with delivery ops (``project.not_owner``), never propagated.
  A completed or cancelled project takes no more postings in the ERP: time-to-bill refuses
  them (``project.inactive``, delivery ops).
- ``fields``: ``project.fields_changed``: each firm-specific field its owner changed is
  written to the other side; changes by a non-owner are filed (``project.not_owner``).
- ``task``: ``task.upserted``: the task and its estimate are upserted in the ERP, which
  computes percent complete; the run's output has both sides' percent complete.
- ``assignment``: ``assignment.upserted``: the person is put on the ERP project or task;
  a person the ERP does not employ in the project's legal entity is named in a
  ``project.resource_unknown`` exception (delivery ops).
- ``vendor_expense``: ``vendor_expense.approved``: the expense becomes one vendor bill in
  the ERP (:mod:`.costs`); a vendor the ERP does not have (``billing.vendor_unknown``) or a
  refusal (``billing.vendor_bill_refused``) goes to finance ops.
- ``vendor_bill``: ``vendor_bill.posted``: the bill's lines become project expenses in the
  PSA, once.

After a fix, an exception's retry re-runs the event (``accord.flows.replay``); every write is
idempotent, so nothing is written twice. A run that found no ERP project for its project yet is
retried by Accord once the project has one (:mod:`.waiting`). The steps' writes go through the
``flow`` budget lane (the default lane of a run), ahead of bulk postings and polls.
"""

import json
from collections.abc import Callable
from typing import Any, Final

from dbos import DBOS

from accord.domain import Assignment, Expense, ProjectStatus, ProjectTask, VendorBill
from accord.flows.delivery.capture import FLOW
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
from accord.flows.shared.compensation import Saga, SagaStep, Undo

__all__ = ["COMPENSATION", "EVENTS", "SCENARIOS", "WORKFLOW", "delivery"]

WORKFLOW: Final = FLOW
"""The DBOS workflow every delivery event's run starts."""

SCENARIOS: Final[dict[str, str]] = {
    "project.status_changed": "status",
    "project.activated": "status",
    "project.fields_changed": "fields",
    "task.upserted": "task",
    "assignment.upserted": "assignment",
    "vendor_expense.approved": "vendor_expense",
    "vendor_bill.posted": "vendor_bill",
}
"""Event type -> the scenario its run carries (the output's ``scenario``)."""

EVENTS: Final[tuple[str, ...]] = tuple(SCENARIOS)

_ONE_WRITE = (
    "a run makes one change in one system (its scenario's), by ownership and idempotent by "
    "key: a refusal leaves nothing to undo and opens an exception"
)
COMPENSATION = Saga(
    flow=WORKFLOW,
    steps=(
        SagaStep("delivery.sync_status", "erp", Undo.KEEP, note=_ONE_WRITE),
        SagaStep("delivery.sync_fields", "erp", Undo.KEEP, note=_ONE_WRITE),
        SagaStep("delivery.sync_task", "erp", Undo.KEEP, note=_ONE_WRITE),
        SagaStep("delivery.sync_assignment", "erp", Undo.KEEP, note=_ONE_WRITE),
        SagaStep(
            "delivery.bill_vendor_expense",
            "erp",
            Undo.KEEP,
            note="the vendor bill is the ERP's record of a cost already incurred; a refused one "
            "is an exception, a posted one is reversed only by a credit memo",
        ),
        SagaStep(
            "delivery.record_vendor_bill",
            "psa",
            Undo.KEEP,
            note="records in the PSA a bill the ERP already holds",
        ),
        SagaStep("delivery.report", None, Undo.NOTHING, note="Accord's own exception records"),
        SagaStep("delivery.resolve", None, Undo.NOTHING, note="Accord's own exception records"),
        SagaStep(
            "delivery.release_placed",
            None,
            Undo.NOTHING,
            note="re-runs waiting runs through the exception retry",
        ),
    ),
)
"""What undoes each step (docs/flows/compensation.md)."""
"""The event types the workflow handles (its spec claims them)."""


def _finish(scenario: str, outcome: str, result: dict[str, Any]) -> dict[str, Any]:
    return finish_run(FLOW, outcome, {"scenario": scenario, **result})


def _filed(
    ref: EventRef,
    code: str,
    title: str,
    result: dict[str, Any],
    dedupe_key: str,
    *,
    outcome: str = "refused",
) -> dict[str, Any]:
    """File the run's exception (``result`` is its detail) and finish with ``outcome``."""
    opened = report(
        Report(
            code=code,
            title=title[:255],
            detail=result,
            business_key=ref.business_key,
            dedupe_key=dedupe_key,
        )
    )
    return _finish(SCENARIOS[ref.type], outcome, {**result, "exception": opened})


def _not_in_erp(result: dict[str, Any], refused_code: str) -> str | None:
    """The exception code of a write that did not land (not placed in the ERP yet, or refused)."""
    if "unplaced" in result:
        return "project.unplaced"
    return refused_code if "rejected" in result else None


def _why(result: dict[str, Any]) -> str:
    rejected = result.get("rejected")
    if isinstance(rejected, dict):
        return str(rejected.get("detail") or rejected.get("error"))
    return str(result.get("unplaced") or result.get("vendor_unknown") or "refused")


# ---------------------------------------------------------------------- status and fields
def _status(ref: EventRef) -> dict[str, Any]:
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
        return _finish("status", "in_step", result)
    if result.get("not_owner"):
        return _filed(
            ref,
            "project.not_owner",
            f"Project {project_id} was set {status} in the {result['from'].upper()}, but the "
            f"{result['owner'].upper()} owns its status ({result['owner_status']}): "
            "not propagated",
            result,
            key,
            outcome="not_owner",
        )
    if "rejected" in result:
        return _filed(ref, "project.status_refused",
                      f"Project {project_id} could not be set {status}: {_why(result)}",
                      result, key)  # fmt: skip
    resolved = resolve((key,), f"status synced ({status})")
    return _finish("status", "synced", {**result, "resolved": resolved})


def _fields(ref: EventRef) -> dict[str, Any]:
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
        return _filed(ref, "project.fields_refused",
                      f"Fields of project {project_id} were not written: {_why(result)}",
                      result, key)  # fmt: skip
    if result["ignored"]:
        return _filed(ref, "project.not_owner",
                      f"Project {project_id}: {', '.join(result['ignored'])} changed in the "
                      f"{result['from'].upper()}, which does not own them: not propagated",
                      result, key, outcome="partly_synced")  # fmt: skip
    resolve((key,), "fields synced")
    return _finish("fields", "synced", result)


# ---------------------------------------------------------------------- tasks and people
def _task(ref: EventRef) -> dict[str, Any]:
    """Upsert one task in the ERP (see the module docstring)."""
    task = ProjectTask.model_validate(load_event(ref)["data"])
    result = sync_task(TaskRequest(task_json=task.model_dump_json(), event_id=ref.event_id))
    key = f"delivery:task:{task.id}"
    if (code := _not_in_erp(result, "project.task_refused")) is not None:
        return _filed(ref, code, f"Task {task.name} ({task.id}) is not in the ERP: "
                      f"{_why(result)}", result, key)  # fmt: skip
    resolve((key,), "task synced")
    return _finish("task", "synced", result)


def _assignment(ref: EventRef) -> dict[str, Any]:
    """Put one person on the ERP project or task (see the module docstring)."""
    assignment = Assignment.model_validate(load_event(ref)["data"])
    result = sync_assignment(
        AssignmentRequest(assignment_json=assignment.model_dump_json(), event_id=ref.event_id)
    )
    key = f"delivery:assignment:{assignment.id}"
    if "unknown_person" in result:
        return _filed(
            ref,
            "project.resource_unknown",
            f"{assignment.resource_id} is not an employee of {result['legal_entity']} in the "
            f"ERP: not put on project {assignment.project_id}",
            result,
            key,
            outcome="unknown_person",
        )
    if (code := _not_in_erp(result, "project.assignment_refused")) is not None:
        return _filed(ref, code, f"{assignment.resource_id} was not put on project "
                      f"{assignment.project_id}: {_why(result)}", result, key)  # fmt: skip
    resolve((key,), "person assigned")
    return _finish("assignment", "assigned", result)


# ---------------------------------------------------------------------- vendor costs
def _vendor_expense(ref: EventRef) -> dict[str, Any]:
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
            return _filed(ref, code, f"Vendor expense {expense.id} was not billed: "
                          f"{_why(result)}", result, key)  # fmt: skip
    resolve((key,), f"billed as {result.get('number') or result['erp_id']}")
    outcome = "billed" if result.get("created") else "already_billed"
    return _finish("vendor_expense", outcome, result)


def _vendor_bill(ref: EventRef) -> dict[str, Any]:
    """Record one ERP vendor bill's lines in the PSA (see the module docstring)."""
    bill = VendorBill.model_validate(load_event(ref)["data"])
    result = record_vendor_bill(BillRequest(bill_json=bill.model_dump_json(),
                                            event_id=ref.event_id))  # fmt: skip
    key = f"delivery:vendor_bill:{bill.id}"
    problems = [*result["unplaced"], *result["rejected"]]
    if problems:
        return _filed(ref, "billing.vendor_cost_refused",
                      f"Vendor bill {bill.number or bill.id}: {len(problems)} line(s) not "
                      "recorded in the PSA",
                      result, key, outcome="partly_recorded")  # fmt: skip
    resolve((key,), "recorded in the PSA")
    return _finish("vendor_bill", "recorded", result)


_HANDLERS: Final[dict[str, Callable[[EventRef], dict[str, Any]]]] = {
    "status": _status,
    "fields": _fields,
    "task": _task,
    "assignment": _assignment,
    "vendor_expense": _vendor_expense,
    "vendor_bill": _vendor_bill,
}


@DBOS.workflow(name=WORKFLOW)
def delivery(ref: EventRef) -> dict[str, Any]:
    """Carry one delivery event to the other side (see the module docstring)."""
    return _HANDLERS[SCENARIOS[ref.type]](ref)
