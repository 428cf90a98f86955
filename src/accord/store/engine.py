"""Engine construction: SQLite in WAL mode with IMMEDIATE transactions, or PostgreSQL.

The same engine is handed to DBOS as its system database engine, so every pragma set here
applies to the runtime's tables too. DBOS on SQLite does not enable WAL by itself, and
without it every commit rewrites a rollback journal.
"""

import contextlib
import os
import stat
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

__all__ = ["create_db_engine", "is_sqlite", "normalise_url", "ping"]


def is_sqlite(url: str) -> bool:
    """Whether a database URL names SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def normalise_url(url: str) -> str:
    """Map ``postgresql://`` and ``postgres://`` onto the psycopg 3 driver."""
    u = make_url(url)
    if u.get_backend_name() == "postgresql" and u.get_driver_name() in ("psycopg2", "postgresql"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


_PRIVATE = 0o600
"""Owner read and write only: the database holds key hashes, payloads and the audit log."""


def _private_file(path: Path) -> None:
    """Create the database file readable by its owner only (or tighten an existing one).

    SQLite gives its ``-wal`` and ``-shm`` files the database file's permissions, so they
    follow. A folder Accord creates for it is the owner's only too. An existing file is only
    ever changed by path (``chmod``), never opened: closing a descriptor of a database file
    drops every POSIX lock this process holds on it, SQLite's included, and that corrupts a
    database other connections of the process are writing.
    """
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, _PRIVATE))
    for name in (path.name, *(path.name + s for s in ("-wal", "-shm", "-journal"))):
        side = path.with_name(name)
        try:
            if stat.S_IMODE(side.stat().st_mode) & ~_PRIVATE:
                side.chmod(_PRIVATE)
        except FileNotFoundError:
            continue


def create_db_engine(url: str, *, pool_size: int = 10) -> sa.Engine:
    """Create the engine for Accord and its runtime.

    For SQLite the file is created (or tightened to) mode 0600 and its parent folder created,
    WAL is switched on, writers take the lock at
    ``BEGIN`` (IMMEDIATE) so that two writers never deadlock on a lock upgrade, and a busy
    timeout rides out contention instead of failing with "database is locked".
    ``synchronous=NORMAL`` is durable across a process crash (SIGKILL) in WAL mode; only a
    power loss can lose the last transactions.
    """
    url = normalise_url(url)
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            _private_file(Path(database))
        engine = sa.create_engine(url, pool_size=pool_size, max_overflow=20, pool_timeout=60)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:  # noqa: ANN401 - DB-API
            dbapi_conn.isolation_level = "IMMEDIATE"
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return sa.create_engine(
        url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True, pool_timeout=60
    )


def ping(engine: sa.Engine) -> None:
    """One round trip to the database.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: The database cannot be reached.
    """
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
