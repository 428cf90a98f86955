"""Delivery sync end to end with Certinia as the PSA and Business Central (DE01) as the ERP."""

import json
import time
from decimal import Decimal
from typing import Any

from tests.e2e.delivery.conftest import Delivery

from accord.connectors.business_central._erp_delivery import vendor_invoice_number
from accord.connectors.business_central.mapping import bc_number
from accord.flows.delivery.waiting import release_placed

PSA = "certinia"
DE_CONSULTANT = "EMP-0024"
NO_DUPLICATES = {
    "salesforce": 0,
    "kantata": 0,
    "netsuite": 0,
    "business_central": 0,
    "dynamics_finance": 0,
}


def _company(d: Delivery) -> Any:
    return d.connector("business-central").for_company("DE01")


def _records(d: Delivery, entity_set: str, **match: Any) -> list[dict[str, Any]]:
    return [
        r
        for r in d.base.records("business_central", entity_set)
        if all(r.get(k) == v for k, v in match.items())
    ]


def _contact(d: Delivery, consultant: str) -> str:
    found = d.connector("certinia").get_by_external_id("Contact", consultant)
    assert found is not None
    return str(found["Id"])


def _later() -> None:
    time.sleep(1.05)  # a new SystemModstamp second: the change is a new version


def test_a_project_completed_in_certinia_completes_the_bc_project_and_refuses_time(
    delivery: Delivery,
) -> None:
    ids = delivery.provision(entity="DE01", package="ADVISORY-TM", model="Time and Materials")
    _later()
    delivery.connector("certinia").update(
        "pse__Proj__c", ids["psa_project"], {"pse__Stage__c": "Completed"}
    )
    delivery.poll()
    run = delivery.runs("status", project_id=ids["project"])[0]
    assert (run["status"], run["from"], run["project_status"]) == ("synced", "psa", "completed")
    (project,) = _records(delivery, "projects", number=ids["erp_project"])
    assert (project["status"], project["blocked"]) == ("Completed", " ")
    assert delivery.exceptions(f"project:{ids['project']}", "project.not_owner") == []

    delivery.post_time(ids["project"], DE_CONSULTANT, "EUR", "2026-10-12")
    delivery.settle(names=("time_to_bill",))
    (refused,) = delivery.exceptions(f"project:{ids['project']}", "project.inactive")
    assert refused.queue == "delivery-ops"
    assert "is Completed in business_central" in json.dumps(refused.detail)
    assert _records(delivery, "projectLedgerEntries", projectNumber=ids["erp_project"]) == []


def test_tasks_and_people_reach_business_central(delivery: Delivery) -> None:
    ids = delivery.provision(entity="DE01", package="ADVISORY-TM", model="Time and Materials")
    certinia = delivery.connector("certinia")
    task = certinia.create(
        "pse__Project_Task__c",
        {"Name": "Cutover", "pse__Project__c": ids["psa_project"], "pse__Estimated_Hours__c": 32},
    ).id
    certinia.create(
        "pse__Project_Task_Assignment__c",
        {"pse__Project_Task__c": task, "pse__Project__c": ids["psa_project"],
         "pse__Resource__c": _contact(delivery, DE_CONSULTANT), "pse__Estimated_Hours__c": 12},
    )  # fmt: skip
    # A person BC has no resource for in DE01. The firm sets every consultant up as a resource
    # in each company that may staff them (cross-entity staffing, docs/flows/multi-entity.md),
    # so this one's DE01 resource is removed first.
    company = _company(delivery)
    resource = company.get_by_external_id("resources", bc_number("EMP-0001"))
    assert resource is not None
    company.delete("resources", str(resource["id"]))
    certinia.create(
        "pse__Project_Task_Assignment__c",
        {"pse__Project_Task__c": task, "pse__Project__c": ids["psa_project"],
         "pse__Resource__c": _contact(delivery, "EMP-0001"), "pse__Estimated_Hours__c": 4},
    )  # fmt: skip
    delivery.poll()

    task_id = f"certinia-pt-{task}"
    (bc_task,) = _records(delivery, "projectTasks", taskNumber=bc_number(task_id))
    assert (bc_task["projectNumber"], bc_task["estimatedHours"]) == (ids["erp_project"], 32)
    (line,) = _records(delivery, "projectPlanningLines", projectNumber=ids["erp_project"],
                       lineType="Budget")  # fmt: skip
    assert (line["type"], line["number"], line["projectTaskNumber"], line["quantity"]) == (
        "Resource",
        bc_number(DE_CONSULTANT),
        bc_task["taskNumber"],
        12,
    )
    (unknown,) = delivery.exceptions(f"project:{ids['project']}", "project.resource_unknown")
    assert "EMP-0001" in unknown.title
    graph = delivery.base.lineage("business_central", "erp_project", ids["erp_project"])
    nodes = {(n["type"], n["id"]) for n in graph["nodes"]}
    assert ("task", task_id) in nodes
    assert any(t == "assignment" for t, _ in nodes)


def test_vendor_costs_flow_both_ways_once(delivery: Delivery) -> None:
    ids = delivery.provision(entity="DE01", package="ADVISORY-TM", model="Time and Materials")
    certinia = delivery.connector("certinia")
    account = certinia.get_by_external_id("Account", "VEND-DE01-1")
    assert account is not None
    invoice = certinia.create(
        "pse__Vendor_Invoice__c",
        {"pse__Account__c": account["Id"], "pse__Date__c": "2026-10-14",
         "pse__Invoice_Number__c": "NW-DE-17", "CurrencyIsoCode": "EUR"},
    ).id  # fmt: skip
    item = certinia.create(
        "pse__Vendor_Invoice_Item__c",
        {"pse__Vendor_Invoice__c": invoice, "pse__Project__c": ids["psa_project"],
         "pse__Amount__c": 2150.0, "pse__Description__c": "Security audit",
         "CurrencyIsoCode": "EUR"},
    ).id  # fmt: skip
    _later()
    certinia.update("pse__Vendor_Invoice__c", invoice, {"pse__Status__c": "Approved"})
    delivery.poll()

    bill_id = f"VB-certinia-vii-{item}"
    (billed,) = delivery.runs("vendor_expense", bill_id=bill_id)
    assert billed["status"] == "billed", billed
    (purchase,) = _records(delivery, "purchaseInvoices",
                           vendorInvoiceNumber=vendor_invoice_number(bill_id))  # fmt: skip
    assert (purchase["status"], purchase["vendorNumber"]) == ("Open", "VEND-DE01-1")
    assert Decimal(str(purchase["totalAmountExcludingTax"])) == Decimal(2150)
    (cost,) = _records(delivery, "projectLedgerEntries", projectNumber=ids["erp_project"])
    assert (cost["type"], Decimal(str(cost["totalCost"]))) == ("G/L Account", Decimal(2150))

    # A purchase invoice keyed in Business Central against the project.
    company = _company(delivery)
    draft = company.create(
        "purchaseInvoices",
        {"vendorNumber": "VEND-DE01-2", "vendorInvoiceNumber": "CDS-900",
         "invoiceDate": "2026-10-21",
         "purchaseInvoiceLines": [{"lineType": "Account", "description": "Data licences",
                                   "quantity": 1, "directUnitCost": 640.0,
                                   "projectNumber": ids["erp_project"]}]},
    ).id  # fmt: skip
    assert company.post_document("purchaseInvoices", draft)
    delivery.poll()
    _later()
    delivery.poll()
    rows = certinia.query(
        "SELECT Id, pse__Amount__c, pse__Vendor_Invoice__r.pse__Account__r.Accord_Id__c "
        f"FROM pse__Vendor_Invoice_Item__c WHERE pse__Project__c = '{ids['psa_project']}'",
        resource="pse__Vendor_Invoice_Item__c",
    )
    amounts = sorted(Decimal(str(r["pse__Amount__c"])) for r in rows)
    assert amounts == [Decimal(640), Decimal(2150)]  # the PSA's own and the ERP's, once each
    (run,) = delivery.runs("vendor_bill", bill_id=f"bc-vb-{draft}")
    assert run["status"] == "recorded", run
    assert delivery.base.duplicates() == NO_DUPLICATES


def test_a_person_read_before_their_task_is_put_on_it_once_the_task_is_in_bc(
    delivery: Delivery,
) -> None:
    ids = delivery.provision(entity="DE01", package="ADVISORY-TM", model="Time and Materials")
    certinia = delivery.connector("certinia")
    task = certinia.create(
        "pse__Project_Task__c",
        {"Name": "Hypercare", "pse__Project__c": ids["psa_project"], "pse__Estimated_Hours__c": 20},
    ).id
    certinia.create(
        "pse__Project_Task_Assignment__c",
        {"pse__Project_Task__c": task, "pse__Project__c": ids["psa_project"],
         "pse__Resource__c": _contact(delivery, DE_CONSULTANT), "pse__Estimated_Hours__c": 6},
    )  # fmt: skip
    # The PSA's feeds are read in no set order: the assignment's comes first here, so its run
    # precedes the task's in the project's queue partition, and must not wait there for it.
    (people,) = [s for s in delivery.specs() if s.resource.endswith("Task_Assignment__c")]
    delivery.poll(only=people)
    task_id = f"certinia-pt-{task}"
    (waiting,) = delivery.exceptions(f"project:{ids['project']}", "project.unplaced")
    assert task_id in waiting.title

    delivery.poll()  # the task reaches BC
    assert release_placed()["retried"] == 1
    delivery.settle()
    (bc_task,) = _records(delivery, "projectTasks", taskNumber=bc_number(task_id))
    (line,) = _records(delivery, "projectPlanningLines", projectNumber=ids["erp_project"],
                       lineType="Budget")  # fmt: skip
    assert (line["number"], line["projectTaskNumber"], line["quantity"]) == (
        bc_number(DE_CONSULTANT),
        bc_task["taskNumber"],
        6,
    )
    (done,) = delivery.exceptions(f"project:{ids['project']}", "project.unplaced")
    assert done.status.value == "resolved"
