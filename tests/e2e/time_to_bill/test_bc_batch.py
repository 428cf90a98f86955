"""Business Central through the real flow and ``$batch``: a refused line, and the 500-entry tie-out.

Postings to DE01 go through the outbox, the connection's dispatcher and
:class:`~accord.connectors.business_central.erp.BusinessCentralPoster`, which stages a
submission's lines in ``$batch`` requests. Judged from Business Central's project ledger and
the emulator's counters, not from Accord's own account of what it sent.
"""

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
from tests.e2e.time_to_bill.conftest import Billing, uid

from accord.connectors.business_central.mapping import bc_number
from accord.flows.capture import canonical_event
from accord.store import postings
from accord.store.journal import NewEvent

CENT = Decimal("0.01")
STAGE = (
    "POST /v2.0/{tenant}/{environment}/api/v2.0/companies({company_id})"
    "/journals({parent_id})/journalLines"
)
BATCH = "POST /v2.0/{tenant}/{environment}/api/v2.0/$batch"


def _reset_stats(billing: Billing) -> None:
    url = billing.accord.sandbox.urls["business_central"]
    httpx.post(f"{url}/__sandbox/stats/reset", timeout=10).raise_for_status()


def _ledger(billing: Billing, project: str) -> list[dict[str, Any]]:
    """BC's project ledger entries of a canonical project."""
    number = bc_number(project)
    return [
        r
        for r in billing.records("business_central", "projectLedgerEntries")
        if r["projectNumber"] == number
    ]


def _assert_staged_through_batch(stats: dict[str, Any]) -> None:
    """Journal lines were staged as ``$batch`` operations, never one request each."""
    assert stats["operations_by_endpoint"].get(STAGE, 0) > 0, stats["operations_by_endpoint"]
    assert STAGE not in stats["requests_by_endpoint"]
    assert stats["requests_by_endpoint"][BATCH] > 0


def test_a_refused_line_is_an_exception_and_the_others_post(billing: Billing) -> None:
    project = billing.project("time_and_materials", entity="DE01")
    days = [(f"2026-09-{14 + i:02d}", f"{1 + i}.50") for i in range(5)]
    sheet = billing.timesheet(project, days, entity="DE01", rate="160.00")
    refused = sheet["entries"][2]
    # Business Central refuses the third line's operation of the $batch (with its own
    # table-relation text) and applies the four others.
    billing.control(
        "business_central",
        "faults",
        {
            "method": "POST",
            "path": "*/journalLines",
            "body_contains": bc_number(refused["id"]),
            "error_rate": 1.0,
            "status": 400,
            "message": "The field No. contains a value (EMP-0024) that cannot be found in the "
            "related table (Resource).",
        },
    )
    _reset_stats(billing)
    try:
        run = billing.post(sheet)
    finally:
        billing.control("business_central", "faults")

    assert run["posted"] == 4, run
    assert run["rejected"] == {"erp.resource.unknown": [refused["id"]]}
    ledger = billing.ledger(sheet["id"])
    assert {k: p.status for k, p in ledger.items()} == {
        e["id"]: "rejected" if e is refused else "posted" for e in sheet["entries"]
    }
    good = sorted(bc_number(e["id"]) for e in sheet["entries"] if e is not refused)
    assert sorted(r["documentNumber"] for r in _ledger(billing, project)) == good
    (exc,) = billing.exceptions(project)
    assert (exc.code, exc.queue) == ("erp.resource.unknown", "finance-ops")
    assert [e["entry_id"] for e in exc.detail["entries"]] == [refused["id"]]
    stats = billing.stats("business_central")
    _assert_staged_through_batch(stats)
    assert stats["duplicates"] == 0

    # Finance fixes it in Business Central and retries: only the refused entry posts.
    billing.action(exc.id, "retry")
    billing.settle()
    numbers = sorted(r["documentNumber"] for r in _ledger(billing, project))
    assert numbers == sorted(bc_number(e["id"]) for e in sheet["entries"])
    assert billing.ledger(sheet["id"])[refused["id"]].status == "posted"
    assert billing.exceptions(project) == []
    assert billing.stats("business_central")["duplicates"] == 0


PROJECTS = 5
SHEETS_PER_PROJECT = 10
WEEKS = [dt.date(2026, 7, 6), dt.date(2026, 8, 10), dt.date(2026, 8, 24), dt.date(2026, 9, 14)]
"""Three weeks in closed periods (re-dated into September) and one in the open September."""


def _sheet(billing: Billing, project: str, week: dt.date, n: int) -> dict[str, Any]:
    days = []
    for i in range(10):
        minutes = 15 + (n * 41 + i * 59) % 466  # odd durations: 0.25 to 8 hours, to the minute
        value = (Decimal(minutes) / 60).quantize(CENT)
        days.append(((week + dt.timedelta(days=i % 5)).isoformat(), str(value)))
    rate = f"{120 + (n % 5) * 17.5:.2f}"
    return billing.timesheet(project, days, entity="DE01", rate=rate)


@pytest.mark.slow
def test_500_entries_tie_out_in_business_central(billing: Billing) -> None:
    billing.configure(cache_ttl_s=60)
    projects = [billing.project("time_and_materials", entity="DE01") for _ in range(PROJECTS)]
    sheets = [
        _sheet(billing, project, WEEKS[n % len(WEEKS)], n)
        for project in projects
        for n in range(SHEETS_PER_PROJECT)
    ]
    hours: dict[str, Decimal] = defaultdict(Decimal)
    amount: dict[str, Decimal] = defaultdict(Decimal)
    for sheet in sheets:
        for e in sheet["entries"]:
            hours[sheet["project_id"]] += Decimal(e["hours"])
            line = Decimal(e["hours"]) * Decimal(e["bill_rate"]["amount"])
            amount[sheet["project_id"]] += line.quantize(CENT, ROUND_HALF_UP)
    _reset_stats(billing)
    events = []
    for sheet in sheets:
        event = canonical_event("timesheet.approved", sheet, subject=sheet["id"])
        events.append(
            NewEvent(
                source="test/psa",
                ce_id=uid("ce"),
                type=event.type,
                subject=event.subject,
                business_key=event.business_key,
                time=None,
                data_json=event.data_json,
            )
        )
    for future in billing.services.writer.submit(events):
        future.result(timeout=30)
    runs = billing.settle(timeout=240)

    assert all(r["status"] == "SUCCESS" for r in runs)
    stats = billing.stats("business_central")
    assert stats["duplicates"] == 0
    _assert_staged_through_batch(stats)
    with billing.engine.connect() as conn:
        totals = postings.totals_by_project(conn)
    for project in projects:
        assert totals[project]["entries"] == SHEETS_PER_PROJECT * 10
        assert totals[project]["hours"] == hours[project]
        assert totals[project]["amount"]["EUR"] == amount[project]
        # Business Central's own ledger: each entry once, hours and amounts to the cent.
        ledger = _ledger(billing, project)
        numbers = [r["documentNumber"] for r in ledger]
        sheet_entries = [e for s in sheets if s["project_id"] == project for e in s["entries"]]
        assert sorted(numbers) == sorted(bc_number(e["id"]) for e in sheet_entries)
        assert sum(Decimal(str(r["quantity"])) for r in ledger) == hours[project]
        assert sum(Decimal(str(r["totalPrice"])) for r in ledger) == amount[project]
        # Closed July and August were re-dated into September, the first open period.
        assert {r["postingDate"] for r in ledger} <= {"2026-09-01"} | {
            (WEEKS[-1] + dt.timedelta(days=i)).isoformat() for i in range(5)
        }
