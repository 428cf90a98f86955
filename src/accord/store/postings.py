"""The posting ledger: what became of every approved time entry and expense in the ERP.

One row per entry (``kind`` ``time`` or ``expense`` + the entry's canonical id): the submission
and event it came with, the run that last touched it, where it went (ERP, connection, record
id, external id) and its status: ``posted``, ``rejected`` (an exception says why) or ``held``
(waiting for its accounting period to reopen). A retry reads it to re-post only what is not
``posted``; the hold release reads the ``held`` rows. Rows are written in bulk, one
transaction per submission, by :func:`record_many`, which also keeps the outcome of the
entry's first pass (``first_status``) and when it first became ``posted`` (``posted_at``):
the business KPIs read them (:mod:`accord.store.kpis`).

Reconciliation reads the rows it compares with the PSA and the ERP
(:func:`list_for_reconciliation`), and marks an entry whose ERP record is gone so that a retry
of its event posts it again (:func:`mark_missing`, :func:`mark_found`).

What does not belong here: deciding a status (``accord.flows.time_to_bill``).
"""

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

import sqlalchemy as sa

from accord.store.tables import postings
from accord.store.util import as_utc, utc_now

__all__ = [
    "HELD",
    "POSTED",
    "QUEUED",
    "REJECTED",
    "Posting",
    "count_by_status",
    "count_queued",
    "get_many",
    "list_",
    "list_for_reconciliation",
    "list_held",
    "mark_found",
    "mark_missing",
    "posted_to",
    "queued_among",
    "record_many",
    "totals_by_project",
]

POSTED: Final = "posted"
"""The ERP holds the entry."""
REJECTED: Final = "rejected"
"""Validation or the ERP refused it; an exception names the cause."""
HELD: Final = "held"
"""Dated in a closed period under the ``hold`` policy: posted when the period reopens."""
QUEUED: Final = "queued"
"""Handed to the ERP connection's dispatcher (in the outbox); its outcome is not known yet."""
_MARK: Final = "reconciliation"
"""The key of a row's ``detail`` under which reconciliation says why it marked the row."""


@dataclass(frozen=True)
class Posting:
    """One ledger row."""

    kind: str
    entry_id: str
    submission_id: str
    project_id: str
    event_id: str
    run_id: str | None
    status: str
    entry_date: date
    code: str | None = None
    erp: str | None = None
    erp_connection: str | None = None
    erp_record_id: str | None = None
    external_id: str | None = None
    posted_date: date | None = None
    hours: Decimal | None = None
    amount: Decimal | None = None
    currency: str | None = None
    entry_json: str | None = None
    detail: dict[str, Any] | None = None
    updated_at: datetime | None = None
    first_status: str | None = None
    """Read back only: the outcome of the entry's first pass (set by :func:`record_many`)."""
    posted_at: datetime | None = None
    """Read back only: when the entry first became ``posted`` (set by :func:`record_many`)."""


def _values(p: Posting, now: datetime) -> dict[str, Any]:
    return {
        "kind": p.kind,
        "entry_id": p.entry_id,
        "submission_id": p.submission_id,
        "project_id": p.project_id,
        "event_id": p.event_id,
        "run_id": p.run_id,
        "status": p.status,
        "code": p.code,
        "erp": p.erp,
        "erp_connection": p.erp_connection,
        "erp_record_id": p.erp_record_id,
        "external_id": p.external_id,
        "entry_date": p.entry_date,
        "posted_date": p.posted_date,
        "hours": p.hours,
        "amount": p.amount,
        "currency": p.currency,
        "entry_json": p.entry_json,
        "detail": json.dumps(p.detail, sort_keys=True, default=str) if p.detail else None,
        "updated_at": now,
    }


def _row(r: sa.Row[Any]) -> Posting:
    return Posting(
        kind=r.kind,
        entry_id=r.entry_id,
        submission_id=r.submission_id,
        project_id=r.project_id,
        event_id=r.event_id,
        run_id=r.run_id,
        status=r.status,
        code=r.code,
        erp=r.erp,
        erp_connection=r.erp_connection,
        erp_record_id=r.erp_record_id,
        external_id=r.external_id,
        entry_date=r.entry_date,
        posted_date=r.posted_date,
        hours=Decimal(str(r.hours)) if r.hours is not None else None,
        amount=Decimal(str(r.amount)) if r.amount is not None else None,
        currency=r.currency,
        entry_json=r.entry_json,
        detail=json.loads(r.detail) if r.detail else None,
        updated_at=as_utc(r.updated_at),
        first_status=r.first_status,
        posted_at=as_utc(r.posted_at),
    )


def record_many(
    conn: sa.Connection, rows: Sequence[Posting], *, now: datetime | None = None
) -> int:
    """Insert or replace the rows (keyed by kind and entry id) in the caller's transaction.

    A ``posted`` row is never downgraded: a late writer that saw an older state (a hold release
    racing a retry) cannot turn a posted entry back into a held or rejected one. A new row's
    status is its ``first_status`` for good, except ``queued``, which the first outcome
    replaces; ``posted_at`` is set when a row first becomes
    ``posted`` and never moves after (``now``: the clock, injected by tests).

    Returns:
        How many rows were written.
    """
    if not rows:
        return 0
    now = now or utc_now()
    existing = get_many(conn, kind=rows[0].kind, entry_ids=[r.entry_id for r in rows])
    inserts: list[dict[str, Any]] = []
    # Updates in up to four shapes (with or without a first ``posted_at``, with or without the
    # first outcome), each one executemany: a dispatcher records hundreds per transaction.
    updates: dict[tuple[bool, bool], list[dict[str, Any]]] = {}
    for row in rows:
        found = existing.get(row.entry_id)
        first_posted = {"posted_at": now} if row.status == POSTED else {}
        if found is None:
            inserts.append(
                {
                    **_values(row, now),
                    "created_at": now,
                    "first_status": row.status,
                    "posted_at": None,
                    **first_posted,
                }
            )
            continue
        if found.status == POSTED and row.status != POSTED:
            continue
        becomes_posted = found.status != POSTED and row.status == POSTED
        # A queued entry's first pass is its first outcome, not ``queued``: what the KPIs
        # count as right (or refused) the first time.
        first_outcome = found.first_status == QUEUED and row.status != QUEUED
        values = {f"v_{k}": v for k, v in _values(row, now).items()}
        if becomes_posted:
            values["v_posted_at"] = now
        if first_outcome:
            values["v_first_status"] = row.status
        updates.setdefault((becomes_posted, first_outcome), []).append(values)
    for params in updates.values():
        if not params:
            continue
        names = [*params[0]]
        stmt = (
            sa.update(postings)
            .where(
                postings.c.kind == sa.bindparam("v_kind"),
                postings.c.entry_id == sa.bindparam("v_entry_id"),
            )
            .values({n[2:]: sa.bindparam(n) for n in names if n not in _KEYS})
        )
        conn.execute(stmt, params)
    if inserts:
        conn.execute(sa.insert(postings), inserts)
    return sum(len(p) for p in updates.values()) + len(inserts)


_KEYS: Final = ("v_kind", "v_entry_id")


def get_many(conn: sa.Connection, *, kind: str, entry_ids: Iterable[str]) -> dict[str, Posting]:
    """The rows of these entries that exist, by entry id."""
    ids = list(dict.fromkeys(entry_ids))
    out: dict[str, Posting] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        q = sa.select(postings).where(postings.c.kind == kind, postings.c.entry_id.in_(chunk))
        out.update({r.entry_id: _row(r) for r in conn.execute(q)})
    return out


def list_(
    conn: sa.Connection,
    *,
    project_id: str | None = None,
    submission_id: str | None = None,
    status: str | None = None,
    codes: Iterable[str] | None = None,
    limit: int = 1000,
) -> list[Posting]:
    """Rows matching the filters, oldest first."""
    q = sa.select(postings).order_by(postings.c.id).limit(limit)
    if codes is not None:
        q = q.where(postings.c.code.in_(list(codes)))
    if project_id is not None:
        q = q.where(postings.c.project_id == project_id)
    if submission_id is not None:
        q = q.where(postings.c.submission_id == submission_id)
    if status is not None:
        q = q.where(postings.c.status == status)
    return [_row(r) for r in conn.execute(q)]


def posted_to(
    conn: sa.Connection,
    connection: str,
    *,
    since: date | None = None,
    until: date | None = None,
    project_id: str | None = None,
    limit: int = 100_000,
) -> list[Posting]:
    """Rows posted to ERP ``connection`` on days ``since``..``until`` (inclusive), oldest first.

    A row's day is its posting date (the entry's own date when it has none): a migration's
    shadow diff compares what each ERP booked per day.
    """
    day = sa.func.coalesce(postings.c.posted_date, postings.c.entry_date)
    q = (
        sa.select(postings)
        .where(postings.c.status == POSTED, postings.c.erp_connection == connection)
        .order_by(postings.c.id)
        .limit(limit)
    )
    if since is not None:
        q = q.where(day >= since)
    if until is not None:
        q = q.where(day <= until)
    if project_id is not None:
        q = q.where(postings.c.project_id == project_id)
    return [_row(r) for r in conn.execute(q)]


def count_queued(conn: sa.Connection, *, kind: str, entry_ids: Iterable[str]) -> int:
    """How many of these entries are still ``queued``."""
    return len(queued_among(conn, ((kind, entry_id) for entry_id in entry_ids)))


def queued_among(conn: sa.Connection, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (``kind``, ``entry_id``) are still ``queued``: one read for many runs."""
    wanted = set(keys)
    ids = sorted({entry_id for _, entry_id in wanted})
    found: set[tuple[str, str]] = set()
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            sa.select(postings.c.kind, postings.c.entry_id).where(
                postings.c.entry_id.in_(ids[start : start + 500]),
                postings.c.status == QUEUED,
            )
        )
        found.update((r.kind, r.entry_id) for r in rows)
    return found & wanted


def list_held(conn: sa.Connection, *, limit: int = 5000) -> list[Posting]:
    """Held rows, oldest first (the hold release's work list)."""
    return list_(conn, status=HELD, limit=limit)


def totals_by_project(conn: sa.Connection, *, status: str = POSTED) -> dict[str, dict[str, Any]]:
    """Per project: entries, hours and amount per currency of rows with ``status``.

    Summed in Python over exact decimals: SQLite's ``SUM`` of a numeric column is a float.
    """
    q = sa.select(
        postings.c.project_id, postings.c.currency, postings.c.hours, postings.c.amount
    ).where(postings.c.status == status)
    out: dict[str, dict[str, Any]] = {}
    for r in conn.execute(q):
        entry = out.setdefault(r.project_id, {"entries": 0, "hours": Decimal(0), "amount": {}})
        entry["entries"] += 1
        entry["hours"] += Decimal(str(r.hours or 0))
        if r.currency and r.amount is not None:
            amounts: dict[str, Decimal] = entry["amount"]
            amounts[r.currency] = amounts.get(r.currency, Decimal(0)) + Decimal(str(r.amount))
    return out


def count_by_status(conn: sa.Connection) -> dict[str, dict[str, int]]:
    """Entries in the ledger per kind (``time``, ``expense``) and status, in one grouped query."""
    q = sa.select(postings.c.kind, postings.c.status, sa.func.count().label("n")).group_by(
        postings.c.kind, postings.c.status
    )
    out: dict[str, dict[str, int]] = {}
    for r in conn.execute(q):
        out.setdefault(r.status, {})[r.kind] = int(r.n)
    return out


# --- reconciliation ----------------------------------------------------------------------
def list_for_reconciliation(
    conn: sa.Connection,
    *,
    project_ids: Iterable[str] | None = None,
    updated_since: datetime | None = None,
    entry_ids: Iterable[tuple[str, str]] = (),
    external_ids: Iterable[str] = (),
) -> list[Posting]:
    """The rows reconciliation compares, in one pass per filter.

    Rows of ``project_ids`` (all projects: ``None``), only those updated at or after
    ``updated_since`` when it is given; plus the rows of ``entry_ids`` (``(kind, entry id)``)
    and of ``external_ids`` wherever they are. Each row once.
    """
    found: dict[tuple[str, str], Posting] = {}
    since = [postings.c.updated_at >= updated_since] if updated_since is not None else []
    if project_ids is None:
        found.update({(p.kind, p.entry_id): p for p in _select(conn, since)})
    else:
        ids = sorted(set(project_ids))
        for start in range(0, len(ids), 500):
            where = [postings.c.project_id.in_(ids[start : start + 500]), *since]
            found.update({(p.kind, p.entry_id): p for p in _select(conn, where)})
    by_kind: dict[str, list[str]] = {}
    for kind, entry_id in entry_ids:
        by_kind.setdefault(kind, []).append(entry_id)
    for kind, ids in by_kind.items():
        found.update({(kind, i): p for i, p in get_many(conn, kind=kind, entry_ids=ids).items()})
    keys = sorted(set(external_ids))
    for start in range(0, len(keys), 500):
        where = [postings.c.external_id.in_(keys[start : start + 500])]
        found.update({(p.kind, p.entry_id): p for p in _select(conn, where)})
    return list(found.values())


def _select(conn: sa.Connection, where: Sequence[sa.ColumnElement[bool]]) -> Iterator[Posting]:
    return (_row(r) for r in conn.execute(sa.select(postings).where(*where)))


def mark_missing(
    conn: sa.Connection,
    *,
    kind: str,
    entries: dict[str, str | None],
    code: str,
    detail: dict[str, Any],
    now: datetime | None = None,
) -> int:
    """Mark ``posted`` rows whose ERP record is gone as ``rejected`` with ``code``.

    ``entries`` maps each entry id to its canonical JSON (what a retry of its event posts
    again; ``None`` keeps the row's). The ledger then says what the ERP holds, so that the
    next run of the entry's event posts it again, by the same key. ``detail`` is kept under
    the row's ``reconciliation`` key, beside what the row said; :func:`mark_found` undoes
    the mark when the record comes back otherwise. Returns how many rows changed.
    """
    rows = get_many(conn, kind=kind, entry_ids=entries)
    changed = 0
    for entry_id, row in rows.items():
        if row.status != POSTED:
            continue
        values: dict[str, Any] = {
            "status": REJECTED,
            "code": code,
            "detail": json.dumps(
                {**(row.detail or {}), _MARK: detail}, sort_keys=True, default=str
            ),
            "updated_at": now or utc_now(),
        }
        if entries[entry_id] is not None:
            values["entry_json"] = entries[entry_id]
        conn.execute(
            sa.update(postings)
            .where(postings.c.kind == kind, postings.c.entry_id == entry_id)
            .values(values)
        )
        changed += 1
    return changed


def mark_found(
    conn: sa.Connection,
    *,
    kind: str,
    entry_ids: Iterable[str],
    code: str,
    now: datetime | None = None,
) -> int:
    """Put rows :func:`mark_missing` marked with ``code`` back to ``posted``; how many."""
    changed = 0
    for entry_id, row in get_many(conn, kind=kind, entry_ids=entry_ids).items():
        if row.status != REJECTED or row.code != code:
            continue
        kept = {k: v for k, v in (row.detail or {}).items() if k != _MARK}
        conn.execute(
            sa.update(postings)
            .where(postings.c.kind == kind, postings.c.entry_id == entry_id)
            .values(
                status=POSTED,
                code=None,
                detail=json.dumps(kept, sort_keys=True, default=str) if kept else None,
                updated_at=now or utc_now(),
            )
        )
        changed += 1
    return changed
