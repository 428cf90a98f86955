"""Amendments made in Salesforce after provisioning reach the PSA and the ERP, as versions."""

from decimal import Decimal

from tests.e2e.contracts.conftest import amend, contract_exceptions, contract_runs, provisioned
from tests.e2e.lead_to_project.conftest import Accord

from accord.flows.replay import rerun
from accord.flows.shared.contracts import versions

PSA = "kantata"


def workspace(accord: Accord, psa_id: str) -> dict:
    return next(w for w in accord.records("kantata", "workspaces") if w["id"] == psa_id)


def test_write_back_echo_is_not_an_amendment(accord: Accord) -> None:
    opp, _ = provisioned(accord, package="IMPL-FIXED", model="Fixed Fee", amount=100000)
    # The write-back (status + ids) gave the opportunity a new SystemModstamp: polled again,
    # it changes no commercial term, and a non-commercial edit does not either.
    accord.poll()
    accord.sf().update("Opportunity", opp, {"Description": "kick-off moved to Monday"})
    accord.poll()
    assert contract_runs(accord, opp) == []


def test_amount_and_end_date_reach_psa_and_erp(accord: Accord) -> None:
    opp, run = provisioned(accord, package="IMPL-FIXED", model="Fixed Fee", amount=100000)
    project = f"PRJ-SF-{opp}"
    (applied,) = amend(accord, opp, Amount=130000, End_Date__c="2027-09-30")
    assert applied["status"] == "applied", applied
    assert applied["version"] == 2
    assert applied["diff"]["total_value"] == {"from": "100000.00 USD", "to": "130000.00 USD"}
    assert applied["diff"]["end_date"]["to"] == "2027-09-30"
    # PSA: budget (contract amount + 10 % contingency) and dates.
    space = workspace(accord, run["psa"]["id"])
    assert space["price_in_cents"] == 143000 * 100
    assert space["due_date"] == "2027-09-30"
    # ERP: the project's dates and the billing schedule's one fixed-fee line.
    job = next(j for j in accord.records("netsuite", "job") if j["id"] == run["erp"]["id"])
    assert job["projectedEndDate"] == "2027-09-30"
    lines = accord.billing_schedule(project, "netsuite")
    assert [(line["key"], line["amount"]) for line in lines] == [
        (f"{project}-FEE", Decimal(130000))
    ]
    # A second amendment is version 3, its diff against version 2.
    (_, third) = amend(accord, opp, Amount=125000)
    assert third["status"] == "applied"
    assert third["version"] == 3
    assert third["diff"] == {"total_value": {"from": "130000.00 USD", "to": "125000.00 USD"}}
    assert accord.billing_schedule(project, "netsuite")[0]["amount"] == Decimal(125000)
    # Lineage: the amendment history with the field-level diff of each version.
    graph = accord.lineage("salesforce", "Opportunity", opp)
    history = [a for a in graph["amendments"] if a["contract_id"] == f"CTR-SF-{opp}"]
    assert [a["version"] for a in history] == [1, 2, 3]
    assert history[1]["diff"]["total_value"] == {"from": "100000.00 USD", "to": "130000.00 USD"}
    assert history[2]["diff"] == {"total_value": {"from": "130000.00 USD", "to": "125000.00 USD"}}
    assert all(a["event_id"] and a["run_id"] and a["at"] for a in history[1:])
    versions = {e["to"]["id"]: e["status"] for e in graph["edges"] if e["relation"] == "amended"}
    assert versions == {f"CTR-SF-{opp}@v2": "applied", f"CTR-SF-{opp}@v3": "applied"}
    assert set(accord.duplicates().values()) == {0}


def test_milestone_amendment_rescales_the_schedule(accord: Accord) -> None:
    opp, run = provisioned(accord, package="ROLLOUT-MILESTONE", model="Milestone", amount=100000)
    project = f"PRJ-SF-{opp}"
    (applied,) = amend(accord, opp, Amount=200000)
    assert applied["status"] == "applied", applied
    lines = accord.billing_schedule(project, "netsuite")
    assert len(lines) == 6
    assert sum(line["amount"] for line in lines) == Decimal(200000)
    assert lines[0]["amount"] == Decimal(20000)  # 10 % of the new amount
    stories = [
        s
        for s in accord.records("kantata", "stories")
        if s["workspace_id"] == run["psa"]["id"] and s["story_type"] == "milestone"
    ]
    assert len(stories) == 6
    assert sum(s["budget_estimate_in_cents"] for s in stories) == 200000 * 100
    assert set(accord.duplicates().values()) == {0}


def test_amendment_touching_an_invoiced_milestone_is_refused(accord: Accord) -> None:
    opp, run = provisioned(accord, package="ROLLOUT-MILESTONE", model="Milestone", amount=100000)
    project = f"PRJ-SF-{opp}"
    # The milestone flow invoiced the first milestone: NetSuite invoice eid:MS-<milestone id>.
    netsuite = accord.services.connections.connector("netsuite")
    job = next(j for j in accord.records("netsuite", "job") if j["id"] == run["erp"]["id"])
    netsuite.upsert(
        "invoice",
        f"MS-{project}-M1",
        {
            "entity": {"id": job["id"]},
            "tranDate": "2026-11-05",
            "item": {"items": [{"item": {"id": "1"}, "amount": 10000.0, "quantity": 1}]},
        },
    )
    before = accord.billing_schedule(project, "netsuite")
    (blocked,) = amend(accord, opp, Amount=150000)
    assert blocked["status"] == "blocked", blocked
    assert blocked["invoiced"] == [f"{project}-M1"]
    (exc,) = [e for e in contract_exceptions(accord, opp) if e.status == "open"]
    assert exc.queue == "finance-ops"
    assert exc.detail["invoiced_milestones"] == [f"{project}-M1"]
    assert exc.detail["diff"]["total_value"] == {"from": "100000.00 USD", "to": "150000.00 USD"}
    # Nothing of the amendment was applied: schedule and workspace as before.
    assert accord.billing_schedule(project, "netsuite") == before
    assert workspace(accord, run["psa"]["id"])["price_in_cents"] == 105000 * 100
    # An amendment that leaves the invoiced milestone alone (end date only) applies, and
    # resolves the exception.
    runs = amend(accord, opp, Amount=100000, End_Date__c="2027-12-31")
    assert runs[-1]["status"] == "applied", runs[-1]
    assert [e.status for e in contract_exceptions(accord, opp)] == ["resolved"]
    graph = accord.lineage("salesforce", "Opportunity", opp)
    statuses = {e["to"]["id"]: e["status"] for e in graph["edges"] if e["relation"] == "amended"}
    assert statuses[f"CTR-SF-{opp}@v2"] == "blocked_invoiced"
    assert statuses[f"CTR-SF-{opp}@v3"] == "applied"


def test_business_central_retainer_amendment(accord: Accord) -> None:
    opp, run = provisioned(
        accord, entity="DE01", package="MANAGED-RETAINER", model="Retainer", amount=120000
    )
    project = f"PRJ-SF-{opp}"
    (applied,) = amend(accord, opp, Amount=90000, End_Date__c="2027-04-05")
    assert applied["status"] == "applied", applied
    assert applied["diff"]["retainer_fee"] == {"from": "120000.00 EUR", "to": "90000.00 EUR"}
    (line,) = accord.billing_schedule(project, "business_central")
    assert line["key"] == f"{project}-RET"
    assert line["amount"] == Decimal(90000)
    assert line["quantity"] == 6  # 2026-10-05 .. 2027-04-05
    (bc_project,) = [
        p for p in accord.records("business_central", "projects") if p["number"] == run["erp"]["id"]
    ]
    assert bc_project["endDate"] == "2027-04-05"
    assert set(accord.duplicates().values()) == {0}


def test_milestone_schedule_from_line_items_and_lines_that_do_not_add_up(accord: Accord) -> None:
    opp, _ = provisioned(accord, package="ROLLOUT-MILESTONE", model="Milestone", amount=100000)
    project = f"PRJ-SF-{opp}"
    lines = [
        accord.sf()
        .create(
            "OpportunityLineItem",
            {
                "OpportunityId": opp,
                "Quantity": 1,
                "TotalPrice": price,
                "Description": f"Wave {i}",
                "ServiceDate": f"2027-0{i}-15",
            },
        )
        .id
        for i, price in enumerate((60000, 40000), start=1)
    ]
    # Sales replace the template's six milestones by two line items (and touch the deal).
    (applied,) = amend(accord, opp, End_Date__c="2027-06-30")
    assert applied["status"] == "applied", applied
    assert (
        applied["diff"][f"milestone {project}-M1"]["to"] == "Wave 1 | 60000.00 USD | due 2027-01-15"
    )
    assert applied["diff"][f"milestone {project}-M6"]["to"] is None  # removed
    schedule = accord.billing_schedule(project, "netsuite")
    assert [(line["key"], line["amount"]) for line in schedule] == [
        (f"{project}-M1", Decimal(60000)),
        (f"{project}-M2", Decimal(40000)),
    ]
    # A new amount the lines do not add up to: sales ops are told, nothing is applied.
    accord.sf().update("Opportunity", opp, {"Amount": 120000})
    accord.poll()
    assert len(contract_runs(accord, opp)) == 1
    (problem,) = [e for e in contract_exceptions(accord, opp) if e.status == "open"]
    assert problem.queue == "sales-ops"
    assert "OpportunityLineItem" in problem.detail["problems"]
    # The lines are fixed: the next version applies and resolves the exception.
    accord.sf().update("OpportunityLineItem", lines[0], {"TotalPrice": 80000})
    runs = amend(accord, opp, Description="lines fixed")
    assert [r["status"] for r in runs] == ["applied", "applied"], runs
    assert runs[-1]["version"] == 3
    assert sum(line["amount"] for line in accord.billing_schedule(project, "netsuite")) == Decimal(
        120000
    )
    assert [e.status for e in contract_exceptions(accord, opp)] == ["resolved"]
    assert set(accord.duplicates().values()) == {0}


def test_business_central_invoiced_milestone_blocks_and_a_replay_never_rolls_back(
    accord: Accord,
) -> None:
    opp, run = provisioned(
        accord, entity="DE01", package="ROLLOUT-MILESTONE", model="Milestone", amount=100000
    )
    project = f"PRJ-SF-{opp}"
    (v2,) = amend(accord, opp, End_Date__c="2027-11-30")
    assert v2["status"] == "applied", v2
    # The milestone flow invoiced M1 in BC: externalDocumentNumber = the milestone id.
    bc = accord.services.connections.connector("business-central").for_company("DE01")
    bc.upsert(
        "salesInvoices",
        f"{project}-M1",
        {"customerNumber": run["customers"][0]["erp_id"], "invoiceDate": "2026-11-05"},
    )
    before = accord.billing_schedule(project, "business_central")
    runs = amend(accord, opp, Amount=110000)
    assert runs[-1]["status"] == "blocked", runs[-1]
    assert runs[-1]["invoiced"] == [f"{project}-M1"]
    assert accord.billing_schedule(project, "business_central") == before
    (exc,) = [e for e in contract_exceptions(accord, opp) if e.status == "open"]
    assert exc.queue == "finance-ops"
    assert exc.detail["erp"] == "business_central"
    # Version 3 was blocked, so version 2 is still the latest applied: a replay of it
    # applies it again, harmlessly (every write is an upsert).
    with accord.services.engine.begin() as conn:
        rerun(
            conn,
            accord.services.runtime,
            accord.services.runtime.client,
            run_id=next(
                r["id"]
                for r in accord.settle(name="contract_change")
                if (r["output"] or {}).get("event_id") == v2["event_id"]
                and (r["output"] or {}).get("version") == 2
            ),
            actor="test",
        )
    replayed = contract_runs(accord, opp)
    assert [r["status"] for r in replayed if r["version"] == 2] == ["applied", "applied"]
    # Sales fix the deal so M1 stays (end date only): version 4 applies; replaying version 2
    # now would roll the contract back, so it is skipped.
    runs = amend(accord, opp, Amount=100000, End_Date__c="2027-12-31")
    assert runs[-1]["status"] == "applied", runs[-1]
    with accord.services.engine.begin() as conn:
        rerun(
            conn,
            accord.services.runtime,
            accord.services.runtime.client,
            run_id=next(
                r["id"]
                for r in accord.settle(name="contract_change")
                if (r["output"] or {}).get("event_id") == v2["event_id"]
            ),
            actor="test",
        )
    statuses = [r["status"] for r in contract_runs(accord, opp) if r["version"] == 2]
    assert statuses.count("superseded") == 1, statuses
    (bc_project,) = [
        p for p in accord.records("business_central", "projects") if p["number"] == run["erp"]["id"]
    ]
    assert bc_project["endDate"] == "2027-12-31"
    assert set(accord.duplicates().values()) == {0}


def test_time_and_materials_cap_and_dates_with_the_rate_card(accord: Accord) -> None:
    opp, run = provisioned(
        accord, entity="UK01", package="ADVISORY-TM", model="Time and Materials", amount=80000
    )
    (applied,) = amend(accord, opp, Amount=95000, End_Date__c="2027-08-31")
    assert applied["status"] == "applied", applied
    assert applied["diff"]["total_value"] == {"from": "80000.00 GBP", "to": "95000.00 GBP"}
    assert not [name for name in applied["diff"] if name.startswith("rate")]
    with accord.services.engine.connect() as conn:
        (version,) = versions(conn, f"CTR-SF-{opp}")
    card = version.contract.rate_card
    assert card is not None
    assert card.id == run["plan"]["rate_card_id"]
    assert card.currency == "GBP"
    assert card.rates
    space = workspace(accord, run["psa"]["id"])
    assert space["price_in_cents"] == 95000 * 100
    assert space["due_date"] == "2027-08-31"
    assert space["rate_card_id"] == card.id
    job = next(j for j in accord.records("netsuite", "job") if j["id"] == run["erp"]["id"])
    assert job["projectedEndDate"] == "2027-08-31"
    assert accord.billing_schedule(f"PRJ-SF-{opp}", "netsuite") == []  # billed from time
