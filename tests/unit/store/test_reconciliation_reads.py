"""What reconciliation reads and marks in the store: ledger rows, invoices, events, runs."""

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from accord.store import journal, postings
from accord.store import reconciliation as rec
from accord.store.journal import NewEvent
from accord.store.postings import POSTED, QUEUED, REJECTED, Posting

T0 = datetime(2026, 10, 5, 9, tzinfo=UTC)


def _row(entry: str, project: str, *, status: str = POSTED, key: str | None = None) -> Posting:
    return Posting(
        kind="time",
        entry_id=entry,
        submission_id="ts-1",
        project_id=project,
        event_id="ev-1",
        run_id="000000000001.ev-1",
        status=status,
        entry_date=date(2026, 10, 5),
        external_id=key or entry,
        erp_record_id="77",
        hours=Decimal("7.50"),
        amount=Decimal("1125.00"),
        currency="USD",
        detail={"plan": "as dated"},
    )


def test_ledger_rows_are_read_by_project_time_entry_and_key_then_marked_and_unmarked(engine):
    with engine.begin() as conn:
        postings.record_many(conn, [_row("a", "P1"), _row("b", "P1"), _row("c", "P2")], now=T0)
        postings.record_many(conn, [_row("d", "P3", status=QUEUED, key="K-D")], now=T0)
        postings.record_many(
            conn, [_row("a", "P1", status=POSTED)], now=T0 + timedelta(hours=1)
        )  # touched later
    with engine.connect() as conn:
        assert {p.entry_id for p in postings.list_for_reconciliation(conn, project_ids=["P1"])} == {
            "a",
            "b",
        }
        changed = postings.list_for_reconciliation(
            conn, project_ids=None, updated_since=T0 + timedelta(minutes=30)
        )
        assert [p.entry_id for p in changed] == ["a"]
        named = postings.list_for_reconciliation(
            conn, project_ids=[], entry_ids=[("time", "c")], external_ids=["K-D"]
        )
        assert {p.entry_id for p in named} == {"c", "d"}

    with engine.begin() as conn:
        marked = postings.mark_missing(
            conn,
            kind="time",
            entries={"a": '{"id": "a"}', "d": None},  # d is queued: left alone
            code="erp.recon.posting_missing",
            detail={"found_missing_by": "netsuite"},
        )
        rows = postings.get_many(conn, kind="time", entry_ids=["a", "d"])
    assert marked == 1
    assert (rows["a"].status, rows["a"].code, rows["a"].entry_json) == (
        REJECTED,
        "erp.recon.posting_missing",
        '{"id": "a"}',
    )
    assert rows["a"].detail == {
        "plan": "as dated",
        "reconciliation": {"found_missing_by": "netsuite"},
    }
    assert rows["d"].status == QUEUED

    with engine.begin() as conn:
        assert postings.mark_found(conn, kind="time", entry_ids=["a", "b"], code="other") == 0
        assert (
            postings.mark_found(
                conn, kind="time", entry_ids=["a", "b"], code="erp.recon.posting_missing"
            )
            == 1
        )
        back = postings.get_many(conn, kind="time", entry_ids=["a"])["a"]
    assert (back.status, back.code, back.detail) == (POSTED, None, {"plan": "as dated"})


def _event(type_: str, data: dict, ce: str) -> NewEvent:
    return NewEvent(
        source="test",
        ce_id=ce,
        type=type_,
        subject=None,
        business_key="k",
        time=None,
        data_json=json.dumps(data),
    )


def _invoice(status: str, amount: str) -> dict:
    line = {"kind": "time", "source_id": "a", "amount": {"amount": amount, "currency": "USD"}}
    return {"id": "INV-1", "number": "INV001", "status": status, "lines": [line]}


def test_invoices_are_read_at_their_latest_version_and_events_with_their_run(engine):
    with engine.begin() as conn:
        journal.insert_many(
            conn,
            [
                _event("invoice.posted", _invoice("posted", "1000.00"), "i1"),
                _event("invoice.paid", _invoice("paid", "1125.00"), "i2"),
                _event("invoice.posted", {**_invoice("void", "9"), "id": "INV-2"}, "i3"),
            ],
        )
        (sheet,) = journal.insert_many(conn, [_event("timesheet.approved", {"x": 1}, "t1")])
    with engine.connect() as conn:
        (line,) = rec.invoiced_lines(conn)
        events = rec.event_data(conn, [sheet.event_id, "nope"])
    assert (line.invoice_id, line.entry_id, line.amount, line.currency) == (
        "INV-1",
        "a",
        Decimal("1125.00"),
        "USD",
    )
    assert events == {sheet.event_id: (sheet.run_id, {"x": 1})}


def _drift(fingerprint: str) -> rec.Drift:
    return rec.Drift(kind="xref", code="dangling_xref", fingerprint=fingerprint, connection="ns")


def test_an_item_keeps_its_exception_a_person_ignored_stays_ignored_and_runs_keep_a_report(
    engine,
):
    with engine.begin() as conn:
        run = rec.start(conn, trigger="schedule")
        rec.set_run_id(conn, id=run.id, run_id="reconciliation-tick-1")
        (a, b) = rec.record(conn, recon_id=run.id, drifts=[_drift("x:a"), _drift("x:b")])
        rec.link_exception(conn, ids=[a.id, b.id], exception_id=41)
        rec.close(conn, id=b.id, status=rec.IGNORED)
        (again,) = rec.record(conn, recon_id=run.id, drifts=[_drift("x:a")])
        ignored = rec.ignored_fingerprints(conn, ["x:a", "x:b", "x:c"])
        done = rec.finish(conn, id=run.id, checked=2, report={"totals": [{"agree": True}]})
        found = rec.get_by_run_id(conn, run_id="reconciliation-tick-1")
    assert again.exception_id == 41
    assert ignored == {"x:b"}
    assert done is not None
    assert (done.status, done.report) == (rec.DRIFTED, {"totals": [{"agree": True}]})
    assert found is not None
    assert found.id == run.id
