"""Business Central postings exactly once: several projects at once, SIGKILLs, restarts, retries.

Four DE01 (Business Central) projects are provisioned by a worker subprocess; then their
timesheets are journaled at once, so several time-to-bill runs stage and post journal lines
in the same company at the same moment. Business Central's journal calls are slowed and some
of their answers lost after BC applied them, and the worker is SIGKILLed at random points of
the posting steps, then restarted under the same worker id, three times. Finally every
exception still open is retried as an operator would.

Judged from Business Central's own records (its project ledger), not from Accord's: every
approved entry is posted exactly once, per project hours and amounts equal the approved ones
to the cent, the emulator counted no duplicate, and no posting exception is open for an
entry Business Central holds. Before postings were checked against BC's ledger, this test
doubled entries (a re-run after a kill re-staged posted lines: 41 duplicates) and raised false
rejections (one run's post took another run's staged lines; the other got "There is nothing
to post.").
"""

from collections import defaultdict
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from tests.dbs import BACKENDS
from tests.e2e.bc_kill import kill_harness, new_events
from tests.e2e.time_to_bill.conftest import DEFAULTS

from accord.connectors.business_central.mapping import bc_number

pytestmark = pytest.mark.slow

PROJECTS = 4
SHEETS = 5
"""Timesheets per project, five entries each: 100 entries in all."""
CENT = Decimal("0.01")


def _sheet(project: str, n: int) -> dict:
    """A week of September (open in the sandbox) with five entries of odd quarter hours."""
    entries = []
    for i in range(5):
        hours = (Decimal(15 + (n * 37 + i * 53) % 420) / 60).quantize(Decimal("0.25"))
        entries.append(
            {
                "id": f"BCK-{project[-8:]}-{n}-{i}",
                "project_id": project,
                "resource_id": "EMP-0024",
                "date": f"2026-09-{14 + i:02d}",
                "hours": str(max(hours, Decimal("0.25"))),
                "billable": True,
                "bill_rate": {"amount": f"{140 + n % 3 * 12.5:.2f}", "currency": "EUR"},
                "notes": f"kill {n}.{i}",
            }
        )
    return {
        "id": f"BCK-TS-{project[-8:]}-{n}",
        "resource_id": "EMP-0024",
        "project_id": project,
        "week_start": "2026-09-14",
        "status": "approved",
        "approved_at": datetime.now(UTC).isoformat(),
        "entries": entries,
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_posts_and_kills_post_every_entry_exactly_once(
    backend: str, tmp_path: Path
) -> None:
    with kill_harness(backend, tmp_path, seed=22) as harness:
        # The hold release's schedule also confirms rejections the ERP in fact holds.
        harness.start({**DEFAULTS, "cache_ttl_s": 60, "hold_check_interval_s": 2})
        projects = harness.provision(PROJECTS, package="ADVISORY-TM", model="Time and Materials")
        # Slow BC's journal calls so that kills land inside posting steps, and lose some
        # answers of staged lines and posts that BC did apply.
        harness.faults(
            [
                {"path": "*/journalLines*", "latency_ms": 60},
                {"path": "*/Microsoft.NAV.post", "latency_ms": 60, "lose_response_rate": 0.2},
                {"path": "*/projectLedgerEntries*", "latency_ms": 40},
                {"method": "POST", "path": "*/journalLines*", "lose_response_rate": 0.1},
            ]
        )
        sheets = [_sheet(project, n) for project in projects for n in range(SHEETS)]
        harness.journal(new_events("timesheet.approved", sheets))
        total = PROJECTS * SHEETS * 5
        harness.kill_and_restart(3)
        assert len(_ledger(harness)) < total, "the kills came too late to test anything"
        harness.settle("time_to_bill")
        # Retry every posting exception still open: nothing may post twice.
        harness.retry_open("time_to_bill")
        harness.settle("time_to_bill", timeout=120)

        assert harness.duplicates() == 0
        ledger = _ledger(harness)
        numbers = [r["documentNumber"] for r in ledger]
        expected = {bc_number(e["id"]) for s in sheets for e in s["entries"]}
        assert sorted(numbers) == sorted(expected), "every entry exactly once in BC's ledger"
        hours: dict[str, Decimal] = defaultdict(Decimal)
        amount: dict[str, Decimal] = defaultdict(Decimal)
        for record in ledger:
            hours[record["projectNumber"]] += Decimal(str(record["quantity"]))
            amount[record["projectNumber"]] += Decimal(str(record["totalPrice"]))
        want_hours: dict[str, Decimal] = defaultdict(Decimal)
        want_amount: dict[str, Decimal] = defaultdict(Decimal)
        for sheet in sheets:
            number = bc_number(sheet["project_id"])
            for e in sheet["entries"]:
                want_hours[number] += Decimal(e["hours"])
                line = Decimal(e["hours"]) * Decimal(e["bill_rate"]["amount"])
                want_amount[number] += line.quantize(CENT, ROUND_HALF_UP)
        assert dict(hours) == dict(want_hours)
        assert {k: v.quantize(CENT) for k, v in amount.items()} == dict(want_amount)
        open_now = harness.open_exceptions("time_to_bill")
        assert open_now == [], [e.title for e in open_now]


def _ledger(harness) -> list[dict]:
    """Business Central's project ledger entries of this test's postings."""
    return [
        r
        for r in harness.records("projectLedgerEntries")
        if str(r.get("description", "")).startswith("kill ")
    ]
