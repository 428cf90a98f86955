"""Store repositories on real SQLite and PostgreSQL: keys, audit chain, journal, lineage."""

import json

import pytest
import sqlalchemy as sa
from tests.dbs import sqlite_only

from accord.store import audit, current_revision, head_revision, journal, keys, lineage, migrate
from accord.store.journal import NewEvent
from accord.store.tables import audit_log


def test_migrations_reach_head_and_are_idempotent(engine):
    assert current_revision(engine) == head_revision()
    migrate(engine)
    assert current_revision(engine) == head_revision()


@sqlite_only
def test_sqlite_runs_in_wal_mode(engine):
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_keys_are_stored_hashed_and_revocable(engine):
    with engine.begin() as conn:
        key, secret = keys.create(conn, name="ops", role=keys.Role.OPERATOR, actor="test")
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT key_hash, prefix FROM accord_api_keys").one()
        assert secret not in stored.key_hash
        assert keys.get_by_secret(conn, secret=secret) == key
        assert keys.get_by_secret(conn, secret=secret + "x") is None
    with engine.begin() as conn, pytest.raises(keys.DuplicateKeyNameError):
        keys.create(conn, name="ops", role=keys.Role.VIEWER, actor="test")
    with engine.begin() as conn:
        assert keys.revoke(conn, name="ops", actor="test") is not None
        assert keys.revoke(conn, name="ops", actor="test") is None
    with engine.connect() as conn:
        assert keys.get_by_secret(conn, secret=secret) is None


def test_audit_chain_verifies_and_names_the_first_tampered_row(engine):
    with engine.begin() as conn:
        for i in range(5):
            audit.append(
                conn, actor="alice", action="thing.change", target=f"t:{i}", after={"i": i}
            )
    with engine.connect() as conn:
        assert audit.verify(conn) is None
        rows = audit.list_(conn, limit=10)
    assert [r.target for r in rows] == [f"t:{i}" for i in range(4, -1, -1)]
    assert rows[0].prev_hash == rows[1].hash
    with engine.begin() as conn:
        conn.execute(
            sa.update(audit_log).where(audit_log.c.seq == 3).values(after=json.dumps({"i": 99}))
        )
    with engine.connect() as conn:
        assert audit.verify(conn) == 3


def test_audit_chain_detects_a_deleted_row(engine):
    with engine.begin() as conn:
        for i in range(3):
            audit.append(conn, actor="bob", action="a", target=str(i))
        conn.execute(sa.delete(audit_log).where(audit_log.c.seq == 2))
    with engine.connect() as conn:
        assert audit.verify(conn) == 3


def _event(ce_id: str, key: str = "opportunity:1") -> NewEvent:
    return NewEvent(
        source="s",
        ce_id=ce_id,
        type="opportunity.won",
        subject=None,
        business_key=key,
        time=None,
        data_json="{}",
    )


def test_journal_assigns_sortable_run_ids_and_finds_redeliveries(engine):
    with engine.begin() as conn:
        entries = journal.insert_many(conn, [_event("a"), _event("b"), _event("c")])
    assert [e.ce_id for e in entries] == ["a", "b", "c"]
    assert [e.run_id for e in entries] == sorted(e.run_id for e in entries)
    with engine.connect() as conn:
        found = journal.find_existing(conn, [("s", "b"), ("s", "z"), ("other", "a")])
        assert set(found) == {("s", "b")}
        assert found[("s", "b")].event_id == entries[1].event_id
        assert [e.ce_id for e in journal.list_(conn, after_seq=entries[0].seq)] == ["b", "c"]
    with engine.begin() as conn, pytest.raises(sa.exc.IntegrityError):
        journal.insert_many(conn, [_event("a")])


def test_lineage_links_are_idempotent(engine):
    with engine.begin() as conn:
        assert lineage.link(conn, from_type="a", from_id="1", to_type="b", to_id="2", relation="r")
        assert not lineage.link(
            conn, from_type="a", from_id="1", to_type="b", to_id="2", relation="r"
        )
    with engine.connect() as conn:
        assert len(lineage.list_for(conn, node_type="b", node_id="2")) == 1
