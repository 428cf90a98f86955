"""CRM account changes reach the ERP according to field ownership, in order, once."""

from tests.e2e.customer_master.conftest import CustomerMaster


def test_rename_and_new_bill_to_reach_the_erp(cm: CustomerMaster) -> None:
    account = cm.provision()
    customer_id = cm.customer_id(account)
    before = cm.ns_customer(account)
    cm.edit_account(
        account,
        Name="Acme Renamed Holdings",
        BillingStreet="200 New Road\nSuite 5",
        BillingCity="Shelbyville",
        BillingPostalCode="54321",
        # CRM-owned under the rules' field ownership (issue #7: name, parent, bill-to, tax).
        Tax_Region__c="US-WEST",
    )
    cm.sync()
    (run,) = cm.runs_for(account)
    assert run["status"] == "applied", run
    assert [w["erp_id"] for w in run["writes"]] == [cm.erp_id(customer_id)]
    after = cm.ns_customer(account)
    assert after["companyName"] == "Acme Renamed Holdings"
    (address,) = [a for a in after["addressBook"]["items"] if a["defaultBilling"]]
    assert address["addressBookAddress"]["addr1"] == "200 New Road"
    assert address["addressBookAddress"]["addr2"] == "Suite 5"
    assert address["addressBookAddress"]["city"] == "Shelbyville"
    assert address["addressBookAddress"]["zip"] == "54321"
    assert after["custentity_accord_tax_region"] == "US-WEST"
    # The ERP's own fields are as they were.
    for field in ("currency", "subsidiary", "isInactive"):
        assert after.get(field) == before.get(field), field
    # Kantata has no customer object: the PSA record the run names is the project workspace's
    # customer only through Accord's xref; nothing is written there.
    assert run["psa"] == []
    applied = [e for e in cm.lineage_of(customer_id) if e.relation == "applied"]
    assert len(applied) == 1
    assert applied[0].event_id == run["event_id"]
    # The customer's lineage graph (ops API) shows the version applied and its event.
    graph = cm.base.lineage("salesforce", "customer", account)
    types = {node["type"] for node in graph["nodes"]}
    assert {"customer_version", "event"} <= types, types


def test_erp_owned_changes_and_echoes_are_not_pushed(cm: CustomerMaster) -> None:
    account = cm.provision()
    cm.edit_account(account, Name="Echo Test Corp")
    cm.sync()
    writes = cm.writes("netsuite")
    before_currency = cm.ns_customer(account)["currency"]
    # Currency is the ERP's; the AR status is Accord's own write-back.
    cm.edit_account(account, CurrencyIsoCode="EUR", AR_Status__c="Overdue")
    cm.sync()
    runs = cm.runs_for(account)
    assert [r["status"] for r in runs] == ["applied", "unchanged"]
    assert cm.writes("netsuite") == writes
    assert cm.ns_customer(account)["currency"] == before_currency


def test_business_central_customer_is_renamed(cm: CustomerMaster) -> None:
    account = cm.provision(entity="DE01")
    cm.edit_account(account, Name="Beispiel GmbH", BillingCity="Berlin")
    cm.sync()
    (run,) = cm.runs_for(account)
    assert run["status"] == "applied", run
    customer = cm.bc_customer(account)
    assert customer["displayName"] == "Beispiel GmbH"
    assert customer["city"] == "Berlin"
    assert customer["currencyCode"] in {"", "EUR"}


def test_two_quick_edits_apply_in_order(cm: CustomerMaster) -> None:
    account = cm.provision()
    cm.edit_account(account, Name="First Edit Ltd")
    cm.poll("accounts")
    cm.edit_account(account, Name="Second Edit Ltd", BillingCity="Capital City")
    cm.poll("accounts")
    runs = cm.runs_for(account)
    assert [r["status"] for r in runs] == ["applied", "applied"]
    after = cm.ns_customer(account)
    assert after["companyName"] == "Second Edit Ltd"
    (address,) = [a for a in after["addressBook"]["items"] if a["defaultBilling"]]
    assert address["addressBookAddress"]["city"] == "Capital City"
