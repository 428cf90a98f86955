"""Connection budgets shared by every process on the database (the cross-process ``Budget``).

Each connection has one row of state (a token bucket whose rate adapts to 429s) and one row
per request in flight (a lease with an expiry, so a killed process frees its slots). A grant
is one short write transaction: SQLite serialises it with its IMMEDIATE lock, PostgreSQL with
``SELECT ... FOR UPDATE`` on the state row. Callers that get no grant sleep briefly and try
again: calls beyond the budget wait, they never fail.

In front of the database sits a per-process gate as wide as the connection's concurrency: one
process can never hold more slots than that, so extra threads wait on the gate without
touching the database. Without it, every waiting thread polled with a write transaction every
few milliseconds, and at quarter-end volumes those polls, not the calls, were the bottleneck.

Time is wall-clock (``time.time``), which every process on one machine shares; across machines
it relies on synchronised clocks, as leases and rate windows are seconds long.
"""

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import sqlalchemy as sa

from accord.connectors.budget import BudgetUsage, ConnectionLimits
from accord.observability.metrics import get_metrics
from accord.store.tables import budget_leases, budget_state
from accord.store.util import write_lock

__all__ = ["DatabaseBudget"]

_RECOVERY_S = 60.0
"""Seconds for a penalised rate to climb back to the configured rate."""
_MIN_FRACTION = 0.05
"""A penalised rate never drops below this share of the configured rate."""


class DatabaseBudget:
    """A :class:`accord.connectors.budget.Budget` held in the database, across processes."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        holder: str = "accord",
        lease_ttl_s: float = 120.0,
        poll_s: float = 0.01,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine = engine
        self.holder = holder
        self.lease_ttl_s = lease_ttl_s
        self.poll_s = poll_s
        self.clock = clock
        self.sleep = sleep
        self._waiting: dict[str, int] = {}
        self._max_in_flight: dict[str, int] = {}
        self._gates: dict[str, tuple[int, threading.Semaphore]] = {}
        self._lock = threading.Lock()

    def release_held(self) -> int:
        """Free every slot this holder's earlier life left behind; returns how many.

        A process killed mid-request (SIGKILL, OOM) cannot release its leases, and they would
        otherwise block the connection until they expire. A restarted worker runs under the same
        holder id (its ``ACCORD_WORKER_ID``), so it reclaims them at start instead.
        """
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.delete(budget_leases).where(budget_leases.c.holder == self.holder)
            )
        return int(result.rowcount or 0)

    # ------------------------------------------------------------------ protocol
    def acquire(self, connection: ConnectionLimits) -> AbstractContextManager[None]:
        """Wait for a token and a slot; the slot (a lease row) is held inside the block."""
        return self._acquire(connection)

    def _gate(self, connection: ConnectionLimits) -> threading.Semaphore:
        """This process's gate for a connection, rebuilt when its concurrency changes."""
        with self._lock:
            found = self._gates.get(connection.name)
            if found is None or found[0] != connection.concurrency:
                found = (connection.concurrency, threading.Semaphore(connection.concurrency))
                self._gates[connection.name] = found
            return found[1]

    @contextmanager
    def _acquire(self, connection: ConnectionLimits) -> Iterator[None]:
        lease_id = uuid.uuid4().hex
        gate = self._gate(connection)
        with self._lock:
            self._waiting[connection.name] = self._waiting.get(connection.name, 0) + 1
        gate.acquire()
        try:
            try:
                while True:
                    wait = self._try_grant(connection, lease_id)
                    if wait <= 0:
                        break
                    self.sleep(min(max(wait, self.poll_s), 0.5))
            finally:
                with self._lock:
                    self._waiting[connection.name] -= 1
            gauge = get_metrics().budget_in_use.labels(connection=connection.name)
            gauge.inc()
            try:
                yield
            finally:
                gauge.dec()
                with self.engine.begin() as conn:
                    conn.execute(sa.delete(budget_leases).where(budget_leases.c.id == lease_id))
        finally:
            gate.release()

    def penalize(self, connection: ConnectionLimits, retry_after: float | None) -> None:
        """Halve the effective rate and pause new grants for ``retry_after`` seconds."""
        with self.engine.begin() as conn:
            write_lock(conn)
            now = self.clock()
            state = self._state(conn, connection, now)
            floor = connection.rate_per_s * _MIN_FRACTION
            conn.execute(
                sa.update(budget_state)
                .where(budget_state.c.connection == connection.name)
                .values(
                    rate_per_s=max(floor, state["rate"] / 2),
                    tokens=min(state["tokens"], 0.0),
                    paused_until=max(state["paused_until"], now + (retry_after or 1.0)),
                    refilled_at=now,
                    throttled_total=budget_state.c.throttled_total + 1,
                )
            )
        get_metrics().connector_throttled.labels(connection=connection.name).inc()

    def usage(self, connection: ConnectionLimits) -> BudgetUsage:
        """The shared state as seen now."""
        now = self.clock()
        with self.engine.begin() as conn:
            state = self._state(conn, connection, now)
            in_flight = self._in_flight(conn, connection.name, now)
        with self._lock:
            waiting = self._waiting.get(connection.name, 0)
            max_seen = self._max_in_flight.get(connection.name, 0)
        return BudgetUsage(
            connection=connection.name,
            rate_per_s=connection.rate_per_s,
            effective_rate_per_s=state["rate"],
            concurrency=connection.concurrency,
            in_flight=in_flight,
            waiting=waiting,
            acquired_total=state["acquired_total"],
            penalties_total=state["throttled_total"],
            max_in_flight=max(max_seen, in_flight),
        )

    # ------------------------------------------------------------------ internals
    def _state(
        self, conn: sa.Connection, connection: ConnectionLimits, now: float
    ) -> dict[str, Any]:
        """Lock (PostgreSQL) or read the state row, creating it, with rate recovery applied."""
        q = sa.select(budget_state).where(budget_state.c.connection == connection.name)
        if conn.dialect.name == "postgresql":
            q = q.with_for_update()
        row = conn.execute(q).first()
        if row is None:
            values = {
                "connection": connection.name,
                "rate_per_s": connection.rate_per_s,
                "max_rate_per_s": connection.rate_per_s,
                "tokens": 1.0,
                "refilled_at": now,
                "concurrency": connection.concurrency,
            }
            if conn.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as pg_insert  # noqa: PLC0415

                conn.execute(pg_insert(budget_state).values(values).on_conflict_do_nothing())
                row = conn.execute(q).one()
            else:
                conn.execute(sa.insert(budget_state).values(values))
                row = conn.execute(q).one()
        elapsed = max(0.0, now - row.refilled_at)
        # A penalised rate climbs back linearly to the configured rate over _RECOVERY_S.
        rate = min(
            connection.rate_per_s,
            row.rate_per_s + elapsed * connection.rate_per_s / _RECOVERY_S,
        )
        burst = max(1.0, min(rate, float(connection.concurrency)))
        tokens = min(burst, row.tokens + elapsed * rate) if now >= row.paused_until else row.tokens
        return {
            "rate": rate,
            "tokens": tokens,
            "paused_until": row.paused_until,
            "acquired_total": row.acquired_total,
            "throttled_total": row.throttled_total,
        }

    def _in_flight(self, conn: sa.Connection, name: str, now: float) -> int:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(budget_leases)
                .where(budget_leases.c.connection == name, budget_leases.c.expires_at > now)
            ).scalar_one()
        )

    def _try_grant(self, connection: ConnectionLimits, lease_id: str) -> float:
        """Take a token and a slot if both are free; else the seconds worth waiting."""
        with self.engine.begin() as conn:
            write_lock(conn)
            now = self.clock()
            state = self._state(conn, connection, now)
            conn.execute(
                sa.delete(budget_leases).where(
                    budget_leases.c.connection == connection.name,
                    budget_leases.c.expires_at <= now,
                )
            )
            in_flight = self._in_flight(conn, connection.name, now)
            values: dict[str, Any] = {
                "rate_per_s": state["rate"],
                "tokens": state["tokens"],
                "refilled_at": now,
                "concurrency": connection.concurrency,
                "max_rate_per_s": connection.rate_per_s,
            }
            wait = 0.0
            if now < state["paused_until"]:
                wait = state["paused_until"] - now
            elif in_flight >= connection.concurrency:
                wait = self.poll_s
            elif state["tokens"] < 1.0:
                wait = (1.0 - state["tokens"]) / max(state["rate"], 1e-6)
            else:
                values["tokens"] = state["tokens"] - 1.0
                values["acquired_total"] = budget_state.c.acquired_total + 1
                conn.execute(
                    sa.insert(budget_leases).values(
                        id=lease_id,
                        connection=connection.name,
                        holder=self.holder,
                        expires_at=now + self.lease_ttl_s,
                    )
                )
                with self._lock:
                    prev = self._max_in_flight.get(connection.name, 0)
                    self._max_in_flight[connection.name] = max(prev, in_flight + 1)
            conn.execute(
                sa.update(budget_state)
                .where(budget_state.c.connection == connection.name)
                .values(**values)
            )
        get_metrics().budget_rate.labels(connection=connection.name).set(state["rate"])
        return wait
