"""POST /api/v1/events: every intake case, with a check that bad input stores nothing."""

import json
import time
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.support import BATCH, STRUCTURED, cloud_event, opportunity

from accord.api.app import create_app
from accord.settings import Settings
from accord.store import create_db_engine, keys, migrate
from accord.store.tables import journal, lineage


@pytest.fixture(scope="module")
def env(module_db_url: str) -> Iterator[dict]:
    url = module_db_url
    engine = create_db_engine(url)
    migrate(engine)
    secrets: dict[str, str] = {}
    with engine.begin() as conn:
        for role in keys.Role:
            _, secrets[role.value] = keys.create(conn, name=role.value, role=role, actor="test")
    app = create_app(Settings(database_url=url, worker_id="test-intake"), configure_logs=False)
    with TestClient(app) as client:
        yield {"client": client, "engine": engine, "keys": secrets}
    engine.dispose()


def _auth(env: dict, role: str = "ingest") -> dict[str, str]:
    return {"Authorization": f"Bearer {env['keys'][role]}"}


def _journal_count(env: dict) -> int:
    with env["engine"].connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(journal)).scalar_one())


def _post(env: dict, body: object, headers: dict[str, str], role: str = "ingest"):
    content = body if isinstance(body, bytes | str) else json.dumps(body)
    return env["client"].post(
        "/api/v1/events", content=content, headers={**headers, **_auth(env, role)}
    )


def _lineage_of(env: dict, event_id: str, timeout: float = 60) -> sa.Row:
    """The lineage row the event's record_event run writes, once the run has written it.

    Generous: runs of events other tests posted (batches, in whatever order) may be queued
    ahead of this one, and the suite shares two cores.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with env["engine"].connect() as conn:
            row = conn.execute(sa.select(lineage).where(lineage.c.event_id == event_id)).first()
        if row is not None:
            return row
        time.sleep(0.1)
    raise AssertionError("the record_event run never recorded lineage")


def test_structured_event_is_journaled_and_its_run_completes(env):
    event = cloud_event()
    resp = _post(env, event, STRUCTURED)
    assert resp.status_code == 202
    receipt = resp.json()
    assert set(receipt) == {"event_id", "run_id", "status"}
    assert receipt["status"] == "accepted"
    assert receipt["run_id"].endswith(receipt["event_id"])
    row = _lineage_of(env, receipt["event_id"])
    assert row.run_id == receipt["run_id"]
    assert row.to_id == f"opportunity:{event['data']['id']}"


def test_redelivery_answers_200_with_the_original_receipt_and_stores_nothing(env):
    event = cloud_event()
    first = _post(env, event, STRUCTURED)
    count = _journal_count(env)
    again = _post(env, event, STRUCTURED)
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == first.json()
    assert _journal_count(env) == count


def test_same_id_from_another_source_is_a_different_event(env):
    event = cloud_event()
    first = _post(env, event, STRUCTURED)
    other = _post(env, {**event, "source": "test/other"}, STRUCTURED)
    assert first.status_code == other.status_code == 202
    assert first.json()["event_id"] != other.json()["event_id"]


def test_binary_mode(env):
    headers = {
        "content-type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": uuid.uuid4().hex,
        "ce-source": "test/crm",
        "ce-type": "opportunity.updated",
        "ce-time": "2026-11-27T10:00:00+01:00",
    }
    resp = _post(env, opportunity(), headers)
    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] == "accepted"


def test_binary_mode_without_ce_headers_names_the_missing_attribute(env):
    before = _journal_count(env)
    resp = _post(env, opportunity(), {"content-type": "application/json"})
    assert resp.status_code == 400
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["errors"][0]["field"] == "ce-specversion"
    assert _journal_count(env) == before


def test_batch_mode_with_a_redelivered_member(env):
    known = cloud_event()
    assert _post(env, known, STRUCTURED).status_code == 202
    batch = [cloud_event(), known, cloud_event()]
    resp = _post(env, batch, BATCH)
    assert resp.status_code == 202
    receipts = resp.json()["receipts"]
    assert [r["duplicate"] for r in receipts] == [False, True, False]
    again = _post(env, batch, BATCH)
    assert again.status_code == 200
    assert [r["event_id"] for r in again.json()["receipts"]] == [r["event_id"] for r in receipts]


def test_duplicate_inside_one_batch_is_stored_once(env):
    event = cloud_event()
    before = _journal_count(env)
    resp = _post(env, [event, event], BATCH)
    assert resp.status_code == 202
    first, second = resp.json()["receipts"]
    assert first["event_id"] == second["event_id"]
    assert second["duplicate"] is True
    assert _journal_count(env) == before + 1


@pytest.mark.parametrize(
    ("body", "headers", "status", "field"),
    [
        (b"{not json", STRUCTURED, 400, "body"),
        ([], BATCH, 400, "body"),
        ({"id": "x"}, BATCH, 400, "body"),
        ([cloud_event() for _ in range(501)], BATCH, 413, "body"),
        ([cloud_event(), cloud_event(type="no.such")], BATCH, 422, "[1].type"),
        (
            [cloud_event(), {**cloud_event(), "data": {**opportunity(), "customer_id": ""}}],
            BATCH,
            422,
            "[1].data.customer_id",
        ),
        (cloud_event(type="no.such.type"), STRUCTURED, 422, "type"),
        (cloud_event(specversion="0.3"), STRUCTURED, 400, "specversion"),
        (cloud_event(id=""), STRUCTURED, 400, "id"),
        ({k: v for k, v in cloud_event().items() if k != "source"}, STRUCTURED, 400, "source"),
        ({k: v for k, v in cloud_event().items() if k != "type"}, STRUCTURED, 400, "type"),
        ({k: v for k, v in cloud_event().items() if k != "data"}, STRUCTURED, 422, "data"),
        (cloud_event(time="yesterday"), STRUCTURED, 400, "time"),
        (cloud_event(time="2026-11-27T10:00:00"), STRUCTURED, 400, "time"),
        (
            cloud_event(data=opportunity(amount={"amount": 1.5, "currency": "USD"})),
            STRUCTURED,
            422,
            "data.amount.amount",
        ),
        (
            cloud_event(data=opportunity(amount={"amount": "10.00", "currency": "usd!"})),
            STRUCTURED,
            422,
            "data.amount.currency",
        ),
        (cloud_event(data=opportunity(stage="won-ish")), STRUCTURED, 422, "data.stage"),
        (
            cloud_event(data={**opportunity(), "customer_id": None}),
            STRUCTURED,
            422,
            "data.customer_id",
        ),
        ({**cloud_event(), "data_base64": "AAAA"}, STRUCTURED, 415, "data_base64"),
        (cloud_event(), {"content-type": "text/plain"}, 415, "content-type"),
    ],
    ids=[
        "malformed-json",
        "empty-batch",
        "batch-not-array",
        "batch-too-large",
        "batch-member-unknown-type",
        "batch-member-bad-data",
        "unknown-type",
        "bad-specversion",
        "empty-id",
        "missing-source",
        "missing-type",
        "missing-data",
        "bad-time",
        "naive-time",
        "float-money",
        "bad-currency",
        "bad-stage",
        "null-customer",
        "binary-data",
        "wrong-content-type",
    ],
)
def test_bad_input_is_refused_with_a_problem_naming_the_field(env, body, headers, status, field):
    before = _journal_count(env)
    resp = _post(env, body, headers)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    problem = resp.json()
    assert problem["status"] == status
    assert problem["errors"][0]["field"] == field
    assert _journal_count(env) == before


def test_body_over_one_mebibyte_gets_413(env):
    before = _journal_count(env)
    event = cloud_event()
    event["data"]["name"] = "x" * (1024 * 1024)
    resp = _post(env, event, STRUCTURED)
    assert resp.status_code == 413
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert _journal_count(env) == before


def test_missing_or_unknown_key_gets_401(env):
    client = env["client"]
    body = json.dumps(cloud_event())
    no_key = client.post("/api/v1/events", content=body, headers=STRUCTURED)
    bad_key = client.post(
        "/api/v1/events", content=body, headers={**STRUCTURED, "Authorization": "Bearer acc_nope_x"}
    )
    assert no_key.status_code == bad_key.status_code == 401
    assert no_key.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("role", "status"), [("viewer", 403), ("operator", 403), ("admin", 202), ("ingest", 202)]
)
def test_roles(env, role, status):
    resp = _post(env, cloud_event(), STRUCTURED, role=role)
    assert resp.status_code == status


def test_health_readiness_and_metrics(env):
    client = env["client"]
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "runtime": "ok"}
    _post(env, cloud_event(type="nope"), STRUCTURED)
    # A run of its own to count: the other tests' runs may not have run yet. The run is
    # counted when it ends, just after its step wrote the lineage row.
    _lineage_of(env, _post(env, cloud_event(), STRUCTURED).json()["event_id"])
    success = 'accord_runs_total{flow="record_event",outcome="success"}'
    deadline = time.monotonic() + 10
    while success not in (text := client.get("/metrics").text) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert 'accord_events_received_total{type="opportunity.updated"}' in text
    assert 'accord_events_rejected_total{reason="http_422",type="unknown"}' in text
    assert "accord_intake_latency_seconds_bucket" in text
    assert success in text
