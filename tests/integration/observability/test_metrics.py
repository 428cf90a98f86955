"""Metrics after real work: runs and steps, intake, exceptions by age, connector calls."""

import re
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.support import STRUCTURED, cloud_event, serve

from accord.api.app import create_app
from accord.connectors.netsuite import NetSuiteConfig
from accord.errors import AuthError
from accord.flows.connections import Connections
from accord.flows.instrumentation import CONNECTION_HEALTH, InstrumentedTransport
from accord.flows.registry import workflow_for
from accord.settings import Settings
from accord.store import alerts as alerts_repo
from accord.store import exceptions, keys
from accord.store.alerts import Instance
from accord.store.tables import exceptions as exceptions_table
from accord.store.tables import lineage
from accord.store.util import utc_now
from accord_sandbox.accord_config import connection_settings
from accord_sandbox.netsuite import NetSuiteEmulator
from accord_sandbox.scenario import generate


@pytest.fixture(scope="module")
def env(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    folder = tmp_path_factory.mktemp("metrics")
    settings = Settings(
        database_url=module_db_url, worker_id="test-metrics", config_file=folder / "none.yaml"
    )
    app = create_app(settings, configure_logs=False)
    with TestClient(app) as client:
        services = app.state.services
        secrets: dict[str, str] = {}
        with services.engine.begin() as conn:
            for role in keys.Role:
                _, secrets[role.value] = keys.create(conn, name=role.value, role=role, actor="test")
        yield {"client": client, "services": services, "keys": secrets}


@pytest.fixture(scope="module")
def netsuite() -> Iterator[str]:
    def make_app(base_url: str) -> Any:
        emulator = NetSuiteEmulator(base_url=base_url)
        emulator.seed_firm(generate("small", 7))
        return emulator.app

    with serve(make_app) as url:
        yield url


def _metrics(env) -> str:
    env["services"].collector.tick()
    resp = env["client"].get("/metrics")
    assert resp.status_code == 200
    return resp.text


def _value(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample whose labels include ``labels``."""
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


def test_a_completed_run_shows_run_step_and_intake_metrics(env):
    # opportunity.updated runs record_event until a business flow claims the type.
    flow = workflow_for("opportunity.updated")
    before = _value(_metrics(env), "accord_runs_total", flow=flow, outcome="success")
    event = cloud_event(type="opportunity.updated")
    resp = env["client"].post(
        "/api/v1/events",
        json=event,
        headers={**STRUCTURED, "Authorization": f"Bearer {env['keys']['ingest']}"},
    )
    assert resp.status_code == 202
    run_id = resp.json()["run_id"]
    engine = env["services"].engine
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(sa.select(lineage.c.id).where(lineage.c.run_id == run_id)).first():
                break
        time.sleep(0.05)
    # The run span ends just after its last step committed.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = _metrics(env)
        after = _value(text, "accord_runs_total", flow=flow, outcome="success")
        if after and after > (before or 0):
            break
        time.sleep(0.05)
    assert after is not None
    assert after >= (before or 0) + 1
    assert _value(text, "accord_steps_total", flow=flow, outcome="success")
    assert _value(text, "accord_step_duration_seconds_count", flow=flow)
    assert _value(text, "accord_run_duration_seconds_count", flow=flow)
    assert _value(text, "accord_events_received_total", type="opportunity.updated")
    assert _value(text, "accord_queue_depth", queue="accord-events") is not None
    assert "accord_step_retries_total" in text


def test_open_exceptions_are_counted_by_queue_and_age(env):
    engine = env["services"].engine
    with engine.begin() as conn:
        exc = exceptions.open_(
            conn,
            queue="finance-ops",
            flow="post_approved_time",
            run_id=None,
            business_key="project:P-1",
            code="closed_period",
            title="Period closed",
            detail={},
            dedupe_key=f"k-{uuid.uuid4().hex}",
        )
        conn.execute(
            sa.update(exceptions_table)
            .where(exceptions_table.c.id == exc.id)
            .values(created_at=utc_now() - timedelta(days=3))
        )
    text = _metrics(env)
    assert _value(text, "accord_exceptions_open_by_age", queue="finance-ops", age="2d_7d") == 1
    assert _value(text, "accord_exceptions_open_by_age", queue="finance-ops", age="lt_1h") == 0
    assert _value(text, "accord_exceptions_open", queue="finance-ops") == 1
    oldest = _value(text, "accord_exceptions_oldest_age_seconds", queue="finance-ops")
    assert oldest is not None
    assert oldest >= 3 * 86400 - 60


def _netsuite_config(url: str, name: str, certificate_id: str | None = None) -> NetSuiteConfig:
    settings = connection_settings("netsuite", url) | {"name": name, "timeout_s": 10}
    if certificate_id is not None:
        settings["certificate_id"] = certificate_id
    return NetSuiteConfig.model_validate(settings)


def test_connector_calls_against_the_emulator_are_measured(env, netsuite):
    good = _netsuite_config(netsuite, "ns-metrics")
    bad = _netsuite_config(netsuite, "ns-badauth", certificate_id="not-uploaded")
    connections = Connections(env["services"].engine, configs={c.name: c for c in (good, bad)})
    try:
        connections.connector("ns-metrics").check()
        with pytest.raises(AuthError):
            connections.connector("ns-badauth").check()
    finally:
        connections.close()
    text = _metrics(env)
    assert _value(text, "accord_connector_calls_total", connection="ns-metrics", outcome="success")
    assert _value(text, "accord_connector_call_duration_seconds_count", connection="ns-metrics")
    assert _value(
        text, "accord_connector_errors_total", connection="ns-badauth", error_class="auth"
    )
    assert _value(text, "accord_budget_rate_per_second", connection="ns-metrics")
    assert _value(text, "accord_budget_in_flight", connection="ns-metrics") == 0
    health = CONNECTION_HEALTH.snapshot()
    assert health["ns-badauth"].failing
    assert not health["ns-metrics"].failing


def test_throttling_server_errors_and_transport_failures_are_classified(env):
    answers = iter([429, 503, 404])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers, None)
        if status is None:
            raise httpx.ConnectTimeout("timed out", request=request)
        return httpx.Response(status)

    # Counters live for the whole test session (one per process): a name of the test's own.
    name = f"mock-{uuid.uuid4().hex[:8]}"
    transport = InstrumentedTransport(httpx.MockTransport(handler), connection=name)
    with httpx.Client(transport=transport, base_url="http://x.test") as client:
        for _ in range(3):
            client.get("/")
        with pytest.raises(httpx.ConnectTimeout):
            client.get("/")
    text = _metrics(env)
    for error_class in ("throttled", "server", "client", "timeout"):
        assert (
            _value(
                text,
                "accord_connector_errors_total",
                connection=name,
                error_class=error_class,
            )
            == 1
        ), error_class
    assert _value(text, "accord_connector_calls_total", connection=name, outcome="error") == 4


def test_alerts_api_lists_firing_alerts_for_viewers_only(env):
    engine = env["services"].engine
    with engine.begin() as conn:
        alerts_repo.sync_rule(
            conn,
            rule="api_probe",
            severity="critical",
            instances=[Instance(key="crm", summary="crm refused", labels={"connection": "crm"})],
            known=None,
        )
    client = env["client"]
    resp = client.get(
        "/api/v1/alerts", headers={"Authorization": f"Bearer {env['keys']['viewer']}"}
    )
    assert resp.status_code == 200
    (item,) = [a for a in resp.json()["items"] if a["rule"] == "api_probe"]
    assert item["status"] == "firing"
    assert item["instance"] == "crm"
    assert item["labels"] == {"connection": "crm"}
    for role, expected in {
        "viewer": 200,
        "operator": 200,
        "admin": 200,
        "ingest": 403,
        "process": 403,
    }.items():
        resp = client.get(
            "/api/v1/alerts", headers={"Authorization": f"Bearer {env['keys'][role]}"}
        )
        assert resp.status_code == expected, role
    assert client.get("/api/v1/alerts").status_code == 401
    every = client.get(
        "/api/v1/alerts?status=all&rule=api_probe",
        headers={"Authorization": f"Bearer {env['keys']['viewer']}"},
    )
    assert [a["rule"] for a in every.json()["items"]] == ["api_probe"]
