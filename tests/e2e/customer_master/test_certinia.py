"""With Certinia as the PSA, the PSA's customer is the Salesforce account itself."""

from tests.e2e.customer_master.conftest import CustomerMaster

PSA = "certinia"


def test_certinia_projects_see_the_renamed_account_and_the_erp_follows(
    cm: CustomerMaster,
) -> None:
    account = cm.provision()
    cm.edit_account(account, Name="Certinia Client Renamed", BillingCity="Ogdenville")
    cm.sync()
    (run,) = cm.runs_for(account)
    assert run["status"] == "applied", run
    # The PSA record is the account (one org): nothing to write, and it has the change.
    assert run["psa"] == [{"system": "certinia", "connection": "certinia", "id": account}]
    projects = [
        p
        for p in cm.base.records("salesforce", "pse__Proj__c")
        if p.get("pse__Account__c") == account
    ]
    assert projects
    assert cm.base.get("Account", account)["Name"] == "Certinia Client Renamed"
    assert cm.ns_customer(account)["companyName"] == "Certinia Client Renamed"
