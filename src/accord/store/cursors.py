"""Persisted poll cursors: where each (connection, resource) poller resumes, and what it saw.

One row per (connection, resource) in ``accord_cursors``: the connector's opaque cursor (or
whatever the poller stores there), the high watermark (latest modification time read, UTC), and
a bounded list of recently seen ``(record id, modification stamp)`` pairs, which lets the poller
drop records it re-reads inside its overlap window. What a poll does with these values lives in
:mod:`accord.flows.capture`; this module only reads and writes them.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from accord.store.tables import cursors
from accord.store.util import as_utc, utc_now

__all__ = ["CursorRow", "CursorState", "SeenKey", "get", "positions", "resources", "save"]

SeenKey = tuple[str, str]
"""A record seen by a poller: its id and its modification stamp (ISO time or version tag)."""


@dataclass(frozen=True)
class CursorState:
    """The persisted position of one poller.

    Attributes:
        connection: The connection name.
        resource: The connector's resource name.
        cursor: Where the next read resumes, or ``None`` to start a fresh sweep.
        high_watermark: Latest modification time read so far (UTC-aware), or ``None``.
        seen: Recently seen ``(id, stamp)`` pairs, oldest first; bounded by the poller.
        updated_at: When the row was last written, ``None`` for a poller that never ran.
    """

    connection: str
    resource: str
    cursor: str | None = None
    high_watermark: datetime | None = None
    seen: tuple[SeenKey, ...] = field(default_factory=tuple)
    updated_at: datetime | None = None


def _decode_seen(text: str | None) -> tuple[SeenKey, ...]:
    if not text:
        return ()
    try:
        raw = json.loads(text)
    except ValueError:
        # A damaged dedupe list only costs a few duplicate reads (the journal dedupes them too).
        return ()
    if not isinstance(raw, list):
        return ()
    return tuple(
        (str(item[0]), str(item[1]))
        for item in raw
        if isinstance(item, list | tuple) and len(item) == 2
    )


def get(
    conn: sa.Connection, *, connection: str, resource: str, for_update: bool = False
) -> CursorState:
    """The state of one poller; an empty state when it never ran.

    Args:
        conn: An open connection (inside the caller's transaction).
        connection: The connection name.
        resource: The resource name.
        for_update: Lock the row (PostgreSQL ``FOR UPDATE``); SQLite callers take the write
            lock with :func:`accord.store.util.write_lock` instead.
    """
    query = sa.select(cursors).where(
        cursors.c.connection == connection, cursors.c.resource == resource
    )
    if for_update and conn.dialect.name != "sqlite":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        return CursorState(connection=connection, resource=resource)
    return CursorState(
        connection=connection,
        resource=resource,
        cursor=row.cursor,
        high_watermark=as_utc(row.high_watermark),
        seen=_decode_seen(row.seen_ids),
        updated_at=as_utc(row.updated_at),
    )


def save(conn: sa.Connection, state: CursorState, *, now: datetime | None = None) -> CursorState:
    """Insert or replace the state of one poller; returns it with its new ``updated_at``.

    Raises:
        ValueError: ``high_watermark`` is naive (times are UTC-aware everywhere).
    """
    if state.high_watermark is not None and state.high_watermark.tzinfo is None:
        msg = "high_watermark must be timezone-aware"
        raise ValueError(msg)
    written_at = now or utc_now()
    values = {
        "cursor": state.cursor,
        "high_watermark": state.high_watermark,
        "seen_ids": json.dumps([list(pair) for pair in state.seen], separators=(",", ":")),
        "updated_at": written_at,
    }
    updated = conn.execute(
        sa.update(cursors)
        .where(cursors.c.connection == state.connection, cursors.c.resource == state.resource)
        .values(**values)
    )
    if updated.rowcount == 0:
        conn.execute(
            sa.insert(cursors).values(
                connection=state.connection, resource=state.resource, **values
            )
        )
    return CursorState(
        connection=state.connection,
        resource=state.resource,
        cursor=state.cursor,
        high_watermark=state.high_watermark,
        seen=state.seen,
        updated_at=written_at,
    )


def resources(conn: sa.Connection, *, connection: str) -> list[str]:
    """The resources a connection has a cursor for, by name."""
    rows = conn.execute(
        sa.select(cursors.c.resource)
        .where(cursors.c.connection == connection)
        .order_by(cursors.c.resource)
    )
    return [str(r) for r in rows.scalars()]


@dataclass(frozen=True)
class CursorRow:
    """Where one poller resumes (what the console's connections page shows)."""

    connection: str
    resource: str
    high_watermark: datetime | None
    updated_at: datetime | None


def positions(conn: sa.Connection, *, limit: int = 500) -> list[CursorRow]:
    """Every poller's position (one row per connection and resource)."""
    q = (
        sa.select(cursors.c.connection, cursors.c.resource, cursors.c.high_watermark)
        .add_columns(cursors.c.updated_at)
        .order_by(cursors.c.connection, cursors.c.resource)
        .limit(limit)
    )
    return [
        CursorRow(
            connection=r.connection,
            resource=r.resource,
            high_watermark=as_utc(r.high_watermark),
            updated_at=as_utc(r.updated_at),
        )
        for r in conn.execute(q)
    ]
