"""One Accord app per ops test module: a database, a key per role, helpers to make runs."""

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from dbos import DBOS
from fastapi.testclient import TestClient
from tests.support import STRUCTURED, cloud_event

from accord.api.app import create_app
from accord.connectors.config import ConnectorConfig
from accord.flows import registry
from accord.flows.record_event import EventRef
from accord.settings import Settings
from accord.store import create_db_engine, keys, migrate
from accord.store import exceptions as exc_repo

EVENT_TYPE = "opportunity.updated"
"""The event type these tests post; routed to ``record_event`` for the module, whatever
business flow claims it, so runs complete without any connection."""
FAIL_TYPE = EVENT_TYPE
"""A dead-letter test routes it, while it runs, to a workflow that always fails."""


@DBOS.workflow(name="ops_test_fail")
def ops_test_fail(ref: EventRef) -> None:
    """Fails every time: a run that ends in ERROR, i.e. a dead letter."""
    raise RuntimeError(f"cannot process {ref.event_id}")


class FakeConnector:
    def __init__(self, ok: bool) -> None:
        self.ok = ok
        self.checks = 0

    def check(self) -> None:
        self.checks += 1
        if not self.ok:
            raise RuntimeError("down")


class FakeConnections:
    """Two connections, one healthy and one not, without any network."""

    def __init__(self) -> None:
        self.configs = {
            "crm": ConnectorConfig(name="crm", kind="fake", base_url="http://crm.test"),
            "erp": ConnectorConfig(name="erp", kind="fake", base_url="http://erp.test"),
        }
        self.connectors = {"crm": FakeConnector(True), "erp": FakeConnector(False)}

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.configs))

    def config(self, name: str) -> ConnectorConfig:
        from accord.flows.connections import UnknownConnectionError

        if name not in self.configs:
            raise UnknownConnectionError(name)
        return self.configs[name]

    def connector(self, name: str) -> FakeConnector:
        self.config(name)
        return self.connectors[name]


@dataclass
class OpsEnv:
    client: TestClient
    engine: sa.Engine
    keys: dict[str, str]
    db_url: str
    connections: FakeConnections
    runs: list[str] = field(default_factory=list)

    def auth(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"} if role else {}

    def get(self, path: str, role: str | None = "admin", **params: Any):
        return self.client.get(path, headers=self.auth(role), params=params)

    def post(self, path: str, body: Any = None, role: str | None = "operator"):
        return self.client.post(path, json=body, headers=self.auth(role))

    def post_event(self, type_: str = EVENT_TYPE, **attrs: Any) -> dict[str, str]:
        event = cloud_event(type=type_, **attrs)
        resp = self.client.post(
            "/api/v1/events",
            content=json.dumps(event),
            headers={**STRUCTURED, **self.auth("ingest")},
        )
        assert resp.status_code == 202, resp.text
        return resp.json()

    def wait_run(self, run_id: str, statuses: tuple[str, ...] = ("SUCCESS",), timeout=30.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            resp = self.get(f"/api/v1/runs/{run_id}", role="viewer")
            if resp.status_code == 200:
                last = resp.json()
                if last["status"] in statuses:
                    return last
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} did not reach {statuses}: {last}")

    def completed_run(self) -> str:
        receipt = self.post_event()
        self.wait_run(receipt["run_id"])
        return receipt["run_id"]

    def open_exception(self, run_id: str | None = None, **over: Any) -> int:
        values: dict[str, Any] = {
            "queue": "finance-ops",
            "flow": "record_event",
            "run_id": run_id if run_id is not None else self.runs[0],
            "business_key": f"invoice:{uuid.uuid4().hex[:8]}",
            "code": "closed_period",
            "title": "Posting period is closed",
            "detail": {"period": "2026-10"},
            "dedupe_key": uuid.uuid4().hex,
        }
        values.update(over)
        with self.engine.begin() as conn:
            return exc_repo.open_(conn, **values).id


@pytest.fixture(scope="module")
def ops(module_db_url: str) -> Iterator[OpsEnv]:
    url = module_db_url
    patch = pytest.MonkeyPatch()
    patch.setitem(registry.workflows(), EVENT_TYPE, "record_event")
    engine = create_db_engine(url)
    migrate(engine)
    secrets: dict[str, str] = {}
    with engine.begin() as conn:
        for role in keys.Role:
            _, secrets[role.value] = keys.create(conn, name=role.value, role=role, actor="test")
    app = create_app(Settings(database_url=url, worker_id="test-ops"), configure_logs=False)
    fake = FakeConnections()
    app.state.connections = fake
    with TestClient(app) as client:
        env = OpsEnv(client=client, engine=engine, keys=secrets, db_url=url, connections=fake)
        env.runs.append(env.completed_run())
        yield env
    engine.dispose()
    patch.undo()


@pytest.fixture
def failing_type(monkeypatch: pytest.MonkeyPatch) -> str:
    """Route FAIL_TYPE to the failing workflow for the test (the 'bug' before the fix)."""
    monkeypatch.setitem(registry.workflows(), FAIL_TYPE, "ops_test_fail")
    return FAIL_TYPE
