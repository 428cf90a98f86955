"""Delivery runs that found no ERP project yet, re-run once the project has one.

A task, a person or a vendor expense of a project the ERP does not hold yet ends its run with
a ``project.unplaced`` (delivery-ops) or ``billing.unplaced`` (finance-ops) exception whose
detail says so (:func:`no_erp_project`). The run never waits for the project: a waiting run
would hold its queue partition, and lead-to-project may still be creating the ERP project, or
the ERP may have refused it until someone fixes it.

A DBOS schedule (every ``delivery.capture_interval_s``) runs :func:`release_placed`: each such
exception whose project now has an ERP project (xref ``erp_project``, written by
lead-to-project when it created it) is retried by Accord, once, the way a person retries one
(:func:`accord.flows.replay.retry_exception`: a re-run of the event, audited and recorded on
the exception). The re-run's success resolves the exception; a re-run that fails for another
reason leaves it open for its owner, and it is not retried automatically again.
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
    "release_placed",
    "release_tick",
]

logger = logging.getLogger(__name__)

SCHEDULE: Final = "delivery:release-placed"
"""Name of the DBOS schedule that retries the runs waiting for an ERP project."""
ACTOR: Final = "accord/delivery"
"""Who the retries are recorded and audited as."""
WAITING: Final = "no_erp_project"
"""The key of an exception's detail that marks a run waiting for its ERP project."""
_CODES: Final = ("project.unplaced", "billing.unplaced")
_BATCH: Final = 200


def no_erp_project(project_id: str) -> dict[str, Any]:
    """What a step returns for a project that has no ERP project (yet)."""
    return {"unplaced": f"project {project_id} has no ERP project (yet)", WAITING: True}


def _waiting(found: exceptions.BusinessException) -> str | None:
    """The project an exception's run waits for (``None``: it waits for nothing)."""
    project = found.detail.get("project_id")
    if not found.detail.get(WAITING) or not isinstance(project, str):
        return None
    return project


@DBOS.step(name="delivery.release_placed", **stepkit.STEP_RETRIES)
def release_placed() -> dict[str, int]:
    """Retry the waiting runs whose project has its ERP project now; returns the counts."""
    ctx = flow_context()
    runtime: Runtime = ctx.extras[RUNTIME_KEY]
    with ctx.engine.connect() as conn:
        found = exceptions.open_with_codes(conn, flow=FLOW, codes=_CODES, limit=_BATCH)
    waiting = [(e, p) for e in found if (p := _waiting(e)) is not None]
    placed: dict[str, bool] = {}
    retried = 0
    for exc, project in waiting:
        if project not in placed:
            placed[project] = place_project(project).erp is not None
        if not placed[project] or runtime.client is None:
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
