"""A reconciliation run: plan, one step per check, route and finish; scheduled or on demand.

A run is a row of ``accord_reconciliation_runs`` (:mod:`accord.store.reconciliation`) carried
out by the durable workflow ``reconciliation(recon_id)``:

1. :func:`plan_step`: the run's scope (one project or all; full, or incremental since a time)
   and its tasks: time and expense per ERP connection; in a full run also contracts,
   customers and each connection's references;
2. :func:`check_step` per task: read, compare, record (:mod:`.checks`, :mod:`.routing`);
   retried by error class, so a system that throttles is read again, not reported as drift;
3. :func:`conclude_step`: exceptions in the owners' queues, exceptions of agreeing items
   resolved, and the run finished (``agreed`` or ``drift``) with its report.

A check that still fails after its retries ends the run ``failed``: it proves nothing, and
nothing is concluded from it.

**Schedule**: every ``reconciliation.interval_minutes`` (default 60) a tick starts a run:
incremental since the previous finished run began (less the settle window), full when the
last full one is older than ``full_every_hours`` (:mod:`.settings`). Runs go through one
queue that runs one at a time, so two never compare the same items at once. **On demand**:
the API enqueues a run (:func:`enqueue`); ``accord reconcile`` runs one in its own process
without the durable runtime (:func:`run_here`), the same steps in the same order.
"""

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from dbos import DBOS
from dbos._error import DBOSAwaitedWorkflowCancelledError, DBOSWorkflowCancelledError

from accord.connectors.budget import Lane, lane
from accord.errors import ConfigError
from accord.flows import stepkit
from accord.flows.connections import Connections
from accord.flows.reconciliation import checks, routing
from accord.flows.reconciliation.settings import reconciliation_settings
from accord.flows.reconciliation.universe import RunScope, Universe, load_universe
from accord.flows.runtime import Runtime
from accord.flows.shared.compensation import Saga, SagaStep, Undo
from accord.store import reconciliation as store
from accord.store.reconciliation import ReconciliationRun
from accord.store.util import utc_now

__all__ = [
    "COMPENSATION",
    "QUEUE",
    "SCHEDULE",
    "WORKFLOW",
    "conclude_step",
    "enable_reconciliation",
    "enqueue",
    "plan_run",
    "reconciliation",
    "run_here",
    "start_run",
]

logger = logging.getLogger(__name__)

WORKFLOW: Final = "reconciliation"
"""The durable workflow of a run."""
QUEUE: Final = "accord-reconciliation"
"""The queue runs go through, one at a time."""
SCHEDULE: Final = "reconciliation:tick"
"""The DBOS schedule of the periodic run."""

_OWN_RECORDS = (
    "reads the systems; writes only Accord's own records (the run, its drift items, ledger "
    "marks, exceptions): a repair is a person's retry of an exception, run by its own flow"
)
COMPENSATION: Final = Saga(
    flow=WORKFLOW,
    steps=(
        SagaStep("recon.plan", None, Undo.NOTHING, note="reads the run and Accord's xref"),
        SagaStep("recon.check", None, Undo.NOTHING, note=_OWN_RECORDS),
        SagaStep("recon.conclude", None, Undo.NOTHING, note=_OWN_RECORDS),
        SagaStep("recon.fail", None, Undo.NOTHING, note="the run ended failed, in Accord"),
        SagaStep("recon.start_scheduled", None, Undo.NOTHING, note="a run recorded in Accord"),
    ),
)
"""What undoes each step: nothing, as no step writes to a system (docs/flows/compensation.md)."""

Progress = Callable[[str, int, int], None]
"""``(what, done, of)``: a run's progress, for a person watching."""


def start_run(
    conn: Any,  # noqa: ANN401 - a SQLAlchemy connection
    *,
    trigger: str,
    actor: str | None = None,
    project_id: str | None = None,
    since: dt.datetime | None = None,
) -> ReconciliationRun:
    """Record a run to be carried out (full unless ``since`` is given)."""
    scope: dict[str, Any] = {"full": since is None}
    if project_id is not None:
        scope["project_id"] = project_id
    if since is not None:
        scope["since"] = since.isoformat()
    return store.start(conn, trigger=trigger, actor=actor, scope=scope)


# ----------------------------------------------------------------------- the steps' work
def plan_run(recon_id: int) -> dict[str, Any]:
    """The run's scope and tasks (module docstring, step 1)."""
    settings = reconciliation_settings(stepkit.config_file())
    with stepkit.engine().connect() as conn:
        run = store.get_run(conn, id=recon_id)
    if run is None:
        raise ConfigError(f"no reconciliation run {recon_id}")
    raw = run.scope
    since = raw.get("since")
    now = utc_now()
    scope = RunScope(
        recon_id=recon_id,
        full=bool(raw.get("full", since is None)),
        since=dt.datetime.fromisoformat(since) if since else None,
        project_id=raw.get("project_id"),
        settle_before=now - dt.timedelta(minutes=settings.settle_minutes),
    )
    universe = load_universe(scope.project_id)
    tasks: list[dict[str, Any]] = []
    if "time_expense" in settings.checks:
        erps = sorted({p.erp[0] for p in universe.projects.values() if p.erp})
        tasks += [{"check": "time_expense", "connection": c} for c in erps]
    if scope.full:
        tasks += [{"check": c} for c in ("contract", "customer") if c in settings.checks]
        if "xref" in settings.checks and scope.project_id is None:
            tasks += [{"check": "xref", "connection": c} for c in checks.xref_connections(universe)]
    return {"scope": scope.to_json(), "tasks": tasks}


def run_check(scope_json: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    """One task's check, recorded (module docstring, step 2).

    Its reads are background work: they wait behind every other call of the connection.
    """
    scope = RunScope.from_json(scope_json)
    universe: Universe = load_universe(scope.project_id)
    name, connection = task["check"], task.get("connection")
    with lane(Lane.BACKGROUND):
        if name == "time_expense":
            result = checks.check_time(scope, universe, str(connection))
        elif name == "contract":
            result = checks.check_contracts(scope, universe)
        elif name == "customer":
            result = checks.check_customers(scope, universe)
        else:
            result = checks.check_xref(scope, universe, str(connection))
    return routing.record_check(scope.recon_id, result)


def conclude_run(
    recon_id: int, plan: dict[str, Any], summaries: list[dict[str, Any]]
) -> dict[str, Any]:
    """Exceptions, resolutions and the run's end (module docstring, step 3)."""
    scope = plan["scope"]
    report: dict[str, Any] = {
        "mode": "full" if scope["full"] else "incremental",
        "since": scope.get("since"),
        "project_id": scope.get("project_id"),
        "checks": [{k: v for k, v in s.items() if k != "totals"} for s in summaries],
        "totals": [t for s in summaries for t in s.get("totals", ())],
    }
    routed = routing.route(recon_id, report)
    closed = [i for s in summaries for i in s.get("closed_exceptions", ())]
    report["exceptions"] = {**routed, "resolved": routing.resolve_closed(closed)}
    with stepkit.engine().begin() as conn:
        run = store.finish(
            conn, id=recon_id, checked=sum(int(s["checked"]) for s in summaries), report=report
        )
    assert run is not None
    logger.info("reconciliation %d: %s, %d drift item(s)", recon_id, run.status, run.drift_found)
    return _summary(run)


def fail_run(recon_id: int, error: str) -> dict[str, Any]:
    """End a run that could not compare (a system unreachable ...): it proves nothing."""
    with stepkit.engine().begin() as conn:
        run = store.finish(conn, id=recon_id, checked=0, error=error)
    logger.warning("reconciliation %d failed: %s", recon_id, error)
    return _summary(run) if run is not None else {"id": recon_id, "status": store.FAILED}


def _summary(run: ReconciliationRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "status": run.status,
        "checked": run.checked,
        "drift_found": run.drift_found,
        "error": run.error,
    }


# ----------------------------------------------------------------------- durable steps
@dataclass(frozen=True)
class CheckRequest:
    """Input of :func:`check_step`."""

    scope: dict[str, Any]
    task: dict[str, Any]


@dataclass(frozen=True)
class ConcludeRequest:
    """Input of :func:`conclude_step`."""

    recon_id: int
    plan: dict[str, Any]
    summaries: list[dict[str, Any]]


@DBOS.step(name="recon.plan")
def plan_step(recon_id: int) -> dict[str, Any]:
    """Step 1 (:func:`plan_run`)."""
    return plan_run(recon_id)


@DBOS.step(name="recon.check", **stepkit.STEP_RETRIES)
def check_step(request: CheckRequest) -> dict[str, Any]:
    """Step 2 (:func:`run_check`): retried by error class."""
    return run_check(request.scope, request.task)


@DBOS.step(name="recon.conclude")
def conclude_step(request: ConcludeRequest) -> dict[str, Any]:
    """Step 3 (:func:`conclude_run`)."""
    return conclude_run(request.recon_id, request.plan, request.summaries)


@DBOS.step(name="recon.fail")
def fail_step(recon_id: int, error: str) -> dict[str, Any]:
    """The run's end when a check could not be made (:func:`fail_run`)."""
    return fail_run(recon_id, error)


@DBOS.workflow(name=WORKFLOW)
def reconciliation(recon_id: int) -> dict[str, Any]:
    """Carry out run ``recon_id`` (see the module docstring)."""
    try:
        plan = plan_step(recon_id)
        summaries = [check_step(CheckRequest(plan["scope"], task)) for task in plan["tasks"]]
        return conclude_step(ConcludeRequest(recon_id, plan, summaries))
    except (DBOSWorkflowCancelledError, DBOSAwaitedWorkflowCancelledError):
        raise
    except Exception as exc:  # noqa: BLE001 - any failure ends the run as failed, said why
        return fail_step(recon_id, f"{type(exc).__name__}: {exc}")


@DBOS.step(name="recon.start_scheduled")
def start_scheduled(run_id: str) -> int:
    """Record a scheduled run (once per tick, whatever re-runs the step)."""
    settings = reconciliation_settings(stepkit.config_file())
    now = utc_now()
    with stepkit.engine().begin() as conn:
        existing = store.get_by_run_id(conn, run_id=run_id)
        if existing is not None:
            return existing.id
        finished = [
            r for r in store.list_runs(conn, limit=500) if r.status in (store.AGREED, store.DRIFTED)
        ]
        last = finished[0] if finished else None
        full = next((r for r in finished if r.scope.get("full")), None)
        since = None
        fresh = full is not None and now - full.started_at < dt.timedelta(
            hours=settings.full_every_hours
        )
        if last is not None and fresh:
            since = last.started_at - dt.timedelta(minutes=settings.settle_minutes)
        run = start_run(conn, trigger="schedule", since=since)
        store.set_run_id(conn, id=run.id, run_id=run_id)
        return run.id


@DBOS.workflow(name="reconciliation.tick")
def reconcile_tick(scheduled_at: dt.datetime, context: Any) -> None:  # noqa: ANN401 - DBOS's context
    """A schedule's tick: one run (incremental or full, see the module docstring)."""
    del scheduled_at, context
    workflow_id = DBOS.workflow_id
    recon_id = start_scheduled(workflow_id or "")
    reconciliation(recon_id)


# ----------------------------------------------------------------------- starting runs
def enable_reconciliation(connections: Connections, config_file: Path | None) -> bool:
    """Register the queue and schedule runs (the flow's capture switch, called at start)."""
    del connections
    DBOS.register_queue(
        QUEUE,
        concurrency=1,
        worker_concurrency=1,
        polling_interval_sec=1.0,
        on_conflict="always_update",
    )
    try:
        settings = reconciliation_settings(config_file)
    except ConfigError:
        logger.exception("scheduled reconciliation not enabled: accord.yaml is invalid")
        return False
    if settings.interval_minutes == 0:
        for existing in DBOS.list_schedules(schedule_name_prefix=SCHEDULE):
            DBOS.delete_schedule(existing["schedule_name"])
        return False
    minutes = settings.interval_minutes
    # Minute 7 of the hour, away from the crowd at :00; several hours: every n-th hour.
    cron = f"0 */{minutes} * * * *" if minutes < 60 else f"0 7 */{max(1, minutes // 60)} * * *"
    DBOS.apply_schedules(
        [
            {
                "schedule_name": SCHEDULE,
                "workflow_fn": reconcile_tick,
                "schedule": cron,
                "queue_name": QUEUE,
            }
        ]
    )
    return True


def enqueue(conn: Any, runtime: Runtime, recon_id: int) -> str:  # noqa: ANN401 - a connection
    """Hand run ``recon_id`` to the workers in the caller's transaction; its workflow id.

    The run starts with the transaction that recorded it, or not at all.

    Raises:
        RuntimeError: The durable runtime is not launched in this process.
    """
    client = runtime.client
    if client is None:
        msg = "the flow runtime is not launched in this process"
        raise RuntimeError(msg)
    run_id = f"reconciliation-{recon_id}"
    options: Any = {
        "workflow_name": WORKFLOW,
        "queue_name": QUEUE,
        "workflow_id": run_id,
        "app_version": runtime.app_version,
    }
    client.enqueue_in_transaction(conn, options, recon_id)
    store.set_run_id(conn, id=recon_id, run_id=run_id)
    return run_id


def run_here(recon_id: int, progress: Progress | None = None) -> ReconciliationRun:
    """Carry out a run in this process, without the durable runtime (``accord reconcile``).

    The flow context (database, settings, connections) must be installed.
    """
    try:
        plan = plan_run(recon_id)
        tasks = plan["tasks"]
        summaries = []
        for done, task in enumerate(tasks):
            if progress is not None:
                progress(_label(task), done, len(tasks))
            summaries.append(run_check(plan["scope"], task))
        if progress is not None:
            progress("routing", len(tasks), len(tasks))
        conclude_run(recon_id, plan, summaries)
    except Exception as exc:
        fail_run(recon_id, f"{type(exc).__name__}: {exc}")
        raise
    with stepkit.engine().connect() as conn:
        run = store.get_run(conn, id=recon_id)
    assert run is not None
    return run


def _label(task: dict[str, Any]) -> str:
    return f"{task['check']}" + (f" ({task['connection']})" if task.get("connection") else "")
