"""The journal: append-only canonical events, deduplicated by CloudEvents (``source``, ``id``).

Each event's run id derives from its journal sequence number and event id
(``<seq:012d>.<event_id>``), so run ids sort in journal order: the durable runtime breaks
start-order ties by workflow id, and per-key ordering relies on that.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from accord.store.ids import next_id
from accord.store.tables import journal
from accord.store.util import as_utc, utc_now

__all__ = [
    "JournalEntry",
    "NewEvent",
    "data_of_type",
    "find_existing",
    "get",
    "get_by_event_id",
    "insert_many",
    "last_of",
    "latest",
    "latest_data",
    "list_",
    "run_id_for",
]


@dataclass(frozen=True)
class NewEvent:
    """An event validated at intake, ready to be journaled."""

    source: str
    ce_id: str
    type: str
    subject: str | None
    business_key: str
    time: datetime | None
    data_json: str


@dataclass(frozen=True)
class JournalEntry:
    """A journaled event."""

    seq: int
    event_id: str
    source: str
    ce_id: str
    type: str
    subject: str | None
    business_key: str
    time: datetime | None
    received_at: datetime

    @property
    def run_id(self) -> str:
        """The id of the run this event started."""
        return run_id_for(self.seq, self.event_id)


def run_id_for(seq: int, event_id: str) -> str:
    """Run id of the event with this sequence number: sortable in journal order."""
    return f"{seq:012d}.{event_id}"


_ENTRY_COLS = (
    journal.c.seq,
    journal.c.event_id,
    journal.c.source,
    journal.c.ce_id,
    journal.c.type,
    journal.c.subject,
    journal.c.business_key,
    journal.c.time,
    journal.c.received_at,
)


def _entry(r: sa.Row[*tuple[Any, ...]]) -> JournalEntry:
    return JournalEntry(
        seq=r.seq,
        event_id=r.event_id,
        source=r.source,
        ce_id=r.ce_id,
        type=r.type,
        subject=r.subject,
        business_key=r.business_key,
        time=as_utc(r.time),
        received_at=as_utc(r.received_at) or utc_now(),
    )


def find_existing(
    conn: sa.Connection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], JournalEntry]:
    """Already journaled events among (source, ce_id) pairs."""
    if not keys:
        return {}
    wanted = set(keys)
    rows = conn.execute(
        sa.select(*_ENTRY_COLS).where(journal.c.ce_id.in_({ce for _, ce in wanted}))
    )
    return {(r.source, r.ce_id): _entry(r) for r in rows if (r.source, r.ce_id) in wanted}


def insert_many(
    conn: sa.Connection, events: Sequence[NewEvent], *, now: datetime | None = None
) -> list[JournalEntry]:
    """Append events (none may already exist) and return them with their sequence numbers.

    ``now`` (their ``received_at``) is the clock, injected by tests.
    """
    if not events:
        return []
    now = now or utc_now()
    rows = [
        {
            "event_id": next_id(),
            "source": e.source,
            "ce_id": e.ce_id,
            "type": e.type,
            "subject": e.subject,
            "business_key": e.business_key,
            "time": e.time,
            "received_at": now,
            "data": e.data_json,
        }
        for e in events
    ]
    result = conn.execute(
        sa.insert(journal).returning(*_ENTRY_COLS, sort_by_parameter_order=True), rows
    )
    return [_entry(r) for r in result]


def get(conn: sa.Connection, *, seq: int) -> tuple[JournalEntry, Any] | None:
    """One event and its data, by sequence number."""
    row = conn.execute(sa.select(*_ENTRY_COLS, journal.c.data).where(journal.c.seq == seq)).first()
    if row is None:
        return None
    return _entry(row), json.loads(row.data)


def get_by_event_id(conn: sa.Connection, event_id: str) -> tuple[JournalEntry, Any] | None:
    """One event and its data, by its event id."""
    row = conn.execute(
        sa.select(*_ENTRY_COLS, journal.c.data).where(journal.c.event_id == event_id)
    ).first()
    if row is None:
        return None
    return _entry(row), json.loads(row.data)


def list_(
    conn: sa.Connection,
    *,
    type_: str | None = None,
    business_key: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: int = 0,
    limit: int = 500,
) -> list[JournalEntry]:
    """Events in journal order, filtered."""
    q = sa.select(*_ENTRY_COLS).where(journal.c.seq > after_seq).order_by(journal.c.seq)
    if type_:
        q = q.where(journal.c.type == type_)
    if business_key:
        q = q.where(journal.c.business_key == business_key)
    if since:
        q = q.where(journal.c.received_at >= since)
    if until:
        q = q.where(journal.c.received_at < until)
    return [_entry(r) for r in conn.execute(q.limit(limit))]


def latest(
    conn: sa.Connection,
    *,
    types: Sequence[str],
    business_key: str,
    source_prefix: str | None = None,
    limit: int = 1,
) -> list[tuple[JournalEntry, Any]]:
    """The newest events of ``types`` about one business key, newest first, with their data.

    ``source_prefix`` keeps the events whose ``source`` starts with it (one connection's).
    """
    q = sa.select(*_ENTRY_COLS, journal.c.data).where(
        journal.c.business_key == business_key, journal.c.type.in_(list(types))
    )
    if source_prefix is not None:
        q = q.where(journal.c.source.startswith(source_prefix, autoescape=True))
    q = q.order_by(journal.c.seq.desc()).limit(limit)
    return [(_entry(r), json.loads(r.data)) for r in conn.execute(q)]


def last_of(conn: sa.Connection, business_keys: list[str]) -> dict[str, tuple[str, datetime]]:
    """Business key -> (type, received at) of its latest event, for the keys with any."""
    if not business_keys:
        return {}
    latest = (
        sa.select(journal.c.business_key, sa.func.max(journal.c.seq).label("seq"))
        .where(journal.c.business_key.in_(business_keys))
        .group_by(journal.c.business_key)
        .subquery()
    )
    rows = conn.execute(
        sa.select(journal.c.business_key, journal.c.type, journal.c.received_at).join(
            latest, journal.c.seq == latest.c.seq
        )
    )
    return {r.business_key: (r.type, as_utc(r.received_at) or utc_now()) for r in rows}


def latest_data(conn: sa.Connection, *, type_: str, business_key: str) -> dict[str, Any] | None:
    """The data of the latest event of one type and business key, or ``None`` if it has none."""
    row = conn.execute(
        sa.select(journal.c.data)
        .where(journal.c.business_key == business_key, journal.c.type == type_)
        .order_by(journal.c.seq.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    data: dict[str, Any] = json.loads(row.data)
    return data


def data_of_type(conn: sa.Connection, type_: str) -> list[Any]:
    """The data of every journaled event of one type, in journal order (unbounded: demo use)."""
    rows = conn.execute(
        sa.select(journal.c.data).where(journal.c.type == type_).order_by(journal.c.seq)
    )
    return [json.loads(data) for (data,) in rows]
