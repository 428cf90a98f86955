"""Delivery sync end to end with Kantata as the PSA and NetSuite (US01) as the ERP."""

import json
import time
from decimal import Decimal
from typing import Any

from tests.e2e.delivery.conftest import Delivery

from accord.flows.delivery.waiting import release_placed
from accord.store import xref

PSA = "kantata"
US_CONSULTANT = "EMP-0001"
UK_CONSULTANT = "EMP-0015"
NO_DUPLICATES = {
    "salesforce": 0,
    "kantata": 0,
    "netsuite": 0,
    "business_central": 0,
    "dynamics_finance": 0,
}


def _kantata_user(d: Delivery, consultant: str) -> str:
    user = d.connector("kantata").find_by_reference(
        "users", service_name="accord", service_model="resource", ref=consultant
    )
    assert user is not None
    return str(user["id"])


def _job(d: Delivery, erp_id: str) -> dict[str, Any]:
    return dict(d.connector("netsuite").get("job", erp_id))


def _later() -> None:
    # Kantata and NetSuite keep second-precision stamps: a change must be a new version.
    time.sleep(1.05)


def test_a_project_completed_in_kantata_closes_the_job_and_refuses_more_time(
    delivery: Delivery,
) -> None:
    ids = delivery.provision(entity="US01", package="ADVISORY-TM", model="Time and Materials")
    _later()
    delivery.connector("kantata").update("workspaces", ids["psa_project"], {"status": "Completed"})
    delivery.poll()
    run, echo = delivery.runs("status", project_id=ids["project"])
    assert (run["status"], run["from"]) == ("synced", "psa"), run
    assert [w["side"] for w in run["written"]] == ["erp"]
    job = _job(delivery, ids["erp_project"])
    assert (job["entityStatus"]["id"], job["allowTime"]) == ("1", False)
    # NetSuite then reports the job closed: the echo of the sync, left alone.
    assert (echo["status"], echo["from"]) == ("in_step", "erp"), echo
    assert delivery.exceptions(f"project:{ids['project']}", "project.not_owner") == []

    delivery.post_time(ids["project"], US_CONSULTANT, "USD", "2026-10-12")
    # Until time-to-bill concluded: its run may be enqueued a moment after the journal write.
    deadline = time.monotonic() + 60
    while not (found := delivery.exceptions(f"project:{ids['project']}", "project.inactive")):
        assert time.monotonic() < deadline, "time-to-bill opened no project.inactive exception"
        delivery.settle(names=("time_to_bill",))
        time.sleep(0.2)
    (refused,) = found
    assert refused.queue == "delivery-ops"
    assert "is Closed in netsuite" in json.dumps(refused.detail)
    assert not [b for b in delivery.base.records("netsuite", "timeBill")
                if b.get("customer", {}).get("id") == ids["erp_project"]]  # fmt: skip


def test_tasks_and_people_reach_netsuite_with_estimates_and_lineage(delivery: Delivery) -> None:
    ids = delivery.provision(entity="US01", package="ADVISORY-TM", model="Time and Materials")
    kantata = delivery.connector("kantata")
    user = _kantata_user(delivery, US_CONSULTANT)
    story = kantata.create(
        "stories",
        {"workspace_id": ids["psa_project"], "title": "Data migration", "story_type": "task",
         "time_estimate_in_minutes": 40 * 60, "percentage_complete": 25},
    ).id  # fmt: skip
    kantata.create("participations", {"workspace_id": ids["psa_project"], "user_id": user})
    kantata.create(
        "assignments", {"story_id": story, "assignee_id": user, "estimated_minutes": 16 * 60}
    )
    stranger = _kantata_user(delivery, UK_CONSULTANT)
    kantata.create("participations", {"workspace_id": ids["psa_project"], "user_id": stranger})
    delivery.poll()

    task_id = f"kantata-st-{story}"
    # Each version of the story is a change (its assignment touches it too): upserted alike.
    task_runs = delivery.runs("task", task_id=task_id)
    assert {r["status"] for r in task_runs} == {"synced"}, task_runs
    assert task_runs[-1]["psa_percent_complete"] == "25"
    netsuite = delivery.connector("netsuite")
    task = netsuite.get_by_external_id("projectTask", task_id)
    assert task is not None
    assert (task["company"]["id"], task["estimatedWork"]) == (ids["erp_project"], 40)
    employee = netsuite.get_by_external_id("employee", US_CONSULTANT)
    assert employee is not None

    # Time booked to the task in NetSuite: its percent complete reads beside the PSA's.
    netsuite.create(
        "timeBill",
        {"employee": {"id": employee["id"]}, "customer": {"id": ids["erp_project"]},
         "caseTaskEvent": {"id": task["id"]}, "hours": 8, "tranDate": "2026-10-13"},
    )  # fmt: skip
    _later()
    kantata.update("stories", story, {"percentage_complete": 30})
    delivery.poll()
    latest = delivery.runs("task", task_id=task_id)[-1]
    assert (latest["psa_percent_complete"], Decimal(latest["erp_percent_complete"])) == (
        "30",
        Decimal(20),
    )
    assert Decimal(latest["erp_actual_hours"]) == Decimal(8)
    assignees = task["assignee"]["items"]
    assert [(a["resource"]["id"], a["plannedWork"]) for a in assignees] == [(employee["id"], 16)]
    team = _job(delivery, ids["erp_project"])["jobResources"]["items"]
    assert employee["id"] in {m["jobResource"]["id"] for m in team}

    # The consultant of another legal entity is named in a delivery-ops exception.
    (unknown,) = delivery.exceptions(f"project:{ids['project']}", "project.resource_unknown")
    assert unknown.queue == "delivery-ops"
    assert UK_CONSULTANT in unknown.title
    assert "US01" in unknown.title

    graph = delivery.base.lineage("netsuite", "erp_project", ids["erp_project"])
    nodes = {(n["type"], n["id"]) for n in graph["nodes"]}
    assert ("task", task_id) in nodes
    assert ("assignment", f"kantata-as-{kantata_id(delivery, story, user)}") in nodes
    assert delivery.base.duplicates() == NO_DUPLICATES


def kantata_id(d: Delivery, story: str, user: str) -> str:
    page = d.connector("kantata").query_page(
        "assignments", filters={"story_id": story, "assignee_id": user}
    )
    (record,) = page.records
    return str(record["id"])


def test_vendor_costs_flow_both_ways_once(delivery: Delivery) -> None:
    ids = delivery.provision(entity="US01", package="ADVISORY-TM", model="Time and Materials")
    kantata = delivery.connector("kantata")
    vendor = kantata.get_by_external_id("vendors", "VEND-US01-1")
    assert vendor is not None
    expense = kantata.create(
        "expenses",
        {"workspace_id": ids["psa_project"], "date": "2026-10-14", "category": "Other",
         "amount_in_cents": 425_000, "vendor_id": vendor["id"], "notes": "Penetration test"},
    ).id  # fmt: skip
    report = kantata.create("expense_report_submissions", {"expense_ids": [expense]}).id
    kantata.resolve_submission("expense_report_submissions", report, approve=True)
    delivery.poll()

    bill_id = f"VB-kantata-ex-{expense}"
    (billed,) = delivery.runs("vendor_expense", bill_id=bill_id)
    assert billed["status"] == "billed", billed
    netsuite = delivery.connector("netsuite")
    bills = [b for b in delivery.base.records("netsuite", "vendorBill")
             if b.get("externalId") == bill_id]  # fmt: skip
    assert len(bills) == 1
    (line,) = bills[0]["expense"]["items"]
    assert (line["customer"]["id"], Decimal(str(line["amount"]))) == (
        ids["erp_project"],
        Decimal("4250.00"),
    )
    ns_vendor = netsuite.get_by_external_id("vendor", "VEND-US01-1")
    assert ns_vendor is not None
    assert bills[0]["entity"]["id"] == ns_vendor["id"]
    # Not an employee's claim: time-to-bill posts no expense report for it.
    assert not [r for r in delivery.base.records("netsuite", "expenseReport")
                if r.get("externalId") == f"kantata-ex-{expense}"]  # fmt: skip

    # An AP clerk keys a subcontractor's bill in NetSuite against the project.
    keyed = netsuite.create(
        "vendorBill",
        {"entity": {"id": ns_vendor["id"]}, "tranDate": "2026-10-20", "tranId": "NW-4411",
         "expense": {"items": [{"amount": 1800.0, "customer": {"id": ids["erp_project"]},
                                "memo": "Cloud hosting"}]}},
    ).id  # fmt: skip
    delivery.poll()
    _later()
    delivery.poll()  # read again: recorded once
    costs = kantata.query_page("expenses", filters={"workspace_id": ids["psa_project"]}).records
    recorded = [c for c in costs if c["amount_in_cents"] == 180_000]
    assert len(recorded) == 1
    assert recorded[0]["vendor_id"] == vendor["id"]
    assert "NW-4411" in recorded[0]["notes"]
    (run,) = delivery.runs("vendor_bill", bill_id=f"netsuite-vb-{keyed}")
    assert run["status"] == "recorded", run
    assert len(delivery.runs("vendor_expense", bill_id=bill_id)) == 1

    graph = delivery.base.lineage("netsuite", "erp_project", ids["erp_project"])
    nodes = {(n["type"], n["id"]) for n in graph["nodes"]}
    assert {("vendor_bill", bill_id), ("vendor_bill", f"netsuite-vb-{keyed}")} <= nodes
    assert delivery.base.duplicates() == NO_DUPLICATES


def test_a_status_set_in_netsuite_is_not_propagated_while_kantata_owns_it(
    delivery: Delivery,
) -> None:
    ids = delivery.provision(entity="US01", package="ADVISORY-TM", model="Time and Materials")
    _later()
    delivery.connector("netsuite").update(
        "job", ids["erp_project"], {"entityStatus": {"id": "5"}, "allowTime": False}
    )
    delivery.poll()
    (run,) = delivery.runs("status", project_id=ids["project"])
    assert run["status"] == "not_owner", run
    (filed,) = delivery.exceptions(f"project:{ids['project']}", "project.not_owner")
    assert filed.queue == "delivery-ops"
    workspace = delivery.connector("kantata").get("workspaces", ids["psa_project"])
    assert workspace["status"]["message"] == "In Progress"


def test_firm_fields_flow_from_their_owner(delivery: Delivery) -> None:
    ids = delivery.provision(entity="US01", package="ADVISORY-TM", model="Time and Materials")
    kantata, netsuite = delivery.connector("kantata"), delivery.connector("netsuite")
    fields = {
        r["name"]: r["id"]
        for r in kantata.query_page("custom_fields", filters={"subject_type": "Workspace"}).records
    }
    kantata.create(
        "custom_field_values",
        {"subject_type": "Workspace", "subject_id": ids["psa_project"],
         "custom_field_id": fields["Delivery Health"], "value": "Amber"},
    )  # fmt: skip
    _later()
    netsuite.update("job", ids["erp_project"], {"custentity_customer_po": "PO-7781"})
    delivery.poll()
    job = _job(delivery, ids["erp_project"])
    assert job["custentity_delivery_health"] == "Amber"
    values = kantata.query_page(
        "custom_field_values",
        filters={"subject_type": "Workspace", "subject_id": ids["psa_project"]},
    ).records
    assert {str(v["custom_field_id"]): v["value"] for v in values} == {
        fields["Delivery Health"]: "Amber",
        fields["Customer PO"]: "PO-7781",
    }
    # Each side then reports what the other wrote: echoes, no exception.
    assert delivery.exceptions(f"project:{ids['project']}", "project.not_owner") == []


def test_a_task_waiting_for_its_erp_project_reaches_it_once_the_project_has_one(
    delivery: Delivery,
) -> None:
    # A Kantata project lead-to-project has created but whose NetSuite job is not there yet
    # (still being created, or refused until a fix): its links are written as the flow does.
    ids = delivery.provision(entity="US01", package="ADVISORY-TM", model="Time and Materials")
    kantata, netsuite = delivery.connector("kantata"), delivery.connector("netsuite")
    project = f"PRJ-DLV-{time.time_ns()}"
    workspace = kantata.create("workspaces", {"title": "Waiting project", "currency": "USD"}).id
    engine = delivery.base.services.engine
    with engine.begin() as conn:
        xref.link(conn, entity_type="psa_project", canonical_id=project, system="kantata",
                  connection="kantata", external_id=workspace)  # fmt: skip
    story = kantata.create(
        "stories",
        {"workspace_id": workspace, "title": "Cut-over", "story_type": "task",
         "time_estimate_in_minutes": 12 * 60},
    ).id  # fmt: skip
    delivery.poll()
    task_id = f"kantata-st-{story}"
    (waiting,) = delivery.exceptions(f"project:{project}", "project.unplaced")
    assert (waiting.status.value, waiting.queue) == ("open", "delivery-ops")
    assert release_placed()["retried"] == 0  # no ERP project yet: nothing to re-run

    # The job exists now (under the first project's customer, in its subsidiary).
    first = _job(delivery, ids["erp_project"])
    job = netsuite.create(
        "job",
        {"companyName": "Waiting project", "parent": {"id": ids["erp_customer"]},
         "subsidiary": first["subsidiary"], "currency": first["currency"]},
    ).id  # fmt: skip
    with engine.begin() as conn:
        xref.link(conn, entity_type="erp_project", canonical_id=project, system="netsuite",
                  connection="netsuite", external_id=job)  # fmt: skip
    assert release_placed()["retried"] == 1
    delivery.settle()
    assert release_placed()["retried"] == 0  # once: resolved, never re-run again

    assert delivery.runs("task", task_id=task_id)[-1]["status"] == "synced"
    task = netsuite.get_by_external_id("projectTask", task_id)
    assert task is not None
    assert (task["company"]["id"], task["estimatedWork"]) == (job, 12)
    (done,) = delivery.exceptions(f"project:{project}", "project.unplaced")
    assert done.status.value == "resolved"
