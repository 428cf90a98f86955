"""Validation failures, ERP rejection with compensation and retry, redelivered events."""

from collections.abc import Iterator

import pytest
from tests.e2e.lead_to_project.conftest import Accord, by_ref_count

from accord.flows.lead_to_project import retry_from_erp_step

PSA = "kantata"


def open_exceptions(accord: Accord, opp: str) -> list:
    return [e for e in accord.exceptions_for(opp) if e.status == "open"]


def assert_no_duplicates(accord: Accord) -> None:
    assert set(accord.duplicates().values()) == {0}


# ---------------------------------------------------------------------- validation
def test_unmappable_opportunity_lists_every_field_then_fix_retriggers(accord: Accord) -> None:
    account = accord.account(entity="US01")
    opp = accord.opportunity(account, Start_Date__c=None, Practice__c=None)
    accord.poll()
    accord.settle()
    (exc,) = open_exceptions(accord, opp)
    assert exc.queue == "sales-ops"
    assert set(exc.detail["problems"]) == {"Start_Date__c", "Practice__c"}
    status = accord.get("Opportunity", opp)["Integration_Status__c"]
    assert status.startswith("Needs attention: ")
    assert "Start_Date__c" in status
    assert "Practice__c" in status
    # The echo of that write-back changes nothing: same exception, one occurrence.
    accord.poll()
    accord.settle()
    (again,) = open_exceptions(accord, opp)
    assert again.occurrences == 1
    # Sales ops fix the opportunity: its new SystemModstamp re-triggers the flow.
    accord.sf().update("Opportunity", opp, {"Start_Date__c": "2026-10-12", "Practice__c": "STRAT"})
    run = accord.provision(opp)
    assert run["status"] == "provisioned", run
    assert accord.get("Opportunity", opp)["Integration_Status__c"] == "Provisioned"
    assert open_exceptions(accord, opp) == []
    (resolved,) = accord.exceptions_for(opp)
    assert resolved.status == "resolved"
    assert_no_duplicates(accord)


def test_rules_failures_are_collected_in_one_exception(accord: Accord) -> None:
    account = accord.account(entity="US01")
    opp = accord.opportunity(
        account, package="IMPL-FIXED", model="Retainer", Region__c="MARS", Practice__c="XX"
    )
    run = accord.provision(opp)
    assert run["status"] == "needs_attention"
    assert set(run["problems"]) == {"Billing_Model__c", "Region__c", "Practice__c"}
    (exc,) = open_exceptions(accord, opp)
    assert exc.code == "validation.failed"
    assert set(exc.detail["problems"]) == set(run["problems"])
    assert accord.get("Opportunity", opp)["Integration_Status__c"].startswith("Needs attention")
    # Nothing was provisioned anywhere.
    assert by_ref_count(accord, f"PRJ-SF-{opp}") == 0


def test_unknown_service_package_and_legal_entity(accord: Accord) -> None:
    account = accord.account(entity="US01")
    opp = accord.opportunity(account)
    data = {
        "id": f"SF-{opp}",
        "name": "Deal via webhook",
        "customer_id": f"SF-{account}",
        "stage": "closed_won",
        "won": True,
        "amount": {"amount": "5000.00", "currency": "USD"},
        "service_package": "SPACE-TOURISM",
        "billing_model": "fixed_fee",
        "close_date": "2026-09-20",
        "start_date": "2026-10-01",
        "practice": "TECH",
        "region": "NA-EAST",
        "legal_entity": "ZZ01",
    }
    accord.submit(data, ce_id=f"hook-{opp}")
    run = accord.run_for(opp)
    assert run["status"] == "needs_attention"
    assert {"Service_Package__c", "Legal_Entity__c"} <= set(run["problems"])


def test_milestone_lines_must_sum_to_the_amount(accord: Accord) -> None:
    account = accord.account(entity="US01")
    opp = accord.opportunity(account, package="ROLLOUT-MILESTONE", model="Milestone", amount=100000)
    for i, price in enumerate((40000, 40000), start=1):
        accord.sf().create(
            "OpportunityLineItem",
            {
                "OpportunityId": opp,
                "Quantity": 1,
                "TotalPrice": price,
                "Description": f"Wave {i}",
                "ServiceDate": "2026-12-01",
            },
        )
    run = accord.provision(opp)
    assert run["status"] == "needs_attention"
    assert "OpportunityLineItem" in run["problems"]
    assert "80000" in run["problems"]["OpportunityLineItem"]


@pytest.fixture
def no_eur_rate_card(accord: Accord) -> Iterator[None]:
    store = accord.sandbox.emulators["kantata"].store
    removed = [c for c in store.all("rate_cards") if c["currency"] == "EUR"]
    for card in removed:
        store.delete("rate_cards", card["id"])
    yield
    for card in removed:
        store.put("rate_cards", card["id"], card)


def test_time_and_materials_needs_a_rate_card(accord: Accord, no_eur_rate_card: None) -> None:
    account = accord.account(entity="DE01")
    opp = accord.opportunity(
        account, entity="DE01", package="ADVISORY-TM", model="Time and Materials"
    )
    run = accord.provision(opp)
    assert run["status"] == "needs_attention"
    assert set(run["problems"]) == {"Rate card"}


# ---------------------------------------------------------------------- ERP rejection
@pytest.fixture
def inactive_department(accord: Accord) -> Iterator[callable]:
    """NetSuite's DATA department (103) made inactive; the returned function fixes it."""
    store = accord.sandbox.emulators["netsuite"].store
    original = dict(store.get("department", "103"))

    def fix() -> None:
        store.put("department", "103", original)

    store.put("department", "103", {**original, "isInactive": True})
    yield fix
    fix()


def test_erp_rejection_holds_psa_then_retry_resumes_at_erp_step(
    accord: Accord, inactive_department
) -> None:
    account = accord.account(entity="US01")
    opp = accord.opportunity(account, Practice__c="DATA")
    run = accord.provision(opp)
    assert run["status"] == "erp_rejected", run
    assert run["rejection"]["code"] == "USER_ERROR"
    assert "department" in run["rejection"]["detail"]
    workspace = next(
        w for w in accord.records("kantata", "workspaces") if w["id"] == run["psa"]["id"]
    )
    assert workspace["status"]["message"] == "On Hold"
    assert workspace["description"].startswith("[Accord: ERP rejected]")
    (exc,) = open_exceptions(accord, opp)
    assert exc.queue == "finance-ops"
    assert exc.detail["error"]["code"] == "USER_ERROR"
    assert "department" in exc.detail["error"]["detail"]
    # Sales sees the refusal on the opportunity, like a validation failure.
    status = accord.get("Opportunity", opp)["Integration_Status__c"]
    assert status.startswith("Needs attention: ERP refused the project: ")
    assert "department" in status
    # That write-back is a new version of the opportunity; its echo starts no second run.
    assert accord.poll() == 0
    customers_before = len(accord.records("netsuite", "customer"))
    workspaces_before = len(accord.records("kantata", "workspaces"))

    inactive_department()  # finance fixes the department
    (failed,) = [
        r for r in accord.settle() if (r["output"] or {}).get("opportunity_id") == f"SF-{opp}"
    ]
    retry_from_erp_step(failed["id"])
    run = accord.run_for(opp)
    assert run["status"] == "provisioned", run
    assert run["released"] is True
    assert len(accord.records("netsuite", "customer")) == customers_before
    assert len(accord.records("kantata", "workspaces")) == workspaces_before
    workspace = next(
        w for w in accord.records("kantata", "workspaces") if w["id"] == run["psa"]["id"]
    )
    assert workspace["status"]["message"] == "In Progress"
    assert open_exceptions(accord, opp) == []
    record = accord.get("Opportunity", opp)
    assert record["Integration_Status__c"] == "Provisioned"
    assert record["ERP_Project_Id__c"] == run["erp"]["id"]
    assert by_ref_count(accord, f"PRJ-SF-{opp}") == 1
    assert_no_duplicates(accord)


def test_erp_rejection_then_fix_and_a_new_run_creates_nothing_twice(
    accord: Accord, inactive_department
) -> None:
    account = accord.account(entity="US01")
    opp = accord.opportunity(account, Practice__c="DATA")
    assert accord.provision(opp)["status"] == "erp_rejected"
    inactive_department()
    # An edit in Salesforce (of the deal's data) starts a new run: steps 2-3 find their results.
    accord.sf().update("Opportunity", opp, {"End_Date__c": "2027-06-30"})
    run = accord.provision(opp)
    assert run["status"] == "provisioned", run
    assert [c["created"] for c in run["customers"]] == [False]
    assert by_ref_count(accord, f"PRJ-SF-{opp}") == 1
    assert_no_duplicates(accord)


# ---------------------------------------------------------------------- redelivery
def test_redelivered_event_runs_once_and_a_second_run_creates_nothing(accord: Accord) -> None:
    account = accord.account(entity="UK01")
    opp = accord.opportunity(account, entity="UK01")
    accord.provision(opp)
    record = accord.get("Opportunity", opp)
    from accord.connectors.salesforce.mapping import opportunity_to_canonical

    # The record as polled (Provisioned is ignored by capture; the webhook path is not).
    data = opportunity_to_canonical({**record, "attributes": {"type": "Opportunity"}}).model_dump(
        mode="json"
    )
    first = accord.submit(data, ce_id=f"hook-{opp}-1")
    again = accord.submit(data, ce_id=f"hook-{opp}-1")
    assert again.duplicate is True
    assert again.run_id == first.run_id
    run = accord.run_for(opp)
    assert run["status"] == "provisioned"
    assert [c["created"] for c in run["customers"]] == [False]
    jobs = [j for j in accord.records("netsuite", "job") if j.get("externalId") == f"PRJ-SF-{opp}"]
    assert len(jobs) == 1
    assert by_ref_count(accord, f"PRJ-SF-{opp}") == 1
    assert_no_duplicates(accord)


# ---------------------------------------------------------------------- BC rejection
@pytest.fixture
def bc_unknown_department(accord: Accord) -> Iterator[callable]:
    """BC's DATA-AI department value detached from DEPARTMENT; the function fixes it."""
    emu = accord.sandbox.emulators["business_central"]
    originals = [dict(v) for v in emu.store.all("dimensionValues") if v["code"] == "DATA-AI"]
    assert originals

    def fix() -> None:
        for original in originals:
            emu.store.put("dimensionValues", original["id"], original)

    for original in originals:
        emu.store.put(
            "dimensionValues",
            original["id"],
            {**original, "dimensionId": "00000000-0000-0000-0000-000000000000"},
        )
    yield fix
    fix()


def test_business_central_rejection_holds_psa_then_retry_resumes_at_erp_step(
    accord: Accord, bc_unknown_department
) -> None:
    account = accord.account(entity="DE01")
    opp = accord.opportunity(account, entity="DE01", Practice__c="DATA", Region__c="DACH")
    run = accord.provision(opp)
    assert run["status"] == "erp_rejected", run
    assert run["erp"]["system"] == "business_central"
    assert run["rejection"]["code"] == "Application_FieldValidationException"
    assert "DATA-AI" in run["rejection"]["detail"]
    workspace = next(
        w for w in accord.records("kantata", "workspaces") if w["id"] == run["psa"]["id"]
    )
    assert workspace["status"]["message"] == "On Hold"
    assert workspace["description"].startswith("[Accord: ERP rejected]")
    (exc,) = open_exceptions(accord, opp)
    assert exc.queue == "finance-ops"
    assert exc.detail["erp"] == "business_central"
    assert exc.detail["error"]["code"] == "Application_FieldValidationException"
    assert "DATA-AI" in exc.detail["error"]["detail"]
    status = accord.get("Opportunity", opp)["Integration_Status__c"]
    assert status.startswith("Needs attention: ERP refused the project: ")
    project = f"PRJ-SF-{opp}"
    assert accord.billing_schedule(project, "business_central") == []
    customers_before = len(accord.records("business_central", "customers"))

    bc_unknown_department()  # finance sets the dimension value up
    (failed,) = [
        r for r in accord.settle() if (r["output"] or {}).get("opportunity_id") == f"SF-{opp}"
    ]
    retry_from_erp_step(failed["id"])
    run = accord.run_for(opp)
    assert run["status"] == "provisioned", run
    assert run["released"] is True
    # Steps 1-3 were not run again: no customer, workspace or project created twice.
    assert len(accord.records("business_central", "customers")) == customers_before
    projects = [
        p for p in accord.records("business_central", "projects") if p["number"] == run["erp"]["id"]
    ]
    assert len(projects) == 1
    assert projects[0]["departmentCode"] == "DATA-AI"
    assert [line["key"] for line in accord.billing_schedule(project, "business_central")] == [
        f"{project}-FEE"
    ]
    workspace = next(
        w for w in accord.records("kantata", "workspaces") if w["id"] == run["psa"]["id"]
    )
    assert workspace["status"]["message"] == "In Progress"
    assert open_exceptions(accord, opp) == []
    assert accord.get("Opportunity", opp)["ERP_Project_Id__c"] == run["erp"]["id"]
    assert by_ref_count(accord, project) == 1
    assert_no_duplicates(accord)
