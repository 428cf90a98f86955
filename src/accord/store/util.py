"""Small helpers shared by the repositories."""

from datetime import UTC, datetime

import sqlalchemy as sa

__all__ = ["as_utc", "utc_now", "write_lock"]


def write_lock(conn: sa.Connection) -> None:
    """Take SQLite's write lock now, as the transaction's first statement.

    pysqlite begins a transaction only before the first INSERT/UPDATE/DELETE, so a
    read-then-write transaction would otherwise read outside the lock and two processes could
    act on the same stale read. PostgreSQL callers lock rows (or an advisory lock) instead.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def utc_now() -> datetime:
    """The current time, UTC-aware."""
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Restore the UTC zone that SQLite drops on the way in."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
