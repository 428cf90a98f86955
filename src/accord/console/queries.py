"""Read queries behind the console pages: DBOS run tables, exception aggregates, overview series.

Every query is bounded: a page of rows (LIMIT/OFFSET), a time window over an indexed column,
or an aggregate served by an index. The DBOS tables are read directly through a small table
description of our own (only :mod:`accord.flows` imports ``dbos``); their indexes come from
DBOS's migrations (``workflow_status_created_at_index``, the partial in-flight and failed
indexes, ``idx_workflow_status_completed_at``).

What does not belong here: writes (the store's repositories and :mod:`accord.console.retry`).
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from accord.connectors.budget import LANES
from accord.domain import EVENT_TYPES
from accord.store import postings
from accord.store.exceptions import QUEUES
from accord.store.tables import budget_state, cursors, exceptions, journal
from accord.store.util import as_utc, utc_now

__all__ = [
    "AGING_BUCKETS",
    "DEAD",
    "FAILED",
    "IN_FLIGHT",
    "BudgetRow",
    "CursorRow",
    "Overview",
    "QueueSummary",
    "RunRow",
    "budgets",
    "count_runs",
    "exception_summary",
    "get_run",
    "list_runs",
    "overview",
    "poll_cursors",
    "run_table",
    "runs_by_id",
    "runs_select",
]

IN_FLIGHT = ("ENQUEUED", "PENDING")
"""DBOS statuses of runs not finished yet."""
FAILED = "ERROR"
"""A run that raised: its steps gave up (or a bug)."""
DEAD = "MAX_RECOVERY_ATTEMPTS_EXCEEDED"
"""A dead-lettered run: recovered too many times; it waits for a replay after a fix."""
_ENDED_BADLY = ("ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED")
AGING_BUCKETS = (
    ("lt1h", "< 1 hour", timedelta(hours=1)),
    ("lt1d", "< 1 day", timedelta(days=1)),
    ("lt2d", "< 2 days", timedelta(days=2)),
    ("older", "older", None),
)
"""Exception age buckets: key, label, upper bound (None: unbounded)."""


def run_table(conn: sa.Connection) -> sa.TableClause:
    """DBOS's ``workflow_status``, in the schema DBOS uses on this database."""
    schema = "dbos" if conn.dialect.name == "postgresql" else None
    return sa.table(
        "workflow_status",
        sa.column("workflow_uuid", sa.Text),
        sa.column("status", sa.Text),
        sa.column("name", sa.Text),
        sa.column("queue_name", sa.Text),
        sa.column("created_at", sa.BigInteger),
        sa.column("updated_at", sa.BigInteger),
        sa.column("completed_at", sa.BigInteger),
        sa.column("recovery_attempts", sa.BigInteger),
        sa.column("error", sa.Text),
        sa.column("executor_id", sa.Text),
        schema=schema,
    )


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _from_ms(ms: int | None) -> datetime | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=utc_now().tzinfo)


@dataclass(frozen=True)
class RunRow:
    """One run as the runs page shows it."""

    run_id: str
    status: str
    flow: str
    queue: str | None
    created_at: datetime
    updated_at: datetime | None
    recovery_attempts: int
    error: str | None


def _run(r: sa.Row[Any]) -> RunRow:
    return RunRow(
        run_id=r.workflow_uuid,
        status=r.status or "",
        flow=r.name or "",
        queue=r.queue_name,
        created_at=_from_ms(r.created_at) or utc_now(),
        updated_at=_from_ms(r.updated_at),
        recovery_attempts=int(r.recovery_attempts or 0),
        error=_readable(r.error),
    )


def _readable(error: str | None) -> str | None:
    # DBOS may store a serialised exception; show it only when it is plain text.
    if not error:
        return None
    text = error[:400]
    return text if text.isprintable() else "(serialised error: see the run in the ops API)"


def _run_filter(
    ws: sa.TableClause, view: str, *, now: datetime, stuck_minutes: int
) -> list[sa.ColumnElement[bool]]:
    if view == "stuck":
        # The same IN list as DBOS's partial in-flight index, so SQLite may use it; "+ 0"
        # keeps the planner off the created_at index, whose range covers nearly every run.
        return [
            ws.c.status.in_(IN_FLIGHT),
            ws.c.created_at + 0 < _ms(now - timedelta(minutes=stuck_minutes)),
        ]
    # The redundant IN term repeats the WHERE of DBOS's partial "failed" index
    # (status, created_at): SQLite uses a partial index only when the query names its terms.
    if view == "failed":
        return [ws.c.status.in_(_ENDED_BADLY), ws.c.status == FAILED]
    if view == "dead":
        return [ws.c.status.in_(_ENDED_BADLY), ws.c.status == DEAD]
    return []


def runs_select(
    conn: sa.Connection,
    *,
    view: str,
    stuck_minutes: int = 15,
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> sa.Select[Any]:
    """The query behind :func:`list_runs` (tests read its plan with ``EXPLAIN``)."""
    ws = run_table(conn)
    where = _run_filter(ws, view, now=now or utc_now(), stuck_minutes=stuck_minutes)
    order: tuple[sa.ColumnElement[Any], ...]
    if view == "all":
        order = (ws.c.created_at.desc(), ws.c.workflow_uuid.desc())
    elif view == "stuck":
        # Sort the few in-flight rows the partial index yields, rather than walk every run
        # in created_at order looking for them.
        order = ((ws.c.created_at + 0).asc(), ws.c.workflow_uuid)
    else:
        order = (ws.c.created_at, ws.c.workflow_uuid)
    return sa.select(ws).where(*where).order_by(*order).limit(limit).offset(offset)


def list_runs(
    conn: sa.Connection,
    *,
    view: str,
    stuck_minutes: int = 15,
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> list[RunRow]:
    """A page of runs: ``stuck``, ``failed``, ``dead`` or ``all``, oldest first (all: newest)."""
    q = runs_select(
        conn, view=view, stuck_minutes=stuck_minutes, limit=limit, offset=offset, now=now
    )
    return [_run(r) for r in conn.execute(q)]


def count_runs(
    conn: sa.Connection, *, view: str, stuck_minutes: int = 15, now: datetime | None = None
) -> int:
    """How many runs a view holds (served by DBOS's partial indexes for stuck/failed)."""
    ws = run_table(conn)
    where = _run_filter(ws, view, now=now or utc_now(), stuck_minutes=stuck_minutes)
    return int(conn.execute(sa.select(sa.func.count()).select_from(ws).where(*where)).scalar_one())


def runs_by_id(conn: sa.Connection, run_ids: list[str]) -> dict[str, RunRow]:
    """The runs with these ids (primary-key lookups), by id."""
    if not run_ids:
        return {}
    ws = run_table(conn)
    q = sa.select(ws).where(ws.c.workflow_uuid.in_(run_ids[:500]))
    return {r.workflow_uuid: _run(r) for r in conn.execute(q)}


def get_run(conn: sa.Connection, run_id: str) -> RunRow | None:
    """One run by id."""
    ws = run_table(conn)
    row = conn.execute(sa.select(ws).where(ws.c.workflow_uuid == run_id)).first()
    return _run(row) if row else None


# ---------------------------------------------------------------------- exceptions
@dataclass
class QueueSummary:
    """One owner queue's open exceptions: count, aging buckets and amount at risk."""

    queue: str
    open: int = 0
    buckets: dict[str, int] = field(default_factory=lambda: {k: 0 for k, _, _ in AGING_BUCKETS})
    at_risk: dict[str, Decimal] = field(default_factory=dict)


def exception_summary(
    conn: sa.Connection, queues: list[str], *, now: datetime | None = None
) -> dict[str, QueueSummary]:
    """Open exceptions per queue, bucketed by age, with the amount at risk per currency.

    One grouped query: the ``(queue, status, created_at)`` index serves the filter and the
    buckets; only the amount is read from the rows.
    """
    now = now or utc_now()
    bucket = sa.case(
        *(
            (exceptions.c.created_at >= now - bound, key)
            for key, _, bound in AGING_BUCKETS
            if bound is not None
        ),
        else_="older",
    ).label("bucket")
    q = (
        sa.select(
            exceptions.c.queue,
            bucket,
            exceptions.c.currency,
            sa.func.count().label("n"),
            sa.func.sum(exceptions.c.amount).label("amount"),
        )
        # Naming the queues lets the (queue, status, created_at) index serve the filter.
        .where(exceptions.c.queue.in_(sorted(QUEUES)), exceptions.c.status == "open")
        .group_by(exceptions.c.queue, bucket, exceptions.c.currency)
    )
    out = {name: QueueSummary(queue=name) for name in queues}
    for r in conn.execute(q):
        s = out.setdefault(r.queue, QueueSummary(queue=r.queue))
        s.open += int(r.n)
        s.buckets[r.bucket] = s.buckets.get(r.bucket, 0) + int(r.n)
        if r.currency and r.amount is not None:
            s.at_risk[r.currency] = s.at_risk.get(r.currency, Decimal(0)) + Decimal(r.amount)
    return out


# ---------------------------------------------------------------------- overview
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


def overview(
    conn: sa.Connection,
    *,
    window_minutes: int = 60,
    now: datetime | None = None,
    latency_sample: int = 20_000,
) -> Overview:
    """The overview's series and counts over the last ``window_minutes``.

    Events come from the journal through its ``(type, received_at)`` index (one range per
    known event type); runs from DBOS's ``created_at`` and ``completed_at`` indexes. Latency
    is read from at most ``latency_sample`` of the latest completed runs, so a busy day never
    makes the page slow. Posting status is the posting ledger's: every approved time entry and
    expense, by what became of it in the ERP (one grouped query).
    """
    now = (now or utc_now()).replace(second=0, microsecond=0) + timedelta(minutes=1)
    since = now - timedelta(minutes=window_minutes)
    minutes = [since + timedelta(minutes=i) for i in range(window_minutes)]
    index = {m.strftime("%Y-%m-%d %H:%M"): i for i, m in enumerate(minutes)}

    minute = _minute_expr(conn, journal.c.received_at)
    events = [0] * window_minutes
    q_events = (
        sa.select(minute.label("m"), sa.func.count().label("n"))
        .where(journal.c.type.in_(sorted(EVENT_TYPES)), journal.c.received_at >= since)
        .group_by(minute)
    )
    for r in conn.execute(q_events):
        i = index.get(_minute_key(r.m))
        if i is not None:
            events[i] += int(r.n)

    ws = run_table(conn)
    since_ms = _ms(since)
    bucket = (ws.c.completed_at - since_ms) // 60_000
    per_minute: dict[str, list[int]] = defaultdict(lambda: [0] * window_minutes)
    q_done = (
        sa.select(ws.c.status, bucket.label("b"), sa.func.count().label("n"))
        .where(ws.c.completed_at >= since_ms)
        .group_by(ws.c.status, bucket)
    )
    for r in conn.execute(q_done):
        b = int(r.b)
        if 0 <= b < window_minutes:
            per_minute[r.status or "?"][b] += int(r.n)

    by_status: Counter[str] = Counter()
    q_status = (
        sa.select(ws.c.status, sa.func.count().label("n"))
        .where(ws.c.created_at >= since_ms)
        .group_by(ws.c.status)
    )
    for r in conn.execute(q_status):
        by_status[r.status or "?"] += int(r.n)

    durations: dict[str, list[float]] = defaultdict(list)
    q_lat = (
        sa.select(ws.c.name, ws.c.created_at, ws.c.completed_at)
        .where(ws.c.completed_at >= since_ms, ws.c.status == "SUCCESS")
        .order_by(ws.c.completed_at.desc())
        .limit(latency_sample)
    )
    for r in conn.execute(q_lat):
        durations[r.name or "?"].append(max(0.0, (r.completed_at - r.created_at) / 1000))
    latency = {
        flow: (_percentile(v, 0.5), _percentile(v, 0.95), len(v))
        for flow, v in sorted(durations.items())
    }

    depth: Counter[str] = Counter()
    q_depth = (
        sa.select(ws.c.queue_name, sa.func.count().label("n"))
        .where(ws.c.status.in_(IN_FLIGHT))
        .group_by(ws.c.queue_name)
    )
    for r in conn.execute(q_depth):
        depth[r.queue_name or "(no queue)"] += int(r.n)

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
        events_per_minute=events,
        runs_per_minute=dict(per_minute),
        runs_by_status=dict(by_status),
        latency=latency,
        posting_status=postings.count_by_status(conn),
        queue_depth=dict(depth),
        throttled=throttled,
        open_exceptions=int(open_count),
    )


# ---------------------------------------------------------------------- connections
@dataclass(frozen=True)
class BudgetRow:
    """The shared budget state of one connection."""

    connection: str
    rate_per_s: float
    max_rate_per_s: float
    concurrency: int
    acquired_total: int
    throttled_total: int
    paused_until: float
    lanes: tuple[tuple[str, int], ...] = ()
    """Calls granted per lane (interactive, flow, bulk, background)."""


@dataclass(frozen=True)
class CursorRow:
    """Where one poller resumes."""

    connection: str
    resource: str
    high_watermark: datetime | None
    updated_at: datetime | None


def budgets(conn: sa.Connection) -> dict[str, BudgetRow]:
    """Every connection's persisted budget, by name."""
    rows = conn.execute(sa.select(budget_state).order_by(budget_state.c.connection))
    return {
        r.connection: BudgetRow(
            connection=r.connection,
            rate_per_s=float(r.rate_per_s),
            max_rate_per_s=float(r.max_rate_per_s),
            concurrency=int(r.concurrency),
            acquired_total=int(r.acquired_total),
            throttled_total=int(r.throttled_total),
            paused_until=float(r.paused_until),
            lanes=tuple((lane.value, int(getattr(r, f"lane_{lane.value}"))) for lane in LANES),
        )
        for r in rows
    }


def poll_cursors(conn: sa.Connection, *, limit: int = 500) -> list[CursorRow]:
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
