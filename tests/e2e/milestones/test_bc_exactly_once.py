"""Business Central writes exactly once: customers, projects, planning lines, milestone invoices.

Three DE01 (Business Central) milestone projects are provisioned by a worker subprocess that
is killed twice meanwhile, with some answers of BC's customer, project and planning-line
creates lost after BC applied them. Then two milestones of each complete at once, so several
runs create and post sales invoices in the same company together: BC's invoice calls are
slowed, some answers of invoices it created and posted are lost, and the worker is SIGKILLed
at random points and restarted under the same id, three times; then every open milestone
exception is retried.

Judged from Business Central's own records: one customer and one project per deal, one
planning line per milestone, one sales invoice per milestone (by its
``externalDocumentNumber``), posted, at the contract's milestone amount, and no duplicate
counted by the emulator (which counts a second create of the same number or document, and
BC's refusals of a taken number).
"""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from tests.dbs import BACKENDS
from tests.e2e.bc_kill import kill_harness, new_events
from tests.e2e.time_to_bill.conftest import DEFAULTS

from accord.connectors.business_central.mapping import bc_number

pytestmark = pytest.mark.slow

PROJECTS = 3
AMOUNTS = {"M1": Decimal("8000.00"), "M2": Decimal("14000.00")}
"""The rollout package bills 10% and 17.5% of the 80,000 deal at its first two milestones."""


def _milestone(project: str, n: str) -> dict:
    return {
        "id": f"{project}-{n}",
        "name": f"Milestone {n}",
        "amount": {"amount": "1.00", "currency": "EUR"},
        "project_id": project,
        "status": "completed",
        "completed_at": datetime.now(UTC).isoformat(),
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_milestones_and_kills_invoice_each_exactly_once(
    backend: str, tmp_path: Path
) -> None:
    with kill_harness(backend, tmp_path, seed=7) as harness:
        harness.start(DEFAULTS)
        harness.faults(
            [
                {"path": f"*/{entity_set}*", "latency_ms": 40}
                for entity_set in ("customers", "projects", "projectPlanningLines")
            ]
            + [
                {"method": "POST", "path": f"*/{entity_set}", "lose_response_rate": 0.3}
                for entity_set in ("customers", "projects", "projectPlanningLines")
            ]
        )
        projects = harness.provision(
            PROJECTS, package="ROLLOUT-MILESTONE", model="Milestone", kills=2
        )
        harness.clear_faults()
        harness.faults(
            [
                {"path": "*/salesInvoices*", "latency_ms": 80},
                {"method": "POST", "path": "*/salesInvoices", "lose_response_rate": 0.3},
                {"path": "*/Microsoft.NAV.post", "lose_response_rate": 0.3},
            ]
        )
        milestones = [_milestone(p, n) for p in projects for n in AMOUNTS]
        harness.journal(new_events("milestone.completed", milestones))
        harness.kill_and_restart(3)
        harness.settle("bill_milestone")
        harness.retry_open("bill_milestone")
        harness.settle("bill_milestone", timeout=120)

        assert harness.duplicates() == 0
        numbers = {bc_number(p) for p in projects}
        bc_projects = [r for r in harness.records("projects") if r["number"] in numbers]
        assert sorted(r["number"] for r in bc_projects) == sorted(numbers)
        customers = {r["customerNumber"] for r in bc_projects}
        assert len(customers) == PROJECTS
        found = [r for r in harness.records("customers") if r["number"] in customers]
        assert len(found) == PROJECTS
        lines = [
            r for r in harness.records("projectPlanningLines") if r["projectNumber"] in numbers
        ]
        assert len(lines) == PROJECTS * 6, "one planning line per milestone of the package"
        assert len({r["documentNumber"] for r in lines}) == len(lines)
        invoices = harness.records("salesInvoices")
        for milestone in milestones:
            key = milestone["id"]
            found = [i for i in invoices if i.get("externalDocumentNumber") == key]
            assert len(found) == 1, (key, found)
            (invoice,) = found
            assert invoice["status"] == "Open", invoice
            amount = Decimal(str(invoice["totalAmountExcludingTax"])).quantize(Decimal("0.01"))
            assert amount == AMOUNTS[key.rsplit("-", 1)[1]]
