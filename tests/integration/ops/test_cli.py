"""``accord audit verify`` and ``accord replay`` as a user runs them (real subprocesses)."""

import subprocess

import sqlalchemy as sa
from tests.support import accord_cmd, accord_env

from accord.store import audit, create_db_engine, keys, migrate
from accord.store.tables import audit_log


def _run(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        accord_cmd(*args), env=accord_env(db_url), capture_output=True, text=True, timeout=120
    )


def test_audit_verify_names_the_tampered_row(db_url):
    engine = create_db_engine(db_url)
    migrate(engine)
    with engine.begin() as conn:
        for name in ("a", "b", "c"):
            keys.create(conn, name=name, role=keys.Role.VIEWER, actor="test")
        seqs = [r.seq for r in reversed(audit.list_(conn))]
    ok = _run(db_url, "audit", "verify")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "OK"
    # Someone rewrites history: the second row now claims another actor.
    with engine.begin() as conn:
        conn.execute(
            sa.update(audit_log).where(audit_log.c.seq == seqs[1]).values(actor="someone-else")
        )
    engine.dispose()
    broken = _run(db_url, "audit", "verify")
    assert broken.returncode == 1
    assert f"seq={seqs[1]}" in broken.stderr
    assert len(broken.stderr.strip().splitlines()) == 1


def test_replay_cli_dry_run_and_real(ops):
    since = "2000-01-01T00:00:00"
    dry = _run(ops.db_url, "replay", "--since", since, "--type", "opportunity.updated", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would start" in dry.stdout
    first = ops.runs[0]
    key = ops.get(f"/api/v1/runs/{first}").json()["business_key"]
    before = {r["run_id"] for r in ops.get("/api/v1/runs", business_key=key).json()["items"]}
    real = _run(ops.db_url, "replay", "--key", key)
    assert real.returncode == 0, real.stderr
    assert "started 1 run(s)" in real.stdout
    after = {r["run_id"] for r in ops.get("/api/v1/runs", business_key=key).json()["items"]}
    (new_id,) = after - before
    assert new_id.startswith(f"{first}.r")
    ops.wait_run(new_id)  # the app's workers pick the CLI's run up
    bad = _run(ops.db_url, "replay", "--since", "yesterday")
    assert bad.returncode == 1
    assert "--since" in bad.stderr
