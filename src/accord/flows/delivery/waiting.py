"""Delivery runs that found no ERP project (or task) yet, re-run once the ERP has it.

A task, a person or a vendor expense of a project the ERP does not hold yet, and a person on a
task the ERP does not hold yet, end their run with a ``project.unplaced`` (delivery-ops) or
``billing.unplaced`` (finance-ops) exception whose detail names what it waits for
(:func:`no_erp_project`, :func:`no_erp_task`). The run never waits itself: a waiting run would
hold its queue partition, where the run that brings what it waits for may be queued behind it
(a project's events share a partition), and lead-to-project may still be creating the ERP
project, or the ERP may have refused it until someone fixes it.

A DBOS schedule (every ``delivery.capture_interval_s``) runs :func:`release_placed`: each such
exception whose project now has an ERP project (xref ``erp_project``, written by
lead-to-project when it created it), or whose task is in the ERP now (xref ``erp_task``), is
retried by Accord, once, the way a person retries one (:func:`accord.flows.replay.retry_exception`:
a re-run of the event, audited and recorded on the exception). The re-run's success resolves
the exception; a re-run that fails for another reason leaves it open for its owner, and it is
not retried automatically again.
"""

import logging
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from dbos import DBOS

from accord.errors import AccordError, ConfigError
from accord.flows import stepkit
from accord.flows.capture import RUNTIME_KEY
from accord.flows.connections import Connections
from accord.flows.context import flow_context
from accord.flows.delivery.capture import FLOW
from accord.flows.delivery.settings import delivery_settings
from accord.flows.replay import retry_exception
from accord.flows.runtime import Runtime
from accord.flows.shared.finance import place_project
from accord.store import exceptions

__all__ = [
    "ACTOR",
    "SCHEDULE",
    "WAITING",
    "enable_release",
    "no_erp_project",
    "no_erp_task",
    "release_placed",
    "release_tick",
]

logger = logging.getLogger(__name__)

SCHEDULE: Final = "delivery:release-placed"
"""Name of the DBOS schedule that retries the runs waiting for an ERP project."""
ACTOR: Final = "accord/delivery"
"""Who the retries are recorded and audited as."""
WAITING: Final = "waits_for"
"""The key of an exception's detail that names what its run waits for in the ERP."""
_CODES: Final = ("project.unplaced", "billing.unplaced")
_BATCH: Final = 200


def no_erp_project(project_id: str) -> dict[str, Any]:
    """What a step returns for a project that has no ERP project (yet)."""
    return {
        "unplaced": f"project {project_id} has no ERP project (yet)",
        WAITING: {"entity_type": "erp_project", "id": project_id},
    }


def no_erp_task(task_id: str, connection: str) -> dict[str, Any]:
    """What a step returns for a task that ``connection`` does not hold (yet)."""
    return {
        "unplaced": f"task {task_id} is not in {connection} (yet)",
        WAITING: {"entity_type": "erp_task", "id": task_id, "connection": connection},
    }


def _there(waits_for: object) -> bool:
    """Whether what a run waited for is in the ERP now (``False`` for anything unknown)."""
    if not isinstance(waits_for, dict):
        return False
    kind, key, connection = (waits_for.get(k) for k in ("entity_type", "id", "connection"))
    if kind == "erp_project" and isinstance(key, str):
        return place_project(key).erp is not None
    if kind == "erp_task" and isinstance(key, str) and isinstance(connection, str):
        return stepkit.known_external("erp_task", key, connection) is not None
    return False


@DBOS.step(name="delivery.release_placed", **stepkit.STEP_RETRIES)
def release_placed() -> dict[str, int]:
    """Retry the waiting runs whose project or task is in the ERP now; returns the counts."""
    ctx = flow_context()
    runtime: Runtime = ctx.extras[RUNTIME_KEY]
    with ctx.engine.connect() as conn:
        found = exceptions.open_with_codes(conn, flow=FLOW, codes=_CODES, limit=_BATCH)
    waiting = [e for e in found if WAITING in e.detail]
    retried = 0
    for exc in waiting:
        if runtime.client is None or not _there(exc.detail[WAITING]):
            continue
        try:
            with ctx.engine.begin() as conn:
                # Once: a retry of ours that failed again is its owner's to look at.
                _, retries = exceptions.retry_state(conn, id=exc.id)
                if any(r.get("actor") == ACTOR for r in retries):
                    continue
                retry_exception(conn, runtime, runtime.client, exception_id=exc.id, actor=ACTOR)
        except (AccordError, exceptions.ExceptionStateError) as error:
            # Closed meanwhile, or its run is gone: nothing to re-run.
            logger.info("delivery exception %d not retried: %s", exc.id, error)
            continue
        retried += 1
    if retried:
        logger.info("retried %d delivery run(s) whose project has its ERP project now", retried)
    return {"waiting": len(waiting), "retried": retried}


@DBOS.workflow(name="delivery.release_tick")
def release_tick(scheduled_at: datetime, context: Any) -> None:  # noqa: ANN401 - DBOS's context
    """A schedule's tick: one :func:`release_placed` pass."""
    del scheduled_at, context
    release_placed()


def enable_release(connections: Connections, config_file: Path | None) -> bool:
    """Schedule the release with delivery capture (``Services.start`` calls it); False: off."""
    del connections
    try:
        interval = delivery_settings(config_file).capture_interval_s
    except ConfigError:
        logger.exception("delivery release not enabled: accord.yaml is invalid")
        interval = 0
    if interval <= 0:
        for existing in DBOS.list_schedules(schedule_name_prefix=SCHEDULE):
            DBOS.delete_schedule(existing["schedule_name"])
        return False
    # Every interval when it divides a minute, else every minute: a project waits seconds.
    cron = f"*/{interval} * * * * *" if interval < 60 and 60 % interval == 0 else "0 * * * * *"
    DBOS.apply_schedules(
        [{"schedule_name": SCHEDULE, "workflow_fn": release_tick, "schedule": cron}]
    )
    return True
