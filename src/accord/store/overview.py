"""The operations overview: events, runs, latency, posting status and backlog over the last hour.

One read model behind the console's overview page. Every query is bounded: the journal through
its ``(type, received_at)`` index (one range per known event type), runs through DBOS's
``created_at`` and ``completed_at`` indexes (:mod:`accord.store.runs`), latency from at most
``latency_sample`` of the latest completed runs, so a busy day never makes the page slow.
Posting status is the posting ledger's: every approved time entry and expense, by what became
of it in the ERP (one grouped query, :func:`accord.store.postings.count_by_status`).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from accord.domain import EVENT_TYPES
from accord.store import postings, runs
from accord.store.tables import budget_state, exceptions, journal
from accord.store.util import as_utc, utc_now

__all__ = ["Overview", "overview"]


@dataclass
class Overview:
    """Everything the overview page draws."""

    minutes: list[datetime]
    events_per_minute: list[int]
    runs_per_minute: dict[str, list[int]]
    runs_by_status: dict[str, int]
    latency: dict[str, tuple[float, float, int]]
    posting_status: dict[str, dict[str, int]]
    """Entries of the posting ledger per status (``posted``, ``held``, ``rejected``), per kind."""
    queue_depth: dict[str, int]
    throttled: dict[str, int]
    open_exceptions: int


def _minute_expr(conn: sa.Connection, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    # SQLite stores times as ISO text ("YYYY-MM-DD HH:MM:SS..."): the first 16 characters are
    # the minute. PostgreSQL truncates the timestamp.
    if conn.dialect.name == "sqlite":
        return sa.func.substr(column, 1, 16)
    return sa.func.date_trunc("minute", column)


def _minute_key(value: Any) -> str:  # noqa: ANN401 - a driver value (text or datetime)
    if isinstance(value, datetime):
        return (as_utc(value) or value).strftime("%Y-%m-%d %H:%M")
    return str(value)[:16].replace("T", " ")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _events_per_minute(
    conn: sa.Connection, since: datetime, index: dict[str, int], minutes: int
) -> list[int]:
    minute = _minute_expr(conn, journal.c.received_at)
    events = [0] * minutes
    q = (
        sa.select(minute.label("m"), sa.func.count().label("n"))
        .where(journal.c.type.in_(sorted(EVENT_TYPES)), journal.c.received_at >= since)
        .group_by(minute)
    )
    for r in conn.execute(q):
        i = index.get(_minute_key(r.m))
        if i is not None:
            events[i] += int(r.n)
    return events


def overview(
    conn: sa.Connection,
    *,
    window_minutes: int = 60,
    now: datetime | None = None,
    latency_sample: int = 20_000,
) -> Overview:
    """The overview's series and counts over the last ``window_minutes`` (module docstring)."""
    now = (now or utc_now()).replace(second=0, microsecond=0) + timedelta(minutes=1)
    since = now - timedelta(minutes=window_minutes)
    minutes = [since + timedelta(minutes=i) for i in range(window_minutes)]
    index = {m.strftime("%Y-%m-%d %H:%M"): i for i, m in enumerate(minutes)}

    durations = runs.durations(conn, since=since, sample=latency_sample)
    latency = {
        flow: (_percentile(v, 0.5), _percentile(v, 0.95), len(v))
        for flow, v in sorted(durations.items())
    }
    depth = runs.queue_depth(conn, statuses=runs.IN_FLIGHT)
    throttled = {
        r.connection: int(r.throttled_total)
        for r in conn.execute(
            sa.select(budget_state.c.connection, budget_state.c.throttled_total).order_by(
                budget_state.c.connection
            )
        )
    }
    open_count = conn.execute(
        sa.select(sa.func.count()).select_from(exceptions).where(exceptions.c.status == "open")
    ).scalar_one()
    return Overview(
        minutes=minutes,
        events_per_minute=_events_per_minute(conn, since, index, window_minutes),
        runs_per_minute=runs.finished_per_minute(conn, since=since, minutes=window_minutes),
        runs_by_status=runs.started_by_status(conn, since=since),
        latency=latency,
        posting_status=postings.count_by_status(conn),
        queue_depth={q or "(no queue)": n for q, n in depth.items()},
        throttled=throttled,
        open_exceptions=int(open_count),
    )
