"""System tier: canonical reads of one system's records, and the error mapping."""

from collections.abc import Iterator

import pytest
from tests.integration.sync_api.support import Env, Seeded, running_app

from accord.api.errors import PROBLEM_JSON


@pytest.fixture(scope="module")
def env(module_db_url: str, seeded: Seeded) -> Iterator[Env]:
    with running_app(module_db_url, seeded, "test-sync-system") as running:
        yield running


def test_netsuite_customer_by_system_id_then_from_the_cache(env):
    # Other tests of the module read the same customer: start from a cold cache.
    reader = getattr(env.client.app.state, "system_reader", None)
    if reader is not None:
        reader.cache.clear()
    path = f"/api/v1/systems/netsuite/customers/{env.seeded.ns_customer}"
    first = env.get(path)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["system"] == "netsuite"
    assert body["system_id"] == env.seeded.ns_customer
    assert body["canonical_id"] == "cust-acme"
    assert body["record"]["legal_entity"] == "US01"
    assert body["record"]["tax_region"] == "US-EAST"
    assert body["record"]["currency"] == "USD"
    assert body["cached"] is False
    again = env.get(path)
    assert again.json()["cached"] is True


def test_canonical_id_is_translated_through_the_xref(env):
    resp = env.get("/api/v1/systems/netsuite/customers/cust-acme")
    assert resp.status_code == 200, resp.text
    assert resp.json()["system_id"] == env.seeded.ns_customer


def test_netsuite_invoice_is_canonical(env):
    resp = env.get(f"/api/v1/systems/netsuite/invoices/{env.seeded.ns_invoice}")
    assert resp.status_code == 200, resp.text
    record = resp.json()["record"]
    assert record["id"] == "inv-acme-1"
    assert record["customer_id"] == "cust-acme"
    assert record["total"] == {"amount": "1500.00", "currency": "USD"}
    assert record["status"] == "posted"


def test_salesforce_account_as_customer(env):
    account = env.seeded.sf_accounts[0]
    resp = env.get(f"/api/v1/systems/salesforce/customers/{account['Id']}")
    assert resp.status_code == 200, resp.text
    assert resp.json()["record"]["name"] == account["Name"]


def test_unknown_connection_is_a_404_problem(env):
    resp = env.get("/api/v1/systems/nowhere/customers/1")
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith(PROBLEM_JSON)
    assert resp.json()["title"] == "Unknown connection"


def test_unknown_record_is_a_404_problem(env):
    resp = env.get("/api/v1/systems/netsuite/customers/999999")
    assert resp.status_code == 404
    assert resp.json()["title"] == "Record not found"


def test_malformed_business_central_id_is_not_found(env):
    resp = env.get("/api/v1/systems/business-central/customers/not-a-guid")
    assert resp.status_code == 404


def test_entity_the_system_does_not_offer(env):
    resp = env.get("/api/v1/systems/kantata/projects/1")
    assert resp.status_code == 404
    assert resp.json()["title"] == "Not offered"


def test_refused_credentials_are_a_502_with_a_clear_title(env):
    resp = env.get("/api/v1/systems/netsuite-badauth/customers/1")
    assert resp.status_code == 502
    assert resp.json()["title"] == "Upstream authentication failed"


def test_unreachable_system_is_a_503_with_retry_after(env):
    resp = env.get("/api/v1/systems/netsuite-down/customers/1")
    assert resp.status_code == 503
    assert int(resp.headers["retry-after"]) >= 1
    assert resp.json()["title"] == "Upstream unavailable"


def test_roles(env):
    path = f"/api/v1/systems/netsuite/customers/{env.seeded.ns_customer}"
    assert env.get(path, role=None).status_code == 401
    assert env.get(path, role="viewer").status_code == 403
    assert env.get(path, role="process").status_code == 403
    assert env.get(path, role="admin").status_code == 200


def test_unknown_entity_segment_is_not_a_route(env):
    assert env.get("/api/v1/systems/netsuite/widgets/1").status_code == 404
