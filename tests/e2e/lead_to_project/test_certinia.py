"""Certinia as the PSA (pse__Proj__c on the Salesforce emulator), on both ERPs."""

import pytest
from tests.e2e.lead_to_project.conftest import Accord

PSA = "certinia"


@pytest.mark.parametrize(
    ("entity", "package", "model"),
    [
        ("US01", "ROLLOUT-MILESTONE", "Milestone"),
        ("DE01", "ADVISORY-TM", "Time and Materials"),
    ],
)
def test_certinia_project_with_milestones_on_each_erp(
    accord: Accord, entity: str, package: str, model: str
) -> None:
    account = accord.account(entity=entity)
    opp = accord.opportunity(account, entity=entity, package=package, model=model, amount=90000)
    run = accord.provision(opp)
    assert run["status"] == "provisioned", run
    assert run["psa"]["system"] == "certinia"
    project = accord.get("pse__Proj__c", run["psa"]["id"])
    assert project["Accord_Id__c"] == f"PRJ-SF-{opp}"
    assert project["pse__Account__c"] == account
    assert project["pse__Opportunity__c"] == opp
    assert project["pse__Stage__c"] == "In Progress"
    assert project["ERP_Project_Id__c"] == run["erp"]["id"]
    milestones = [
        m
        for m in accord.records("salesforce", "pse__Milestone__c")
        if m.get("pse__Project__c") == run["psa"]["id"]
    ]
    if model == "Milestone":
        assert len(milestones) == 6
        assert sum(m["pse__Milestone_Amount__c"] for m in milestones) == pytest.approx(90000)
    else:
        assert milestones == []
    tasks = [
        t
        for t in accord.records("salesforce", "pse__Project_Task__c")
        if t.get("pse__Project__c") == run["psa"]["id"]
    ]
    phases = {"Milestone": 6, "Time and Materials": 4}[model]
    assert sorted(t["Accord_Id__c"] for t in tasks) == sorted(
        f"PRJ-SF-{opp}-P{i}" for i in range(1, phases + 1)
    )
    lines = accord.billing_schedule(f"PRJ-SF-{opp}", run["erp"]["system"])
    assert len(lines) == (6 if model == "Milestone" else 0)
    expected_erp = "business_central" if entity == "DE01" else "netsuite"
    assert run["erp"]["system"] == expected_erp
    assert accord.get("Opportunity", opp)["PSA_Project_Id__c"] == run["psa"]["id"]
    graph = accord.lineage("certinia", "psa_project", run["psa"]["id"])
    assert {n["type"] for n in graph["nodes"]} >= {"opportunity", "customer", "erp_project"}
    assert set(accord.duplicates().values()) == {0}
