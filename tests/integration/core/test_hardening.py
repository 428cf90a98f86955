"""Files Accord creates are its own: the SQLite database and its WAL, owner-only."""

import os
import stat

import sqlalchemy as sa

from accord.store import create_db_engine, migrate


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_sqlite_database_and_its_wal_are_created_0600(tmp_path):
    old = os.umask(0o022)  # a usual umask: new files would be world-readable
    try:
        db = tmp_path / "var" / "accord.db"
        engine = create_db_engine(f"sqlite:///{db}")
        migrate(engine)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1 FROM accord_journal LIMIT 1"))
            wal, shm = db.with_name("accord.db-wal"), db.with_name("accord.db-shm")
            assert wal.exists()
            assert (_mode(db), _mode(wal), _mode(shm)) == (0o600, 0o600, 0o600)
        engine.dispose()
        assert _mode(db.parent) == 0o700
    finally:
        os.umask(old)


def test_an_existing_world_readable_database_is_tightened(tmp_path):
    db = tmp_path / "accord.db"
    engine = create_db_engine(f"sqlite:///{db}")
    migrate(engine)
    engine.dispose()
    db.chmod(0o644)
    create_db_engine(f"sqlite:///{db}").dispose()
    assert _mode(db) == 0o600
