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
from typing import Any, Final

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
    "closed_exceptions",
    "day_counts",
    "drift_found",
    "drift_open",
    "entries",
    "invoiced",
    "last_reconciliation",
    "manual_touches",
    "open_exceptions",
    "opened_exceptions",
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
@dataclass(frozen=True, slots=True)
class EntryFact:
    """One ledger entry with its approval time.

    Attributes:
        billed_by_entry: Invoiced entry by entry, so it is work in progress until an invoice
            line names it: billable time on a project billed by its time entries (or whose
            billing the ledger does not know), and billable expenses.
    """

    kind: str
    entry_id: str
    project_id: str
    approved_at: datetime
    recorded_at: datetime
    first_status: str | None
    posted_at: datetime | None
    amount: Decimal | None
    currency: str | None
    billed_by_entry: bool


def _billed_by_entry(kind: str, amount: Any, detail: str | None, event_data: str | None) -> bool:  # noqa: ANN401
    if amount is None:
        return False
    if kind == "expense":
        # The ledger keeps no billable flag of an expense; its approval event does.
        data = json.loads(event_data) if event_data else {}
        return bool(data.get("billable", True))
    plan = (json.loads(detail) if detail else {}).get("plan") or {}
    return bool(plan.get("revenue_billing", _BILLED_BY_ENTRY) == _BILLED_BY_ENTRY)


def entries(conn: sa.Connection) -> list[EntryFact]:
    """Every ledger entry, with the approval time of the event that brought it.

    The approval time is the approval event's CloudEvents ``time`` (approval capture sets it
    to the PSA's approval time), else when Accord journaled the event.
    """
    q = sa.select(
        postings.c.kind,
        postings.c.entry_id,
        postings.c.project_id,
        postings.c.created_at,
        postings.c.first_status,
        postings.c.status,
        postings.c.posted_at,
        postings.c.amount,
        postings.c.currency,
        postings.c.detail,
        journal.c.time,
        journal.c.received_at,
        sa.case((postings.c.kind == "expense", journal.c.data), else_=None).label("event_data"),
    ).select_from(postings.outerjoin(journal, journal.c.event_id == postings.c.event_id))
    out: list[EntryFact] = []
    for r in conn.execute(q):
        recorded = _utc(r.created_at)
        assert recorded is not None
        amount = None if r.amount is None else Decimal(str(r.amount))
        out.append(
            EntryFact(
                kind=r.kind,
                entry_id=r.entry_id,
                project_id=r.project_id,
                approved_at=_utc(r.time) or _utc(r.received_at) or recorded,
                recorded_at=recorded,
                first_status=r.first_status or r.status,
                posted_at=_utc(r.posted_at),
                amount=amount,
                currency=r.currency,
                billed_by_entry=_billed_by_entry(r.kind, amount, r.detail, r.event_data),
            )
        )
    return out


def invoiced(conn: sa.Connection) -> dict[tuple[str, str], datetime]:
    """``(kind, entry id)`` -> when the first invoice naming the entry was posted in the ERP.

    Read from the ``invoice.posted`` / ``invoice.paid`` events: lines whose ``source_id``
    names a time entry or an expense. The time is the invoice's ``posted_at`` (the ERP's),
    else the event's time, else when Accord journaled it.
    """
    q = sa.select(journal.c.time, journal.c.received_at, journal.c.data).where(
        journal.c.type.in_(("invoice.posted", "invoice.paid"))
    )
    out: dict[tuple[str, str], datetime] = {}
    for r in conn.execute(q):
        data = json.loads(r.data)
        at = _utc(data.get("posted_at")) or _utc(r.time) or _utc(r.received_at)
        if at is None:
            continue
        for line in data.get("lines") or ():
            kind, source = line.get("kind"), line.get("source_id")
            if kind in ("time", "expense") and source:
                key = (str(kind), str(source))
                if key not in out or at < out[key]:
                    out[key] = at
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
