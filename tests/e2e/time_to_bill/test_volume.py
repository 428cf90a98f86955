"""500 approved entries, mostly in closed periods: posted hours and amounts match to the cent.

The NetSuite emulator runs as the quarter-end benchmark sets it (10 concurrent requests, 50 ms
latency), so the run also reports the calls per second it reached (printed; the benchmark in
``bench/`` is where throughput is measured and recorded, this test checks correctness).
"""

import datetime as dt
import time
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import httpx
from tests.e2e.time_to_bill.conftest import Billing, uid

from accord.flows.capture import canonical_event
from accord.store import postings
from accord.store.journal import NewEvent

CENT = Decimal("0.01")
PROJECTS = 5
SHEETS_PER_PROJECT = 10
WEEKS = [dt.date(2026, 7, 6), dt.date(2026, 7, 20), dt.date(2026, 8, 10), dt.date(2026, 8, 24)]
WEEKS += [dt.date(2026, 9, 14)]
"""Four weeks in closed periods (re-dated) and one in the open September."""


def _sheet(billing: Billing, project: str, week: dt.date, n: int) -> dict:
    days = []
    for i in range(10):
        minutes = 15 + (n * 37 + i * 53) % 466  # odd durations: 0.25 to 8 hours, to the minute
        value = (Decimal(minutes) / 60).quantize(Decimal("0.01"))
        days.append(((week + dt.timedelta(days=i % 5)).isoformat(), str(value)))
    rate = f"{95 + (n % 7) * 12.5:.2f}"
    return billing.timesheet(project, days, rate=rate)


def test_500_entries_post_exactly_once(billing: Billing) -> None:
    billing.configure(cache_ttl_s=60)
    projects = [billing.project("time_and_materials") for _ in range(PROJECTS)]
    sheets = [
        _sheet(billing, project, WEEKS[n % len(WEEKS)], n)
        for project in projects
        for n in range(SHEETS_PER_PROJECT)
    ]
    expected_hours: dict[str, Decimal] = defaultdict(Decimal)
    expected_amount: dict[str, Decimal] = defaultdict(Decimal)
    for sheet in sheets:
        for e in sheet["entries"]:
            expected_hours[sheet["project_id"]] += Decimal(e["hours"])
            # Each entry is worth hours x rate rounded to the cent (as the ERP's line is).
            line = Decimal(e["hours"]) * Decimal(e["bill_rate"]["amount"])
            expected_amount[sheet["project_id"]] += line.quantize(CENT, ROUND_HALF_UP)
    netsuite = billing.accord.sandbox.sandbox.emulators["netsuite"]  # type: ignore[attr-defined]
    url = billing.accord.sandbox.urls["netsuite"]
    netsuite.concurrency_limit = 10
    httpx.delete(f"{url}/__sandbox/faults", timeout=10)
    httpx.post(
        f"{url}/__sandbox/faults", json={"path": "/services/*", "latency_ms": 50}, timeout=10
    )
    httpx.post(f"{url}/__sandbox/stats/reset", timeout=10)
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
    started = time.monotonic()
    try:
        for future in billing.services.writer.submit(events):
            future.result(timeout=30)
        runs = billing.settle(timeout=180)
        elapsed = time.monotonic() - started
        stats = billing.stats()
    finally:
        httpx.delete(f"{url}/__sandbox/faults", timeout=10)
    calls = int(stats["requests"])
    print(
        f"\n500 entries: {elapsed:.2f} s, {calls} NetSuite calls, {calls / elapsed:.1f} calls/s "
        f"({calls / elapsed / 200:.0%} of 200), {500 / elapsed:.1f} entries/s, "
        f"429s {stats['throttled']}, max in flight {stats['max_in_flight']}"
    )
    assert all(r["status"] == "SUCCESS" for r in runs)
    assert stats["duplicates"] == 0
    # Nothing is expected to need a person; if something does, say what (it names the cause).
    raised = [(e.business_key, e.code, e.title) for p in projects for e in billing.exceptions(p)]
    assert raised == []
    with billing.engine.connect() as conn:
        totals = postings.totals_by_project(conn)
    for project in projects:
        outputs = [r["output"] for r in runs if project in str(r["output"])]
        assert project in totals, (len(runs), outputs)
        assert totals[project]["entries"] == SHEETS_PER_PROJECT * 10
        assert totals[project]["hours"] == expected_hours[project]
        assert totals[project]["amount"]["USD"] == expected_amount[project]
    ids = {e["id"] for s in sheets for e in s["entries"]}
    bills = [b for b in billing.records("netsuite", "timeBill") if b.get("externalId") in ids]
    assert len(bills) == 500
    by_project: dict[str, Decimal] = defaultdict(Decimal)
    erp_amount: dict[str, Decimal] = defaultdict(Decimal)
    jobs = {}
    for project in projects:
        job = billing.services.connections.connector("netsuite").get_by_external_id("job", project)
        jobs[str(job["id"])] = project
    for bill in bills:
        project = jobs[bill["customer"]["id"]]
        by_project[project] += Decimal(str(bill["hours"]))
        line = Decimal(str(bill["hours"])) * Decimal(str(bill["rate"]))
        erp_amount[project] += line.quantize(CENT, ROUND_HALF_UP)
    assert dict(by_project) == dict(expected_hours)
    assert dict(erp_amount) == dict(expected_amount)
    # Closed July and August were re-dated into September, the first open period.
    assert {b["tranDate"] for b in bills} <= {"2026-09-01"} | {
        (dt.date(2026, 9, 14) + dt.timedelta(days=i)).isoformat() for i in range(5)
    }
