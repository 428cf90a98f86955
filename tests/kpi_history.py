"""A known history for the KPI tests: two ISO weeks of a small firm, every timestamp fixed.

:func:`seed` writes it through the store's own repositories (journal, lineage, posting ledger,
exceptions, audit, reconciliation) with their clock injected, so the KPIs computed over it
have values worked out by hand below (the comments give the arithmetic).

Window: Monday 2026-03-02 to Sunday 2026-03-15 (weeks W1 = 03-02..03-08, W2 = 03-09..03-15);
the report is taken at ``NOW`` = 2026-03-16 12:00 UTC; base currency USD, GBP at 1.2345, no
JPY rate.
"""

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from accord.domain import Expense
from accord.store import exceptions, journal, lineage, postings, reconciliation
from accord.store.audit import append as audit_append
from accord.store.journal import NewEvent
from accord.store.postings import HELD, POSTED, REJECTED, Posting

FIRST = date(2026, 3, 2)
LAST = date(2026, 3, 15)
NOW = datetime(2026, 3, 16, 12, 0, tzinfo=UTC)
RATES = {"GBP": Decimal("1.2345"), "EUR": Decimal("1.10")}

T_AND_M = {"plan": {"revenue_billing": "time_entries", "billing_model": "time_and_materials"}}
FIXED_FEE = {"plan": {"revenue_billing": "schedule", "billing_model": "fixed_fee"}}


def at(day: int, hour: int = 0, minute: int = 0, month: int = 3) -> datetime:
    """A UTC instant in 2026."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def _event(
    conn: sa.Connection,
    type_: str,
    key: str,
    data: dict[str, Any],
    *,
    received: datetime,
    time: datetime | None,
) -> str:
    (entry,) = journal.insert_many(
        conn,
        [
            NewEvent(
                source="test/kpis",
                ce_id=f"{type_}:{key}:{data.get('id')}:{received.isoformat()}",
                type=type_,
                subject=None,
                business_key=key,
                time=time,
                data_json=json.dumps(data),
            )
        ],
        now=received,
    )
    return entry.event_id


def _won(
    conn: sa.Connection,
    opp: str,
    entity: str,
    *,
    received: datetime,
    time: datetime | None,
    updated: datetime | None = None,
) -> None:
    data = {"id": opp, "name": f"Deal {opp}", "legal_entity": entity, "won": True}
    if updated is not None:
        data["updated_at"] = updated.isoformat()
    _event(conn, "opportunity.won", f"opportunity:{opp}", data, received=received, time=time)


def _provisioned(
    conn: sa.Connection, opp: str, project: str, *, created: datetime, done: datetime
) -> None:
    lineage.link(
        conn, from_type="opportunity", from_id=opp, to_type="psa_project", to_id=project,
        relation="provisioned", status="provisioned", now=created,
    )  # fmt: skip
    lineage.link(
        conn, from_type="psa_project", from_id=project, to_type="erp_project", to_id=project,
        relation="financed_by", status="created", now=created,
    )  # fmt: skip
    lineage.link(
        conn, from_type="psa_project", from_id=project, to_type="erp_project", to_id=project,
        relation="financed_by", status="provisioned", now=done,
    )  # fmt: skip


def _row(
    entry: str, project: str, event: str, status: str, amount: str, currency: str,
    *, kind: str = "time", detail: dict[str, Any] | None = None,
) -> Posting:  # fmt: skip
    return Posting(
        kind=kind,
        entry_id=entry,
        submission_id=f"sub-{entry}",
        project_id=project,
        event_id=event,
        run_id="run-1",
        status=status,
        entry_date=date(2026, 3, 2),
        amount=Decimal(amount),
        currency=currency,
        detail=detail,
    )


def _invoice(
    conn: sa.Connection, number: str, posted: datetime, lines: list[tuple[str, str]]
) -> None:
    data = {
        "id": number,
        "posted_at": posted.isoformat(),
        "lines": [{"kind": kind, "source_id": source} for kind, source in lines],
    }
    _event(
        conn, "invoice.posted", f"invoice:{number}", data,
        received=posted + timedelta(minutes=1), time=None,
    )  # fmt: skip


def _expense(conn: sa.Connection, entry: str, *, billable: bool, approved: datetime) -> str:
    expense = Expense.model_validate(
        {
            "id": entry,
            "project_id": "PRJ-A",
            "date": "2026-03-11",
            "category": "travel",
            "amount": {"amount": "250.00" if billable else "80.00", "currency": "USD"},
            "billable": billable,
            "status": "approved",
            "approved_at": approved.isoformat(),
        }
    )
    return _event(
        conn, "expense.approved", "project:PRJ-A", json.loads(expense.model_dump_json()),
        received=approved + timedelta(minutes=1), time=approved,
    )  # fmt: skip


def seed(engine: sa.Engine) -> None:
    """Write the history (see the module docstring and the comments)."""
    with engine.begin() as conn:
        # Provisioning. A: won (event time) 03-02 09:00, provisioned 10:00 -> 3,600 s (W1).
        _won(conn, "A", "US01", received=at(2, 9, 1), time=at(2, 9))
        _provisioned(conn, "A", "PRJ-A", created=at(2, 9, 5), done=at(2, 10))
        # B: no event time, the CRM's updated_at 03-03 08:00, provisioned 08:30 -> 1,800 s (W1).
        _won(conn, "B", "UK01", received=at(3, 8, 1), time=None, updated=at(3, 8))
        _provisioned(conn, "B", "PRJ-B", created=at(3, 8, 10), done=at(3, 8, 30))
        # C: won twice (the earliest counts) 03-09 12:00, provisioned 03-10 12:00 -> 86,400 s (W2).
        _won(conn, "C", "DE01", received=at(9, 12, 1), time=at(9, 12))
        _won(conn, "C", "DE01", received=at(9, 13, 1), time=at(9, 13))
        _provisioned(conn, "C", "PRJ-C", created=at(9, 12, 5), done=at(10, 12))
        # D: won, never provisioned. E: provisioned before the window.
        _won(conn, "D", "US01", received=at(14, 9, 1), time=at(14, 9))
        _won(conn, "E", "US01", received=at(20, 9, month=2), time=at(20, 9, month=2))
        _provisioned(conn, "E", "PRJ-E", created=at(20, 9, month=2), done=at(27, 9, month=2))

        # Time and expenses. Approval event times are the PSA's approval times.
        e1 = _event(conn, "timesheet.approved", "project:PRJ-A", {"id": "S1"},
                    received=at(3, 17, 1), time=at(3, 17))  # fmt: skip
        postings.record_many(
            conn,
            [
                _row("t1", "PRJ-A", e1, POSTED, "1200.00", "USD", detail=T_AND_M),
                _row("t2", "PRJ-A", e1, POSTED, "600.00", "USD", detail=T_AND_M),
                _row("t3", "PRJ-A", e1, REJECTED, "300.00", "USD", detail={"code": "x"}),
            ],
            now=at(3, 17, 10),
        )
        # t3 re-posted by a retry 03-04 09:00 (its first status stays "rejected").
        postings.record_many(
            conn, [_row("t3", "PRJ-A", e1, POSTED, "300.00", "USD", detail=T_AND_M)],
            now=at(4, 9),
        )  # fmt: skip
        e2 = _event(conn, "timesheet.approved", "project:PRJ-B", {"id": "S2"},
                    received=at(5, 10, 1), time=at(5, 10))  # fmt: skip
        postings.record_many(
            conn,
            [
                _row("t4", "PRJ-B", e2, HELD, "750.00", "GBP", detail=T_AND_M),
                _row("t5", "PRJ-B", e2, POSTED, "100.00", "GBP", detail=T_AND_M),
            ],
            now=at(5, 10, 5),
        )
        # t4 released when its period reopened, 03-10 10:00.
        postings.record_many(
            conn, [_row("t4", "PRJ-B", e2, POSTED, "750.00", "GBP", detail=T_AND_M)],
            now=at(10, 10),
        )  # fmt: skip
        e3 = _event(conn, "timesheet.approved", "project:PRJ-C", {"id": "S3"},
                    received=at(11, 9, 1), time=at(11, 9))  # fmt: skip
        postings.record_many(
            conn, [_row("t6", "PRJ-C", e3, POSTED, "1000.00", "EUR", detail=FIXED_FEE)],
            now=at(11, 9, 30),
        )  # fmt: skip
        e4 = _expense(conn, "x1", billable=True, approved=at(12, 8))
        e5 = _expense(conn, "x2", billable=False, approved=at(12, 8))
        postings.record_many(
            conn,
            [
                _row("x1", "PRJ-A", e4, POSTED, "250.00", "USD", kind="expense"),
                _row("x2", "PRJ-A", e5, POSTED, "80.00", "USD", kind="expense"),
            ],
            now=at(12, 8, 20),
        )
        e7 = _event(conn, "timesheet.approved", "project:PRJ-J", {"id": "S7"},
                    received=at(13, 10, 0), time=at(13, 10))  # fmt: skip
        postings.record_many(
            conn, [_row("t7", "PRJ-J", e7, POSTED, "50000", "JPY", detail=T_AND_M)],
            now=at(13, 10, 1),
        )  # fmt: skip

        # Invoices: t1 and t2 on 03-06 12:00, t5 on 03-13 09:00 (a milestone line is no entry).
        _invoice(conn, "INV-1", at(6, 12), [("time", "t1"), ("time", "t2")])
        _invoice(conn, "INV-2", at(13, 9), [("time", "t5"), ("milestone", "m1")])

        # Exceptions and people's actions on them.
        x1 = _open(conn, "finance-ops", "x1", at(3, 17, 10))
        exceptions.auto_resolve(conn, dedupe_key=x1, resolution="re-posted", now=at(4, 9))
        x2 = _open(conn, "finance-ops", "x2", at(5, 10, 5))
        x2_id = _id(conn, x2)
        exceptions.comment(conn, id=x2_id, text="period reopens Tuesday", actor="key:dana",
                           now=at(6, 9))  # fmt: skip
        exceptions.assign(conn, id=x2_id, assignee="dana", actor="key:dana", now=at(6, 9, 5))
        exceptions.resolve(conn, id=x2_id, resolution="released", actor="key:dana", now=at(10, 10))
        x3 = _open(conn, "sales-ops", "x3", at(14, 10))
        exceptions.comment(conn, id=_id(conn, x3), text="asked sales", actor="key:sam",
                           now=at(14, 11))  # fmt: skip
        x4 = _open(conn, "integration", "x4", at(20, 9, month=2))
        exceptions.ignore(conn, id=_id(conn, x4), reason="test record", actor="key:dana",
                          now=at(2, 8))  # fmt: skip
        x5 = _open(conn, "delivery-ops", "x5", at(15, 23, 30))
        exceptions.resolve(conn, id=_id(conn, x5), resolution="fixed", actor="key:dana",
                           now=at(15, 23, 50))  # fmt: skip
        audit_append(conn, actor="key:dana", action="run.replay", target="run:1", now=at(7, 9))

        # Reconciliation: run 1 finds a missing entry; run 2 sees it again (no new drift),
        # finds a changed budget (GBP 10,000 expected, 12,000 found) and a dangling xref, and
        # the missing entry is repaired.
        r1 = reconciliation.start(conn, trigger="schedule", now=at(8, 2))
        (d1,) = reconciliation.record(
            conn,
            recon_id=r1.id,
            drifts=[_drift("time_expense", "missing_in_erp", "time:t3", "300.00", None, "USD")],
            now=at(8, 2, 1),
        )
        reconciliation.finish(conn, id=r1.id, checked=10, now=at(8, 2, 2))
        r2 = reconciliation.start(conn, trigger="schedule", now=at(12, 2))
        reconciliation.record(
            conn,
            recon_id=r2.id,
            drifts=[
                _drift("time_expense", "missing_in_erp", "time:t3", "300.00", None, "USD"),
                _drift("contract", "budget_changed", "budget:PRJ-B", "10000", "12000", "GBP"),
                _drift("xref", "dangling_xref", "xref:PRJ-Z", None, None, None),
            ],
            now=at(12, 2, 1),
        )
        reconciliation.close(conn, id=d1.id, status=reconciliation.REPAIRED, now=at(12, 2, 5))
        reconciliation.finish(conn, id=r2.id, checked=12, now=at(12, 2, 6))


def _open(conn: sa.Connection, queue: str, key: str, when: datetime) -> str:
    exceptions.open_(
        conn, queue=queue, flow="test", run_id=None, business_key=f"test:{key}", code="c",
        title=f"exception {key}", detail={}, dedupe_key=key, now=when,
    )  # fmt: skip
    return key


def _id(conn: sa.Connection, dedupe_key: str) -> int:
    (found,) = [e for e in exceptions.list_(conn, limit=100) if e.dedupe_key == dedupe_key]
    return found.id


def _drift(
    kind: str, code: str, fingerprint: str, expected: str | None, found: str | None,
    currency: str | None,
) -> reconciliation.Drift:  # fmt: skip
    return reconciliation.Drift(
        kind=kind,
        code=code,
        fingerprint=fingerprint,
        project_id="PRJ-B" if kind == "contract" else None,
        expected=None if expected is None else Decimal(expected),
        found=None if found is None else Decimal(found),
        currency=currency,
    )
