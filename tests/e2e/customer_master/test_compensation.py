"""A customer in two ERPs: when one refuses a version, the other keeps the version last applied.

The account is sold in US01 (NetSuite) and DE01 (Business Central), so lead-to-project books the
customer in both. Customer master writes a CRM version to Business Central first, then to
NetSuite (by connection name). A refusal is injected through the emulators' fault API.
"""

import httpx
from tests.e2e.customer_master.conftest import CustomerMaster


def two_erp_customer(cm: CustomerMaster) -> tuple[str, str]:
    """An account with a provisioned deal in US01 and one in DE01: (account, customer id)."""
    account = cm.provision(entity="US01")
    opp = cm.base.opportunity(account, entity="DE01")
    run = cm.base.provision(opp)
    assert run["status"] == "provisioned", run
    customer_id = cm.customer_id(account)
    assert cm.erp_id(customer_id, "netsuite")
    assert cm.erp_id(customer_id, "business-central")
    return account, customer_id


def test_a_refusal_by_the_second_erp_writes_the_first_back(cm: CustomerMaster, faults) -> None:
    account, customer_id = two_erp_customer(cm)
    bc_before = cm.bc_customer(account)
    ns_before = cm.ns_customer(account)
    faults("netsuite", method="PUT", path="*/record/v1/customer/*", error_rate=1.0, status=400)
    cm.edit_account(account, Name="Refused Everywhere AG", BillingCity="Hamburg")
    cm.sync()
    (run,) = cm.runs_for(account)
    assert run["status"] == "erp_rejected", run
    assert run["writes"][0]["erp_id"] == cm.erp_id(customer_id, "business-central")
    assert "rejected" in run["writes"][-1]
    (undone,) = run["compensated"]
    assert undone["by"] == "cm.revert_customer"
    assert undone["connection"] == "business-central"
    assert undone["reverted"] is True
    # Business Central took the new name, then got its old one back.
    bc_after = cm.bc_customer(account)
    assert bc_after["displayName"] == bc_before["displayName"]
    assert bc_after["city"] == bc_before["city"]
    assert cm.ns_customer(account)["companyName"] == ns_before["companyName"]
    (exc,) = cm.exceptions_for(customer_id, "customer.erp_rejected")
    assert exc.status == "open"
    assert exc.detail["connection"] == "netsuite"
    assert exc.detail["reverted"] == ["business-central"]
    assert exc.detail["state"] == "every ERP keeps the version last applied"
    # NetSuite takes writes again: the next version reaches both and resolves the exception.
    httpx.delete(f"{cm.base.sandbox.urls['netsuite']}/__sandbox/faults", timeout=10)
    cm.edit_account(account, Name="Accepted Everywhere AG")
    cm.sync()
    assert [r["status"] for r in cm.runs_for(account)] == ["erp_rejected", "applied"]
    assert cm.bc_customer(account)["displayName"] == "Accepted Everywhere AG"
    assert cm.ns_customer(account)["companyName"] == "Accepted Everywhere AG"
    (exc,) = cm.exceptions_for(customer_id, "customer.erp_rejected")
    assert exc.status == "resolved"


def test_a_refusal_by_the_first_erp_holds_the_second(cm: CustomerMaster, faults) -> None:
    account, customer_id = two_erp_customer(cm)
    ns_before = cm.ns_customer(account)
    ns_writes = cm.writes("netsuite")
    faults("business_central", method="PATCH", path="*/customers(*", error_rate=1.0, status=400)
    cm.edit_account(account, Name="Held Back Ltd")
    cm.sync()
    (run,) = cm.runs_for(account)
    assert run["status"] == "erp_rejected", run
    assert run["compensated"] == []
    # NetSuite was never asked: the version waits for Business Central.
    assert cm.writes("netsuite") == ns_writes
    assert cm.ns_customer(account)["companyName"] == ns_before["companyName"]
    (exc,) = cm.exceptions_for(customer_id, "customer.erp_rejected")
    assert exc.detail["connection"] == "business-central"
    assert exc.queue == "finance-ops"
