"""Certinia as the PSA: an approved milestone is billed once; its invoice becomes a billing
event."""

from decimal import Decimal

from tests.e2e.cash.harness import CashAccord


def test_approved_certinia_milestone_is_billed_and_invoiced(certinia: CashAccord) -> None:
    ids = certinia.provision(
        entity="US01", package="ROLLOUT-MILESTONE", model="Milestone", amount=40000.0
    )
    psa = certinia.connector("certinia")
    key = f"{ids['project']}-M1"
    milestone = psa.get_by_external_id("pse__Milestone__c", key)
    assert milestone is not None
    psa.update("pse__Milestone__c", milestone["Id"], {"pse__Status__c": "Approved"})
    assert certinia.poll("certinia_milestones") == 1
    (run,) = certinia.runs_about("milestone_id", key)
    assert run["status"] == "billed", run
    assert run["psa"] == "certinia"
    invoices = [
        i
        for i in certinia.base.records("netsuite", "invoice")
        if i.get("externalId") == f"MS-{key}"
    ]
    assert len(invoices) == 1
    assert Decimal(str(invoices[0]["item"]["items"][0]["amount"])) == Decimal("4000.00")
    assert psa.get("pse__Milestone__c", milestone["Id"])["pse__Invoiced__c"] is True
    # The echo of marking it invoiced is no completion: nothing more is billed.
    assert certinia.poll("certinia_milestones") == 0

    assert certinia.poll("ns_invoices") == 1
    (cash_run,) = [
        r for r in certinia.runs_about("invoice_id", f"MS-{key}") if "invoice_status" in r
    ]
    assert cash_run["status"] == "updated", cash_run
    event = psa.get_by_external_id("pse__Billing_Event__c", f"MS-{key}")
    assert event is not None
    assert event["pse__Invoiced__c"] is True
    assert event["pse__Invoice_Number__c"] == invoices[0]["tranId"]
    assert event["pse__Project__c"] == ids["psa_project"]
    assert Decimal(str(event["pse__Summary_Amount__c"])) == Decimal("4000.00")
    account = certinia.account_fields(ids["account"])
    assert Decimal(str(account["AR_Balance__c"])) == Decimal("4000.00")
