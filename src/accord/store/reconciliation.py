"""Reconciliation results: each run (what was compared) and the drift it found.

A reconciliation run compares what the CRM, the PSA and the ERP hold with what Accord wrote
(the posting ledger, the xref) and records every disagreement as a **drift item**:

- ``kind``: which check found it: ``time_expense`` (approved in the PSA = posted in the ERP
  = invoiced), ``contract`` (CRM amount and dates = PSA budget = ERP project), ``customer``
  (the fields each system owns) or ``xref`` (a reference to a record that no longer exists,
  or a record that looks like Accord's and has no reference);
- ``code``: what exactly disagrees (``missing_in_erp``, ``amount_changed``, ``duplicate``...);
- the project, business key and record it is about, and the amounts: ``expected`` (what the
  owning system or Accord's ledger says) and ``found`` (what the other system holds), in one
  currency;
- ``status``: ``open`` until it agrees again (``resolved``), is repaired by Accord
  (``repaired``) or is ignored by a person with a reason (``ignored``).

A drift item is identified by its ``fingerprint`` (the check's key for the disagreement): while
it stays open, finding it again in a later run updates ``last_seen_at`` and ``last_recon_id``
instead of counting it twice, so "drift found" means new disagreements, not re-sightings.

Reconciliation also reads here what Accord's journal says was invoiced
(:func:`invoiced_lines`) and the entries an approval event carried (:func:`event_data`).

What does not belong here: deciding what drifts (``accord.flows.reconciliation``, which writes
these tables) and the KPIs read from them (:mod:`accord.store.kpis`).
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import sqlalchemy as sa

from accord.store.journal import run_id_for
from accord.store.tables import journal
from accord.store.tables import reconciliation_drift as drift_table
from accord.store.tables import reconciliation_runs as runs_table
from accord.store.util import as_utc, utc_now

__all__ = [
    "AGREED",
    "DRIFTED",
    "DRIFT_STATUSES",
    "FAILED",
    "IGNORED",
    "KINDS",
    "OPEN",
    "REPAIRED",
    "RESOLVED",
    "RUNNING",
    "Drift",
    "DriftItem",
    "InvoicedLine",
    "ReconciliationRun",
    "close",
    "close_unseen",
    "event_data",
    "finish",
    "get_by_run_id",
    "get_run",
    "ignored_fingerprints",
    "invoiced_lines",
    "link_exception",
    "list_drift",
    "list_runs",
    "record",
    "set_run_id",
    "start",
]

RUNNING: Final = "running"
"""A run still comparing."""
AGREED: Final = "agreed"
"""A finished run that found no open drift."""
DRIFTED: Final = "drift"
"""A finished run that left drift open."""
FAILED: Final = "failed"
"""A run that could not finish (a system unreachable...): it proves nothing."""

OPEN: Final = "open"
"""The systems still disagree."""
RESOLVED: Final = "resolved"
"""A later run found them in agreement again."""
REPAIRED: Final = "repaired"
"""Accord repaired it (re-posted a missing entry...)."""
IGNORED: Final = "ignored"
"""A person decided it is no drift, with a reason."""
DRIFT_STATUSES: Final = frozenset({OPEN, RESOLVED, REPAIRED, IGNORED})

KINDS: Final = frozenset({"time_expense", "contract", "customer", "xref"})
"""The checks a drift item can come from."""


@dataclass(frozen=True)
class ReconciliationRun:
    """One reconciliation run."""

    id: int
    trigger: str
    actor: str | None
    scope: dict[str, Any]
    status: str
    run_id: str | None
    checked: int
    drift_found: int
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    report: dict[str, Any] = field(default_factory=dict)
    """What the run compared and found (totals, checks); empty until it finishes."""


@dataclass(frozen=True)
class Drift:
    """A disagreement as a check reports it (the input of :func:`record`).

    Attributes:
        kind: One of :data:`KINDS`.
        code: What disagrees, e.g. ``missing_in_erp``.
        fingerprint: Identifies this disagreement across runs (e.g. ``time:<entry id>``).
        expected: What the owning system or Accord's ledger says, in ``currency``.
        found: What the other system holds, in ``currency`` (None: nothing there).
    """

    kind: str
    code: str
    fingerprint: str
    project_id: str | None = None
    business_key: str | None = None
    system: str | None = None
    connection: str | None = None
    record_id: str | None = None
    expected: Decimal | None = None
    found: Decimal | None = None
    currency: str | None = None
    exception_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DriftItem:
    """A drift item as stored."""

    id: int
    recon_id: int
    last_recon_id: int
    kind: str
    code: str
    fingerprint: str
    status: str
    project_id: str | None
    business_key: str | None
    system: str | None
    connection: str | None
    record_id: str | None
    expected: Decimal | None
    found: Decimal | None
    currency: str | None
    exception_id: int | None
    detail: dict[str, Any]
    found_at: datetime
    last_seen_at: datetime
    closed_at: datetime | None

    @property
    def difference(self) -> Decimal | None:
        """``found - expected`` (a missing side counts as zero); None without amounts."""
        if self.expected is None and self.found is None:
            return None
        return (self.found or Decimal(0)) - (self.expected or Decimal(0))


def _decimal(value: Any) -> Decimal | None:  # noqa: ANN401 - a driver value
    return None if value is None else Decimal(str(value))


def _run(r: sa.Row[Any]) -> ReconciliationRun:
    return ReconciliationRun(
        id=int(r.id),
        trigger=r.trigger,
        actor=r.actor,
        scope=json.loads(r.scope or "{}"),
        status=r.status,
        run_id=r.run_id,
        checked=int(r.checked),
        drift_found=int(r.drift_found),
        started_at=as_utc(r.started_at) or utc_now(),
        finished_at=as_utc(r.finished_at),
        error=r.error,
        report=json.loads(r.report or "{}"),
    )


def _item(r: sa.Row[Any]) -> DriftItem:
    return DriftItem(
        id=int(r.id),
        recon_id=int(r.recon_id),
        last_recon_id=int(r.last_recon_id),
        kind=r.kind,
        code=r.code,
        fingerprint=r.fingerprint,
        status=r.status,
        project_id=r.project_id,
        business_key=r.business_key,
        system=r.system,
        connection=r.connection,
        record_id=r.record_id,
        expected=_decimal(r.expected_amount),
        found=_decimal(r.found_amount),
        currency=r.currency,
        exception_id=r.exception_id,
        detail=json.loads(r.detail or "{}"),
        found_at=as_utc(r.found_at) or utc_now(),
        last_seen_at=as_utc(r.last_seen_at) or utc_now(),
        closed_at=as_utc(r.closed_at),
    )


def start(
    conn: sa.Connection,
    *,
    trigger: str,
    scope: dict[str, Any] | None = None,
    actor: str | None = None,
    run_id: str | None = None,
    now: datetime | None = None,
) -> ReconciliationRun:
    """Record the start of a run (``trigger``: ``schedule`` or ``manual``)."""
    result = conn.execute(
        sa.insert(runs_table).values(
            trigger=trigger,
            actor=actor,
            scope=json.dumps(scope or {}, sort_keys=True, default=str),
            status=RUNNING,
            run_id=run_id,
            started_at=now or utc_now(),
        )
    )
    found = get_run(conn, id=int(result.inserted_primary_key[0]))  # type: ignore[index]
    assert found is not None
    return found


def record(
    conn: sa.Connection, *, recon_id: int, drifts: Sequence[Drift], now: datetime | None = None
) -> list[DriftItem]:
    """Record what run ``recon_id`` found: new items, or re-sightings of open ones.

    Raises:
        ValueError: A drift's kind is not one of :data:`KINDS`.
    """
    now = now or utc_now()
    out: list[DriftItem] = []
    for d in drifts:
        if d.kind not in KINDS:
            raise ValueError(f"unknown drift kind {d.kind!r}; expected one of {sorted(KINDS)}")
        values: dict[str, Any] = {
            "last_recon_id": recon_id,
            "code": d.code,
            "project_id": d.project_id,
            "business_key": d.business_key,
            "system": d.system,
            "connection": d.connection,
            "record_id": d.record_id,
            "expected_amount": d.expected,
            "found_amount": d.found,
            "currency": d.currency,
            "exception_id": d.exception_id,
            "detail": json.dumps(d.detail, sort_keys=True, default=str),
            "last_seen_at": now,
        }
        current = conn.execute(
            sa.select(drift_table.c.id).where(
                drift_table.c.fingerprint == d.fingerprint, drift_table.c.status == OPEN
            )
        ).first()
        if current is not None:
            item_id = int(current.id)
            if d.exception_id is None:
                # A re-sighting keeps the exception that already routes the item.
                del values["exception_id"]
            conn.execute(sa.update(drift_table).where(drift_table.c.id == item_id).values(values))
        else:
            result = conn.execute(
                sa.insert(drift_table).values(
                    recon_id=recon_id,
                    kind=d.kind,
                    fingerprint=d.fingerprint,
                    status=OPEN,
                    found_at=now,
                    **values,
                )
            )
            item_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        row = conn.execute(sa.select(drift_table).where(drift_table.c.id == item_id)).one()
        out.append(_item(row))
    return out


def close_unseen(
    conn: sa.Connection,
    *,
    recon_id: int,
    kinds: Sequence[str] = tuple(sorted(KINDS)),
    project_id: str | None = None,
    now: datetime | None = None,
) -> int:
    """Resolve the open items of ``kinds`` that run ``recon_id`` checked and no longer found.

    Only items within the run's scope may be closed: ``project_id`` narrows it to one project
    (a run scoped to one project proves nothing about the others).

    Returns:
        How many items were resolved.
    """
    where = [
        drift_table.c.status == OPEN,
        drift_table.c.last_recon_id != recon_id,
        drift_table.c.kind.in_(list(kinds)),
    ]
    if project_id is not None:
        where.append(drift_table.c.project_id == project_id)
    result = conn.execute(
        sa.update(drift_table).where(*where).values(status=RESOLVED, closed_at=now or utc_now())
    )
    return int(result.rowcount)


def close(
    conn: sa.Connection,
    *,
    id: int,  # noqa: A002 - repository style
    status: str,
    now: datetime | None = None,
) -> DriftItem | None:
    """Close an open item as ``repaired``, ``resolved`` or ``ignored``; None when not open."""
    if status not in DRIFT_STATUSES - {OPEN}:
        raise ValueError(f"cannot close a drift item as {status!r}")
    result = conn.execute(
        sa.update(drift_table)
        .where(drift_table.c.id == id, drift_table.c.status == OPEN)
        .values(status=status, closed_at=now or utc_now())
    )
    if not result.rowcount:
        return None
    return _item(conn.execute(sa.select(drift_table).where(drift_table.c.id == id)).one())


def link_exception(conn: sa.Connection, *, ids: Sequence[int], exception_id: int) -> None:
    """Note the exception that routes these items to their owner."""
    for start_at in range(0, len(ids), 500):
        conn.execute(
            sa.update(drift_table)
            .where(drift_table.c.id.in_(list(ids[start_at : start_at + 500])))
            .values(exception_id=exception_id)
        )


def ignored_fingerprints(conn: sa.Connection, fingerprints: Sequence[str]) -> set[str]:
    """Of ``fingerprints``, those a person ignored (and that are not open again)."""
    found: set[str] = set()
    wanted = sorted(set(fingerprints))
    for start_at in range(0, len(wanted), 500):
        q = sa.select(drift_table.c.fingerprint, drift_table.c.status).where(
            drift_table.c.fingerprint.in_(wanted[start_at : start_at + 500]),
            drift_table.c.status.in_((IGNORED, OPEN)),
        )
        statuses: dict[str, set[str]] = {}
        for r in conn.execute(q):
            statuses.setdefault(r.fingerprint, set()).add(r.status)
        found.update(f for f, seen in statuses.items() if seen == {IGNORED})
    return found


@dataclass(frozen=True)
class InvoicedLine:
    """An invoice line naming a time entry or an expense, as Accord journaled the invoice."""

    invoice_id: str
    number: str | None
    kind: str
    entry_id: str
    amount: Decimal
    currency: str


def invoiced_lines(conn: sa.Connection) -> list[InvoicedLine]:
    """The lines of every invoice's latest journaled version that name an entry.

    Read from the ``invoice.posted`` / ``invoice.paid`` events (the cash flow journals each
    version the ERP reports); a void invoice bills nothing.
    """
    q = (
        sa.select(journal.c.data)
        .where(journal.c.type.in_(("invoice.posted", "invoice.paid")))
        .order_by(journal.c.seq)
    )
    latest: dict[str, dict[str, Any]] = {}
    for r in conn.execute(q):
        data = json.loads(r.data)
        if isinstance(data, dict) and data.get("id"):
            latest[str(data["id"])] = data
    out: list[InvoicedLine] = []
    for invoice_id, data in latest.items():
        if data.get("status") == "void":
            continue
        for line in data.get("lines") or ():
            kind, source = line.get("kind"), line.get("source_id")
            amount = line.get("amount") or {}
            if kind in ("time", "expense") and source and amount.get("amount") is not None:
                out.append(
                    InvoicedLine(
                        invoice_id=invoice_id,
                        number=data.get("number"),
                        kind=str(kind),
                        entry_id=str(source),
                        amount=Decimal(str(amount["amount"])),
                        currency=str(amount.get("currency") or data.get("currency") or ""),
                    )
                )
    return out


def event_data(conn: sa.Connection, event_ids: Sequence[str]) -> dict[str, tuple[str, Any]]:
    """The run id and journaled data of these events, by event id."""
    out: dict[str, tuple[str, Any]] = {}
    wanted = sorted(set(event_ids))
    for start_at in range(0, len(wanted), 500):
        q = sa.select(journal.c.seq, journal.c.event_id, journal.c.data).where(
            journal.c.event_id.in_(wanted[start_at : start_at + 500])
        )
        out.update(
            {
                r.event_id: (run_id_for(int(r.seq), r.event_id), json.loads(r.data))
                for r in conn.execute(q)
            }
        )
    return out


def finish(
    conn: sa.Connection,
    *,
    id: int,  # noqa: A002 - repository style
    checked: int,
    error: str | None = None,
    report: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> ReconciliationRun | None:
    """Record the end of a run: ``failed`` with an error, else ``drift`` or ``agreed``.

    ``drift_found`` counts the items this run saw that are still open; ``report`` is what the
    run compared (kept as JSON); None when the run does not exist.
    """
    open_seen = conn.execute(
        sa.select(sa.func.count())
        .select_from(drift_table)
        .where(drift_table.c.last_recon_id == id, drift_table.c.status == OPEN)
    ).scalar_one()
    status = FAILED if error else (DRIFTED if open_seen else AGREED)
    conn.execute(
        sa.update(runs_table)
        .where(runs_table.c.id == id)
        .values(
            status=status,
            checked=checked,
            drift_found=int(open_seen),
            finished_at=now or utc_now(),
            error=error[:512] if error else None,
            report=json.dumps(report, sort_keys=True, default=str) if report else None,
        )
    )
    return get_run(conn, id=id)


def get_run(conn: sa.Connection, *, id: int) -> ReconciliationRun | None:  # noqa: A002
    """One run by id, or None."""
    row = conn.execute(sa.select(runs_table).where(runs_table.c.id == id)).first()
    return _run(row) if row else None


def get_by_run_id(conn: sa.Connection, *, run_id: str) -> ReconciliationRun | None:
    """The run a durable run (workflow id) recorded, or None."""
    row = conn.execute(
        sa.select(runs_table).where(runs_table.c.run_id == run_id).order_by(runs_table.c.id)
    ).first()
    return _run(row) if row else None


def set_run_id(conn: sa.Connection, *, id: int, run_id: str) -> None:  # noqa: A002
    """Note the durable run that carries out run ``id``."""
    conn.execute(sa.update(runs_table).where(runs_table.c.id == id).values(run_id=run_id))


def list_runs(conn: sa.Connection, *, limit: int = 50) -> list[ReconciliationRun]:
    """The latest runs, newest first."""
    q = sa.select(runs_table).order_by(runs_table.c.started_at.desc(), runs_table.c.id.desc())
    return [_run(r) for r in conn.execute(q.limit(limit))]


def list_drift(
    conn: sa.Connection,
    *,
    recon_id: int | None = None,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 500,
    offset: int = 0,
) -> list[DriftItem]:
    """Drift items, oldest first (``recon_id``: those the run found first or saw again)."""
    q = sa.select(drift_table).order_by(drift_table.c.found_at, drift_table.c.id)
    if recon_id is not None:
        q = q.where(
            sa.or_(drift_table.c.recon_id == recon_id, drift_table.c.last_recon_id == recon_id)
        )
    if status is not None:
        q = q.where(drift_table.c.status == status)
    if kind is not None:
        q = q.where(drift_table.c.kind == kind)
    return [_item(r) for r in conn.execute(q.limit(limit).offset(offset))]
