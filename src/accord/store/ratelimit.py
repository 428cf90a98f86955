"""Per-API-key rate limits that hold across every API process: token buckets in the database.

One row per key (``accord_rate_buckets``): tokens and when they were last refilled. A process
takes a few tokens at once (up to :data:`_CHUNK_S` seconds' worth) in one short write
transaction and spends them locally, so a busy key costs about ten transactions a second per
process rather than one per request. Tokens a process took and did not spend within
:data:`_LOCAL_TTL_S` are dropped, which only ever lowers the rate a key gets: the sum over all
processes never exceeds the bucket's rate and burst.

Writers are serialised like the connection budgets' (SQLite's IMMEDIATE lock, PostgreSQL's
``SELECT ... FOR UPDATE``). Time is wall-clock seconds, shared by every process on a machine;
across machines it relies on synchronised clocks.
"""

import math
import threading
import time
from collections.abc import Callable
from typing import Final

import sqlalchemy as sa

from accord.store.tables import rate_buckets
from accord.store.util import write_lock

__all__ = ["DatabaseRateLimiter"]

_CHUNK_S: Final = 0.1
"""A grant takes at most this many seconds' worth of tokens."""
_LOCAL_TTL_S: Final = 0.25
"""Tokens a process took but did not spend within this many seconds are dropped."""


class DatabaseRateLimiter:
    """A token bucket per key, ``rate`` tokens a second and at most ``burst`` saved up.

    Args:
        engine: Accord's database.
        rate: Tokens added per second; ``0`` disables limiting.
        burst: Bucket size: how many requests may arrive at once.
        clock: Wall-clock seconds; injected by tests.
    """

    def __init__(
        self,
        engine: sa.Engine,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.rate = rate
        self.burst = max(1, burst)
        self.clock = clock
        self._local: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def try_local(self, key: str) -> bool:
        """Spend a token this process already holds for ``key``; False when it holds none."""
        if self.rate <= 0:
            return True
        now = self.clock()
        with self._lock:
            tokens, until = self._local.get(key, (0, 0.0))
            if tokens > 0 and now < until:
                self._local[key] = (tokens - 1, until)
                return True
        return False

    def acquire(self, key: str) -> float:
        """Take one token for ``key``; return 0 when granted, else seconds until one is due.

        Reads the database only when this process holds no token for the key.
        """
        if self.try_local(key):
            return 0.0
        now = self.clock()
        with self.engine.begin() as conn:
            write_lock(conn)
            tokens = self._refilled(conn, key, now)
            if tokens < 1.0:
                self._store(conn, key, tokens, now)
                return (1.0 - tokens) / self.rate
            take = min(int(tokens), max(1, math.ceil(self.rate * _CHUNK_S)))
            self._store(conn, key, tokens - take, now)
        with self._lock:
            self._local[key] = (take - 1, now + _LOCAL_TTL_S)
        return 0.0

    def _refilled(self, conn: sa.Connection, key: str, now: float) -> float:
        """The key's tokens now (the row locked on PostgreSQL), its row created when missing."""
        q = sa.select(rate_buckets).where(rate_buckets.c.bucket == key)
        if conn.dialect.name == "postgresql":
            q = q.with_for_update()
        row = conn.execute(q).first()
        if row is None:
            if conn.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as pg_insert  # noqa: PLC0415

                conn.execute(
                    pg_insert(rate_buckets)
                    .values(bucket=key, tokens=float(self.burst), refilled_at=now)
                    .on_conflict_do_nothing()
                )
            else:
                conn.execute(
                    sa.insert(rate_buckets).values(
                        bucket=key, tokens=float(self.burst), refilled_at=now
                    )
                )
            row = conn.execute(q).one()
        elapsed = max(0.0, now - float(row.refilled_at))
        return min(float(self.burst), float(row.tokens) + elapsed * self.rate)

    @staticmethod
    def _store(conn: sa.Connection, key: str, tokens: float, now: float) -> None:
        conn.execute(
            sa.update(rate_buckets)
            .where(rate_buckets.c.bucket == key)
            .values(tokens=tokens, refilled_at=now)
        )
