"""Hand a dead worker's pending runs over to the live workers (``accord workers recover``).

A worker that restarts under its own ``ACCORD_WORKER_ID`` recovers its pending runs by itself.
When it will not come back (its machine is gone, the fleet shrank), an operator hands its runs
over: every run still ``PENDING`` under the dead worker's executor id and this release's
application version goes back to its queue, where the live workers take it like any other
run and continue it from its last completed step.

Only DBOS's public client API is used (``list_workflows`` then ``resume_workflows``), on the
system tables without launching a runtime, so the command is a short-lived process that never
executes a run itself. Each run returns to the queue it came from, with its partition key,
so per-key ordering still holds: a ``PENDING`` run keeps its partition busy, so later runs of
the same key wait for the recovered one.

The dead worker's connection-budget slots (its lease rows) are freed in the same command, so
the live workers get the whole of every connection's concurrency at once instead of after the
leases expire.

The dead worker must really be dead: a run handed over while its worker still executes it
would execute twice (DBOS then keeps one outcome, but a step may run twice).
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from dbos import DBOSClient

from accord.store import runs
from accord.store.budget import DatabaseBudget

__all__ = ["Handover", "hand_over", "pending_by_worker"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Handover:
    """What ``hand_over`` did (or, in a dry run, would do)."""

    dead_worker: str
    app_version: str
    run_ids: list[str] = field(default_factory=list)
    """Runs returned to their queues (or that would be, in a dry run)."""
    other_versions: dict[str, int] = field(default_factory=dict)
    """Pending runs of the dead worker under other application versions: version -> count.

    Only workers of that version can continue them, so they are left alone.
    """
    slots_freed: int = 0
    """Connection-budget slots (lease rows) the dead worker held, freed (none in a dry run)."""


def pending_by_worker(engine: sa.Engine) -> dict[tuple[str, str], int]:
    """Pending runs by (executor id, application version): what each worker holds now."""
    if not runs.tables_exist(engine):
        return {}
    client = DBOSClient(system_database_engine=engine)
    try:
        rows = client.list_workflows(status="PENDING", load_input=False, load_output=False)
    finally:
        client.destroy()
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        counts[row.executor_id or "", row.app_version or ""] += 1
    return dict(counts)


def hand_over(
    engine: sa.Engine, dead_worker: str, *, app_version: str, dry_run: bool = False
) -> Handover:
    """Return a dead worker's pending runs of ``app_version`` to their queues.

    Args:
        engine: The engine on Accord's database (the runtime's system database).
        dead_worker: The executor id (``ACCORD_WORKER_ID``) of the worker that died.
        app_version: The application version whose runs to hand over (this release's).
        dry_run: Only report what would be handed over.

    Returns:
        The runs handed over, the dead worker's pending runs left to other versions, and the
        budget slots freed.
    """
    # Its slots first: the runs handed over are continued at once, and need them.
    freed = 0 if dry_run else DatabaseBudget(engine, holder=dead_worker).release_held()
    if freed:
        logger.info("freed %d connection-budget slots of worker %s", freed, dead_worker)
    if not runs.tables_exist(engine):
        return Handover(dead_worker=dead_worker, app_version=app_version, slots_freed=freed)
    client = DBOSClient(system_database_engine=engine)
    try:
        rows = client.list_workflows(
            status="PENDING",
            executor_id=dead_worker,
            load_input=False,
            load_output=False,
            sort_desc=False,
        )
        mine = [r for r in rows if r.app_version == app_version]
        others: dict[str, int] = defaultdict(int)
        for r in rows:
            if r.app_version != app_version:
                others[r.app_version or "(none)"] += 1
        if not dry_run:
            # Back onto each run's own queue; a run started outside any queue goes to DBOS's
            # internal one (queue_name=None), which every launched runtime serves.
            by_queue: dict[str | None, list[str]] = defaultdict(list)
            for r in mine:
                by_queue[r.queue_name].append(r.workflow_id)
            for queue_name, ids in by_queue.items():
                client.resume_workflows(ids, queue_name=queue_name)
            logger.info(
                "handed %d pending runs of worker %s (version %s) back to their queues",
                len(mine),
                dead_worker,
                app_version,
            )
    finally:
        client.destroy()
    return Handover(
        dead_worker=dead_worker,
        app_version=app_version,
        run_ids=[r.workflow_id for r in mine],
        other_versions=dict(others),
        slots_freed=freed,
    )
