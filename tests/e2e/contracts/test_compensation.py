"""An amendment one system refuses leaves both systems at the version last applied.

The ERP is written first and the PSA only once the ERP accepted (the PSA update is held): an
ERP refusal leaves the Kantata workspace as it was; a project NetSuite rewrote before it
refused the schedule, or a version Kantata refuses afterwards, is written back in NetSuite.
Refusals are injected through the emulators' fault API (NetSuite keeps an inactive department
on an existing project, so its business rules refuse no amendment of these projects).
"""

from decimal import Decimal

import httpx
from tests.e2e.contracts.conftest import amend, contract_exceptions, provisioned
from tests.e2e.lead_to_project.conftest import Accord

PSA = "kantata"


def workspace(accord: Accord, psa_id: str) -> dict:
    return next(w for w in accord.records("kantata", "workspaces") if w["id"] == psa_id)


def job(accord: Accord, erp_id: str) -> dict:
    return next(j for j in accord.records("netsuite", "job") if j["id"] == erp_id)


def test_erp_refusal_holds_the_psa_update(accord: Accord, faults) -> None:
    opp, run = provisioned(accord, package="IMPL-FIXED", model="Fixed Fee")
    project = f"PRJ-SF-{opp}"
    price_before = workspace(accord, run["psa"]["id"])["price_in_cents"]
    faults("netsuite", method="PUT", path="*/record/v1/job/*", error_rate=1.0, status=400)
    (refused,) = amend(accord, opp, Amount=150000, End_Date__c="2027-09-30")
    assert refused["status"] == "erp_rejected", refused
    assert refused["rejection"]["code"] == "INJECTED_FAULT"
    assert refused["compensated"] == []  # NetSuite changed nothing, Kantata was never written
    space = workspace(accord, run["psa"]["id"])
    assert space["price_in_cents"] == price_before
    assert space["due_date"] != "2027-09-30"
    assert job(accord, run["erp"]["id"])["projectedEndDate"] != "2027-09-30"
    assert accord.billing_schedule(project, "netsuite")[0]["amount"] == Decimal(120000)
    (exc,) = [e for e in contract_exceptions(accord, opp) if e.status == "open"]
    assert exc.queue == "finance-ops"
    assert exc.detail["state"] == "the ERP and the PSA keep version 1"
    # Once NetSuite takes it again, the next amendment applies to both and resolves it.
    httpx.delete(f"{accord.sandbox.urls['netsuite']}/__sandbox/faults", timeout=10)
    (_, applied) = amend(accord, opp, Amount=140000)
    assert applied["status"] == "applied", applied
    assert workspace(accord, run["psa"]["id"])["price_in_cents"] > price_before
    assert accord.billing_schedule(project, "netsuite")[0]["amount"] == Decimal(140000)
    assert [e.status for e in contract_exceptions(accord, opp)] == ["resolved"]
    assert set(accord.duplicates().values()) == {0}


def test_schedule_refused_after_the_project_was_rewritten_reverts_the_project(
    accord: Accord, faults
) -> None:
    opp, run = provisioned(accord, package="ROLLOUT-MILESTONE", model="Milestone", amount=100000)
    project = f"PRJ-SF-{opp}"
    end_before = job(accord, run["erp"]["id"])["projectedEndDate"]
    schedule_before = accord.billing_schedule(project, "netsuite")
    price_before = workspace(accord, run["psa"]["id"])["price_in_cents"]
    faults("netsuite", method="PUT", path="*/record/v1/salesOrder/*", error_rate=1.0, status=400)
    (refused,) = amend(accord, opp, Amount=200000, End_Date__c="2027-10-31")
    assert refused["status"] == "erp_rejected", refused
    (undone,) = refused["compensated"]
    assert undone["step"] == "contracts.update_erp"
    assert undone["by"] == "contracts.revert_erp"
    # The job NetSuite took before refusing the sales order is back at version 1.
    assert job(accord, run["erp"]["id"])["projectedEndDate"] == end_before
    assert accord.billing_schedule(project, "netsuite") == schedule_before
    assert workspace(accord, run["psa"]["id"])["price_in_cents"] == price_before


def test_psa_refusal_reverts_the_erp(accord: Accord, faults) -> None:
    opp, run = provisioned(accord, package="ROLLOUT-MILESTONE", model="Milestone", amount=100000)
    project = f"PRJ-SF-{opp}"
    end_before = job(accord, run["erp"]["id"])["projectedEndDate"]
    schedule_before = accord.billing_schedule(project, "netsuite")
    assert sum(line["amount"] for line in schedule_before) == Decimal(100000)
    price_before = workspace(accord, run["psa"]["id"])["price_in_cents"]
    faults("kantata", method="PUT", path="*/workspaces/*", error_rate=1.0, status=422)
    (refused,) = amend(accord, opp, Amount=180000, End_Date__c="2027-11-30")
    assert refused["status"] == "psa_rejected", refused
    (undone,) = refused["compensated"]
    assert undone["reverted"] is True
    # NetSuite took version 2, then was written back to version 1 when Kantata refused it.
    assert job(accord, run["erp"]["id"])["projectedEndDate"] == end_before
    assert accord.billing_schedule(project, "netsuite") == schedule_before
    assert workspace(accord, run["psa"]["id"])["price_in_cents"] == price_before
    (exc,) = [e for e in contract_exceptions(accord, opp) if e.status == "open"]
    assert exc.queue == "delivery-ops"
    assert exc.code == "psa.contract_amendment.rejected"
    assert exc.detail["compensated"][0]["by"] == "contracts.revert_erp"
    graph = accord.lineage("salesforce", "Opportunity", opp)
    statuses = {e["to"]["id"]: e["status"] for e in graph["edges"] if e["relation"] == "amended"}
    assert statuses[f"CTR-SF-{opp}@v2"] == "psa_rejected"
    assert set(accord.duplicates().values()) == {0}
