"""Happy paths with Kantata as the PSA: each billing model, both ERPs, hierarchy, lineage."""

from decimal import Decimal

import pytest
from tests.e2e.lead_to_project.conftest import Accord

PSA = "kantata"

NO_DUPLICATES = {
    "salesforce": 0,
    "kantata": 0,
    "netsuite": 0,
    "business_central": 0,
    "dynamics_finance": 0,
}


def by_ref(records: list[dict], ref: str) -> list[dict]:
    """Kantata records carrying Accord's external reference ``ref``."""
    return [
        r
        for r in records
        if any(x.get("service_model_ref") == ref for x in r.get("external_references") or ())
    ]


@pytest.mark.parametrize(
    ("package", "model", "entity"),
    [
        ("IMPL-FIXED", "Fixed Fee", "US01"),
        ("ADVISORY-TM", "Time and Materials", "UK01"),
        ("ROLLOUT-MILESTONE", "Milestone", "US01"),
        ("MANAGED-RETAINER", "Retainer", "DE01"),
    ],
)
def test_each_billing_model_is_provisioned(
    accord: Accord, package: str, model: str, entity: str
) -> None:
    account = accord.account(entity=entity)
    opp = accord.opportunity(account, entity=entity, package=package, model=model, amount=100000)
    run = accord.provision(opp)
    assert run["status"] == "provisioned", run
    assert len(run["rules_version"]) == 64
    record = accord.get("Opportunity", opp)
    assert record["Integration_Status__c"] == "Provisioned"
    assert record["PSA_Project_Id__c"] == run["psa"]["id"]
    assert record["ERP_Project_Id__c"] == run["erp"]["id"]
    workspace = next(
        w for w in accord.records("kantata", "workspaces") if w["id"] == run["psa"]["id"]
    )
    assert workspace["status"]["message"] == "In Progress"
    assert workspace["currency"] == {"US01": "USD", "UK01": "GBP", "DE01": "EUR"}[entity]
    stories = [
        s for s in accord.records("kantata", "stories") if s["workspace_id"] == workspace["id"]
    ]
    milestones = [s for s in stories if s["story_type"] == "milestone"]
    if model == "Milestone":
        assert len(milestones) == 6
        assert sum(m["budget_estimate_in_cents"] for m in milestones) == 100000 * 100
    else:
        assert milestones == []
    if model == "Time and Materials":
        assert workspace["rate_card_id"]
    if entity == "DE01":
        assert run["erp"]["system"] == "business_central"
        projects = [
            p
            for p in accord.records("business_central", "projects")
            if p["number"] == run["erp"]["id"]
        ]
        assert len(projects) == 1
        assert projects[0]["billingModel"] == "Retainer"
        assert projects[0]["departmentCode"] == "TECH"
        assert projects[0]["areaCode"] == "DACH"
    else:
        assert run["erp"]["system"] == "netsuite"
        job = next(j for j in accord.records("netsuite", "job") if j["id"] == run["erp"]["id"])
        assert job["department"]["id"] == "102"
        assert job["subsidiary"]["id"] == {"US01": "2", "UK01": "3"}[entity]
    project = f"PRJ-SF-{opp}"
    lines = accord.billing_schedule(project, run["erp"]["system"])
    expected = {
        "Fixed Fee": [f"{project}-FEE"],
        "Time and Materials": [],
        "Milestone": [f"{project}-M{i}" for i in range(1, 7)],
        "Retainer": [f"{project}-RET"],
    }[model]
    assert [line["key"] for line in lines] == expected
    if lines:
        assert sum(line["amount"] for line in lines) == Decimal(100000)
    if model == "Retainer":
        assert lines[0]["quantity"] == 12  # monthly over a one-year term
    if run["erp"]["system"] == "netsuite" and lines:
        assert {line["job"] for line in lines} == {run["erp"]["id"]}
    assert accord.duplicates() == NO_DUPLICATES


def test_three_level_hierarchy_parents_first_and_reused(accord: Accord) -> None:
    group = accord.account(entity="US01")
    division = accord.account(entity="US01", parent=group)
    local = accord.account(entity="US01", parent=division)
    first = accord.opportunity(local, entity="US01")
    second = accord.opportunity(
        local, entity="US01", package="ADVISORY-TM", model="Time and Materials"
    )
    accord.poll()
    runs = [accord.run_for(first), accord.run_for(second)]
    assert [r["status"] for r in runs] == ["provisioned", "provisioned"]
    customers = accord.records("netsuite", "customer")
    chain = {
        c: [x for x in customers if x.get("externalId") == f"SF-{c}"]
        for c in (group, division, local)
    }
    assert all(len(found) == 1 for found in chain.values()), chain
    group_ns, division_ns, local_ns = (chain[c][0] for c in (group, division, local))
    # Parents first: each child names its parent, so the parent existed when it was created.
    assert division_ns["parent"]["id"] == group_ns["id"]
    assert local_ns["parent"]["id"] == division_ns["id"]
    assert int(group_ns["id"]) < int(division_ns["id"]) < int(local_ns["id"])
    # The second opportunity reused the customers: nothing was created for it.
    created = [c["created"] for r in runs for c in r["customers"]]
    assert created.count(True) == 3
    assert accord.duplicates() == NO_DUPLICATES


def test_business_central_customer_and_project(accord: Accord) -> None:
    account = accord.account(entity="DE01")
    opp = accord.opportunity(account, entity="DE01", amount=80000)
    run = accord.provision(opp)
    assert run["status"] == "provisioned", run
    customers = accord.records("business_central", "customers")
    number = run["customers"][0]["erp_id"]
    mine = [c for c in customers if c["number"] == number]
    assert len(mine) == 1
    assert mine[0]["currencyCode"] == "EUR"
    assert accord.duplicates() == NO_DUPLICATES


def test_lineage_answers_from_any_system(accord: Accord) -> None:
    parent = accord.account(entity="UK01")
    account = accord.account(entity="UK01", parent=parent)
    opp = accord.opportunity(account, entity="UK01")
    run = accord.provision(opp)
    assert run["status"] == "provisioned"
    graph = accord.lineage("salesforce", "Opportunity", opp)
    nodes = {(n["type"], n["id"]): n for n in graph["nodes"]}
    assert ("opportunity", f"SF-{opp}") in nodes
    assert ("customer", f"SF-{account}") in nodes
    assert ("customer", f"SF-{parent}") in nodes
    project = f"PRJ-SF-{opp}"
    assert nodes[("psa_project", project)]["systems"]["kantata"] == run["psa"]["id"]
    assert nodes[("erp_project", project)]["systems"]["netsuite"] == run["erp"]["id"]
    assert nodes[("erp_project", project)]["status"] == "provisioned"
    relations = {(e["from"]["type"], e["relation"], e["to"]["type"]) for e in graph["edges"]}
    assert ("opportunity", "sold_to", "customer") in relations
    assert ("customer", "parent_of", "customer") in relations
    assert ("customer", "provisioned", "psa_project") in relations
    assert ("psa_project", "financed_by", "erp_project") in relations
    assert all(e["run_id"] for e in graph["edges"])
    # The same graph from the ERP's id and from the PSA's id.
    for system, type_, id_ in (
        ("netsuite", "erp_project", run["erp"]["id"]),
        ("kantata", "psa_project", run["psa"]["id"]),
    ):
        other = accord.lineage(system, type_, id_)
        assert {(n["type"], n["id"]) for n in other["nodes"]} >= set(nodes)
