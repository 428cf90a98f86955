"""Small helpers shared by the repositories: times, and locks that serialise writers."""

import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlalchemy as sa

__all__ = ["as_utc", "held_key_lock", "key_lock", "utc_now", "write_lock"]


def write_lock(conn: sa.Connection) -> None:
    """Take SQLite's write lock now, as the transaction's first statement.

    pysqlite begins a transaction only before the first INSERT/UPDATE/DELETE, so a
    read-then-write transaction would otherwise read outside the lock and two processes could
    act on the same stale read. PostgreSQL callers lock rows (or an advisory lock) instead.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _token(key: str) -> int:
    """The advisory lock id of a key: its CRC-32, shifted into PostgreSQL's signed range."""
    return zlib.crc32(key.encode()) - 2**31


def key_lock(conn: sa.Connection, key: str) -> None:
    """Serialise the transactions about one key until this one ends.

    PostgreSQL takes a transaction advisory lock on the key's hash; SQLite takes its write lock
    (which serialises every writer) unless the transaction already began.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _token(key)})
    elif not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        write_lock(conn)


_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


@contextmanager
def held_key_lock(engine: sa.Engine, key: str) -> Iterator[None]:
    """Hold a lock on one key for the block, across threads and (on PostgreSQL) processes.

    For work that spans calls to other systems, outside any one transaction: a thread lock per
    key in this process, plus a session advisory lock on PostgreSQL (SQLite deployments run
    one worker process).
    """
    with _process_locks_guard:
        lock = _process_locks.setdefault(key, threading.Lock())
    with lock:
        if engine.dialect.name != "postgresql":
            yield
            return
        token = _token(key)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": token})
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": token})
                conn.commit()


def utc_now() -> datetime:
    """The current time, UTC-aware."""
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Restore the UTC zone that SQLite drops on the way in."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
