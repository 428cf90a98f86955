"""``/api/v1/rules`` and the re-run's rules choice, on a running Accord (SQLite and PostgreSQL)."""

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from fastapi.testclient import TestClient
from tests.integration.governance.conftest import changed_document, create_keys, write_environment
from tests.support import STRUCTURED, cloud_event

from accord.api.app import create_app
from accord.settings import Settings
from accord.store import audit, create_db_engine, rulesets
from accord.store.keys import Role


@dataclass
class Api:
    client: TestClient
    engine: sa.Engine
    keys: dict[str, str]

    def call(self, method: str, path: str, who: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        return self.client.request(method, f"/api/v1{path}", headers=headers, **kw)


@pytest.fixture(scope="module")
def api(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    folder: Path = tmp_path_factory.mktemp("rules-api")
    secrets = create_keys(
        module_db_url,
        alice=Role.ADMIN,
        bob=Role.ADMIN,
        olga=Role.OPERATOR,
        vic=Role.VIEWER,
        feed=Role.INGEST,
    )
    settings = Settings(
        database_url=module_db_url,
        worker_id="test-rules-api",
        config_file=write_environment(folder, "production", approval=True),
    )
    engine = create_db_engine(module_db_url)
    with TestClient(create_app(settings, configure_logs=False)) as client:
        yield Api(client=client, engine=engine, keys=secrets)
    engine.dispose()


def test_a_change_goes_through_a_second_admin(api: Api) -> None:
    state = api.call("GET", "/rules", "vic").json()
    assert (state["environment"], state["approval_required"]) == ("production", True)
    assert [e["name"] for e in state["environments"]] == ["sandbox", "production"]
    base = state["active"]["version"]
    # The module's tests share one database: another may have activated its own TECH first.
    active = api.call("GET", f"/rules/versions/{base[:10]}", "vic").json()["document"]
    before = active["practices"]["TECH"]["netsuite_department_id"]
    assert before != "107"
    body = {"yaml": yaml.safe_dump(changed_document("107")), "reason": "TECH -> 107"}
    assert api.call("POST", "/rules/proposals", "vic", json=body).status_code == 403
    bad = api.call("POST", "/rules/proposals", "olga", json={"document": {"x": 1}, "reason": "r"})
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")

    created = api.call("POST", "/rules/proposals", "alice", json=body)
    assert created.status_code == 201, created.text
    proposal = created.json()
    assert [(c["path"], c["before"], c["after"]) for c in proposal["changes"]] == [
        ("practices.TECH.netsuite_department_id", before, "107")
    ]
    pid = proposal["id"]
    assert api.call("POST", f"/rules/proposals/{pid}/approve", "olga").status_code == 403
    refused = api.call("POST", f"/rules/proposals/{pid}/approve", "alice")
    assert refused.status_code == 403
    assert "second admin" in refused.json()["detail"]
    early = api.call("POST", f"/rules/proposals/{pid}/activate", "bob")
    assert early.status_code == 409
    assert api.call("POST", f"/rules/proposals/{pid}/approve", "bob").json()["status"] == "approved"
    active = api.call("POST", f"/rules/proposals/{pid}/activate", "bob").json()
    assert active["status"] == "active"
    assert api.call("GET", "/rules", "vic").json()["active"]["version"] == proposal["version"]
    diff = api.call("GET", "/rules/diff", "vic", params={"from": base[:12], "to": f"#{pid}"})
    assert [c["path"] for c in diff.json()["changes"]] == ["practices.TECH.netsuite_department_id"]
    history = api.call("GET", "/rules/history", "vic").json()["items"]
    assert (history[0]["kind"], history[-1]["kind"]) == ("activate", "bootstrap")
    assert history[0]["version"] == proposal["version"]
    stored = api.call("GET", f"/rules/versions/{proposal['version'][:10]}", "vic").json()
    assert stored["document"]["practices"]["TECH"]["netsuite_department_id"] == "107"
    verified = api.call("GET", "/audit/verify", "vic").json()
    assert (verified["ok"], verified["first_broken_seq"], verified["problem"]) == (True, None, None)
    assert verified["rows"] >= len(history)
    rolled = api.call("POST", "/rules/rollback", "alice", json={"reason": "back"}).json()
    assert rolled["version"] == base


def test_a_replay_keeps_its_runs_version_unless_current_is_chosen(api: Api) -> None:
    event = cloud_event(type="opportunity.updated")
    receipt = api.client.post(
        "/api/v1/events",
        content=json.dumps(event),
        headers={**STRUCTURED, "Authorization": f"Bearer {api.keys['feed']}"},
    ).json()
    run_id = receipt["run_id"]
    deadline = time.monotonic() + 30
    while api.call("GET", f"/runs/{run_id}", "vic").json().get("status") != "SUCCESS":
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.1)
    with api.engine.begin() as conn:
        old = rulesets.active(conn).version
        # As if the run had read rules (record_event runs do not).
        rulesets.pin(conn, run_id=run_id, version=old, choice="start")
    body = {"yaml": yaml.safe_dump(changed_document("108")), "reason": "TECH -> 108"}
    pid = api.call("POST", "/rules/proposals", "alice", json=body).json()["id"]
    api.call("POST", f"/rules/proposals/{pid}/approve", "bob")
    new = api.call("POST", f"/rules/proposals/{pid}/activate", "bob").json()["version"]

    kept = api.call("POST", f"/runs/{run_id}/replay", "olga", json={}).json()
    chosen = api.call("POST", f"/runs/{run_id}/replay", "olga", json={"rules": "current"}).json()
    assert (kept["rules"], kept["rules_version"]) == ("pinned", old)
    assert (chosen["rules"], chosen["rules_version"]) == ("current", new)
    shown = api.call("GET", f"/runs/{kept['run_id']}", "vic").json()["rules_pin"]
    assert (shown["version"], shown["choice"], shown["source_run_id"]) == (old, "pinned", run_id)
    with api.engine.connect() as conn:
        pins = {r: rulesets.get_pin(conn, run_id=r) for r in (kept["run_id"], chosen["run_id"])}
        replays = audit.list_(conn, action="run.replay", limit=2)
    assert pins[kept["run_id"]].source_run_id == run_id
    assert (pins[chosen["run_id"]].choice, pins[chosen["run_id"]].version) == ("current", new)
    assert {(a.after["rules"], a.after["rules_version"]) for a in replays} == {
        ("pinned", old),
        ("current", new),
    }
