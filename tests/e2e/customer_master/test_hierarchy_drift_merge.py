"""Re-parenting in dependency order, ERP drift (raise / revert), and merges never applied."""

import time

from tests.e2e.customer_master.conftest import CustomerMaster
from tests.e2e.lead_to_project.conftest import unique


def test_reparent_to_an_unknown_parent_creates_it_first(cm: CustomerMaster) -> None:
    child = cm.provision()
    child_id = cm.customer_id(child)
    parent = cm.base.account(Name=unique("New Group Holdings"))
    cm.edit_account(child, ParentId=parent)
    cm.sync()
    (run,) = cm.runs_for(child)
    assert run["status"] == "applied", run
    # Dependency order: the parent was created, then the child was re-pointed to it.
    assert [w["created"] for w in run["writes"]] == [True, False]
    parent_id = cm.customer_id(parent)
    parent_erp = cm.erp_id(parent_id)
    assert run["writes"][0]["erp_id"] == parent_erp
    assert cm.ns_customer(parent)["externalId"] == parent_id
    child_record = cm.ns_customer(child)
    assert child_record["parent"]["id"] == parent_erp
    parent_record = cm.ns_customer(parent)
    assert parent_record["createdDate"] <= child_record["lastModifiedDate"]
    edges = [e for e in cm.lineage_of(child_id) if e.relation == "parent_of"]
    assert [(e.from_id, e.to_id) for e in edges] == [(parent_id, child_id)]
    # Detaching it again clears the ERP parent.
    cm.edit_account(child, ParentId=None)
    cm.sync()
    assert [r["status"] for r in cm.runs_for(child)] == ["applied", "applied"]
    assert not cm.ns_customer(child).get("parent")


def test_a_missing_parent_is_raised_not_applied(cm: CustomerMaster) -> None:
    child = cm.provision()
    child_id = cm.customer_id(child)
    before = cm.ns_customer(child)
    parent = cm.base.account(Name=unique("Short Lived Parent"))
    cm.edit_account(child, ParentId=parent)
    cm.connector("salesforce").delete("Account", parent)
    cm.sync()
    (run,) = cm.runs_for(child)
    assert run["status"] == "hierarchy_refused", run
    (exc,) = cm.exceptions_for(child_id, "customer.hierarchy")
    assert exc.queue == "sales-ops"
    assert parent in exc.detail["problem"]
    after = cm.ns_customer(child)
    assert after.get("parent") == before.get("parent")
    assert after["lastModifiedDate"] == before["lastModifiedDate"]


def _rename_in_netsuite(cm: CustomerMaster, account: str, name: str) -> None:
    # NetSuite stamps changes to the second: a new second makes a new version for the poll.
    time.sleep(1.05)
    erp_id = cm.erp_id(cm.customer_id(account))
    assert erp_id is not None
    cm.connector("netsuite").update("customer", erp_id, {"companyName": name})


def test_erp_drift_is_raised_then_reverted(cm: CustomerMaster) -> None:
    account = cm.provision()
    customer_id = cm.customer_id(account)
    crm_name = cm.connector("salesforce").get("Account", account)["Name"]
    cm.poll("netsuite")  # lead-to-project's own create is not drift
    assert cm.exceptions_for(customer_id, "customer.erp_drift") == []

    _rename_in_netsuite(cm, account, "Renamed By Finance")
    cm.poll("netsuite")
    (exc,) = cm.exceptions_for(customer_id, "customer.erp_drift")
    assert exc.queue == "finance-ops"
    assert exc.status.value == "open"
    assert exc.detail["fields"] == {"name": {"erp": "Renamed By Finance", "crm": crm_name}}
    assert cm.ns_customer(account)["companyName"] == "Renamed By Finance"

    cm.set_drift("revert")
    try:
        _rename_in_netsuite(cm, account, "Renamed Again By Finance")
        cm.poll("netsuite")
        assert cm.ns_customer(account)["companyName"] == crm_name
        (exc,) = cm.exceptions_for(customer_id, "customer.erp_drift")
        assert exc.status.value == "resolved"
        # The revert's own echo is recognised: no second write, no new exception.
        writes = cm.writes("netsuite")
        time.sleep(1.05)
        cm.poll("netsuite")
        assert cm.writes("netsuite") == writes
        assert len(cm.exceptions_for(customer_id, "customer.erp_drift")) == 1
    finally:
        cm.set_drift("raise")


def test_a_merge_is_raised_and_never_applied(cm: CustomerMaster) -> None:
    master = cm.provision()
    loser = cm.provision()
    master_id, loser_id = cm.customer_id(master), cm.customer_id(loser)
    before = {a: cm.ns_customer(a) for a in (master, loser)}
    workspaces = len(cm.base.records("kantata", "workspaces"))
    cm.merge(master, loser)
    cm.sync()
    (run,) = cm.runs_for(master)
    assert run["status"] == "merge_held", run
    assert run["merged"] == [loser_id]
    (exc,) = cm.exceptions_for(loser_id, "customer.merged")
    assert exc.queue == "sales-ops"
    assert exc.detail["merged"]["account"] == loser
    assert exc.detail["master"]["account"] == master
    assert exc.detail["merged"]["ids"]["netsuite"] == cm.erp_id(loser_id)
    assert exc.detail["master"]["ids"]["netsuite"] == cm.erp_id(master_id)
    # Nothing deleted or re-pointed in the ERP or the PSA.
    for account, record in before.items():
        after = cm.ns_customer(account)
        assert after["lastModifiedDate"] == record["lastModifiedDate"]
        assert after.get("isInactive") == record.get("isInactive")
    assert len(cm.base.records("kantata", "workspaces")) == workspaces


def test_a_parent_cycle_is_raised_not_applied(cm: CustomerMaster) -> None:
    top = cm.provision()
    top_id = cm.customer_id(top)
    before = cm.ns_customer(top)
    below = cm.base.account(Name=unique("Loop Subsidiary"), parent=top)
    cm.edit_account(top, ParentId=below)
    cm.sync()
    (run,) = cm.runs_for(top)
    assert run["status"] == "hierarchy_refused", run
    (exc,) = cm.exceptions_for(top_id, "customer.hierarchy")
    assert exc.queue == "sales-ops"
    assert "loops" in exc.detail["problem"]
    assert cm.erp_id(cm.customer_id(top)) is not None
    assert cm.ns_customer(top)["lastModifiedDate"] == before["lastModifiedDate"]
