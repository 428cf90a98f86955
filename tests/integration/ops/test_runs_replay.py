"""Runs read model, replay (dry and real), dead letters and their replay after a fix."""

from datetime import UTC, datetime, timedelta

from tests.integration.ops.conftest import EVENT_TYPE

from accord.flows import runs as runs_flow
from accord.store import audit


def test_run_list_filters_and_detail(ops):
    receipt = ops.post_event()
    detail = ops.wait_run(receipt["run_id"])
    assert detail["flow"] == "record_event"
    assert detail["input"]["args"][0]["event_id"] == receipt["event_id"]
    assert detail["output"]["linked"] is True
    assert detail["steps"][0]["name"] == "record_lineage"
    assert detail["versions"] == {}
    key = detail["business_key"]
    by_key = ops.get("/api/v1/runs", role="viewer", business_key=key).json()
    assert [r["run_id"] for r in by_key["items"]] == [receipt["run_id"]]
    by_status = ops.get("/api/v1/runs", role="viewer", status="SUCCESS", limit=1).json()
    assert len(by_status["items"]) == 1
    assert by_status["next_offset"] == 1
    assert ops.get("/api/v1/runs", role="viewer", flow="nope").json()["items"] == []
    old = ops.get("/api/v1/runs", role="viewer", min_age_s=3600).json()
    assert old["items"] == []
    assert ops.get("/api/v1/runs/000000000000.nope", role="viewer").status_code == 404


def test_run_id_helpers():
    assert runs_flow.seq_of_run("000000000042.abc") == 42
    assert runs_flow.seq_of_run("capture:crm") is None
    assert runs_flow.original_run_id("000000000042.abc.r3") == "000000000042.abc"
    assert runs_flow.original_run_id("000000000042.abc") == "000000000042.abc"


def test_replay_dry_run_starts_nothing_and_real_replay_reruns(ops):
    receipt = ops.post_event()
    ops.wait_run(receipt["run_id"])
    key = ops.get(f"/api/v1/runs/{receipt['run_id']}").json()["business_key"]
    with ops.engine.connect() as conn:
        audit_before = len(audit.list_(conn, action="replay", limit=1000))
    dry = ops.post("/api/v1/replay", {"business_key": key, "dry_run": True})
    assert dry.status_code == 202, dry.text
    assert dry.json()["matched"] == 1
    assert dry.json()["runs"][0]["run_id"] == f"{receipt['run_id']}.r1"
    listed = ops.get("/api/v1/runs", business_key=key).json()["items"]
    assert [r["run_id"] for r in listed] == [receipt["run_id"]]
    real = ops.post("/api/v1/replay", {"business_key": key}).json()
    assert real["matched"] == 1
    new_id = real["runs"][0]["run_id"]
    assert new_id == f"{receipt['run_id']}.r1"
    ops.wait_run(new_id)
    with ops.engine.connect() as conn:
        rows = audit.list_(conn, action="replay", limit=1000)
        assert audit.verify(conn) is None
    assert len(rows) == audit_before + 1
    assert rows[0].after["first"] == new_id


def test_replay_by_time_and_type_with_limit(ops):
    # Two events of its own, so that a limit of one truncates whatever ran before (or not).
    since = datetime.now(UTC) - timedelta(seconds=1)
    for _ in range(2):
        ops.wait_run(ops.post_event()["run_id"])
    resp = ops.post(
        "/api/v1/replay",
        {"since": since.isoformat(), "type": EVENT_TYPE, "dry_run": True, "limit": 1},
    ).json()
    assert resp["matched"] == 1
    assert resp["truncated"] is True
    later = ops.post(
        "/api/v1/replay", {"since": datetime.now(UTC).isoformat(), "dry_run": True}
    ).json()
    assert later["matched"] == 0
    bad = ops.post(
        "/api/v1/replay",
        {"since": datetime.now(UTC).isoformat(), "until": since.isoformat()},
    )
    assert bad.status_code == 422


def test_replay_of_a_run_that_is_no_event_is_refused(ops):
    resp = ops.post("/api/v1/dead-letters/replay", {"run_ids": ["capture:crm:1"]}).json()
    assert resp["results"][0]["ok"] is False
    assert "not the run of a journaled event" in resp["results"][0]["detail"]


def test_dead_letter_is_listed_and_replayed_after_the_fix(ops, failing_type, monkeypatch):
    receipt = ops.post_event(failing_type)
    failed = ops.wait_run(receipt["run_id"], statuses=("ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"))
    assert "RuntimeError" in failed["error"]
    dead = ops.get("/api/v1/dead-letters", role="viewer", flow="ops_test_fail").json()
    assert receipt["run_id"] in [d["run_id"] for d in dead["items"]]
    # The fix: the type goes back to a working flow; replay the dead letter.
    monkeypatch.undo()
    resp = ops.post("/api/v1/dead-letters/replay", {"run_ids": [receipt["run_id"]]})
    assert resp.status_code == 202
    item = resp.json()["results"][0]
    assert item["ok"] is True
    assert item["run"]["flow"] == "record_event"
    ops.wait_run(item["run"]["run_id"])
    dead = ops.get("/api/v1/dead-letters", role="viewer", flow="ops_test_fail").json()
    listed = next(d for d in dead["items"] if d["run_id"] == receipt["run_id"])
    assert listed["reruns"] == [item["run"]["run_id"]]


def test_connections_health_budget_and_cached_checks(ops):
    listed = ops.get("/api/v1/connections", role="viewer").json()["items"]
    by_name = {c["name"]: c for c in listed}
    assert by_name["crm"]["health"]["ok"] is True
    assert by_name["erp"]["health"]["ok"] is False
    assert by_name["erp"]["health"]["error"].startswith("RuntimeError")
    assert by_name["crm"]["budget"]["rate_per_s"] == 5.0
    checks = ops.connections.connectors["crm"].checks
    ops.get("/api/v1/connections/crm", role="viewer")
    assert ops.connections.connectors["crm"].checks == checks  # cached
    forced = ops.post("/api/v1/connections/crm/check", role="admin")
    assert forced.status_code == 200
    assert ops.connections.connectors["crm"].checks == checks + 1
    assert ops.get("/api/v1/connections/nope").status_code == 404


def test_audit_filters_and_verify(ops):
    ops.post(f"/api/v1/exceptions/{ops.open_exception()}/comment", {"text": "audit me"})
    page = ops.get("/api/v1/audit", role="viewer", action="exception.comment", limit=1).json()
    assert page["items"][0]["actor"] == "key:operator"
    assert page["items"][0]["after"]["comment"] == "audit me"
    assert page["next_before_seq"] == page["items"][0]["seq"]
    prefixed = ops.get("/api/v1/audit", target="exception:*", actor="key:operator").json()
    assert all(i["target"].startswith("exception:") for i in prefixed["items"])
    future = ops.get("/api/v1/audit", since=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    assert future.json()["items"] == []
    verified = ops.get("/api/v1/audit/verify", role="viewer").json()
    assert verified["ok"] is True
    assert verified["first_broken_seq"] is None
    assert verified["problem"] is None
    assert verified["rows"] > 0


def test_keys_api_creates_a_working_key_and_revokes_it(ops):
    created = ops.post("/api/v1/keys", {"name": "console-ann", "role": "viewer"}, role="admin")
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert (
        ops.client.get("/api/v1/runs", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 200
    )
    dup = ops.post("/api/v1/keys", {"name": "console-ann", "role": "viewer"}, role="admin")
    assert dup.status_code == 409
    listed = ops.get("/api/v1/keys").json()["items"]
    assert "secret" not in listed[0]
    assert ops.client.delete("/api/v1/keys/console-ann", headers=ops.auth("admin")).json()[
        "revoked_at"
    ]
    assert (
        ops.client.delete("/api/v1/keys/console-ann", headers=ops.auth("admin")).status_code == 404
    )
