"""Process tier: account validation, provisioning, invoice and receivable look-ups."""

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from tests.integration.sync_api.support import Env, Seeded, running_app

from accord.api.process import PROVISION_SOURCE
from accord.connectors.config import load_connections
from accord.connectors.registry import create_connector
from accord.connectors.salesforce import mapping as sf_mapping
from accord.flows.registry import workflow_for
from accord.store.tables import journal


@pytest.fixture(scope="module")
def env(module_db_url: str, seeded: Seeded) -> Iterator[Env]:
    with running_app(module_db_url, seeded, "test-sync-process") as running:
        yield running


def _customer(**changes) -> dict:
    customer = {
        "id": "cust-new",
        "name": "New Customer Inc",
        "legal_entity": "US01",
        "bill_to": {
            "line1": "1 Main St",
            "city": "Springfield",
            "postal_code": "12345",
            "country": "US",
        },
        "tax_region": "US-EAST",
        "currency": "USD",
    }
    customer.update(changes)
    return customer


def _opportunity(opp_id: str = "opp-api-1", **changes) -> dict:
    opportunity = {
        "id": opp_id,
        "name": "Acme data platform",
        "customer_id": "cust-acme",
        "stage": "closed_won",
        "won": True,
        "amount": {"amount": "120000.00", "currency": "USD"},
        "service_package": "ADVISORY-TM",
        "billing_model": "time_and_materials",
        "close_date": "2026-11-20",
        "start_date": "2026-12-01",
        "practice": "DATA",
        "region": "NA-EAST",
        "legal_entity": "US01",
    }
    opportunity.update(changes)
    return opportunity


def _statuses(body: dict) -> dict[str, str]:
    return {c["name"]: c["status"] for c in body["checks"]}


# --------------------------------------------------------------------------- validate
def test_a_complete_crm_account_is_billable(env):
    account = env.seeded.sf_accounts[0]
    resp = env.post("/api/v1/accounts/validate", json={"crm_account_id": account["Id"]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["billable"] is True, body
    assert body["failed"] == []
    assert set(_statuses(body)) == {
        "hierarchy_resolved",
        "legal_entity_valid",
        "subsidiary_valid",
        "bill_to_complete",
        "tax_region_known",
        "credit_hold",
    }


def test_a_child_account_resolves_its_parent_in_the_crm(env):
    child = next(a for a in env.seeded.sf_accounts if a["ParentId"])
    resp = env.post("/api/v1/accounts/validate", json={"crm_account_id": child["Id"]})
    assert resp.status_code == 200, resp.text
    assert _statuses(resp.json())["hierarchy_resolved"] == "passed"


def test_every_failed_check_is_named(env):
    customer = _customer(
        legal_entity="XX01",
        tax_region="NOWHERE",
        parent_id="cust-unknown-parent",
        bill_to={"line1": "1 Main St", "city": "Springfield", "country": "US"},
    )
    resp = env.post("/api/v1/accounts/validate", json={"customer": customer})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["billable"] is False
    assert body["failed"] == [
        "hierarchy_resolved",
        "legal_entity_valid",
        "subsidiary_valid",
        "bill_to_complete",
        "tax_region_known",
        "credit_hold",
    ]
    checks = {c["name"]: c for c in body["checks"]}
    assert "postal_code" in checks["bill_to_complete"]["detail"]


def test_credit_hold_in_the_erp_is_found_through_the_xref(env):
    resp = env.post("/api/v1/accounts/validate", json={"customer": _customer(id="cust-held")})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["failed"] == ["credit_hold"]
    assert _statuses(body)["credit_hold"] == "failed"
    ok = env.post("/api/v1/accounts/validate", json={"customer": _customer(id="cust-acme")})
    assert ok.json()["billable"] is True


def test_an_incomplete_crm_account_names_what_is_missing(env):
    configs = load_connections(env.seeded.accord_yaml, {})
    account = env.seeded.sf_accounts[-1]
    with create_connector(configs["salesforce"]) as sf:
        sf.update("Account", account["Id"], {"Tax_Region__c": None, "BillingPostalCode": None})
    resp = env.post("/api/v1/accounts/validate", json={"crm_account_id": account["Id"]})
    assert resp.status_code == 200, resp.text
    failed = resp.json()["failed"]
    assert "tax_region_known" in failed
    assert "bill_to_complete" in failed


def test_validate_needs_exactly_one_subject(env):
    assert env.post("/api/v1/accounts/validate", json={}).status_code == 422
    both = {"crm_account_id": "001", "customer": _customer()}
    assert env.post("/api/v1/accounts/validate", json=both).status_code == 422


def test_validate_unknown_crm_account_is_404(env):
    resp = env.post("/api/v1/accounts/validate", json={"crm_account_id": "001000000000000AAA"})
    assert resp.status_code == 404


def test_validate_role(env):
    body = {"customer": _customer()}
    assert env.post("/api/v1/accounts/validate", role="viewer", json=body).status_code == 403
    assert env.post("/api/v1/accounts/validate", role="operator", json=body).status_code == 200


# --------------------------------------------------------------------------- invoices
@pytest.mark.parametrize("which", ["netsuite", "canonical", "kantata"])
def test_invoice_status_by_any_systems_id(env, which):
    invoice_id = {
        "netsuite": env.seeded.ns_invoice,
        "canonical": "inv-acme-1",
        "kantata": "K-INV-1",
    }
    resp = env.get(f"/api/v1/invoices/{invoice_id[which]}", role="process")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["invoice_id"] == "inv-acme-1"
    assert body["erp"] == {
        "connection": "netsuite",
        "system": "netsuite",
        "id": env.seeded.ns_invoice,
    }
    assert body["total"] == {"amount": "1500.00", "currency": "USD"}
    assert body["amount_due"] == {"amount": "1500.00", "currency": "USD"}
    assert body["amount_paid"] == {"amount": "0.00", "currency": "USD"}
    assert body["overdue"] is True
    assert body["status"] == "posted"


def test_unknown_invoice_is_404(env):
    resp = env.get("/api/v1/invoices/no-such-invoice", role="process")
    assert resp.status_code == 404
    assert resp.json()["title"] == "Invoice not found"


@pytest.mark.parametrize("customer_id", ["cust-acme", "001ACMEXXXXXXXXAAA"])
def test_receivables_by_any_systems_id(env, customer_id):
    resp = env.get(f"/api/v1/customers/{customer_id}/receivables", role="process")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["customer_id"] == "cust-acme"
    assert body["erp"] == [
        {"connection": "netsuite", "system": "netsuite", "id": env.seeded.ns_customer}
    ]
    assert [i["invoice_id"] for i in body["invoices"]] == ["inv-acme-1"]
    assert body["totals"] == [
        {
            "currency": "USD",
            "invoiced": {"amount": "1500.00", "currency": "USD"},
            "outstanding": {"amount": "1500.00", "currency": "USD"},
            "overdue": {"amount": "1500.00", "currency": "USD"},
            "open_invoices": 1,
        }
    ]


def test_receivables_of_a_customer_with_no_invoices(env):
    resp = env.get("/api/v1/customers/cust-held/receivables", role="process")
    assert resp.status_code == 200, resp.text
    assert resp.json()["invoices"] == []
    assert resp.json()["totals"] == []


def test_receivables_unknown_customer_is_404(env):
    assert env.get("/api/v1/customers/nobody/receivables", role="process").status_code == 404


# --------------------------------------------------------------------------- provision
def _journaled(env: Env, ce_id: str) -> int:
    with env.engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count())
            .select_from(journal)
            .where(journal.c.source == PROVISION_SOURCE, journal.c.ce_id == ce_id)
        ).scalar_one()


def test_same_idempotency_key_twice_gives_one_run(env):
    body = {"opportunity": _opportunity("opp-idem-1"), "wait_seconds": 0}
    headers = {"Idempotency-Key": "key-idem-1"}
    first = env.post("/api/v1/projects", json=body, headers=headers)
    assert first.status_code in (201, 202), first.text
    second = env.post("/api/v1/projects", json=body, headers=headers)
    assert second.status_code in (201, 202), second.text
    assert first.json()["run_id"] == second.json()["run_id"]
    assert first.json()["duplicate"] is False
    assert second.json()["duplicate"] is True
    assert _journaled(env, "idem-process-key-idem-1") == 1
    if first.status_code == 202:
        assert first.headers["location"] == first.json()["run_url"]
        assert first.json()["run_url"] == f"/api/v1/runs/{first.json()['run_id']}"


def test_same_key_with_a_different_body_is_a_conflict(env):
    headers = {"Idempotency-Key": "key-idem-2"}
    first = env.post(
        "/api/v1/projects",
        json={"opportunity": _opportunity("opp-idem-2"), "wait_seconds": 0},
        headers=headers,
    )
    assert first.status_code in (201, 202), first.text
    changed = _opportunity("opp-idem-2", amount={"amount": "1.00", "currency": "USD"})
    resp = env.post(
        "/api/v1/projects", json={"opportunity": changed, "wait_seconds": 0}, headers=headers
    )
    assert resp.status_code == 409
    assert resp.json()["title"] == "Idempotency-Key reused"
    assert _journaled(env, "idem-process-key-idem-2") == 1


def test_only_won_opportunities_are_provisioned(env):
    opportunity = _opportunity("opp-open", stage="proposal", won=False, start_date=None)
    resp = env.post("/api/v1/projects", json={"opportunity": opportunity, "wait_seconds": 0})
    assert resp.status_code == 422


def test_provision_validates_the_body(env):
    resp = env.post("/api/v1/projects", json={"opportunity": {"id": "x"}})
    assert resp.status_code == 422
    assert resp.json()["errors"]
    bad_key = env.post(
        "/api/v1/projects",
        json={"opportunity": _opportunity(), "wait_seconds": 0},
        headers={"Idempotency-Key": "has spaces"},
    )
    assert bad_key.status_code == 422


@pytest.mark.skipif(
    workflow_for("opportunity.won") == "record_event",
    reason="the lead-to-project flow is not registered for opportunity.won yet",
)
def test_provisioning_answers_201_with_the_project_ids(env):
    opportunity = _win_an_opportunity(env)
    headers = {"Idempotency-Key": "key-201"}
    body = {"opportunity": opportunity, "wait_seconds": 60}
    resp = env.post("/api/v1/projects", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    project = resp.json()
    assert project["opportunity_id"] == opportunity["id"]
    assert project["project_id"]
    assert set(project["ids"]) >= {"kantata", "netsuite"}, project
    again = env.post("/api/v1/projects", json=body, headers=headers)
    assert again.status_code == 201, again.text
    assert again.json()["run_id"] == project["run_id"]
    assert again.json()["project_id"] == project["project_id"]
    assert again.json()["ids"] == project["ids"]
    assert again.json()["duplicate"] is True
    # One project: the same key never provisioned a second one.
    engagements = env.get("/api/v1/engagements", role="process", params={"limit": 200}).json()
    mine = [e for e in engagements["items"] if e["opportunity_id"] == opportunity["id"]]
    assert len(mine) == 1
    assert mine[0]["project"]["project_id"] == project["project_id"]


def _win_an_opportunity(env: Env) -> dict:
    """Win an open opportunity booked on NetSuite in the CRM, as a salesperson would."""
    configs = load_connections(env.seeded.accord_yaml, {})
    with create_connector(configs["salesforce"]) as sf:
        page = sf.read_page("Opportunity", limit=200)
        candidate = next(
            r
            for r in page.records
            if not r.get("IsClosed")
            and r.get("Legal_Entity__c") in ("US01", "UK01")
            and r.get("Billing_Model__c") != "Milestone"
        )
        sf.update("Opportunity", candidate["Id"], {"StageName": "Closed Won"})
        raw = sf.get("Opportunity", candidate["Id"])
    return sf_mapping.opportunity_to_canonical(raw).model_dump(mode="json")
