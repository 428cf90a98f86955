"""API keys over the ops API: expiry, last use, rotation with an overlap, revocation in every
process within a second."""

import time
import uuid
from datetime import timedelta

import sqlalchemy as sa

from accord.api.auth import KeyVerifier
from accord.store import keys
from accord.store.util import utc_now


def _name() -> str:
    return f"k-{uuid.uuid4().hex[:8]}"


def _as(client, secret: str):
    return client.get("/api/v1/runs", headers={"Authorization": f"Bearer {secret}"})


def test_a_new_key_expires_after_the_default_lifetime_unless_told(ops):
    made = ops.post("/api/v1/keys", {"name": _name(), "role": "viewer"}, role="admin")
    assert made.status_code == 201, made.text
    expires = made.json()["expires_at"]
    assert expires is not None
    days = (sa.types.DateTime().python_type.fromisoformat(expires) - utc_now()).days
    assert 363 <= days <= 365
    forever = ops.post(
        "/api/v1/keys", {"name": _name(), "role": "viewer", "expires_in_days": 0}, role="admin"
    )
    assert forever.json()["expires_at"] is None


def test_an_expired_key_is_refused(ops):
    with ops.engine.begin() as conn:
        _, secret = keys.create(
            conn,
            name=_name(),
            role=keys.Role.VIEWER,
            actor="test",
            expires_at=utc_now() - timedelta(seconds=1),
        )
    answer = _as(ops.client, secret)
    assert answer.status_code == 401


def test_last_use_is_recorded(ops):
    name = _name()
    made = ops.post("/api/v1/keys", {"name": name, "role": "viewer"}, role="admin").json()
    assert made["last_used_at"] is None
    assert _as(ops.client, made["secret"]).status_code == 200
    listed = {k["prefix"]: k for k in ops.get("/api/v1/keys").json()["items"]}
    used = listed[made["prefix"]]["last_used_at"]
    assert used is not None


def test_rotation_keeps_the_old_secret_for_the_overlap_then_refuses_it(ops):
    name = _name()
    made = ops.post("/api/v1/keys", {"name": name, "role": "viewer"}, role="admin").json()
    rotated = ops.post(f"/api/v1/keys/{name}/rotate", {"overlap_seconds": 2}, role="admin")
    assert rotated.status_code == 201, rotated.text
    body = rotated.json()
    assert body["previous"]["prefix"] == made["prefix"]
    assert body["previous"]["superseded_at"] is not None
    new = body["key"]["secret"]
    assert _as(ops.client, made["secret"]).status_code == 200  # within the overlap
    assert _as(ops.client, new).status_code == 200
    time.sleep(2.6)  # the overlap, and the verifier's cache
    assert _as(ops.client, made["secret"]).status_code == 401
    assert _as(ops.client, new).status_code == 200
    # The audit log says who rotated what.
    audit = ops.get("/api/v1/audit", action="key.rotate", target=f"key:{name}").json()["items"]
    assert audit[0]["after"]["previous_prefix"] == made["prefix"]
    assert ops.post(f"/api/v1/keys/{_name()}/rotate", {}, role="admin").status_code == 404


def test_revocation_takes_effect_in_every_process_within_a_second(ops):
    name = _name()
    made = ops.post("/api/v1/keys", {"name": name, "role": "viewer"}, role="admin").json()
    rotated = ops.post(f"/api/v1/keys/{name}/rotate", {"overlap_seconds": 600}, role="admin")
    secrets = [made["secret"], rotated.json()["key"]["secret"]]
    # Two more "processes": verifiers of their own, with the settings' cache lifetime.
    ttl = ops.client.app.state.settings.api.key_cache_seconds
    others = [KeyVerifier(ops.engine, ttl=ttl) for _ in range(2)]
    for verifier in others:
        assert all(verifier.verify(s) is not None for s in secrets)
    for s in secrets:
        assert _as(ops.client, s).status_code == 200
    assert ops.client.delete(f"/api/v1/keys/{name}", headers=ops.auth("admin")).status_code == 200
    revoked_at = time.monotonic()
    time.sleep(max(0.0, 1.0 - (time.monotonic() - revoked_at)))
    for s in secrets:  # every secret of the key, the rotated-away one too
        assert _as(ops.client, s).status_code == 401
        assert all(verifier.verify(s) is None for verifier in others)
