"""Named leases: one holder at a time across every process on the database.

A lease is a row ``(name, holder, expires_at)``. :func:`acquire` takes it when nobody holds it,
when its holder's time is up (a killed process never releases), or when the caller *is* the
holder (a durable run re-executing a step after a crash takes back its own lease at once,
without waiting for the expiry). :func:`release` gives it back; :func:`held` is the context
manager callers use.

Time is wall-clock seconds (``time.time``) like the connection budgets: leases are seconds
to minutes long and rely on the processes' clocks agreeing that closely.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from accord.errors import WorkflowError
from accord.store.tables import leases
from accord.store.util import utc_now, write_lock

__all__ = ["LeaseBusyError", "acquire", "held", "holder_of", "release", "renew"]


class LeaseBusyError(WorkflowError):
    """Another live holder has the lease; try again later."""

    default_message = "lease held by another process"

    def __init__(self, name: str, holder: str) -> None:
        self.name = name
        self.holder = holder
        super().__init__(f"lease {name!r} is held by {holder!r}")


def acquire(
    engine: sa.Engine,
    name: str,
    holder: str,
    *,
    ttl_s: float,
    clock: Callable[[], float] = time.time,
) -> bool:
    """Take (or take back) the lease ``name`` for ``ttl_s`` seconds; False when busy."""
    now = clock()
    with engine.begin() as conn:
        write_lock(conn)
        query = sa.select(leases.c.holder, leases.c.expires_at).where(leases.c.name == name)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            inserted = conn.execute(
                insert(leases)
                .values(name=name, holder=holder, expires_at=now + ttl_s, acquired_at=utc_now())
                .on_conflict_do_nothing(index_elements=["name"])
            )
            # Nobody held it a moment ago; a concurrent taker that won the insert has it now.
            return inserted.rowcount == 1
        if row.holder != holder and row.expires_at > now:
            return False
        conn.execute(
            sa.update(leases)
            .where(leases.c.name == name)
            .values(holder=holder, expires_at=now + ttl_s, acquired_at=utc_now())
        )
        return True


def renew(
    engine: sa.Engine,
    name: str,
    holder: str,
    *,
    ttl_s: float,
    clock: Callable[[], float] = time.time,
) -> bool:
    """Extend a lease the caller holds; False when it has lost it."""
    with engine.begin() as conn:
        done = conn.execute(
            sa.update(leases)
            .where(leases.c.name == name, leases.c.holder == holder)
            .values(expires_at=clock() + ttl_s)
        )
        return done.rowcount == 1


def release(engine: sa.Engine, name: str, holder: str) -> None:
    """Give the lease back (nothing when the caller no longer holds it)."""
    with engine.begin() as conn:
        conn.execute(sa.delete(leases).where(leases.c.name == name, leases.c.holder == holder))


def holder_of(
    engine: sa.Engine, name: str, *, clock: Callable[[], float] = time.time
) -> str | None:
    """Who holds the lease now (``None``: free or expired)."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(leases.c.holder, leases.c.expires_at).where(leases.c.name == name)
        ).first()
    if row is None or row.expires_at <= clock():
        return None
    return str(row.holder)


@contextmanager
def held(engine: sa.Engine, name: str, holder: str, *, ttl_s: float) -> Iterator[None]:
    """Hold the lease for the block.

    Raises:
        LeaseBusyError: Another live holder has it.
    """
    if not acquire(engine, name, holder, ttl_s=ttl_s):
        raise LeaseBusyError(name, holder_of(engine, name) or "?")
    try:
        yield
    finally:
        release(engine, name, holder)
