"""The facts the business KPIs are computed from, read from Accord's own tables.

Each function reads one kind of fact with bounded, indexed queries and returns plain values;
:mod:`accord.store.kpis` turns them into figures. Times are UTC-aware. Money stays
``Decimal`` (SQLite's ``SUM`` of a numeric column is a float, so nothing is summed in SQL).

Sources:

- provisioning: the lineage link ``psa_project -financed_by-> erp_project`` reaching
  ``provisioned`` (the last step of lead-to-project) and the ``opportunity.won`` events of the
  journal, joined through the link ``opportunity -provisioned-> psa_project``;
- time and expenses: the posting ledger (``accord_postings``) joined to the journal event
  that approved each entry;
- invoices: the ``invoice.posted`` / ``invoice.paid`` events, whose lines name the entries
  they bill;
- exceptions, the audit log (people's actions on exceptions), the journal (records) and the
  reconciliation results.
"""

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, NamedTuple

import sqlalchemy as sa

from accord.store.exceptions import ExceptionStatus
from accord.store.tables import (
    audit_log,
    exceptions,
    journal,
    lineage,
    postings,
    reconciliation_drift,
    reconciliation_runs,
)
from accord.store.util import as_utc

__all__ = [
    "MANUAL_ACTIONS",
    "Closed",
    "DriftFact",
    "EntryFact",
    "ProjectInfo",
    "approvals",
    "billed_by_entry",
    "closed_exceptions",
    "day_counts",
    "drift_found",
    "drift_open",
    "epoch",
    "first_passes",
    "invoiced",
    "last_reconciliation",
    "manual_touches",
    "open_exceptions",
    "opened_exceptions",
    "posting_waits",
    "project_info",
    "provisioned",
]

MANUAL_ACTIONS: Final = (
    "exception.assign",
    "exception.comment",
    "exception.ignore",
    "exception.redate",
    "exception.resolve",
    "exception.retry",
)
"""Audited actions a person takes on an exception: each one is a manual touch."""
SYSTEM_ACTOR: Final = "accord"
"""The audit actor of Accord's own actions (auto-resolution), which are no manual touch."""
_CHUNK: Final = 500
_BILLED_BY_ENTRY: Final = "time_entries"
"""The revenue policy's ``billing`` of time-and-materials work: invoiced entry by entry."""


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _utc(value: Any) -> datetime | None:  # noqa: ANN401 - a driver value or JSON text
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    try:
        return as_utc(datetime.fromisoformat(str(value)))
    except ValueError:
        return None


# ---------------------------------------------------------------------- provisioning
@dataclass(frozen=True, slots=True)
class ProjectInfo:
    """What the journal says about a project's deal: its name, legal entity and win time."""

    project_id: str
    opportunity_id: str | None = None
    name: str | None = None
    legal_entity: str | None = None
    won_at: datetime | None = None


def provisioned(conn: sa.Connection, start: datetime, end: datetime) -> list[tuple[str, datetime]]:
    """``(project id, provisioned at)`` of the projects that became provisioned in the window."""
    q = sa.select(lineage.c.from_id, lineage.c.status_at).where(
        lineage.c.relation == "financed_by",
        lineage.c.status_at >= start,
        lineage.c.status_at < end,
        lineage.c.from_type == "psa_project",
        lineage.c.status == "provisioned",
    )
    out: list[tuple[str, datetime]] = []
    for r in conn.execute(q):
        at = _utc(r.status_at)
        if at is not None:
            out.append((r.from_id, at))
    return out


def project_info(conn: sa.Connection, project_ids: Iterable[str]) -> dict[str, ProjectInfo]:
    """Each project's deal, from ``opportunity -provisioned-> psa_project`` and the journal.

    The win time is the earliest ``opportunity.won`` event's: its CloudEvents ``time``, else
    the opportunity's own ``updated_at`` (the CRM's last change, i.e. the win), else when
    Accord journaled it.
    """
    ids = sorted(set(project_ids))
    opportunity_of: dict[str, str] = {}
    for chunk in _chunks(ids):
        q = sa.select(lineage.c.from_id, lineage.c.to_id).where(
            lineage.c.to_type == "psa_project",
            lineage.c.to_id.in_(chunk),
            lineage.c.from_type == "opportunity",
            lineage.c.relation == "provisioned",
        )
        opportunity_of.update({r.to_id: r.from_id for r in conn.execute(q)})
    deals: dict[str, tuple[datetime, dict[str, Any]]] = {}
    keys = sorted({f"opportunity:{o}" for o in opportunity_of.values()})
    for chunk in _chunks(keys):
        q = sa.select(
            journal.c.business_key, journal.c.time, journal.c.received_at, journal.c.data
        ).where(journal.c.business_key.in_(chunk), journal.c.type == "opportunity.won")
        for r in conn.execute(q):
            data = json.loads(r.data)
            won = _utc(r.time) or _utc(data.get("updated_at")) or _utc(r.received_at)
            if won is None:
                continue
            opp = r.business_key.removeprefix("opportunity:")
            if opp not in deals or won < deals[opp][0]:
                deals[opp] = (won, data)
    out: dict[str, ProjectInfo] = {}
    for project in ids:
        opp = opportunity_of.get(project)
        won, data = deals.get(opp or "", (None, {}))
        out[project] = ProjectInfo(
            project_id=project,
            opportunity_id=opp,
            name=data.get("name"),
            legal_entity=data.get("legal_entity"),
            won_at=won,
        )
    return out


# ---------------------------------------------------------------------- time and expense
# The ledger can hold a quarter-end's 77,000 entries: these reads filter and compute in SQL and
# hand back plain tuples of floats (UTC epoch seconds), never a datetime per row.
def epoch(conn: sa.Connection, column: sa.ColumnElement[Any]) -> sa.ColumnElement[float]:
    """A timestamp column as UTC epoch seconds (SQLite: to the millisecond)."""
    if conn.dialect.name == "sqlite":
        # SQLite keeps UTC times as ISO text; julianday() reads it (to the millisecond).
        return sa.cast((sa.func.julianday(column) - 2440587.5) * 86400.0, sa.Float)
    return sa.cast(sa.extract("epoch", column), sa.Float)


def _approved(conn: sa.Connection) -> sa.ColumnElement[float]:
    # The approval event's time (the PSA's approval), else when Accord journaled it.
    return epoch(
        conn, sa.func.coalesce(journal.c.time, journal.c.received_at, postings.c.created_at)
    )


def _with_approval() -> sa.FromClause:
    return postings.outerjoin(journal, journal.c.event_id == postings.c.event_id)


def posting_waits(conn: sa.Connection, start: datetime, end: datetime) -> list[tuple[float, float]]:
    """``(posted at, approved at)`` in epoch seconds, of the entries first posted in the window."""
    q = (
        sa.select(epoch(conn, postings.c.posted_at).label("posted"), _approved(conn).label("ok"))
        .select_from(_with_approval())
        .where(postings.c.posted_at >= start, postings.c.posted_at < end)
    )
    return [(float(r.posted), float(r.ok)) for r in conn.execute(q)]


def first_passes(conn: sa.Connection, start: datetime, end: datetime) -> Counter[tuple[date, str]]:
    """Entries first recorded per UTC day of the window, by the outcome of their first pass."""
    day = _day(conn, postings.c.created_at)
    first = sa.func.coalesce(postings.c.first_status, postings.c.status)
    q = (
        sa.select(day.label("d"), first.label("first"), sa.func.count().label("n"))
        .where(postings.c.created_at >= start, postings.c.created_at < end)
        .group_by(day, first)
    )
    return Counter(
        {(date.fromisoformat(str(r.d)[:10]), r.first): int(r.n) for r in conn.execute(q)}
    )


class EntryFact(NamedTuple):
    """An entry invoiced entry by entry: work in progress until an invoice line names it."""

    kind: str
    entry_id: str
    project_id: str
    approved_at: float
    """Epoch seconds."""
    amount: Decimal
    currency: str


_BILLING_KEY: Final = '"revenue_billing":'
"""How the ledger's JSON ``detail`` names the project's revenue policy (postings writes it
with ``json.dumps``' default separators)."""


def billed_by_entry(conn: sa.Connection) -> list[EntryFact]:
    """The entries the customer is invoiced for entry by entry, with their approval time.

    Billable time (it has an amount) on a project whose revenue policy bills time entries, or
    whose policy the ledger does not know (an entry refused before it was planned); billable
    expenses (their approval event says so; the ledger keeps no flag).
    """
    detail = sa.func.coalesce(postings.c.detail, "")
    by_entry = sa.or_(
        detail.not_like(f"%{_BILLING_KEY}%"),
        detail.like(f'%{_BILLING_KEY} "{_BILLED_BY_ENTRY}"%'),
    )
    q = (
        sa.select(
            postings.c.kind,
            postings.c.entry_id,
            postings.c.project_id,
            _approved(conn).label("ok"),
            postings.c.amount,
            postings.c.currency,
            sa.case((postings.c.kind == "expense", journal.c.data), else_=None).label("data"),
        )
        .select_from(_with_approval())
        .where(
            postings.c.amount.is_not(None),
            postings.c.currency.is_not(None),
            sa.or_(postings.c.kind == "expense", by_entry),
        )
    )
    out: list[EntryFact] = []
    for r in conn.execute(q):
        if r.kind == "expense" and not json.loads(r.data or "{}").get("billable", True):
            continue
        amount = Decimal(str(r.amount))
        out.append(EntryFact(r.kind, r.entry_id, r.project_id, float(r.ok), amount, r.currency))
    return out


def approvals(conn: sa.Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], float]:
    """The approval times (epoch seconds) of these ``(kind, entry id)`` ledger entries."""
    by_kind: dict[str, list[str]] = {}
    for kind, entry in keys:
        by_kind.setdefault(kind, []).append(entry)
    out: dict[tuple[str, str], float] = {}
    for kind, entry_ids in by_kind.items():
        for chunk in _chunks(sorted(set(entry_ids))):
            q = (
                sa.select(postings.c.entry_id, _approved(conn).label("ok"))
                .select_from(_with_approval())
                .where(postings.c.kind == kind, postings.c.entry_id.in_(chunk))
            )
            out.update({(kind, r.entry_id): float(r.ok) for r in conn.execute(q)})
    return out


def invoiced(conn: sa.Connection) -> dict[tuple[str, str], float]:
    """``(kind, entry id)`` -> when (epoch seconds) the first invoice naming it was posted.

    Read from the ``invoice.posted`` / ``invoice.paid`` events: lines whose ``source_id``
    names a time entry or an expense. The time is the invoice's ``posted_at`` (the ERP's),
    else the event's time, else when Accord journaled it.
    """
    q = sa.select(journal.c.time, journal.c.received_at, journal.c.data).where(
        journal.c.type.in_(("invoice.posted", "invoice.paid"))
    )
    out: dict[tuple[str, str], float] = {}
    for r in conn.execute(q):
        data = json.loads(r.data)
        at = _utc(data.get("posted_at")) or _utc(r.time) or _utc(r.received_at)
        if at is None:
            continue
        stamp = at.timestamp()
        for line in data.get("lines") or ():
            kind, source = line.get("kind"), line.get("source_id")
            if kind in ("time", "expense") and source:
                key = (str(kind), str(source))
                if key not in out or stamp < out[key]:
                    out[key] = stamp
    return out


# ---------------------------------------------------------------------- counts per day
def _day(conn: sa.Connection, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    # SQLite keeps UTC times as ISO text: the first ten characters are the day. PostgreSQL
    # formats the UTC day whatever the session's time zone.
    if conn.dialect.name == "sqlite":
        return sa.func.substr(column, 1, 10)
    return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD")


def day_counts(conn: sa.Connection, start: datetime, end: datetime) -> Counter[date]:
    """Events journaled per UTC day of the window (every event is one business record)."""
    day = _day(conn, journal.c.received_at)
    q = (
        sa.select(day.label("d"), sa.func.count().label("n"))
        .where(journal.c.received_at >= start, journal.c.received_at < end)
        .group_by(day)
    )
    return Counter({date.fromisoformat(str(r.d)[:10]): int(r.n) for r in conn.execute(q)})


def manual_touches(conn: sa.Connection, start: datetime, end: datetime) -> list[datetime]:
    """When people acted on exceptions in the window (audited actions, Accord's own excluded)."""
    q = sa.select(audit_log.c.at).where(
        audit_log.c.at >= start,
        audit_log.c.at < end,
        audit_log.c.action.in_(MANUAL_ACTIONS),
        audit_log.c.actor != SYSTEM_ACTOR,
    )
    return [at for r in conn.execute(q) if (at := _utc(r.at)) is not None]


# ---------------------------------------------------------------------- exceptions
@dataclass(frozen=True, slots=True)
class Closed:
    """An exception closed (resolved or ignored) in the window."""

    queue: str
    opened_at: datetime
    closed_at: datetime


def opened_exceptions(
    conn: sa.Connection, start: datetime, end: datetime
) -> list[tuple[str, datetime]]:
    """``(queue, opened at)`` of the exceptions opened in the window."""
    q = sa.select(exceptions.c.queue, exceptions.c.created_at).where(
        exceptions.c.created_at >= start, exceptions.c.created_at < end
    )
    return [(r.queue, at) for r in conn.execute(q) if (at := _utc(r.created_at)) is not None]


def closed_exceptions(conn: sa.Connection, start: datetime, end: datetime) -> list[Closed]:
    """The exceptions resolved or ignored in the window, with when they were opened."""
    q = sa.select(exceptions.c.queue, exceptions.c.created_at, exceptions.c.resolved_at).where(
        exceptions.c.resolved_at >= start,
        exceptions.c.resolved_at < end,
        exceptions.c.status != ExceptionStatus.OPEN.value,
    )
    out: list[Closed] = []
    for r in conn.execute(q):
        opened, closed = _utc(r.created_at), _utc(r.resolved_at)
        if opened is not None and closed is not None:
            out.append(Closed(queue=r.queue, opened_at=opened, closed_at=closed))
    return out


def open_exceptions(conn: sa.Connection) -> list[tuple[str, datetime]]:
    """``(queue, opened at)`` of every exception open now."""
    q = sa.select(exceptions.c.queue, exceptions.c.created_at).where(
        exceptions.c.status == ExceptionStatus.OPEN.value
    )
    return [(r.queue, at) for r in conn.execute(q) if (at := _utc(r.created_at)) is not None]


# ---------------------------------------------------------------------- reconciliation
@dataclass(frozen=True, slots=True)
class DriftFact:
    """A drift item's kind, when it was first found and its amounts."""

    kind: str
    found_at: datetime
    expected: Decimal | None
    found: Decimal | None
    currency: str | None


def _drift(r: sa.Row[*tuple[Any, ...]]) -> DriftFact | None:
    at = _utc(r.found_at)
    if at is None:
        return None
    return DriftFact(
        kind=r.kind,
        found_at=at,
        expected=None if r.expected_amount is None else Decimal(str(r.expected_amount)),
        found=None if r.found_amount is None else Decimal(str(r.found_amount)),
        currency=r.currency,
    )


_DRIFT_COLUMNS = (
    reconciliation_drift.c.kind,
    reconciliation_drift.c.found_at,
    reconciliation_drift.c.expected_amount,
    reconciliation_drift.c.found_amount,
    reconciliation_drift.c.currency,
)


def drift_found(conn: sa.Connection, start: datetime, end: datetime) -> list[DriftFact]:
    """Drift items first found in the window."""
    q = sa.select(*_DRIFT_COLUMNS).where(
        reconciliation_drift.c.found_at >= start, reconciliation_drift.c.found_at < end
    )
    return [d for r in conn.execute(q) if (d := _drift(r)) is not None]


def drift_open(conn: sa.Connection) -> list[DriftFact]:
    """Drift items open now."""
    q = sa.select(*_DRIFT_COLUMNS).where(reconciliation_drift.c.status == "open")
    return [d for r in conn.execute(q) if (d := _drift(r)) is not None]


def last_reconciliation(
    conn: sa.Connection, start: datetime, end: datetime
) -> tuple[int, datetime | None, str | None]:
    """Runs started in the window, and the start and status of the latest run ever."""
    runs = conn.execute(
        sa.select(sa.func.count())
        .select_from(reconciliation_runs)
        .where(reconciliation_runs.c.started_at >= start, reconciliation_runs.c.started_at < end)
    ).scalar_one()
    latest = conn.execute(
        sa.select(reconciliation_runs.c.started_at, reconciliation_runs.c.status)
        .order_by(reconciliation_runs.c.started_at.desc(), reconciliation_runs.c.id.desc())
        .limit(1)
    ).first()
    if latest is None:
        return int(runs), None, None
    return int(runs), _utc(latest.started_at), latest.status
