"""Shadow posting outcomes: what the shadow ERP of a migrating legal entity made of each posting.

For a legal entity under migration (``legal_entities.<code>.migration`` in the rules), every
posting the system of record accepts is handed to the shadow ERP on its connection's
``background`` lane (:mod:`accord.flows.time_to_bill.shadow`). Its outcome is kept here, apart
from the posting ledger, one row per entry and mode (``validate`` or ``post``): a redelivery
overwrites the row, never adds one. Statuses:

- ``validated``: the shadow would take the posting (``validate`` mode, nothing written);
- ``booked``: the shadow's test company holds it (``post`` mode);
- ``refused``: the shadow refused it, with its ``reason`` (``validation``,
  ``dimension_invalid``, ``project.missing`` ...) and ``message``.

:func:`outcomes` is what the migration diff reads.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from accord.store.tables import shadow_outcomes
from accord.store.util import as_utc, utc_now

__all__ = [
    "BOOKED",
    "MODES",
    "REFUSED",
    "STATUSES",
    "VALIDATED",
    "ShadowOutcome",
    "outcomes",
    "record",
]

VALIDATED: Final = "validated"
BOOKED: Final = "booked"
REFUSED: Final = "refused"
STATUSES: Final = (VALIDATED, BOOKED, REFUSED)
MODES: Final = ("validate", "post")


@dataclass(frozen=True)
class ShadowOutcome:
    """One entry's outcome in the shadow ERP.

    Attributes:
        entity: The migrating legal entity.
        kind: ``time`` or ``expense``.
        entry_id: The canonical entry.
        project_id: The canonical project.
        day: The posting date the system of record booked.
        hours: Hours (time), ``None`` for an expense.
        amount: The amount the system of record booked, with ``currency``.
        currency: ISO currency of ``amount``.
        mode: ``validate`` or ``post``.
        status: ``validated``, ``booked`` or ``refused``.
        reason: The shadow's reason for a refusal.
        message: The shadow's message for a refusal.
        shadow_connection: The connection the shadow work went to (``post``: the test
            company's).
        sor_connection: The system of record's connection that booked the entry.
        shadow_record_id: The shadow's record (``booked``).
        recorded_at: When the outcome was recorded (read back only).
    """

    entity: str
    kind: str
    entry_id: str
    project_id: str
    day: dt.date
    hours: Decimal | None
    amount: Decimal | None
    currency: str | None
    mode: str
    status: str
    shadow_connection: str
    sor_connection: str
    reason: str | None = None
    message: str | None = None
    shadow_record_id: str | None = None
    recorded_at: dt.datetime | None = None


_FIELDS: Final = (
    "entity",
    "kind",
    "entry_id",
    "project_id",
    "day",
    "hours",
    "amount",
    "currency",
    "mode",
    "status",
    "reason",
    "message",
    "shadow_connection",
    "sor_connection",
    "shadow_record_id",
)


def record(conn: sa.Connection, found: Sequence[ShadowOutcome]) -> None:
    """Keep outcomes in the caller's transaction: one row per (kind, entry, mode), the last wins.

    Raises:
        ValueError: An unknown mode or status.
    """
    if not found:
        return
    now = utc_now()
    rows = []
    for o in found:
        if o.mode not in MODES or o.status not in STATUSES:
            raise ValueError(f"shadow outcome of {o.entry_id}: bad mode/status {o.mode}/{o.status}")
        rows.append({**{k: getattr(o, k) for k in _FIELDS}, "recorded_at": now})
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert(shadow_outcomes)
    changed = {k: statement.excluded[k] for k in (*_FIELDS, "recorded_at")}
    conn.execute(
        statement.on_conflict_do_update(index_elements=["kind", "entry_id", "mode"], set_=changed),
        rows,
    )


def outcomes(
    conn: sa.Connection,
    entity: str,
    since: dt.date | None = None,
    until: dt.date | None = None,
    *,
    mode: str | None = None,
    status: str | None = None,
    limit: int = 100_000,
) -> list[ShadowOutcome]:
    """The outcomes of ``entity``'s entries dated ``since``..``until`` (inclusive), by day."""
    query = sa.select(shadow_outcomes).where(shadow_outcomes.c.entity == entity)
    if since is not None:
        query = query.where(shadow_outcomes.c.day >= since)
    if until is not None:
        query = query.where(shadow_outcomes.c.day <= until)
    if mode is not None:
        query = query.where(shadow_outcomes.c.mode == mode)
    if status is not None:
        query = query.where(shadow_outcomes.c.status == status)
    query = query.order_by(
        shadow_outcomes.c.day,
        shadow_outcomes.c.project_id,
        shadow_outcomes.c.entry_id,
        shadow_outcomes.c.mode,
    ).limit(limit)
    return [
        ShadowOutcome(
            **{k: getattr(r, k) for k in _FIELDS},
            recorded_at=as_utc(r.recorded_at),
        )
        for r in conn.execute(query)
    ]
