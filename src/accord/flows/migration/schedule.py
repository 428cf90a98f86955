"""The scheduled cut-over: each minute, make the cut-overs whose time has come.

A DBOS scheduled workflow (one run per tick across all workers) calls one step, which makes
the due cut-overs (:func:`accord.governance.migration.perform_due_cutovers`) under a lease,
reading the active rules afresh: a tick that runs again, or a late tick racing the next one,
finds the entity already cut over (its schedule cleared) and does nothing. Each cut-over is a
governed rules version, audited as ``migration.cutover`` by ``scheduler``. Runs pinned to the
old version finish on the old ERP, as after a cut-over made by hand.
"""

import datetime as dt
import logging
from pathlib import Path
from typing import Any, Final

from dbos import DBOS

from accord.errors import ConfigError
from accord.flows import stepkit
from accord.flows.connections import Connections
from accord.flows.pinning import resolver, rules_path
from accord.flows.shared.compensation import Saga, SagaStep, Undo
from accord.governance.migration import perform_due_cutovers
from accord.governance.settings import governance_settings
from accord.store import leases
from accord.store.util import utc_now

__all__ = [
    "COMPENSATION",
    "CRON",
    "LEASE",
    "SCHEDULE",
    "cutover_due",
    "cutover_tick",
    "enable_migration_schedule",
]

logger = logging.getLogger(__name__)

SCHEDULE: Final = "migration:cutover"
"""The DBOS schedule of the tick."""
CRON: Final = "0 * * * * *"
"""Each minute, at second 0."""
LEASE: Final = "migration.cutover"
"""Held while a tick makes cut-overs: one worker at a time."""
COMPENSATION: Final = Saga(
    flow="migration",
    steps=(
        SagaStep(
            "migration.cutover_due",
            None,
            Undo.NOTHING,
            note="writes only Accord's rules versions and audit log; undoing a cut-over is a "
            "person's rollback (accord migration rollback)",
        ),
    ),
)
"""What compensates the tick: nothing (it changes no system)."""


@DBOS.step(name="migration.cutover_due")
def cutover_due() -> list[dict[str, Any]]:
    """Make the cut-overs whose time has come; what each did (empty: none was due)."""
    found = resolver()
    if found is None:
        return []
    config_file = stepkit.config_file()
    path = rules_path(config_file)
    engine = stepkit.engine()
    try:
        with leases.held(engine, LEASE, DBOS.workflow_id or "tick", ttl_s=300):
            steps = perform_due_cutovers(
                engine,
                governance_settings(config_file),
                lambda: found.current(path),
                now=utc_now(),
            )
    except leases.LeaseBusyError:
        return []  # another worker is making them
    for step in steps:
        logger.info(
            "scheduled cut-over of %s: %s -> %s (proposal %s, active %s)",
            step.entity,
            "/".join(step.from_erp),
            "/".join(step.to_erp),
            step.proposal.id,
            step.active,
        )
    return [
        {"entity": s.entity, "to": list(s.to_erp), "proposal": s.proposal.id, "active": s.active}
        for s in steps
    ]


@DBOS.workflow(name="migration.cutover_tick")
def cutover_tick(scheduled_at: dt.datetime, context: Any) -> None:  # noqa: ANN401 - DBOS's context
    """A tick of the schedule (module docstring)."""
    del scheduled_at, context
    cutover_due()


def enable_migration_schedule(connections: Connections, config_file: Path | None) -> bool:
    """Schedule the tick each minute where the rules name a migration (the capture switch).

    Called at start. Without a migration in the active rules there is nothing to cut over,
    so no tick runs (and a schedule left by an earlier start is removed).
    """
    del connections
    found = resolver()
    try:
        rules = found.current(rules_path(config_file)) if found is not None else None
    except ConfigError:
        logger.exception("scheduled cut-overs not enabled: the rules are invalid")
        rules = None
    migrating = rules is not None and any(
        e.migration is not None for e in rules.spec.legal_entities.values()
    )
    if not migrating:
        for existing in DBOS.list_schedules(schedule_name_prefix=SCHEDULE):
            DBOS.delete_schedule(existing["schedule_name"])
        return False
    DBOS.apply_schedules(
        [{"schedule_name": SCHEDULE, "workflow_fn": cutover_tick, "schedule": CRON}]
    )
    return True
