"""``accord backup`` / ``accord restore`` as an operator runs them, on a SQLite database.

A restore is checked the way an auditor would: the audit chain verifies (``accord audit
verify``) and the posting ledger ties out to what it held when the backup was taken.
"""

import sqlite3
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

from tests.support import accord_cmd, accord_env

from accord.store import create_db_engine, migrate, postings
from accord.store.postings import Posting


def _run(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        accord_cmd(*args),
        env=accord_env(db_url, COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _ledger(db_url: str) -> dict:
    engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            return postings.totals_by_project(conn)
    finally:
        engine.dispose()


def _posting(n: int, project: str, hours: str, amount: str) -> Posting:
    return Posting(
        kind="time",
        entry_id=f"te-{project}-{n}",
        submission_id=f"ts-{project}",
        project_id=project,
        event_id=f"ev-{project}-{n}",
        run_id=None,
        status=postings.POSTED,
        entry_date=date(2026, 11, 2 + n),
        hours=Decimal(hours),
        amount=Decimal(amount),
        currency="EUR",
    )


def test_backup_restore_keeps_the_audit_chain_and_the_ledger(tmp_path: Path):
    db_url = f"sqlite:///{tmp_path / 'live' / 'accord.db'}"
    engine = create_db_engine(db_url)
    migrate(engine)
    with engine.begin() as conn:
        postings.record_many(
            conn,
            [
                _posting(1, "P1", "7.50", "1125.00"),
                _posting(2, "P1", "8.00", "1200.00"),
                _posting(1, "P2", "4.25", "637.50"),
            ],
        )
    engine.dispose()
    for name in ("portal", "ops"):
        assert _run(db_url, "keys", "create", "--role", "viewer", "--name", name).returncode == 0
    before = _ledger(db_url)
    assert before["P1"]["hours"] == Decimal("15.50")

    backup_file = tmp_path / "backups" / "accord.db"
    taken = _run(db_url, "backup", "--out", str(backup_file))
    assert taken.returncode == 0, taken.stderr
    assert "audit chain of 2 rows verified" in taken.stdout
    assert backup_file.stat().st_mode & 0o777 == 0o600
    assert _run(db_url, "backup", "--out", str(backup_file)).returncode == 1  # never overwrites

    # After the backup: a key revoked (audited) and ledger rows lost.
    assert _run(db_url, "keys", "revoke", "ops").returncode == 0
    with sqlite3.connect(tmp_path / "live" / "accord.db") as raw:
        raw.execute("DELETE FROM accord_postings WHERE project_id = 'P1'")
    assert _ledger(db_url) != before

    refused = _run(db_url, "restore", str(backup_file))
    assert refused.returncode == 1
    assert "--replace" in refused.stderr
    restored = _run(db_url, "restore", str(backup_file), "--replace")
    assert restored.returncode == 0, restored.stderr
    verified = _run(db_url, "audit", "verify")
    assert verified.returncode == 0
    assert verified.stdout.strip() == "OK"
    assert _ledger(db_url) == before
    listed = _run(db_url, "keys", "list").stdout
    ops_row = next(line for line in listed.splitlines() if "│ ops " in line)
    assert "│ active │" in ops_row  # the revoke is undone
    assert "revoked" not in listed

    # A backup whose audit chain was tampered with is refused, and the database left alone.
    tampered = tmp_path / "tampered.db"
    tampered.write_bytes(backup_file.read_bytes())
    with sqlite3.connect(tampered) as raw:
        raw.execute("UPDATE accord_audit SET actor = 'someone-else' WHERE seq = 1")
    bad = _run(db_url, "restore", str(tampered), "--replace")
    assert bad.returncode == 1
    assert "audit chain is broken at row seq=1" in bad.stderr
    assert _run(db_url, "audit", "verify").stdout.strip() == "OK"


def test_postgres_gets_the_pg_dump_command_without_its_password(tmp_path: Path):
    url = "postgresql+psycopg://accord:s3cret@db.example:5433/accord"
    result = _run(url, "backup", "--out", str(tmp_path / "accord.dump"))
    assert result.returncode == 1
    assert (
        "pg_dump --host=db.example --port=5433 --username=accord --format=custom" in result.stderr
    )
    assert "s3cret" not in result.stderr
    restore = _run(url, "restore", str(tmp_path / "accord.dump"))
    assert restore.returncode == 1
    assert "pg_restore" in restore.stderr


def test_purge_from_the_command_line(tmp_path: Path):
    db_url = f"sqlite:///{tmp_path / 'accord.db'}"
    config = tmp_path / "accord.yaml"
    env = {"ACCORD_CONFIG_FILE": str(config), "COLUMNS": "200"}

    def purge(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            accord_cmd("purge", *args),
            env=accord_env(db_url, **env),
            capture_output=True,
            text=True,
            timeout=120,
        )

    config.write_text("connections: {}\n")
    missing = purge()
    assert missing.returncode == 1
    assert "no retention: section" in missing.stderr
    config.write_text("retention:\n  archive_dir: archive\n  journal: 30d\n")
    assert _run(db_url, "keys", "create", "--role", "viewer", "--name", "k").returncode == 0
    dry = purge("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would archive" in dry.stdout
    done = purge()
    assert done.returncode == 0, done.stderr
    (audit_file,) = (tmp_path / "archive" / "audit").glob("audit-*.jsonl.gz")
    assert str(audit_file) in done.stdout.replace("\n", "")
    bad = purge("--class", "everything")
    assert bad.returncode == 1
    assert "unknown data class" in bad.stderr
