"""The ``accord`` CLI as a user runs it: real subprocesses on a temporary database."""

import json
import subprocess

from tests.support import accord_cmd, accord_env


def _run(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        accord_cmd(*args), env=accord_env(db_url), capture_output=True, text=True, timeout=120
    )


def test_keys_create_list_revoke(db_url):
    created = _run(db_url, "keys", "create", "--role", "operator", "--name", "ops-team")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("acc_")
    assert created.stdout.strip() == secret  # the key alone on stdout
    listed = _run(db_url, "keys", "list")
    assert "ops-team" in listed.stdout
    assert "operator" in listed.stdout
    assert secret not in listed.stdout
    revoked = _run(db_url, "keys", "revoke", "ops-team")
    assert revoked.returncode == 0
    again = _run(db_url, "keys", "revoke", "ops-team")
    assert again.returncode == 1
    assert len(again.stderr.strip().splitlines()) == 1


def test_keys_rotate_keeps_the_old_secret_for_the_overlap(db_url):
    from accord.store import create_db_engine, keys

    created = _run(
        db_url, "keys", "create", "--role", "viewer", "--name", "bi", "--expires-in-days", "30"
    )
    old = created.stdout.strip().splitlines()[-1]
    rotated = _run(db_url, "keys", "rotate", "bi", "--overlap", "1h")
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip()
    assert new.startswith("acc_")
    assert new != old
    engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            still = keys.get_by_secret(conn, secret=old)
            fresh = keys.get_by_secret(conn, secret=new)
    finally:
        engine.dispose()
    assert still is not None
    assert fresh is not None
    assert still.superseded_at is not None
    assert still.expires_at is not None
    assert fresh.expires_at is not None
    assert fresh.expires_at > still.expires_at  # 365 days (the default) against 1 hour
    listed = _run(db_url, "keys", "list")
    rows = [line for line in listed.stdout.splitlines() if " bi " in line]
    assert ["rotated" in r for r in rows] == [True, False]
    assert "active" in rows[1]
    bad = _run(db_url, "keys", "rotate", "bi", "--overlap", "soon")
    assert bad.returncode == 1
    assert len(bad.stderr.strip().splitlines()) == 1
    missing = _run(db_url, "keys", "rotate", "nobody")
    assert missing.returncode == 1
    assert "no active key named" in missing.stderr


def test_bad_input_gets_one_line_and_non_zero_exit(db_url):
    bad_role = _run(db_url, "keys", "create", "--role", "root", "--name", "x")
    assert bad_role.returncode != 0
    assert "unknown role" in bad_role.stderr
    assert len(bad_role.stderr.strip().splitlines()) == 1
    _run(db_url, "keys", "create", "--role", "viewer", "--name", "dup")
    dup = _run(db_url, "keys", "create", "--role", "viewer", "--name", "dup")
    assert dup.returncode == 1
    assert len(dup.stderr.strip().splitlines()) == 1
    bad_run_role = _run(db_url, "run", "--role", "nope")
    assert bad_run_role.returncode != 0


def test_schemas_export_and_version(db_url, tmp_path):
    out = tmp_path / "schemas"
    exported = _run(db_url, "schemas", "export", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    files = sorted(p.name for p in out.glob("*.json"))
    assert "opportunity.v1.json" in files
    assert json.loads((out / "opportunity.v1.json").read_text())["title"].startswith("Opportunity")
    version = _run(db_url, "version")
    assert version.stdout.strip() == "0.1.0"
