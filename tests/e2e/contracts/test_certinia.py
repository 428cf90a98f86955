"""An amendment with Certinia as the PSA: pse__Proj__c dates and bookings, milestones."""

from decimal import Decimal

import pytest
from tests.e2e.contracts.conftest import amend, provisioned
from tests.e2e.lead_to_project.conftest import Accord

PSA = "certinia"


def test_certinia_project_and_milestones_follow_the_amendment(accord: Accord) -> None:
    opp, run = provisioned(accord, package="ROLLOUT-MILESTONE", model="Milestone", amount=90000)
    (applied,) = amend(accord, opp, Amount=120000, End_Date__c="2027-12-31")
    assert applied["status"] == "applied", applied
    project = accord.get("pse__Proj__c", run["psa"]["id"])
    assert project["pse__End_Date__c"] == "2027-12-31"
    assert project["pse__Bookings__c"] == pytest.approx(120000)
    milestones = [
        m
        for m in accord.records("salesforce", "pse__Milestone__c")
        if m.get("pse__Project__c") == run["psa"]["id"]
    ]
    assert len(milestones) == 6
    total = sum(Decimal(str(m["pse__Milestone_Amount__c"])) for m in milestones)
    assert total == Decimal(120000)
    lines = accord.billing_schedule(f"PRJ-SF-{opp}", "netsuite")
    assert sum(line["amount"] for line in lines) == Decimal(120000)
    assert set(accord.duplicates().values()) == {0}


def test_certinia_time_and_materials_on_business_central(accord: Accord) -> None:
    opp, run = provisioned(
        accord, entity="DE01", package="ADVISORY-TM", model="Time and Materials", amount=60000
    )
    (applied,) = amend(accord, opp, End_Date__c="2027-03-31")
    assert applied["status"] == "applied", applied
    assert set(applied["diff"]) == {"end_date"}
    assert accord.get("pse__Proj__c", run["psa"]["id"])["pse__End_Date__c"] == "2027-03-31"
    (bc_project,) = [
        p for p in accord.records("business_central", "projects") if p["number"] == run["erp"]["id"]
    ]
    assert bc_project["endDate"] == "2027-03-31"
    assert set(accord.duplicates().values()) == {0}
