"""``/api/v1/reconciliations``: start a reconciliation, and read what one found.

``POST /api/v1/reconciliations`` records a run and hands it to the workers (202, with its id
and a ``Location``); the body may narrow it to one project (``project_id``) or to the projects
with work changed since a time (``since``: an incremental run); without either it compares
everything. ``GET /api/v1/reconciliations/{id}`` answers the run: its status (``running``,
``agreed``, ``drift``, ``failed``), what it compared (the report: totals per project and
currency, what each check read and found) and its drift items, paged. ``GET
/api/v1/reconciliations`` lists the latest runs. Operators start runs (audited); any key but
``ingest`` reads them. Errors are problem+json.

What does not belong here: the comparisons (:mod:`accord.flows.reconciliation`).
"""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from accord.api.errors import Problem
from accord.api.ops.common import PROBLEMS, Actor, Engine, IsoDateTime, Reader, RuntimeDep
from accord.flows.reconciliation import enqueue, start_run
from accord.flows.reconciliation.universe import load_universe
from accord.store import audit
from accord.store import reconciliation as store
from accord.store.reconciliation import DriftItem, ReconciliationRun

__all__ = ["DriftItemOut", "ReconciliationIn", "ReconciliationOut", "router"]

router = APIRouter(prefix="/api/v1", tags=["reconciliation"], responses=PROBLEMS)

_PAGE: Final = 500


class ReconciliationIn(BaseModel):
    """What to compare: everything, one project, or what changed since a time."""

    model_config = ConfigDict(extra="forbid")

    project_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        pattern=r"^[^\x00]*$",
        description="Only this canonical project (and its deal)",
    )
    since: IsoDateTime | None = Field(
        default=None,
        description="Incremental: only projects with work changed at or after this time",
    )


class DriftItemOut(BaseModel):
    """One disagreement (docs/reconciliation.md defines each kind and code)."""

    id: int
    kind: str = Field(description="time_expense, contract, customer or xref")
    code: str
    status: str = Field(description="open, resolved, repaired or ignored")
    project_id: str | None
    key: str | None = Field(description="The business key: an entry, a posting key, a customer")
    system: str | None
    connection: str | None
    record_id: str | None
    expected: Decimal | None = Field(description="What the owner or Accord's ledger says")
    found: Decimal | None = Field(description="What the other system holds")
    currency: str | None
    exception_id: int | None = Field(description="The exception in its owner's queue")
    detail: dict[str, Any]
    found_at: datetime
    last_seen_at: datetime
    closed_at: datetime | None


class ReconciliationOut(BaseModel):
    """A run, what it compared, and its drift items (one page of them)."""

    id: int
    trigger: str = Field(description="schedule or manual")
    actor: str | None
    status: str = Field(description="running, agreed, drift or failed")
    run_id: str | None = Field(description="The durable run carrying it out")
    scope: dict[str, Any]
    checked: int
    drift_found: int = Field(description="Items this run saw that are still open")
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    report: dict[str, Any] = Field(description="Totals per project and currency; checks")
    drift: list[DriftItemOut] = Field(description="Items the run found or saw again")
    next_offset: int | None = Field(description="null on the last page of drift items")


def _drift(item: DriftItem) -> DriftItemOut:
    return DriftItemOut(
        id=item.id,
        kind=item.kind,
        code=item.code,
        status=item.status,
        project_id=item.project_id,
        key=item.business_key,
        system=item.system,
        connection=item.connection,
        record_id=item.record_id,
        expected=item.expected,
        found=item.found,
        currency=item.currency,
        exception_id=item.exception_id,
        detail=item.detail,
        found_at=item.found_at,
        last_seen_at=item.last_seen_at,
        closed_at=item.closed_at,
    )


def _out(
    run: ReconciliationRun, items: list[DriftItem], *, offset: int, limit: int
) -> ReconciliationOut:
    return ReconciliationOut(
        id=run.id,
        trigger=run.trigger,
        actor=run.actor,
        status=run.status,
        run_id=run.run_id,
        scope=run.scope,
        checked=run.checked,
        drift_found=run.drift_found,
        started_at=run.started_at,
        finished_at=run.finished_at,
        error=run.error,
        report=run.report,
        drift=[_drift(i) for i in items[:limit]],
        next_offset=offset + limit if len(items) > limit else None,
    )


@router.post(
    "/reconciliations",
    response_model=ReconciliationOut,
    status_code=202,
    summary="Start a reconciliation",
    responses={422: {"description": "Invalid body, or a project Accord does not know"}},
)
def start_reconciliation(
    *,
    body: ReconciliationIn,
    principal: Actor,
    response: Response,
    engine: Engine,
    runtime: RuntimeDep,
) -> ReconciliationOut:
    """Record a run and hand it to the workers (audited); poll its ``Location``."""
    if body.project_id is not None and not load_universe(body.project_id).projects:
        raise Problem(422, "Invalid request", f"Accord knows no project {body.project_id!r}")
    if runtime.client is None:
        raise Problem(503, "Service unavailable", "the durable runtime is not running")
    with engine.begin() as conn:
        run = start_run(
            conn,
            trigger="manual",
            actor=principal.actor,
            project_id=body.project_id,
            since=body.since,
        )
        enqueue(conn, runtime, run.id)
        audit.append(
            conn,
            actor=principal.actor,
            action="reconciliation.start",
            target=f"reconciliation:{run.id}",
            before=None,
            after={"scope": run.scope},
        )
        started = store.get_run(conn, id=run.id)
    assert started is not None
    response.headers["Location"] = f"/api/v1/reconciliations/{run.id}"
    return _out(started, [], offset=0, limit=_PAGE)


@router.get(
    "/reconciliations/{reconciliation_id}",
    response_model=ReconciliationOut,
    summary="A reconciliation and its drift",
    responses={404: {"description": "No such reconciliation (problem+json)"}},
)
def get_reconciliation(
    reconciliation_id: int,
    _: Reader,
    engine: Engine,
    limit: Annotated[int, Query(ge=1, le=_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ReconciliationOut:
    """The run, its report, and one page of the drift items it found or saw again."""
    with engine.connect() as conn:
        run = store.get_run(conn, id=reconciliation_id)
        if run is None:
            raise Problem(404, "Not found", f"no reconciliation {reconciliation_id}")
        items = store.list_drift(conn, recon_id=run.id, limit=limit + 1, offset=offset)
    return _out(run, items, offset=offset, limit=limit)


class ReconciliationsOut(BaseModel):
    """The latest runs, newest first (without their drift items)."""

    runs: list[ReconciliationOut]


@router.get(
    "/reconciliations", response_model=ReconciliationsOut, summary="The latest reconciliations"
)
def list_reconciliations(
    _: Reader,
    engine: Engine,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> ReconciliationsOut:
    """The latest runs, newest first."""
    with engine.connect() as conn:
        runs = store.list_runs(conn, limit=limit)
    return ReconciliationsOut(runs=[_out(r, [], offset=0, limit=_PAGE) for r in runs])
