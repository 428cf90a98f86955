"""The hold release: entries held for a closed period post by themselves once it reopens.

Under ``closed_period_policy: hold`` a run records its entries as ``held`` in the ledger and
ends (it never waits: a waiting run would block its project's queue partition). A DBOS
schedule (every ``hold_check_interval_s``) runs :func:`release_holds`: it groups the held rows
by submission, re-reads the periods of their project's legal entity, and re-posts only the
entries whose period is open now, through the same :func:`~.steps.process_entries` as a run:
ledger, lineage and the resolution of the submission's ``period.closed`` exception included.
"""

import logging
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from dbos import DBOS

from accord.domain import Expense, TimeEntry
from accord.errors import ConfigError
from accord.flows import stepkit
from accord.flows.connections import Connections
from accord.flows.context import flow_context
from accord.flows.time_to_bill import erp
from accord.flows.time_to_bill.confirm import confirm_rejections
from accord.flows.time_to_bill.settings import billing_settings
from accord.flows.time_to_bill.steps import Submission, process_entries
from accord.store import postings

__all__ = [
    "SCHEDULE",
    "confirm_rejected",
    "enable_hold_release",
    "release_holds",
    "release_tick",
]

logger = logging.getLogger(__name__)

SCHEDULE: Final = "time_to_bill:release-holds"
"""Name of the DBOS schedule that checks held entries."""


@DBOS.step(name="ttb.release_holds", **stepkit.STEP_RETRIES)
def release_holds() -> dict[str, Any]:
    """Re-post the held entries whose period has reopened; returns what it did."""
    ctx = flow_context()
    with ctx.engine.connect() as conn:
        held = postings.list_held(conn)
    if not held:
        return {"held": 0, "released": 0}
    rules = stepkit.rules()
    groups: dict[tuple[str, str], list[postings.Posting]] = defaultdict(list)
    for row in held:
        groups[(row.kind, row.submission_id)].append(row)
    released = 0
    for (kind, submission_id), rows in groups.items():
        facts = erp.project_facts(
            ctx.engine,
            stepkit.erp,
            rows[0].project_id,
            rules_version=rules.version,
            rules=rules,
            ttl=0,
        )
        if facts is None:
            continue
        table = erp.periods(stepkit.erp(facts.connection), facts, ttl=0)
        ready = [r for r in rows if not table.is_closed(r.entry_date) and r.entry_json]
        if not ready:
            continue
        model = TimeEntry if kind == "time" else Expense
        entries = tuple(model.model_validate_json(r.entry_json or "{}") for r in ready)
        sub = Submission(kind, submission_id, rows[0].project_id, entries)
        event_type = "timesheet.approved" if kind == "time" else "expense.approved"
        # A partial release keeps the submission's other held rows (and its exception) open.
        result = process_entries(
            sub, event_id=rows[0].event_id, event_type=event_type, run_id=rows[0].run_id
        )
        if len(ready) < len(rows):
            logger.info("released %d of %d held entries of %s", len(ready), len(rows), sub)
        released += int(result["posted"])
    return {"held": len(held), "released": released}


@DBOS.step(name="ttb.confirm_rejected", **stepkit.STEP_RETRIES)
def confirm_rejected() -> dict[str, int]:
    """Record as posted the rejected entries the ERP holds (:mod:`.confirm`)."""
    return confirm_rejections()


@DBOS.workflow(name="ttb.release_tick")
def release_tick(scheduled_at: datetime, context: Any) -> None:  # noqa: ANN401 - DBOS's context
    """A schedule's tick: one :func:`release_holds` pass, then one :func:`confirm_rejected`."""
    del scheduled_at, context
    release_holds()
    confirm_rejected()


def enable_hold_release(connections: Connections, config_file: Path | None) -> bool:
    """Schedule the hold release (``Services.start`` calls it at start); False when off."""
    del connections
    try:
        interval = billing_settings(config_file).hold_check_interval_s
    except ConfigError:
        logger.exception("time-to-bill hold release not enabled: accord.yaml is invalid")
        interval = 0
    if interval <= 0:
        for existing in DBOS.list_schedules(schedule_name_prefix=SCHEDULE):
            DBOS.delete_schedule(existing["schedule_name"])
        return False
    if interval < 60 and 60 % interval == 0:
        cron = f"*/{interval} * * * * *"
    else:
        cron = f"0 */{max(1, min(59, interval // 60))} * * * *"
    DBOS.apply_schedules(
        [{"schedule_name": SCHEDULE, "workflow_fn": release_tick, "schedule": cron}]
    )
    return True
