"""Valid postings: each billing model on NetSuite, T&M on Business Central, expenses, lineage."""

from decimal import Decimal

import pytest
from tests.e2e.time_to_bill.conftest import Billing

NS_MODELS = ["time_and_materials", "fixed_fee", "milestone", "retainer"]


@pytest.mark.parametrize("model", NS_MODELS)
def test_each_billing_model_posts_to_netsuite(billing: Billing, model: str) -> None:
    project = billing.project(model)
    sheet = billing.timesheet(project, [("2026-09-14", "7.50"), ("2026-09-15", "0.25")])
    run = billing.post(sheet)
    assert run["status"] == "posted", run
    assert run["posted"] == 2
    bills = billing.time_bills(sheet["id"])
    assert len(bills) == 2
    by_eid = {b["externalId"]: b for b in bills}
    first = by_eid[f"{sheet['id']}-E1"]
    assert Decimal(str(first["hours"])) == Decimal("7.50")
    assert first["tranDate"] == "2026-09-14"
    # Department and class come from the rules: practice TECH -> 102, region NA-EAST -> 201.
    assert first["department"]["id"] == "102"
    assert first["class"]["id"] == "201"
    # Only time and materials bills by the hour; other models post the time as cost.
    assert first["isBillable"] is (model == "time_and_materials")
    if model != "time_and_materials":
        assert "posted non-billable" in first["memo"]
    ledger = billing.ledger(sheet["id"])
    assert {p.status for p in ledger.values()} == {"posted"}
    row = ledger[f"{sheet['id']}-E1"]
    assert row.erp_record_id == first["id"]
    assert row.hours == Decimal("7.50")
    assert row.amount == Decimal("1125.00")
    assert row.detail
    assert row.detail["plan"]["billing_model"] == model
    assert billing.stats()["duplicates"] == 0


def test_time_and_materials_posts_to_business_central(billing: Billing) -> None:
    project = billing.project("time_and_materials", entity="DE01")
    sheet = billing.timesheet(
        project, [("2026-09-21", "8.00"), ("2026-09-22", "2.75")], entity="DE01", rate="180.00"
    )
    run = billing.post(sheet)
    assert run["status"] == "posted", run
    posted = [
        line
        for line in billing.records("business_central", "postedJournalLines")
        if line.get("projectNumber")
        and str(line.get("description", "")).startswith("work")
        and line.get("externalDocumentNumber", "").startswith(sheet["id"].upper())
    ]
    assert len(posted) == 2
    assert sorted(Decimal(str(p["quantity"])) for p in posted) == [Decimal("2.75"), Decimal(8)]
    assert {Decimal(str(p["unitPrice"])) for p in posted} == {Decimal(180)}
    ledger = billing.ledger(sheet["id"])
    assert {p.status for p in ledger.values()} == {"posted"}
    assert {p.erp for p in ledger.values()} == {"business_central"}
    assert billing.stats("business_central")["duplicates"] == 0


def test_expense_posts_as_expense_report(billing: Billing) -> None:
    project = billing.project("fixed_fee")
    expense = billing.expense(project, "2026-09-16", "245.60")
    run = billing.post(expense, kind="expense")
    assert run["status"] == "posted", run
    reports = [
        r
        for r in billing.records("netsuite", "expenseReport")
        if r.get("externalId") == expense["id"]
    ]
    assert len(reports) == 1
    line = reports[0]["expense"]["items"][0]
    assert Decimal(str(line["amount"])) == Decimal("245.60")
    assert line["isBillable"] is True
    assert billing.ledger(expense["id"])[expense["id"]].amount == Decimal("245.60")


def test_redelivered_event_posts_nothing_twice(billing: Billing) -> None:
    project = billing.project("time_and_materials")
    sheet = billing.timesheet(project, [("2026-09-14", "4.00"), ("2026-09-15", "3.00")])
    first = billing.submit(sheet, ce_id="redelivered-1")
    again = billing.submit(sheet, ce_id="redelivered-1")
    assert again.duplicate
    assert again.run_id == first.run_id
    billing.settle()
    # The PSA sends the same approval again under a new id: a new run that posts nothing.
    writes_before = billing.stats()["writes"]
    run = billing.post(sheet)
    assert run["already_posted"] == 2
    assert run["posted"] == 0
    assert billing.stats()["writes"] == writes_before
    assert len(billing.time_bills(sheet["id"])) == 2
    assert billing.stats()["duplicates"] == 0


def test_lineage_reaches_posted_time_from_the_opportunity(billing: Billing) -> None:
    project = billing.project("time_and_materials")
    sheet = billing.timesheet(project, [("2026-09-17", "6.00")])
    run = billing.post(sheet)
    opportunity = project.removeprefix("PRJ-SF-")
    graph = billing.accord.lineage("salesforce", "Opportunity", opportunity)
    nodes = {(n["type"], n["id"]) for n in graph["nodes"]}
    assert ("time_entry", f"{sheet['id']}-E1") in nodes
    edges = [e for e in graph["edges"] if e["relation"] == "posted_as"]
    assert edges
    assert edges[0]["status"] == "posted"
    assert edges[0]["event_id"] == run["event_id"]


def test_summary_posting_per_project_and_day(billing: Billing) -> None:
    billing.configure(posting="summary_per_project_day")
    try:
        project = billing.project("time_and_materials")
        sheet = billing.timesheet(
            project, [("2026-09-14", "1.25"), ("2026-09-14", "2.50"), ("2026-09-15", "1.00")]
        )
        run = billing.post(sheet)
        assert run["posted"] == 3
        ledger = billing.ledger(sheet["id"])
        ids = {p.external_id for p in ledger.values()}
        assert len(ids) == 2
        bills = [b for b in billing.records("netsuite", "timeBill") if b.get("externalId") in ids]
        assert sorted(Decimal(str(b["hours"])) for b in bills) == [Decimal(1), Decimal("3.75")]
    finally:
        billing.configure()
