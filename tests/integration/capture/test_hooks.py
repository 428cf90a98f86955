"""POST /hooks/{connection}: signed CloudEvents and Business Central subscriptions.

Every refusal is checked to store nothing.
"""

import json
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr
from tests.support import cloud_event

from accord.api.app import create_app
from accord.connectors.config import ConnectorConfig
from accord.connectors.webhooks import sign
from accord.flows import capture
from accord.flows.capture import CaptureSpec
from accord.flows.connections import Connections
from accord.flows.services import Services
from accord.settings import Settings
from accord.store.tables import journal

SECRET = "whsec-test-0123456789"
COMPANY = "api/v2.0/companies(7c49e2b6-0000-0000-0000-000000000001)"
BC_STATE = "bc-client-state-secret"


@pytest.fixture(scope="module")
def env(module_db) -> Iterator[dict]:
    url, folder = module_db
    settings = Settings(database_url=url, worker_id="test-hooks", config_file=folder / "none.yaml")
    svc = Services.build(settings)
    # Plain base configs: the hooks only read kind and secret, and the Business Central
    # connector is not needed to answer its webhooks.
    svc.connections = Connections(
        svc.engine,
        configs={
            "partner": ConnectorConfig(name="partner", kind="netsuite", base_url="http://x"),
            "bc": ConnectorConfig(name="bc", kind="business_central", base_url="http://x"),
            "nosecret": ConnectorConfig(name="nosecret", kind="netsuite", base_url="http://x"),
        },
        webhook_secrets={"partner": SecretStr(SECRET), "bc": SecretStr(BC_STATE)},
    )
    app = create_app(settings, services=svc, configure_logs=False)
    with TestClient(app) as client:
        yield {"client": client, "engine": svc.engine, "runtime": svc.runtime}


def _count(env) -> int:
    with env["engine"].connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(journal)).scalar_one())


def _signed(body: bytes, *, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    ts = str(int(at if at is not None else time.time()))
    return {
        "content-type": "application/cloudevents+json",
        "X-Accord-Timestamp": ts,
        "X-Accord-Signature": sign(secret, ts, body),
    }


def test_a_well_signed_event_is_journaled(env):
    body = json.dumps(cloud_event(source="partner/erp")).encode()
    resp = env["client"].post("/hooks/partner", content=body, headers=_signed(body))
    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] == "accepted"
    # Sent again (signed anew): journaled once, answered like the first time.
    again = env["client"].post(
        "/hooks/partner", content=body, headers=_signed(body, at=time.time() + 1)
    )
    assert again.status_code == 200
    assert again.json() == resp.json()


def test_a_replayed_signature_is_refused_within_the_window(env):
    body = json.dumps(cloud_event(source="partner/erp")).encode()
    headers = _signed(body)
    assert env["client"].post("/hooks/partner", content=body, headers=headers).status_code == 202
    before = _count(env)
    replayed = env["client"].post("/hooks/partner", content=body, headers=headers)
    assert replayed.status_code == 401
    assert replayed.headers["content-type"].startswith("application/problem+json")
    assert "replayed" in replayed.json()["detail"]
    assert _count(env) == before


def test_a_signed_batch_is_journaled(env):
    body = json.dumps([cloud_event(), cloud_event()]).encode()
    before = _count(env)
    resp = env["client"].post("/hooks/partner", content=body, headers=_signed(body))
    assert resp.status_code == 202, resp.text
    assert len(resp.json()["receipts"]) == 2
    assert _count(env) == before + 2


@pytest.mark.parametrize(
    "tamper",
    ["wrong-secret", "changed-body", "missing-signature", "missing-timestamp", "stale", "future"],
)
def test_a_refused_signature_gets_401_and_stores_nothing(env, tamper):
    body = json.dumps(cloud_event()).encode()
    headers = _signed(body)
    sent = body
    if tamper == "wrong-secret":
        headers = _signed(body, secret="not-the-secret")
    elif tamper == "changed-body":
        sent = json.dumps(cloud_event()).encode()
    elif tamper == "missing-signature":
        del headers["X-Accord-Signature"]
    elif tamper == "missing-timestamp":
        del headers["X-Accord-Timestamp"]
    elif tamper == "stale":
        headers = _signed(body, at=time.time() - 301)
    elif tamper == "future":
        # The signed timestamp is whole seconds (truncated) and the server reads its clock
        # later: +301 came out as up to 300 s ahead by the check, inside the window. A margin
        # wider than truncation plus a slow request keeps it outside.
        headers = _signed(body, at=time.time() + 330)
    before = _count(env)
    resp = env["client"].post("/hooks/partner", content=sent, headers=headers)
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert _count(env) == before


def test_a_signed_but_invalid_event_is_refused_like_intake(env):
    body = json.dumps(cloud_event(type="no.such.type")).encode()
    before = _count(env)
    resp = env["client"].post("/hooks/partner", content=body, headers=_signed(body))
    assert resp.status_code == 422
    assert _count(env) == before


def test_unknown_connection_is_404_problem(env):
    body = b"{}"
    resp = env["client"].post("/hooks/nobody", content=body, headers=_signed(body))
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")


def test_a_connection_without_a_secret_accepts_no_webhook(env):
    body = json.dumps(cloud_event()).encode()
    before = _count(env)
    resp = env["client"].post("/hooks/nosecret", content=body, headers=_signed(body))
    assert resp.status_code == 404
    assert _count(env) == before


def test_business_central_handshake_echoes_the_token(env):
    resp = env["client"].post("/hooks/bc", params={"validationToken": "tok-123 abc"})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    assert resp.text == "tok-123 abc"


def _bc_body(state: str, resource: str = "customers") -> bytes:
    return json.dumps(
        {
            "value": [
                {
                    "subscriptionId": "sub-1",
                    "clientState": state,
                    "expirationDateTime": "2026-12-01T00:00:00Z",
                    "resource": f"{COMPANY}/{resource}",
                    "changeType": "updated",
                    "lastModifiedDateTime": "2026-11-27T10:00:00Z",
                }
            ]
        }
    ).encode()


def test_business_central_bad_client_state_gets_401_and_enqueues_nothing(env):
    before = _count(env)
    resp = env["client"].post(
        "/hooks/bc", content=_bc_body("wrong"), headers={"content-type": "application/json"}
    )
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert _count(env) == before


def test_business_central_notification_enqueues_a_capture_run(env):
    capture.register_capture(
        CaptureSpec(connection="bc", resource="customers", to_events=lambda _r: [])
    )
    try:
        resp = env["client"].post(
            "/hooks/bc", content=_bc_body(BC_STATE), headers={"content-type": "application/json"}
        )
        assert resp.status_code == 202, resp.text
        body = resp.json()
        assert [c["resource"] for c in body["captures"]] == ["customers"]
        assert body["captures"][0]["run_id"]
        ignored = env["client"].post(
            "/hooks/bc",
            content=_bc_body(BC_STATE, resource="vendors"),
            headers={"content-type": "application/json"},
        )
        assert ignored.status_code == 202
        assert ignored.json() == {"captures": [], "ignored": ["vendors"]}
    finally:
        capture.unregister_capture("bc", "customers")
