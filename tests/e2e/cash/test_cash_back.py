"""Invoices and payments posted in the ERPs flow back to Kantata and Salesforce."""

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import yaml
from tests.e2e.cash.harness import CashAccord

from accord.flows.bill_milestone.capture import enable_milestone_capture
from accord.flows.capture import capture_specs, unregister_capture
from accord.flows.cash.capture import enable_cash_capture

NO_DUPLICATES = {
    "salesforce": 0,
    "kantata": 0,
    "netsuite": 0,
    "business_central": 0,
    "dynamics_finance": 0,
}


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _kantata_invoice(cash: CashAccord, invoice_id: str) -> dict:
    found = [
        i
        for i in cash.base.records("kantata", "invoices")
        if any(
            r.get("service_model_ref") == invoice_id and r.get("service_model") == "invoice"
            for r in cash.base.records("kantata", "external_references")
            if r.get("subject_type") == "Invoice" and r.get("subject_id") == i["id"]
        )
    ]
    assert len(found) == 1, found
    return found[0]


def _reference(cash: CashAccord, subject_type: str, subject_id: str, model: str) -> dict:
    refs = [
        r
        for r in cash.base.records("kantata", "external_references")
        if r.get("subject_type") == subject_type
        and r.get("subject_id") == subject_id
        and r.get("service_model") == model
    ]
    assert len(refs) == 1, refs
    return refs[0]


def test_netsuite_invoice_and_payment_flow_back(cash: CashAccord) -> None:
    ids = cash.provision(entity="US01")
    netsuite = cash.connector("netsuite")
    due = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    created = netsuite.create(
        "invoice",
        {
            "entity": {"id": ids["erp_customer"]},
            "tranDate": _today(),
            "dueDate": due,
            "item": {
                "items": [
                    {
                        "item": {"id": "1"},
                        "quantity": 10,
                        "rate": 150.0,
                        "description": "Consulting",
                        "job": {"id": ids["erp_project"]},
                        "custcol_accord_source_id": "TE-CASH-1",
                        "custcol_accord_source_kind": "time",
                    },
                    {
                        "item": {"id": "1"},
                        "quantity": 3,
                        "rate": 99.99,
                        "description": "Workshop",
                        "job": {"id": ids["erp_project"]},
                    },
                ]
            },
        },
    )
    invoice_id = f"NS-invoice-{created.id}"
    number = netsuite.get("invoice", created.id)["tranId"]
    assert cash.poll("ns_invoices") == 1
    (run,) = cash.runs_about("invoice_id", invoice_id)
    assert run["status"] == "updated", run
    assert run["invoice_status"] == "posted"
    assert run["project_id"] == ids["project"]

    kantata = _kantata_invoice(cash, invoice_id)
    assert kantata["workspace_ids"] == [ids["psa_project"]]
    assert kantata["status"] == "submitted"
    assert kantata["paid"] is False
    message = _reference(cash, "Invoice", kantata["id"], "invoice")["external_message"]
    assert "due 1799.97 USD" in message
    account = cash.account_fields(ids["account"])
    assert Decimal(str(account["AR_Balance__c"])) == Decimal("1799.97")
    assert account["AR_Status__c"] == "Current"
    assert account["Last_Invoice_Number__c"] == number

    # NetSuite keeps second-precision stamps: the payment's invoice version must be a new one.
    time.sleep(1.1)
    payment = netsuite.create(
        "customerPayment",
        {
            "customer": {"id": ids["erp_customer"]},
            "payment": 1799.97,
            "tranDate": _today(),
            "apply": {"items": [{"doc": {"id": created.id}, "apply": True, "amount": 1799.97}]},
        },
    )
    assert cash.poll("ns_payments") == 1
    assert cash.poll("ns_invoices") == 1
    (paid_run,) = cash.runs_about("payment_id", f"NS-customerPayment-{payment.id}")
    assert paid_run["status"] == "updated", paid_run
    assert paid_run["invoices"] == [invoice_id]
    runs = cash.runs_about("invoice_id", invoice_id)
    assert [r["invoice_status"] for r in runs] == ["posted", "paid"]
    kantata = _kantata_invoice(cash, invoice_id)
    assert (kantata["status"], kantata["paid"]) == ("paid", True)
    account = cash.account_fields(ids["account"])
    assert Decimal(str(account["AR_Balance__c"])) == 0
    assert account["AR_Status__c"] == "Paid"
    assert account["Last_Payment_Date__c"] == _today()

    # Nothing new, nothing twice.
    assert cash.poll("ns_invoices") == 0
    assert cash.poll("ns_payments") == 0
    assert cash.base.duplicates() == NO_DUPLICATES

    graph = cash.base.lineage("netsuite", "invoice", created.id)
    nodes = {(n["type"], n["id"]) for n in graph["nodes"]}
    assert ("opportunity", f"SF-{ids['opportunity']}") in nodes
    assert ("time_entry", "TE-CASH-1") in nodes
    assert ("payment", f"NS-customerPayment-{payment.id}") in nodes
    assert ("customer", ids["customer"]) in nodes


def test_invoice_for_an_unknown_customer_is_a_finance_exception(cash: CashAccord) -> None:
    netsuite = cash.connector("netsuite")
    stranger = netsuite.create(
        "customer",
        {
            "companyName": f"Walk-in {time.time_ns()}",
            "subsidiary": {"id": "2"},
            "addressBook": {
                "items": [
                    {
                        "defaultBilling": True,
                        "addressBookAddress": {"addr1": "1 Road", "city": "X", "country": "US"},
                    }
                ]
            },
        },
    )
    created = netsuite.create(
        "invoice",
        {
            "entity": {"id": stranger.id},
            "tranDate": _today(),
            "item": {"items": [{"item": {"id": "1"}, "quantity": 1, "rate": 10.0}]},
        },
    )
    assert cash.poll("ns_invoices") == 0
    (found,) = cash.exceptions(f"invoice:NS-invoice-{created.id}")
    assert found.queue == "finance-ops"
    assert found.code == "billing.unmappable"
    assert "entity" in found.detail["missing"]
    assert stranger.id in found.detail["missing"]["entity"]


def test_business_central_invoice_and_payment_flow_back(cash: CashAccord) -> None:
    ids = cash.provision(entity="DE01", package="MANAGED-RETAINER", model="Retainer")
    bc = cash.connector("business-central").for_company("DE01")
    draft = bc.create(
        "salesInvoices",
        {
            "customerNumber": ids["erp_customer"],
            "invoiceDate": _today(),
            "customerPurchaseOrderReference": ids["erp_project"],
            "salesInvoiceLines": [
                {
                    "lineType": "Item",
                    "lineObjectNumber": "SERVICES",  # the sandbox company's service item
                    "description": "Retainer",
                    "quantity": 1,
                    "unitPrice": 2500.5,
                }
            ],
        },
    )
    assert cash.poll("bc_invoices") == 0  # a draft is not an invoice yet
    assert bc.post_sales_invoice(draft.id) is True
    assert cash.poll("bc_invoices") == 1
    (run,) = cash.runs_about("invoice_id", f"bc:{draft.id}")
    assert run["status"] == "updated", run
    assert run["project_id"] == ids["project"]
    account = cash.account_fields(ids["account"])
    assert Decimal(str(account["AR_Balance__c"])) == Decimal("2500.50")
    assert account["AR_Status__c"] == "Current"
    kantata = _kantata_invoice(cash, f"bc:{draft.id}")
    assert kantata["status"] == "submitted"

    bc.create(
        "customerPayments",
        {
            "customerNumber": ids["erp_customer"],
            "postingDate": _today(),
            "amount": -2500.5,
            "appliesToInvoiceId": draft.id,
        },
    )
    assert bc.post_journal("payment") is True
    assert cash.poll("bc_invoices") == 1
    runs = cash.runs_about("invoice_id", f"bc:{draft.id}")
    assert [r["invoice_status"] for r in runs] == ["posted", "paid"]
    account = cash.account_fields(ids["account"])
    assert Decimal(str(account["AR_Balance__c"])) == 0
    assert account["AR_Status__c"] == "Paid"
    assert account["Last_Payment_Date__c"] == _today()
    kantata = _kantata_invoice(cash, f"bc:{draft.id}")
    assert (kantata["status"], kantata["paid"]) == ("paid", True)
    graph = cash.base.lineage("business_central", "invoice", draft.id)
    nodes = {(n["type"], n["id"]) for n in graph["nodes"]}
    assert ("opportunity", f"SF-{ids['opportunity']}") in nodes
    assert cash.base.duplicates() == NO_DUPLICATES


def test_capture_switch_registers_the_erp_pairs(cash: CashAccord, tmp_path) -> None:
    config = tmp_path / "accord.yaml"
    document = yaml.safe_load(cash.base.services.settings.config_file.read_text())
    document["cash"] = {"capture_interval_s": 30}
    document["milestones"] = {"capture_interval_s": 15}
    config.write_text(yaml.safe_dump(document))
    connections = cash.base.services.connections
    try:
        assert enable_cash_capture(connections, config) is True
        assert enable_milestone_capture(connections, config) is True
        specs = {(s.connection, s.resource): s for s in capture_specs()}
        for pair in (
            ("netsuite", "invoice"),
            ("netsuite", "customerPayment"),
            ("business-central", "salesInvoices"),
            ("kantata", "stories"),
        ):
            assert pair in specs
        assert specs["netsuite", "invoice"].cron() == "*/30 * * * * *"
        assert specs["kantata", "stories"].cron() == "*/15 * * * * *"
    finally:
        for connection, resource in (
            ("netsuite", "invoice"),
            ("netsuite", "customerPayment"),
            ("business-central", "salesInvoices"),
            ("kantata", "stories"),
        ):
            unregister_capture(connection, resource)
