"""Retention: each data class archived to compressed JSON Lines, then purged; audit only archived.

On SQLite and PostgreSQL: store tables past their period go (open exceptions and the newest
event stay), run history goes through the durable runtime's client, and the journal never
loses the event of a run that has not finished.
"""

import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from dbos import DBOSClient

from accord.errors import ConfigError
from accord.flows.retention import RetentionSettings, load_retention_settings, purge
from accord.store import audit
from accord.store.tables import archives, audit_log, exceptions, journal, lineage

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=10)


def _lines(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _count(engine, table, *where) -> int:
    with engine.connect() as conn:
        q = sa.select(sa.func.count()).select_from(table).where(*where)
        return int(conn.execute(q).scalar_one())


def _event(received_at: datetime) -> dict:
    event_id = uuid.uuid4().hex
    return {
        "event_id": event_id,
        "source": "test",
        "ce_id": event_id,
        "type": "opportunity.updated",
        "business_key": "opportunity:1",
        "received_at": received_at,
        "data": "{}",
    }


def _exception(status: str, closed_at: datetime | None) -> dict:
    return {
        "queue": "finance-ops",
        "status": status,
        "severity": "medium",
        "flow": "record_event",
        "business_key": "invoice:1",
        "dedupe_key": uuid.uuid4().hex,
        "code": "closed_period",
        "title": "Posting period is closed",
        "detail": "{}",
        "created_at": OLD,
        "updated_at": OLD,
        "resolved_at": closed_at,
    }


def _edge(created_at: datetime) -> dict:
    return {
        "from_type": "opportunity",
        "from_id": uuid.uuid4().hex,
        "to_type": "project",
        "to_id": "p1",
        "relation": "provisioned_as",
        "created_at": created_at,
    }


def test_store_classes_are_archived_then_purged_and_audit_is_only_archived(engine, tmp_path):
    with engine.begin() as conn:
        conn.execute(sa.insert(journal), [_event(OLD) for _ in range(3)])
        conn.execute(sa.insert(journal), [_event(NOW), _event(NOW)])
        conn.execute(sa.insert(lineage), [_edge(OLD), _edge(NOW)])
        conn.execute(
            sa.insert(exceptions),
            [
                _exception("resolved", OLD),
                _exception("ignored", OLD),
                _exception("open", None),
                _exception("resolved", NOW),
            ],
        )
    for n in range(3):
        with engine.begin() as conn:
            audit.append(conn, actor="test", action="key.create", target=f"k{n}")
    settings = RetentionSettings(
        archive_dir=tmp_path / "archive",
        periods={c: timedelta(days=1) for c in ("journal", "lineage", "exceptions")},
        configured=True,
    )

    dry = {r.data_class: r.archived for r in purge(engine, settings, dry_run=True)}
    assert dry == {"journal": 3, "lineage": 1, "exceptions": 2, "audit": 3}
    assert _count(engine, journal) == 5
    assert not (tmp_path / "archive").exists()

    done = {r.data_class: r for r in purge(engine, settings)}
    assert {c: (r.archived, r.deleted) for c, r in done.items()} == {
        "journal": (3, 3),
        "lineage": (1, 1),
        "exceptions": (2, 2),
        "audit": (3, 0),
    }
    (journal_file,) = done["journal"].files
    assert journal_file.name.endswith(".jsonl.gz")
    assert journal_file.parent == tmp_path / "archive" / "journal"
    assert journal_file.stat().st_mode & 0o777 == 0o600
    archived = _lines(journal_file)
    assert len(archived) == 3
    assert all(datetime.fromisoformat(r["received_at"]) < NOW - timedelta(days=1) for r in archived)
    assert _count(engine, journal) == 2
    assert _count(engine, lineage) == 1
    assert _count(engine, exceptions, exceptions.c.status == "open") == 1
    assert _count(engine, exceptions) == 2
    assert _count(engine, audit_log) == 3  # never purged
    assert [r["seq"] for r in _lines(done["audit"].files[0])] == [1, 2, 3]
    with engine.connect() as conn:
        assert audit.verify(conn) is None
    assert _count(engine, archives) == 4
    assert not list((tmp_path / "archive").rglob("*.part"))

    # Again: nothing old is left; only the new audit row is archived.
    with engine.begin() as conn:
        audit.append(conn, actor="test", action="key.revoke", target="k0")
    again = {r.data_class: r.archived for r in purge(engine, settings)}
    assert again == {"journal": 0, "lineage": 0, "exceptions": 0, "audit": 1}

    # A zero period takes every event but the newest (SQLite would reuse its number).
    everything = RetentionSettings(
        archive_dir=settings.archive_dir, periods={"journal": timedelta(0)}, configured=True
    )
    purge(engine, everything, classes=["journal"], now=NOW + timedelta(seconds=5))
    with engine.connect() as conn:
        left = conn.execute(sa.select(journal.c.seq)).scalars().all()
    assert len(left) == 1


def test_settings_read_periods_and_refuse_purging_the_audit_log(tmp_path):
    config = tmp_path / "accord.yaml"
    config.write_text(
        "retention:\n  journal: 90d\n  runs: 12h\n  lineage: 365\n  purge_hour_utc: 3\n"
    )
    settings = load_retention_settings(config)
    assert settings.periods == {
        "journal": timedelta(days=90),
        "runs": timedelta(hours=12),
        "lineage": timedelta(days=365),
    }
    assert settings.archive_dir == tmp_path / "var" / "archive"
    assert settings.purge_hour_utc == 3
    config.write_text("retention:\n  audit: 30d\n")
    with pytest.raises(ConfigError, match="never purged"):
        load_retention_settings(config)
    config.write_text("retention:\n  journal: soon\n")
    with pytest.raises(ConfigError, match="days"):
        load_retention_settings(config)


def test_finished_runs_are_archived_and_the_journal_waits_for_unfinished_ones(ops, tmp_path):
    client = DBOSClient(system_database_engine=ops.engine)
    try:
        # A run nobody dequeues (its queue has no worker): unfinished for the whole test.
        stuck = client.enqueue(
            {"workflow_name": "record_event", "queue_name": "nobody", "workflow_id": "stuck-1"},
            None,
        )
        run_ids = [ops.completed_run() for _ in range(3)]
        settings = RetentionSettings(
            archive_dir=tmp_path / "archive",
            periods={"runs": timedelta(0), "journal": timedelta(0)},
            configured=True,
        )
        done = {r.data_class: r for r in purge(ops.engine, settings, now=NOW + timedelta(hours=1))}
        finished = {r["workflow_id"]: r for r in _lines(done["runs"].files[0])}
        assert set(run_ids) <= set(finished)
        assert "stuck-1" not in finished
        assert finished[run_ids[0]]["status"] == "SUCCESS"
        assert finished[run_ids[0]]["steps"], "each run is archived with its steps"
        for run_id in run_ids:
            assert ops.get(f"/api/v1/runs/{run_id}", role="viewer").status_code == 404
        status = client.retrieve_workflow(stuck.workflow_id).get_status()
        assert status.status == "ENQUEUED"
        # The journal's cutoff stops at the unfinished run: later events are all kept.
        assert done["journal"].cutoff == datetime.fromtimestamp(status.created_at / 1000, UTC)
        with ops.engine.connect() as conn:
            kept = set(conn.execute(sa.select(journal.c.event_id)).scalars())
        assert {run_id.split(".", 1)[1] for run_id in run_ids} <= kept
    finally:
        client.cancel_workflow("stuck-1")
        client.destroy()
