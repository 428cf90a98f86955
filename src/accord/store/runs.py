"""Runs as the durable runtime (DBOS) records them: the one module that reads DBOS's tables.

DBOS keeps its runs in ``workflow_status`` (in the ``dbos`` schema on PostgreSQL, in the main
schema on SQLite), in the same database as Accord's tables. Everything Accord shows about runs
without going through DBOS's client (the console's run lists and overview, the queue-depth
gauge, the trace id of a run) is read here, through a small description of the columns we use;
the trace context is written here too (a JSON merge into the run's ``attributes``).

Every query is bounded: a page of rows, a time window over an indexed column, or an aggregate
an index serves. The indexes come from DBOS's migrations (``workflow_status_created_at_index``,
the partial in-flight and failed indexes, ``idx_workflow_status_completed_at``).

What does not belong here: starting, resuming or listing runs through DBOS's client
(:mod:`accord.flows.runs`, :mod:`accord.flows.replay`, :mod:`accord.flows.recovery`).
"""

import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from accord.store.util import utc_now

__all__ = [
    "DEAD",
    "FAILED",
    "IN_FLIGHT",
    "RunRow",
    "count_runs",
    "durations",
    "finished_per_minute",
    "get_run",
    "list_runs",
    "queue_depth",
    "record_traces",
    "runs_by_id",
    "runs_select",
    "started_by_status",
    "tables_exist",
    "trace_id",
]

IN_FLIGHT: Final = ("ENQUEUED", "PENDING")
"""DBOS statuses of runs not finished yet."""
FAILED: Final = "ERROR"
"""A run that raised: its steps gave up (or a bug)."""
DEAD: Final = "MAX_RECOVERY_ATTEMPTS_EXCEEDED"
"""A dead-lettered run: recovered too many times; it waits for a replay after a fix."""
_ENDED_BADLY: Final = ("ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED")
_SCHEMA: Final = "dbos"
"""DBOS's schema on PostgreSQL (SQLite has none)."""


def _schema(bind: sa.Connection | sa.Engine) -> str | None:
    return _SCHEMA if bind.dialect.name == "postgresql" else None


def _table(bind: sa.Connection | sa.Engine) -> sa.TableClause:
    """DBOS's ``workflow_status``: the columns Accord reads, and ``attributes`` (merged into)."""
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
        sa.column("attributes", sa.JSON),
        schema=_schema(bind),
    )


def tables_exist(engine: sa.Engine) -> bool:
    """Whether DBOS has created its tables in this database yet (a runtime launched once)."""
    return sa.inspect(engine).has_table("workflow_status", schema=_schema(engine))


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _from_ms(ms: int | None) -> datetime | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=utc_now().tzinfo)


# ---------------------------------------------------------------------- run lists
@dataclass(frozen=True)
class RunRow:
    """One run as the console's lists show it."""

    run_id: str
    status: str
    flow: str
    queue: str | None
    created_at: datetime
    updated_at: datetime | None
    recovery_attempts: int
    error: str | None


def _columns(ws: sa.TableClause) -> tuple[sa.ColumnClause[Any], ...]:
    c = ws.c
    return (
        c.workflow_uuid,
        c.status,
        c.name,
        c.queue_name,
        c.created_at,
        c.updated_at,
        c.completed_at,
        c.recovery_attempts,
        c.error,
        c.executor_id,
    )


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
    ws = _table(conn)
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
    return sa.select(*_columns(ws)).where(*where).order_by(*order).limit(limit).offset(offset)


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
    ws = _table(conn)
    where = _run_filter(ws, view, now=now or utc_now(), stuck_minutes=stuck_minutes)
    return int(conn.execute(sa.select(sa.func.count()).select_from(ws).where(*where)).scalar_one())


def runs_by_id(conn: sa.Connection, run_ids: list[str]) -> dict[str, RunRow]:
    """The runs with these ids (primary-key lookups, at most 500), by id."""
    if not run_ids:
        return {}
    ws = _table(conn)
    q = sa.select(*_columns(ws)).where(ws.c.workflow_uuid.in_(run_ids[:500]))
    return {r.workflow_uuid: _run(r) for r in conn.execute(q)}


def get_run(conn: sa.Connection, run_id: str) -> RunRow | None:
    """One run by id."""
    ws = _table(conn)
    row = conn.execute(sa.select(*_columns(ws)).where(ws.c.workflow_uuid == run_id)).first()
    return _run(row) if row else None


# ---------------------------------------------------------------------- aggregates
def queue_depth(
    conn: sa.Connection, *, statuses: tuple[str, ...] = ("ENQUEUED",)
) -> dict[str, int]:
    """Runs per queue in these statuses (runs outside any queue under ``""``)."""
    ws = _table(conn)
    q = (
        sa.select(ws.c.queue_name, sa.func.count().label("n"))
        .where(ws.c.status.in_(statuses) if len(statuses) > 1 else ws.c.status == statuses[0])
        .group_by(ws.c.queue_name)
    )
    return {r.queue_name or "": int(r.n) for r in conn.execute(q)}


def finished_per_minute(
    conn: sa.Connection, *, since: datetime, minutes: int
) -> dict[str, list[int]]:
    """Runs finished in each minute from ``since``, per final status (``completed_at`` index)."""
    ws = _table(conn)
    since_ms = _ms(since)
    bucket = (ws.c.completed_at - since_ms) // 60_000
    per_minute: dict[str, list[int]] = defaultdict(lambda: [0] * minutes)
    q = (
        sa.select(ws.c.status, bucket.label("b"), sa.func.count().label("n"))
        .where(ws.c.completed_at >= since_ms)
        .group_by(ws.c.status, bucket)
    )
    for r in conn.execute(q):
        b = int(r.b)
        if 0 <= b < minutes:
            per_minute[r.status or "?"][b] += int(r.n)
    return dict(per_minute)


def started_by_status(conn: sa.Connection, *, since: datetime) -> dict[str, int]:
    """Runs created since ``since``, by their status now (``created_at`` index)."""
    ws = _table(conn)
    by_status: Counter[str] = Counter()
    q = (
        sa.select(ws.c.status, sa.func.count().label("n"))
        .where(ws.c.created_at >= _ms(since))
        .group_by(ws.c.status)
    )
    for r in conn.execute(q):
        by_status[r.status or "?"] += int(r.n)
    return dict(by_status)


def durations(conn: sa.Connection, *, since: datetime, sample: int) -> dict[str, list[float]]:
    """Seconds from start to end of the latest ``sample`` successful runs since ``since``."""
    ws = _table(conn)
    out: dict[str, list[float]] = defaultdict(list)
    q = (
        sa.select(ws.c.name, ws.c.created_at, ws.c.completed_at)
        .where(ws.c.completed_at >= _ms(since), ws.c.status == "SUCCESS")
        .order_by(ws.c.completed_at.desc())
        .limit(sample)
    )
    for r in conn.execute(q):
        out[r.name or "?"].append(max(0.0, (r.completed_at - r.created_at) / 1000))
    return dict(out)


# ---------------------------------------------------------------------- trace context
def record_traces(conn: sa.Connection, traces: Mapping[str, tuple[str, str]]) -> None:
    """Merge ``trace_id`` and DBOS's ``otel_carrier`` into each run's ``attributes``.

    Args:
        conn: A connection in a transaction.
        traces: Run id -> (trace id, W3C ``traceparent``).
    """
    if not traces:
        return
    table = _table(conn)
    new: sa.ColumnElement[Any]
    if conn.dialect.name == "postgresql":
        # DBOS stores "no attributes" as JSON null, which ``||`` would turn into an array.
        base = sa.case(
            (sa.func.jsonb_typeof(table.c.attributes) == "object", table.c.attributes),
            else_=sa.text("'{}'::jsonb"),
        )
        new = base.op("||")(sa.cast(sa.bindparam("patch", type_=sa.Text), JSONB))
    else:
        new = sa.func.json_patch(
            sa.func.coalesce(table.c.attributes, "{}"), sa.bindparam("patch", type_=sa.Text)
        )
    stmt = (
        sa.update(table).where(table.c.workflow_uuid == sa.bindparam("wid")).values(attributes=new)
    )
    params = [
        {
            "wid": run_id,
            "patch": json.dumps({"trace_id": tid, "otel_carrier": {"traceparent": parent}}),
        }
        for run_id, (tid, parent) in traces.items()
    ]
    conn.execute(stmt, params)


def trace_id(conn: sa.Connection, run_id: str) -> str | None:
    """The trace id recorded on a run, if any (for the ops API and the console)."""
    table = _table(conn)
    raw = conn.execute(
        sa.select(table.c.attributes).where(table.c.workflow_uuid == run_id)
    ).scalar_one_or_none()
    if isinstance(raw, str):
        raw = json.loads(raw)
    value = raw.get("trace_id") if isinstance(raw, Mapping) else None
    return value if isinstance(value, str) else None
