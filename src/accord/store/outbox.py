"""The outbox: outbound work a run hands to its connection's dispatcher.

A run writes its items (:func:`enqueue`) in the same transaction as its own records (the
posting ledger's ``queued`` rows), so a crash either hands the work on or does not start it.
One dispatcher per connection (the holder of the connection's dispatch lease) :func:`take`s
items in lane order, sends them and records each outcome together with :func:`complete`
(the row leaves) or :func:`retry_later`. A dispatcher that takes over a connection first
:func:`release_taken`: items its dead predecessor had taken are sent again, which the targets'
idempotency keys make harmless.

Lanes, highest first: ``interactive``, ``flow``, ``bulk``, ``background``.
"""

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from accord.store.tables import outbox
from accord.store.util import utc_now, write_lock

__all__ = [
    "LANES",
    "OutboxItem",
    "OutboxRow",
    "backlog",
    "complete",
    "connections_with_work",
    "enqueue",
    "pending",
    "release_taken",
    "retry_later",
    "take",
]

LANES: Final = ("interactive", "flow", "bulk", "background")
"""Lanes in priority order."""
QUEUED: Final = "queued"
TAKEN: Final = "taken"


@dataclass(frozen=True)
class OutboxItem:
    """One item to hand on: where it goes, in which lane, and what it is."""

    connection: str
    lane: str
    kind: str
    batch_id: str
    item_key: str
    payload: str


@dataclass(frozen=True)
class OutboxRow(OutboxItem):
    """A taken item: the item as enqueued, its row id, and the attempts made so far."""

    id: int
    attempts: int


def _row(r: sa.Row[Any]) -> OutboxRow:
    return OutboxRow(
        id=r.id,
        connection=r.connection,
        lane=r.lane,
        kind=r.kind,
        batch_id=r.batch_id,
        item_key=r.item_key,
        payload=r.payload,
        attempts=r.attempts,
    )


def enqueue(conn: sa.Connection, items: Sequence[OutboxItem]) -> int:
    """Add items in the caller's transaction; an item already queued is left as it is.

    Returns:
        How many were added.
    """
    if not items:
        return 0
    now = utc_now()
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    values = [
        {
            "connection": i.connection,
            "lane": i.lane,
            "kind": i.kind,
            "batch_id": i.batch_id,
            "item_key": i.item_key,
            "payload": i.payload,
            "status": QUEUED,
            "attempts": 0,
            "not_before": 0.0,
            "created_at": now,
        }
        for i in items
    ]
    # executemany of one cached statement: a multi-row VALUES is compiled afresh for every
    # row count, which cost more than the insert itself at quarter-end.
    # RETURNING counts what was new on both databases (an executemany's rowcount is -1 on
    # PostgreSQL); an item already queued returns no row.
    done = conn.execute(
        insert(outbox)
        .on_conflict_do_nothing(index_elements=["connection", "batch_id", "item_key"])
        .returning(outbox.c.id),
        values,
    )
    return len(done.all())


def take(
    engine: sa.Engine, connection: str, holder: str, *, limit: int, now: float | None = None
) -> list[OutboxRow]:
    """Up to ``limit`` queued items due now, highest lane first, oldest first; marked taken."""
    moment = time.time() if now is None else now
    rows: list[OutboxRow] = []
    with engine.begin() as conn:
        write_lock(conn)
        for lane in LANES:
            want = limit - len(rows)
            if want <= 0:
                break
            query = (
                sa.select(outbox)
                .where(
                    outbox.c.connection == connection,
                    outbox.c.status == QUEUED,
                    outbox.c.lane == lane,
                    outbox.c.not_before <= moment,
                )
                .order_by(outbox.c.id)
                .limit(want)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows.extend(_row(r) for r in conn.execute(query))
        if rows:
            conn.execute(
                sa.update(outbox)
                .where(outbox.c.id.in_([r.id for r in rows]))
                .values(status=TAKEN, taken_by=holder)
            )
    return rows


def complete(conn: sa.Connection, ids: Iterable[int]) -> None:
    """Remove items whose outcome the caller records in the same transaction."""
    wanted = list(ids)
    for start in range(0, len(wanted), 500):
        conn.execute(sa.delete(outbox).where(outbox.c.id.in_(wanted[start : start + 500])))


def retry_later(
    conn: sa.Connection, item_id: int, *, not_before: float, payload: str | None = None
) -> None:
    """Queue an item again, due at ``not_before`` (epoch seconds), maybe with a new payload."""
    values: dict[str, object] = {
        "status": QUEUED,
        "taken_by": None,
        "not_before": not_before,
        "attempts": outbox.c.attempts + 1,
    }
    if payload is not None:
        values["payload"] = payload
    conn.execute(sa.update(outbox).where(outbox.c.id == item_id).values(**values))


def release_taken(engine: sa.Engine, connection: str) -> int:
    """Queue again every taken item of ``connection`` (its dispatcher changed); how many."""
    with engine.begin() as conn:
        done = conn.execute(
            sa.update(outbox)
            .where(outbox.c.connection == connection, outbox.c.status == TAKEN)
            .values(status=QUEUED, taken_by=None)
        )
    return int(done.rowcount or 0)


def connections_with_work(engine: sa.Engine) -> list[str]:
    """Connections that have items queued or taken."""
    with engine.connect() as conn:
        return [str(r[0]) for r in conn.execute(sa.select(outbox.c.connection).distinct())]


def pending(conn: sa.Connection, connection: str, *, kind: str | None = None) -> list[OutboxRow]:
    """Items of ``connection`` (queued or taken), oldest first: for operators and tests."""
    query = sa.select(outbox).where(outbox.c.connection == connection).order_by(outbox.c.id)
    if kind is not None:
        query = query.where(outbox.c.kind == kind)
    return [_row(r) for r in conn.execute(query)]


def backlog(conn: sa.Connection) -> dict[tuple[str, str], int]:
    """Items waiting, by (connection, lane)."""
    query = sa.select(outbox.c.connection, outbox.c.lane, sa.func.count()).group_by(
        outbox.c.connection, outbox.c.lane
    )
    return {(str(c), str(lane)): int(n) for c, lane, n in conn.execute(query)}
