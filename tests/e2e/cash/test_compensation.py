"""The PSA refuses an invoice's status: the CRM is still updated, nothing is undone."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.e2e.cash.harness import CashAccord

from accord.store import exceptions


def test_psa_refusal_leaves_the_crm_updated(cash: CashAccord, faults) -> None:
    ids = cash.provision(entity="US01")
    today = datetime.now(UTC).date()
    faults("kantata", path="*/invoices*", error_rate=1.0, status=422)
    created = cash.connector("netsuite").create(
        "invoice",
        {
            "entity": {"id": ids["erp_customer"]},
            "tranDate": today.isoformat(),
            "dueDate": (today + timedelta(days=30)).isoformat(),
            "item": {
                "items": [
                    {
                        "item": {"id": "1"},
                        "quantity": 4,
                        "rate": 250.0,
                        "description": "Consulting",
                        "job": {"id": ids["erp_project"]},
                    }
                ]
            },
        },
    )
    invoice_id = f"NS-invoice-{created.id}"
    assert cash.poll("ns_invoices") == 1
    (run,) = cash.runs_about("invoice_id", invoice_id)
    assert run["status"] == "refused", run
    assert "refused" in run["psa"]
    # The CRM's receivables come from the ERP and are right whatever Kantata said.
    account = cash.account_fields(ids["account"])
    assert Decimal(str(account["AR_Balance__c"])) == Decimal("1000.00")
    assert account["AR_Status__c"] == "Current"
    with cash.base.services.engine.connect() as conn:
        found = exceptions.list_(conn, status=None, limit=500)
    (exc,) = [e for e in found if e.dedupe_key == f"cash:{invoice_id}:psa"]
    assert (exc.queue, exc.code) == ("finance-ops", "billing.writeback_refused")
