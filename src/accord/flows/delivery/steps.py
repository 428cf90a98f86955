"""The side effects of delivery sync (status, fields, tasks, people), one DBOS step each.

Each step takes one frozen dataclass and is idempotent on its own: statuses and fields are
absolute values (writing again writes nothing), tasks are upserted by their canonical id and
people by their assignment's id, xref and lineage links are unique. A target's refusal (a
:class:`~accord.errors.PermanentError`) is returned, not raised: the workflow files it with
its owner (:func:`report`). Vendor costs are in :mod:`.costs`.

Lineage: ``psa_project -has_task-> task -synced_to-> erp_task``, ``task -assigned-> assignment``
(``psa_project -staffed-> assignment`` for a person on the whole project), ``assignment -of->
resource``, and ``psa_project -status-> erp_project`` carrying the status last synced.
"""

import json
from dataclasses import dataclass
from typing import Any, Final

from dbos import DBOS

from accord.connectors.roles import ErpAssignment, ErpTask, ProjectState
from accord.domain import Assignment, ProjectStatus, ProjectTask
from accord.errors import NotFoundError, PermanentError
from accord.flows import stepkit
from accord.flows.delivery.capture import FLOW
from accord.flows.delivery.state import Side, field_owner, source_side, status_owner
from accord.flows.delivery.waiting import no_erp_project, no_erp_task
from accord.flows.shared.finance import PlacedProject, open_exception, place_project, refusal
from accord.flows.shared.finance import resolve_exceptions as _resolve

__all__ = [
    "AssignmentRequest",
    "FieldsRequest",
    "Report",
    "StatusRequest",
    "TaskRequest",
    "report",
    "resolve",
    "sync_assignment",
    "sync_fields",
    "sync_status",
    "sync_task",
]

CLOSED: Final = frozenset({ProjectStatus.COMPLETED, ProjectStatus.CANCELLED})
"""Statuses after which a project takes no more time or expenses."""


def _target(placed: PlacedProject, side: Side) -> tuple[str, str, str] | None:
    return placed.erp if side == "erp" else placed.psa


# ---------------------------------------------------------------------- exceptions
@dataclass(frozen=True)
class Report:
    """Input of :func:`report`: one exception for its owner queue (routed by ``code``)."""

    code: str
    title: str
    detail: dict[str, Any]
    business_key: str
    dedupe_key: str


@DBOS.step(name="delivery.report", **stepkit.STEP_RETRIES)
def report(request: Report) -> int:
    """Open (or refresh) the exception; returns its id."""
    return open_exception(
        code=request.code,
        title=request.title,
        detail=request.detail,
        business_key=request.business_key,
        dedupe_key=request.dedupe_key,
        flow=FLOW,
        run_id=DBOS.workflow_id,
    )


@DBOS.step(name="delivery.resolve", **stepkit.STEP_RETRIES)
def resolve(dedupe_keys: tuple[str, ...], resolution: str) -> int:
    """Resolve the open exceptions a success made moot; returns how many."""
    return sum(_resolve(key, resolution) for key in dedupe_keys)


# ---------------------------------------------------------------------- status
@dataclass(frozen=True)
class StatusRequest:
    """Input of :func:`sync_status`: a project's new status and where the change came from."""

    project_id: str
    status: str
    source: str
    reason: str
    event_id: str


@DBOS.step(name="delivery.sync_status", **stepkit.STEP_RETRIES)
def sync_status(request: StatusRequest) -> dict[str, Any]:
    """Move the other side's project to the status, when the changing side owns it.

    A change reported by the side that does not own the status is the echo of a sync when the
    owner holds that status already (``in_step``); otherwise it is not propagated.

    Returns:
        ``{"written": [...], "missing": [sides]}``; ``{"in_step": True}``; ``{"not_owner":
        True, "owner_status"}``; ``{"rejected": ...}`` when a target refused.
    """
    status = ProjectStatus(request.status)
    placed = place_project(request.project_id)
    side, owner = source_side(request.source, placed), status_owner()
    out: dict[str, Any] = {"project_id": request.project_id, "project_status": status.value,
                           "from": side or "api", "owner": owner}  # fmt: skip
    if side is not None and side != owner:
        where = _target(placed, owner)
        held = _status_of(owner, where, request.project_id) if where else None
        if held is status:
            return {**out, "in_step": True}
        return {**out, "not_owner": True, "owner_status": held.value if held else None}
    written: list[dict[str, Any]] = []
    missing: list[str] = []
    targets: tuple[Side, ...] = ("erp", "psa")
    for target in (t for t in targets if t != side):
        where = _target(placed, target)
        if where is None:
            missing.append(target)
            continue
        _, connection, ext = where
        try:
            if target == "erp":
                changed = stepkit.erp(connection).set_project_status(
                    ext, status, reason=request.reason
                )
            else:
                changed = stepkit.psa(connection).set_project_status(
                    ext, status, reason=request.reason
                )
        except PermanentError as exc:
            return {**out, "rejected": refusal(exc), "target": target, "connection": connection}
        written.append({"side": target, "connection": connection, "changed": changed})
    if placed.psa is not None and placed.erp is not None:
        with stepkit.engine().begin() as conn:
            stepkit.link_edge(
                conn, ("psa_project", request.project_id), ("erp_project", request.project_id),
                "status", status=status.value, event_id=request.event_id,
            )  # fmt: skip
    if status in CLOSED:
        out["postings"] = "refused from now on (the project is closed)"
    return {**out, "written": written, "missing": missing}


def _state(side: Side, where: tuple[str, str, str], project_id: str) -> ProjectState:
    _, connection, ext = where
    if side == "erp":
        return stepkit.erp(connection).project_state(ext, project_id)
    return stepkit.psa(connection).project_state(ext, project_id)


def _status_of(side: Side, where: tuple[str, str, str], project_id: str) -> ProjectStatus | None:
    try:
        return _state(side, where, project_id).status
    except NotFoundError:
        return None


# ---------------------------------------------------------------------- fields
@dataclass(frozen=True)
class FieldsRequest:
    """Input of :func:`sync_fields`: changed firm-specific fields (JSON) and their source."""

    project_id: str
    fields_json: str
    source: str
    event_id: str


@DBOS.step(name="delivery.sync_fields", **stepkit.STEP_RETRIES)
def sync_fields(request: FieldsRequest) -> dict[str, Any]:
    """Write each field its owner changed to the other side; report the others.

    Returns:
        ``{"written": {side: fields}, "ignored": [names the changing side does not own]}``;
        ``{"rejected": ...}`` when a target refused.
    """
    fields: dict[str, str | None] = json.loads(request.fields_json)
    placed = place_project(request.project_id)
    side = source_side(request.source, placed)
    by_target: dict[Side, dict[str, str | None]] = {}
    ignored: list[str] = []
    owners: dict[Side, dict[str, str | None]] = {}
    for name, value in sorted(fields.items()):
        owner = field_owner(name)
        if side is not None and side != owner:
            # The echo of a sync: the owner holds the value already.
            where = _target(placed, owner)
            if where is not None and owner not in owners:
                owners[owner] = dict(_state(owner, where, request.project_id).fields)
            if owners.get(owner, {}).get(name) != value:
                ignored.append(name)
            continue
        by_target.setdefault("psa" if owner == "erp" else "erp", {})[name] = value
    written: dict[str, dict[str, str | None]] = {}
    for target, values in by_target.items():
        where = _target(placed, target)
        if where is None:
            continue
        _, connection, ext = where
        try:
            if target == "erp":
                stepkit.erp(connection).write_project_fields(ext, values)
            else:
                stepkit.psa(connection).write_project_fields(ext, values)
        except PermanentError as exc:
            return {"rejected": refusal(exc), "target": target, "connection": connection}
        written[target] = values
    return {"project_id": request.project_id, "from": side or "api", "written": written,
            "ignored": ignored}  # fmt: skip


# ---------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class TaskRequest:
    """Input of :func:`sync_task`: the task, as the PSA holds it."""

    task_json: str
    event_id: str


@DBOS.step(name="delivery.sync_task", **stepkit.STEP_RETRIES)
def sync_task(request: TaskRequest) -> dict[str, Any]:
    """Upsert the task (with its estimate) in the project's ERP; read the ERP's progress.

    Returns:
        ``{"erp_task", "erp", "estimated_hours", "psa_percent_complete",
        "erp_percent_complete", "erp_actual_hours"}``; ``{"unplaced": why}`` without an ERP
        project; ``{"rejected": ...}`` when the ERP refused it.
    """
    task = ProjectTask.model_validate_json(request.task_json)
    placed = place_project(task.project_id)
    out: dict[str, Any] = {"task_id": task.id, "project_id": task.project_id}
    if placed.erp is None:
        return {**out, **no_erp_project(task.project_id)}
    system, connection, erp_project = placed.erp
    parent = (
        stepkit.known_external("erp_task", task.parent_id, connection) if task.parent_id else None
    )
    erp = stepkit.erp(connection)
    try:
        erp_task = erp.upsert_task(ErpTask(task=task, project=erp_project, parent=parent))
        progress = erp.task_progress(erp_task)
    except PermanentError as exc:
        return {**out, "rejected": refusal(exc), "erp": [system, connection]}
    stepkit.link_xref("erp_task", task.id, system, connection, erp_task)
    with stepkit.engine().begin() as conn:
        stepkit.link_edge(
            conn, ("psa_project", task.project_id), ("task", task.id), "has_task",
            status=task.status.value, event_id=request.event_id,
        )  # fmt: skip
        stepkit.link_edge(conn, ("task", task.id), ("erp_task", task.id), "synced_to",
                          status="upserted")  # fmt: skip

    def text(value: object) -> str | None:
        return None if value is None else str(value)

    return {
        **out,
        "erp_task": erp_task,
        "erp": [system, connection],
        "estimated_hours": text(task.estimated_hours),
        "psa_percent_complete": text(task.percent_complete),
        "erp_percent_complete": text(progress.percent_complete),
        "erp_actual_hours": text(progress.actual_hours),
    }


# ---------------------------------------------------------------------- people
@dataclass(frozen=True)
class AssignmentRequest:
    """Input of :func:`sync_assignment`: a person on the project or on one of its tasks."""

    assignment_json: str
    event_id: str


@DBOS.step(name="delivery.sync_assignment", **stepkit.STEP_RETRIES)
def sync_assignment(request: AssignmentRequest) -> dict[str, Any]:
    """Put the person on the ERP project (and task) as a project resource.

    A task the ERP does not hold yet (its own change is not synced yet: it may be queued behind
    this run, the PSA's feeds are read in no set order) is not waited for here: the run ends
    unplaced, and :mod:`.waiting` re-runs it once the task is in the ERP.

    Returns:
        ``{"erp_resource", "erp"}``; ``{"unknown_person": message}`` when the ERP has no
        employee for the person in the project's legal entity; ``{"unplaced": why}``;
        ``{"rejected": ...}``.
    """
    assignment = Assignment.model_validate_json(request.assignment_json)
    placed = place_project(assignment.project_id)
    out: dict[str, Any] = {
        "assignment_id": assignment.id,
        "project_id": assignment.project_id,
        "resource_id": assignment.resource_id,
        "task_id": assignment.task_id,
    }
    if placed.erp is None:
        return {**out, **no_erp_project(assignment.project_id)}
    system, connection, erp_project = placed.erp
    erp = stepkit.erp(connection)
    task: str | None = None
    if assignment.task_id is not None:
        task = stepkit.known_external("erp_task", assignment.task_id, connection)
        if task is None:
            return {**out, **no_erp_task(assignment.task_id, connection)}
    held = erp.project(erp_project)
    if held is None:
        return {**out, "unplaced": f"{connection} has no project {erp_project}"}
    try:
        resource = erp.assign(
            ErpAssignment(
                assignment=assignment,
                project=erp_project,
                legal_entity=held.legal_entity,
                task=task,
            )
        )
    except PermanentError as exc:
        if exc.reason == "resource_unknown":
            return {**out, "unknown_person": str(exc), "legal_entity": held.legal_entity,
                    "erp": [system, connection]}  # fmt: skip
        return {**out, "rejected": refusal(exc), "erp": [system, connection]}
    parent = (
        ("task", assignment.task_id)
        if assignment.task_id
        else ("psa_project", assignment.project_id)
    )
    with stepkit.engine().begin() as conn:
        stepkit.link_edge(
            conn, parent, ("assignment", assignment.id),
            "assigned" if assignment.task_id else "staffed",
            status="assigned", event_id=request.event_id,
        )  # fmt: skip
        stepkit.link_edge(
            conn, ("assignment", assignment.id), ("resource", assignment.resource_id), "of",
            status="assigned",
        )  # fmt: skip
    return {**out, "erp_resource": resource, "erp": [system, connection]}
