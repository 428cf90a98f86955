"""Every rejection class becomes an exception in its owner's queue; retries post only failures."""

from decimal import Decimal
from typing import Any

import pytest
from tests.e2e.time_to_bill.conftest import Billing

from accord.flows.time_to_bill import release_holds


def only(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


def puts(billing: Billing) -> int:
    """NetSuite PUTs so far (each test's PUTs are its own time bills: tests run one by one)."""
    by = billing.stats()["requests_by_endpoint"]
    return sum(n for k, n in by.items() if k.startswith("PUT "))


def test_unknown_project_goes_to_delivery_ops(billing: Billing) -> None:
    project = "PRJ-SF-NOT-PROVISIONED-1"
    sheet = billing.timesheet(project, [("2026-09-14", "2.00")])
    run = billing.post(sheet)
    assert run["rejected"] == {"project.unknown": [f"{sheet['id']}-E1"]}
    exc = only(billing.exceptions(project))
    assert exc.queue == "delivery-ops"
    assert exc.code == "project.unknown"
    assert exc.detail["entries"][0]["entry_id"] == f"{sheet['id']}-E1"
    assert billing.ledger(sheet["id"])[f"{sheet['id']}-E1"].status == "rejected"


def test_inactive_project_then_retry_after_reactivation(billing: Billing) -> None:
    project = billing.project("time_and_materials")
    netsuite = billing.services.connections.connector("netsuite")
    job = netsuite.get_by_external_id("job", project)
    assert job is not None
    netsuite.update("job", str(job["id"]), {"entityStatus": {"id": "1"}})
    sheet = billing.timesheet(project, [("2026-09-14", "2.00"), ("2026-09-15", "1.50")])
    run = billing.post(sheet)
    assert set(run["rejected"]) == {"project.inactive"}
    exc = only(billing.exceptions(project))
    assert (exc.queue, exc.code) == ("delivery-ops", "project.inactive")
    assert exc.amount is not None
    assert exc.amount.amount == Decimal("525.00")
    assert billing.time_bills(sheet["id"]) == []
    # Delivery reopens the project; the operator retries.
    netsuite.update("job", str(job["id"]), {"entityStatus": {"id": "2"}})
    billing.action(exc.id, "retry")
    billing.settle()
    assert len(billing.time_bills(sheet["id"])) == 2
    assert billing.exceptions(project) == []


def test_date_outside_project_and_billable_mismatch(billing: Billing) -> None:
    project = billing.project("time_and_materials")
    early = billing.timesheet(project, [("2026-05-25", "3.00")])
    run = billing.post(early)
    assert set(run["rejected"]) == {"project.date_outside"}
    unrated = billing.timesheet(project, [("2026-09-14", "3.00")], rate=None)
    run = billing.post(unrated)
    assert set(run["rejected"]) == {"billing.billable_mismatch"}
    queues = {e.code: e.queue for e in billing.exceptions(project)}
    assert queues == {
        "project.date_outside": "delivery-ops",
        "billing.billable_mismatch": "finance-ops",
    }
    # Non-billable time without a rate is fine on time and materials.
    internal = billing.timesheet(project, [("2026-09-14", "1.00")], rate=None, billable=False)
    assert billing.post(internal)["posted"] == 1


def test_invalid_dimension_shows_the_mapping_and_retry_posts_after_the_fix(
    billing: Billing,
) -> None:
    project = billing.project("time_and_materials")
    good = billing.rules.read_text(encoding="utf-8")
    bad = good.replace('netsuite_department_id: "102"', 'netsuite_department_id: "999"')
    assert bad != good
    billing.rules.write_text(bad, encoding="utf-8")
    try:
        sheet = billing.timesheet(project, [("2026-09-14", "2.00"), ("2026-09-15", "2.00")])
        run = billing.post(sheet)
        assert set(run["rejected"]) == {"erp.dimension.invalid"}
        exc = only(billing.exceptions(project))
        assert exc.queue == "finance-ops"
        assert "practice TECH -> department 999" in exc.detail["mapping"]
        assert "Invalid Field Value 999" in exc.detail["error"]["detail"]
    finally:
        billing.rules.write_text(good, encoding="utf-8")
    before = puts(billing)
    # The failed run is pinned to the broken version: the retry must ask for the fixed one.
    retried = billing.action(exc.id, "retry", {"rules": "current"})
    assert retried["run"]["rules"] == "current"
    billing.settle()
    assert puts(billing) - before == 2
    bills = billing.time_bills(sheet["id"])
    assert len(bills) == 2
    assert {b["department"]["id"] for b in bills} == {"102"}
    assert billing.exceptions(project) == []
    assert billing.stats()["duplicates"] == 0


def test_closed_period_redate_is_automatic(billing: Billing) -> None:
    project = billing.project("time_and_materials")
    sheet = billing.timesheet(project, [("2026-07-07", "4.00")])
    run = billing.post(sheet)
    assert run["status"] == "posted", run
    bill = only(billing.time_bills(sheet["id"]))
    assert bill["tranDate"] == "2026-09-01"
    assert "2026-07-07" in bill["memo"]
    row = billing.ledger(sheet["id"])[f"{sheet['id']}-E1"]
    assert (str(row.entry_date), str(row.posted_date)) == ("2026-07-07", "2026-09-01")


def test_closed_period_the_read_cannot_see_is_learnt_from_the_refusal(billing: Billing) -> None:
    # Closed for US01 only: NetSuite's period record says closed only when every subsidiary is.
    project = billing.project("time_and_materials")
    billing.set_period("US01", "2026-10", "closed")
    try:
        sheet = billing.timesheet(project, [("2026-10-05", "1.00"), ("2026-10-06", "2.00")])
        run = billing.post(sheet)
        assert run["status"] == "posted", run
        assert {b["tranDate"] for b in billing.time_bills(sheet["id"])} == {"2026-11-01"}
    finally:
        billing.set_period("US01", "2026-10", "open")


def test_closed_period_ask_then_redate_posts_only_the_failed_entry(billing: Billing) -> None:
    billing.configure(closed_period_policy="ask")
    try:
        project = billing.project("time_and_materials")
        sheet = billing.timesheet(project, [("2026-08-31", "3.00"), ("2026-09-01", "5.00")])
        run = billing.post(sheet)
        assert run["rejected"] == {"period.closed": [f"{sheet['id']}-E1"]}
        assert run["posted"] == 1
        exc = only(billing.exceptions(project))
        assert (exc.queue, exc.code) == ("finance-ops", "period.closed")
        assert exc.detail["policy"] == "ask"
        before = puts(billing)
        billing.action(exc.id, "redate", {"date": "2026-09-30"})
        billing.settle()
        assert puts(billing) - before == 1
        bills = {b["externalId"]: b for b in billing.time_bills(sheet["id"])}
        assert bills[f"{sheet['id']}-E1"]["tranDate"] == "2026-09-30"
        assert bills[f"{sheet['id']}-E2"]["tranDate"] == "2026-09-01"
        assert billing.exceptions(project) == []
        assert billing.stats()["duplicates"] == 0
    finally:
        billing.configure()


def test_closed_period_hold_and_release_when_it_reopens(billing: Billing) -> None:
    billing.configure(closed_period_policy="hold")
    for entity in ("US01", "UK01"):
        billing.set_period(entity, "2026-11", "closed")
    try:
        project = billing.project("time_and_materials")
        sheet = billing.timesheet(project, [("2026-11-30", "6.00"), ("2026-12-01", "1.00")])
        run = billing.post(sheet)
        assert run["status"] == "held"
        assert run["held"] == [f"{sheet['id']}-E1"]
        exc = only(billing.exceptions(project))
        assert (exc.queue, exc.code, exc.detail["policy"]) == (
            "finance-ops",
            "period.closed",
            "hold",
        )
        # Still closed: nothing happens.
        assert release_holds()["released"] == 0
        assert billing.ledger(sheet["id"])[f"{sheet['id']}-E1"].status == "held"
        for entity in ("US01", "UK01"):
            billing.set_period(entity, "2026-11", "open")
        assert release_holds()["released"] >= 1
        bills = {b["externalId"]: b for b in billing.time_bills(sheet["id"])}
        assert bills[f"{sheet['id']}-E1"]["tranDate"] == "2026-11-30"
        assert billing.ledger(sheet["id"])[f"{sheet['id']}-E1"].status == "posted"
        assert billing.exceptions(project) == []
    finally:
        for entity in ("US01", "UK01"):
            billing.set_period(entity, "2026-11", "open")
        billing.configure()


@pytest.mark.parametrize("policy", ["redate", "ask"])
def test_policy_applies_to_expenses_too(billing: Billing, policy: str) -> None:
    billing.configure(closed_period_policy=policy)
    try:
        project = billing.project("fixed_fee")
        expense = billing.expense(project, "2026-08-12", "99.90")
        run = billing.post(expense, kind="expense")
        if policy == "redate":
            assert run["posted"] == 1
        else:
            assert set(run["rejected"]) == {"period.closed"}
    finally:
        billing.configure()
