"""Time-to-bill with DE01 booked on Dynamics 365 Finance: provisioning and postings end to end.

Lead-to-project creates the customer, the project contract, the project and its billing plan
through the D365 ERP role; the posting dispatcher posts approved time and expenses through its
poster as hour and expense journals, exactly once.
"""

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from tests.e2e.time_to_bill.conftest import Billing, start_billing

from accord.connectors.dynamics_finance.mapping import fo_key
from accord_sandbox.server import SandboxHandle

D365 = "dynamics_finance"


@pytest.fixture(scope="module")
def billing(sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Billing]:
    def on_d365(spec: dict[str, Any]) -> None:
        spec["legal_entities"]["DE01"].update(erp=D365, connection="dynamics-finance")

    yield from start_billing(tmp_path_factory.mktemp("ttb-d365"), sandbox, edit_rules=on_d365)


def test_time_and_expenses_post_to_dynamics_finance_once(billing: Billing) -> None:
    project = billing.project("milestone", entity="DE01")
    key = fo_key(project)
    projects = billing.records(D365, "Projects")
    (held,) = [p for p in projects if p.get("ProjectID") == key]
    assert (held["ProjectGroup"], held["ProjectType"]) == ("MILESTONE", "FixedPrice")
    milestones = [
        r for r in billing.records(D365, "ProjectOnAccountTransactions") if r["ProjectID"] == key
    ]
    assert milestones
    assert all(m["IsMilestone"] == "Yes" for m in milestones)

    sheet = billing.timesheet(
        project, [("2026-09-21", "8.00"), ("2026-09-22", "2.75")], entity="DE01", rate="180.00"
    )
    run = billing.post(sheet)
    assert run["status"] == "posted", run
    expense = billing.expense(project, "2026-09-23", "245.60", entity="DE01")
    assert billing.post(expense, kind="expense")["status"] == "posted"

    posted = [
        t for t in billing.records(D365, "ProjectPostedTransactions") if t["ProjectId"] == key
    ]
    hours = sorted(Decimal(str(t["Quantity"])) for t in posted if t["TransactionType"] == "Hour")
    assert hours == [Decimal("2.75"), Decimal(8)]
    costs = [Decimal(str(t["TotalCostAmount"])) for t in posted if t["TransactionType"] == "Cost"]
    assert costs == [Decimal("245.60")]
    ledger = billing.ledger(sheet["id"]) | billing.ledger(expense["id"])
    assert {p.status for p in ledger.values()} == {"posted"}
    assert {p.erp for p in ledger.values()} == {D365}
    # The same approval again books nothing more.
    again = billing.post(sheet)
    assert again["status"] == "posted", again
    assert (
        len(
            [t for t in billing.records(D365, "ProjectPostedTransactions") if t["ProjectId"] == key]
        )
        == 3
    )
    assert billing.stats(D365)["duplicates"] == 0
