"""A milestone completed in Kantata is billed once in the ERP, and refusals go to finance."""

import time
from datetime import UTC, datetime
from decimal import Decimal

import httpx
from tests.e2e.cash.harness import CashAccord

from accord.flows.bill_milestone.steps import billing_dedupe_key
from accord.flows.replay import retry_exception
from accord.store import exceptions

NO_DUPLICATES = {
    "salesforce": 0,
    "kantata": 0,
    "netsuite": 0,
    "business_central": 0,
    "dynamics_finance": 0,
}


def _milestones(cash: CashAccord, workspace: str) -> list[dict]:
    stories = [
        s
        for s in cash.base.records("kantata", "stories")
        if s["workspace_id"] == workspace and s["story_type"] == "milestone"
    ]
    return sorted(stories, key=lambda s: int(s["id"]))


def _set_state(cash: CashAccord, story_id: str, state: str) -> None:
    # Kantata keeps second-precision stamps: each change must be a new version for capture.
    time.sleep(1.05)
    cash.connector("kantata").update("stories", story_id, {"state": state})


def _ns_invoices(cash: CashAccord, external_id: str) -> list[dict]:
    return [
        i for i in cash.base.records("netsuite", "invoice") if i.get("externalId") == external_id
    ]


def _story_invoice_refs(cash: CashAccord, story_id: str) -> list[dict]:
    return [
        r
        for r in cash.base.records("kantata", "external_references")
        if r.get("subject_type") == "Story"
        and r.get("subject_id") == story_id
        and r.get("service_model") == "invoice"
    ]


def test_completed_milestone_is_billed_once_in_netsuite(cash: CashAccord) -> None:
    ids = cash.provision(entity="US01", package="ROLLOUT-MILESTONE", model="Milestone",
                         amount=120000.0)  # fmt: skip
    first = _milestones(cash, ids["psa_project"])[0]
    key = f"{ids['project']}-M1"
    # The PSA's copy of the amount drifted; the contract's billing schedule wins.
    cash.connector("kantata").update("stories", first["id"], {"budget_estimate_in_cents": 999})
    _set_state(cash, first["id"], "completed")
    assert cash.poll("kantata_stories") == 1
    (run,) = cash.runs_about("milestone_id", key)
    assert run["status"] == "billed", run
    assert run["amount_source"] == "contract"
    (invoice,) = _ns_invoices(cash, f"MS-{key}")
    (line,) = invoice["item"]["items"]
    assert Decimal(str(line["amount"])) == Decimal("12000.00")  # 10 % of the contract
    assert line["job"]["id"] == ids["erp_project"]
    assert invoice["entity"]["id"] == ids["erp_customer"]
    (ref,) = _story_invoice_refs(cash, first["id"])
    assert ref["service_model_ref"] == f"MS-{key}"
    assert invoice["tranId"] in ref["external_message"]

    # Re-opened and completed again: seen twice more, billed never again.
    _set_state(cash, first["id"], "started")
    assert cash.poll("kantata_stories") == 0
    _set_state(cash, first["id"], "completed")
    assert cash.poll("kantata_stories") == 1
    runs = cash.runs_about("milestone_id", key)
    assert [r["status"] for r in runs] == ["billed", "already_billed"]
    assert len(_ns_invoices(cash, f"MS-{key}")) == 1

    # The invoice comes back through cash capture; its lineage reaches the opportunity.
    assert cash.poll("ns_invoices") == 1
    (cash_run,) = [r for r in cash.runs_about("invoice_id", f"MS-{key}") if "invoice_status" in r]
    assert cash_run["status"] == "updated", cash_run
    graph = cash.base.lineage("netsuite", "invoice", invoice["id"])
    nodes = {(n["type"], n["id"]) for n in graph["nodes"]}
    assert ("milestone", key) in nodes
    assert ("opportunity", f"SF-{ids['opportunity']}") in nodes
    assert cash.base.duplicates() == NO_DUPLICATES


def test_credit_hold_refusal_then_retry_bills_once(cash: CashAccord) -> None:
    ids = cash.provision(entity="US01", package="ROLLOUT-MILESTONE", model="Milestone",
                         amount=80000.0)  # fmt: skip
    netsuite = cash.connector("netsuite")
    netsuite.update("customer", ids["erp_customer"], {"creditHoldOverride": {"id": "ON"}})
    first = _milestones(cash, ids["psa_project"])[0]
    key = f"{ids['project']}-M1"
    _set_state(cash, first["id"], "completed")
    assert cash.poll("kantata_stories") == 1
    (run,) = cash.runs_about("milestone_id", key)
    assert run["status"] == "refused", run
    assert "credit hold" in run["reason"]["detail"]
    assert _ns_invoices(cash, f"MS-{key}") == []
    (opened,) = [
        e
        for e in cash.exceptions(f"project:{ids['project']}")
        if e.dedupe_key == billing_dedupe_key(key)
    ]
    assert (opened.queue, opened.code, opened.status.value) == (
        "finance-ops",
        "billing.refused",
        "open",
    )
    assert "credit hold" in opened.detail["error"]["detail"]

    netsuite.update("customer", ids["erp_customer"], {"creditHoldOverride": {"id": "AUTO"}})
    services = cash.base.services
    with services.engine.begin() as conn:
        retried = retry_exception(
            conn,
            services.runtime,
            services.runtime.client,
            exception_id=opened.id,
            actor="finance@test",
        )
    assert retried is not None
    runs = cash.runs_about("milestone_id", key)
    assert [r["status"] for r in runs] == ["refused", "billed"]
    assert len(_ns_invoices(cash, f"MS-{key}")) == 1
    with services.engine.connect() as conn:
        after = exceptions.get(conn, id=opened.id)
    assert after is not None
    assert after.status.value == "resolved"


def test_completed_milestone_is_billed_and_posted_in_business_central(cash: CashAccord) -> None:
    ids = cash.provision(entity="DE01", package="ROLLOUT-MILESTONE", model="Milestone",
                         amount=50000.0)  # fmt: skip
    second = _milestones(cash, ids["psa_project"])[1]
    key = f"{ids['project']}-M2"
    _set_state(cash, second["id"], "completed")
    assert cash.poll("kantata_stories") == 1
    (run,) = cash.runs_about("milestone_id", key)
    assert run["status"] == "billed", run
    assert run["amount_source"] == "contract"
    bc_key = key if len(key) <= 35 else run["erp_id"]
    invoices = [
        i
        for i in cash.base.records("business_central", "salesInvoices")
        if i.get("externalDocumentNumber") in (key, bc_key) or i["id"] == run["erp_id"]
    ]
    assert len(invoices) == 1, invoices
    assert invoices[0]["status"] == "Open"
    assert Decimal(str(invoices[0]["totalAmountIncludingTax"])) == Decimal("8750.00")  # 17.5 %
    # A redelivered completion bills nothing.
    _set_state(cash, second["id"], "started")
    _set_state(cash, second["id"], "completed")
    assert cash.poll("kantata_stories") == 1
    assert [r["status"] for r in cash.runs_about("milestone_id", key)] == [
        "billed",
        "already_billed",
    ]
    assert cash.base.duplicates() == NO_DUPLICATES


def test_closed_period_in_business_central_then_retry_posts_the_same_draft(
    cash: CashAccord,
) -> None:
    ids = cash.provision(entity="DE01", package="ROLLOUT-MILESTONE", model="Milestone",
                         amount=30000.0)  # fmt: skip
    third = _milestones(cash, ids["psa_project"])[2]
    key = f"{ids['project']}-M3"
    month = datetime.now(UTC).strftime("%Y-%m")
    periods = f"{cash.base.sandbox.urls['business_central']}/__sandbox/periods"
    httpx.post(periods, json={"entity": "DE01", "period": month, "status": "closed"}, timeout=10)
    try:
        _set_state(cash, third["id"], "completed")
        assert cash.poll("kantata_stories") == 1
        (run,) = cash.runs_about("milestone_id", key)
        assert run["status"] == "refused", run
        (opened,) = [
            e
            for e in cash.exceptions(f"project:{ids['project']}")
            if e.dedupe_key == billing_dedupe_key(key)
        ]
        assert opened.queue == "finance-ops"
        assert "posting" in opened.detail["error"]["detail"].lower()
    finally:
        httpx.post(periods, json={"entity": "DE01", "period": month, "status": "open"}, timeout=10)
    drafts = [
        i
        for i in cash.base.records("business_central", "salesInvoices")
        if i.get("externalDocumentNumber") == key
    ]
    assert [d["status"] for d in drafts] == ["Draft"]
    services = cash.base.services
    with services.engine.begin() as conn:
        retry_exception(
            conn, services.runtime, services.runtime.client, exception_id=opened.id, actor="t"
        )
    assert [r["status"] for r in cash.runs_about("milestone_id", key)] == ["refused", "billed"]
    invoices = [
        i
        for i in cash.base.records("business_central", "salesInvoices")
        if i.get("externalDocumentNumber") == key
    ]
    assert [(i["id"], i["status"]) for i in invoices] == [(drafts[0]["id"], "Open")]
    assert Decimal(str(invoices[0]["totalAmountIncludingTax"])) == Decimal("7500.00")
