"""Connection budgets shared by every process on the database (the cross-process ``Budget``).

Each connection has one row of state (a token bucket whose rate adapts to 429s) and one row
per request in flight (a lease with a short expiry that its live process keeps renewing, so
the slots of a killed process free themselves within :data:`LEASE_TTL_S`, and at once when
its worker restarts or is recovered: :meth:`DatabaseBudget.release_held`). A grant
is one short write transaction: SQLite serialises it with its IMMEDIATE lock, PostgreSQL with
``SELECT ... FOR UPDATE`` on the state row. Callers that get no grant sleep briefly and try
again: calls beyond the budget wait, they never fail.

A process keeps what the database granted it for a moment, so that a busy connection does not
pay two write transactions per request (at quarter-end volumes those transactions, not the
calls, were the bottleneck):

- a slot (lease row) freed by one call is reused by the next call of the same process, for at
  most :data:`_ROTATE_S`; then it goes back to the database, so other processes get their turn.
  A slot nobody in the process wants for :data:`_IDLE_S` is given back by a background thread.
- a grant takes up to :data:`_CHUNK_S` worth of rate tokens at once; tokens not used within
  :data:`_TOKEN_TTL_S` are dropped (unused tokens only ever lower the rate actually used).

Threads of one process beyond the connection's concurrency wait locally, without touching the
database. The lease rows therefore count slots *held* by each process, which is what bounds
the requests in flight across processes.

Time is wall-clock (``time.time``), which every process on one machine shares; across machines
it relies on synchronised clocks, as leases and rate windows are seconds long.
"""

import atexit
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from accord.connectors.budget import (
    LANES,
    BudgetUsage,
    ConnectionLimits,
    Lane,
    current_lane,
    lanes_above,
)
from accord.errors import RateLimitExceeded
from accord.observability.metrics import get_metrics
from accord.store.tables import budget_leases, budget_state
from accord.store.util import write_lock

__all__ = ["LEASE_TTL_S", "BudgetRow", "DatabaseBudget", "Holding", "in_flight", "states"]

logger = logging.getLogger(__name__)

LEASE_TTL_S = 10.0
"""Seconds a lease lives without renewal: how long a killed process's slots stay taken at most.

A live process renews its leases every :data:`_RENEW_FRACTION` of this, so it only has to
outlive a stall of the renewing thread, not the longest request."""
_RENEW_FRACTION = 0.2
"""Leases are renewed when this share of their lifetime has passed since the last renewal."""
_RECOVERY_S = 60.0
"""Seconds for a penalised rate to climb back to the configured rate."""
_MIN_FRACTION = 0.05
"""A penalised rate never drops below this share of the configured rate."""
_ROTATE_S = 1.0
"""Seconds a process may keep reusing one slot before handing it back to the database."""
_IDLE_S = 0.2
"""Seconds a held slot may sit unused in a process before it is handed back."""
_CHUNK_S = 0.05
"""A grant takes at most this many seconds' worth of rate tokens."""
_TOKEN_TTL_S = 0.25
"""Tokens a process took but did not use within this many seconds are dropped."""


class _Held:
    """What one process holds of one connection's budget (guarded by ``cond``)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.free: dict[str, tuple[float, float]] = {}
        """Held leases not in use: id -> (granted at, freed at)."""
        self.busy: dict[str, float] = {}
        """Held leases in use: id -> granted at."""
        self.lost: set[str] = set()
        """Leases in use that the database no longer has (expired meanwhile): never reused."""
        self.tokens = 0
        self.tokens_until = 0.0
        self.granting = False
        """A thread of this process is asking the database (the others wait for its result)."""


@dataclass(frozen=True)
class Holding:
    """What a dispatcher holds of a connection's budget after :meth:`DatabaseBudget.hold`."""

    slots: int
    """Slots (lease rows) held: the calls it may have in flight."""
    rate_per_s: float
    """The connection's effective rate now (lowered after 429s, recovering over a minute)."""
    paused_until: float
    """Epoch seconds before which nobody may call (a 429's ``Retry-After``)."""


class DatabaseBudget:
    """A :class:`accord.connectors.budget.Budget` held in the database, across processes."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        holder: str = "accord",
        lease_ttl_s: float = LEASE_TTL_S,
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
        self._lane_waiting: dict[tuple[str, Lane], int] = {}
        self._max_in_flight: dict[str, int] = {}
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()
        self._trimmer: threading.Thread | None = None
        self._closed = threading.Event()
        self._renewed_at = 0.0

    def release_held(self) -> int:
        """Free every slot held under this holder id, in every connection; returns how many.

        A process killed mid-request (SIGKILL, OOM) cannot release its leases, and they would
        otherwise block the connection until they expire. A restarted worker runs under the same
        holder id (its ``ACCORD_WORKER_ID``), so it reclaims them at start; ``accord workers
        recover`` frees a dead worker's the same way when it hands its runs over.
        """
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.delete(budget_leases).where(
                    budget_leases.c.holder.in_([self.holder, self.dispatch_holder])
                )
            )
        return int(result.rowcount or 0)

    @property
    def dispatch_holder(self) -> str:
        """The holder of the slots this process's dispatchers hold (:meth:`hold`)."""
        return f"{self.holder}/dispatch"

    def hold(
        self, connection: ConnectionLimits, *, want: int, used: int, keep_extra: bool = False
    ) -> Holding:
        """For a dispatcher: hold up to ``want`` slots, renewing them, and pay for ``used`` calls.

        A dispatcher keeps its connection's concurrency full from one event loop, so instead of
        one transaction per call it holds a number of slots (lease rows, counted against the
        connection's concurrency like any caller's) and renews them a few times a second; the
        calls it made since the last renewal are taken from the shared token bucket then (it
        may go negative: the other processes' callers wait for it to refill). While the
        connection is paused (a 429) it keeps what it holds but takes no more.

        Its calls are ``bulk``: it never holds the slots the connection reserves for higher
        lanes, and while a higher lane's caller waits it leaves one slot free. With
        ``keep_extra`` it learns the slots it may hold without giving any back yet (it drains
        its calls in flight to that number first, then holds again).
        """
        holder = self.dispatch_holder
        with self.engine.begin() as conn:
            now, state = self._locked_state(conn, connection, expire=True)
            mine = [
                str(r[0])
                for r in conn.execute(
                    sa.select(budget_leases.c.id).where(
                        budget_leases.c.connection == connection.name,
                        budget_leases.c.holder == holder,
                    )
                )
            ]
            others = self._in_flight(conn, connection.name, now) - len(mine)
            # Bulk gives way: never into the higher lanes' reserve, and one slot free while
            # another caller of its lane or a higher one waits for one (in the database or in
            # this process): a person's call, a flow's write, or a poll that would otherwise
            # wait out the whole drain.
            limit = _slot_limit(connection, Lane.BULK) - others
            if _demand_above(state, Lane.BACKGROUND, now) or self.has_local_demand(
                connection.name, Lane.BACKGROUND
            ):
                limit = min(limit, connection.concurrency - others - 1)
            allowed = max(0, min(want, limit))
            if now < state["paused_until"]:
                allowed = min(allowed, len(mine))
            day, day_used = self._day(state, now)
            if mine:
                conn.execute(
                    sa.update(budget_leases)
                    .where(budget_leases.c.id.in_(mine))
                    .values(expires_at=now + self.lease_ttl_s)
                )
            if allowed > len(mine):
                conn.execute(
                    sa.insert(budget_leases),
                    [
                        {
                            "id": uuid.uuid4().hex,
                            "connection": connection.name,
                            "holder": holder,
                            "expires_at": now + self.lease_ttl_s,
                        }
                        for _ in range(allowed - len(mine))
                    ],
                )
            elif allowed < len(mine) and not keep_extra:
                # (With keep_extra the caller first lets its calls in flight drain to
                # ``allowed``, then holds again: the slots go back only once free.)
                conn.execute(sa.delete(budget_leases).where(budget_leases.c.id.in_(mine[allowed:])))
            conn.execute(
                sa.update(budget_state)
                .where(budget_state.c.connection == connection.name)
                .values(
                    rate_per_s=state["rate"],
                    tokens=state["tokens"] - used,
                    refilled_at=now,
                    concurrency=connection.concurrency,
                    max_rate_per_s=connection.rate_per_s,
                    acquired_total=budget_state.c.acquired_total + used,
                    lane_bulk=budget_state.c.lane_bulk + used,
                    day_key=day,
                    day_used=day_used + used,
                )
            )
        get_metrics().budget_rate.labels(connection=connection.name).set(state["rate"])
        return Holding(slots=allowed, rate_per_s=state["rate"], paused_until=state["paused_until"])

    def unhold(self, connection: ConnectionLimits) -> None:
        """Give back every slot this process's dispatcher holds on ``connection``."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(budget_leases).where(
                    budget_leases.c.connection == connection.name,
                    budget_leases.c.holder == self.dispatch_holder,
                )
            )

    # ------------------------------------------------------------------ protocol
    def acquire(self, connection: ConnectionLimits) -> AbstractContextManager[None]:
        """Wait for a token and a slot; the slot (a lease row) is held inside the block."""
        return self._acquire(connection)

    def _held_for(self, name: str) -> _Held:
        with self._lock:
            held = self._held.get(name)
            if held is None:
                held = self._held[name] = _Held()
            if self._trimmer is None:
                self._trimmer = threading.Thread(
                    target=self._trim_loop, name="budget-trim", daemon=True
                )
                self._trimmer.start()
                # A process that ends without close() would otherwise keep its slots from the
                # others until the leases expire.
                atexit.register(self._close_quietly)
            return held

    @contextmanager
    def _acquire(self, connection: ConnectionLimits) -> Iterator[None]:
        name = connection.name
        held = self._held_for(name)
        current = current_lane()
        with self._lock:
            self._waiting[name] = self._waiting.get(name, 0) + 1
            key = (name, current)
            self._lane_waiting[key] = self._lane_waiting.get(key, 0) + 1
        try:
            lease_id, granted_at = self._take(connection, held, current)
        finally:
            with self._lock:
                self._waiting[name] -= 1
                self._lane_waiting[key] -= 1
        gauge = get_metrics().budget_in_use.labels(connection=name)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()
            self._give_back(held, lease_id, granted_at)

    def has_local_demand(self, name: str, below: Lane) -> bool:
        """Whether a caller of a lane above ``below`` waits for a slot of ``name`` here."""
        with self._lock:
            return any(self._lane_waiting.get((name, up), 0) > 0 for up in lanes_above(below))

    def _take(self, connection: ConnectionLimits, held: _Held, current: Lane) -> tuple[str, float]:
        """A held slot and a token: reused locally when possible, else granted by the database.

        A free slot of this process goes to the highest lane waiting for it.
        """
        while True:
            with held.cond:
                now = self.clock()
                if now >= held.tokens_until:
                    held.tokens = 0
                if (
                    held.free
                    and held.tokens > 0
                    and not self.has_local_demand(connection.name, current)
                ):
                    lease_id, (granted_at, _) = held.free.popitem()
                    held.tokens -= 1
                    held.busy[lease_id] = granted_at
                    return lease_id, granted_at
                full = len(held.busy) >= connection.concurrency
                if full or held.granting:
                    # Every slot this process may hold is busy, or another thread is asking the
                    # database right now: wait here, not in the database.
                    held.cond.wait(self.poll_s * 5)
                    continue
                held.granting = True
                new_slot = not held.free
            try:
                wait, granted, tokens = self._try_grant(connection, new_slot=new_slot, lane=current)
            finally:
                with held.cond:
                    held.granting = False
                    held.cond.notify_all()
            if wait > 0:
                self.sleep(min(max(wait, self.poll_s), 0.5))
                continue
            with held.cond:
                now = self.clock()
                held.tokens = tokens
                held.tokens_until = now + _TOKEN_TTL_S
                if granted is not None:
                    held.free[granted] = (now, now)
                held.cond.notify_all()
            # The tokens and the slot are this process's now: the next pass takes them (unless
            # the trimmer handed the slot back meanwhile, and then it asks for a new one).

    @property
    def _rotate_s(self) -> float:
        """How long a slot may be reused: well inside its lease, so it never expires in use."""
        return min(_ROTATE_S, self.lease_ttl_s / 2)

    def _give_back(self, held: _Held, lease_id: str, granted_at: float) -> None:
        """Keep the slot for the next call of this process, or return it to the database."""
        now = self.clock()
        rotate = self._rotate_s
        with held.cond:
            held.busy.pop(lease_id, None)
            if lease_id in held.lost:
                held.lost.discard(lease_id)
                held.cond.notify_all()
                return
            keep = now - granted_at < rotate and not self._closed.is_set()
            if keep:
                held.free[lease_id] = (granted_at, now)
            held.cond.notify_all()
        if not keep:
            self._release([lease_id])

    def _release(self, lease_ids: list[str]) -> None:
        if lease_ids:
            with self.engine.begin() as conn:
                conn.execute(sa.delete(budget_leases).where(budget_leases.c.id.in_(lease_ids)))

    def _trim_loop(self) -> None:
        """Hand back idle slots (other processes get them) and renew the leases still held."""
        while not self._closed.wait(_IDLE_S / 2):
            try:
                self._trim(idle_s=_IDLE_S)
                if self.clock() - self._renewed_at >= self.lease_ttl_s * _RENEW_FRACTION:
                    self._renew()
            except sa.exc.SQLAlchemyError:
                # A busy or briefly unavailable database: the next pass tries again, and the
                # leases expire on their own in the worst case.
                continue

    def _renew(self) -> None:
        """Push the expiry of every lease this process holds; forget those it no longer has."""
        now = self.clock()
        with self._lock:
            helds = list(self._held.values())
        mine: set[str] = set()
        for held in helds:
            with held.cond:
                mine.update(held.free)
                mine.update(held.busy)
        self._renewed_at = now
        if not mine:
            return
        with self.engine.begin() as conn:
            kept = {
                row[0]
                for row in conn.execute(
                    sa.update(budget_leases)
                    .where(budget_leases.c.id.in_(mine), budget_leases.c.holder == self.holder)
                    .values(expires_at=now + self.lease_ttl_s)
                    .returning(budget_leases.c.id)
                )
            }
        lost = mine - kept
        if lost:
            # Expired during a stall (another process deleted them) or freed by a recovery that
            # took this process for dead: the database no longer counts them, so do not reuse
            # the idle ones. One in use finishes its request and is then dropped.
            logger.warning("%d budget slots of %s expired while held", len(lost), self.holder)
            for held in helds:
                with held.cond:
                    for lease_id in lost:
                        held.free.pop(lease_id, None)
                        if lease_id in held.busy:
                            held.lost.add(lease_id)

    def _trim(self, *, idle_s: float) -> None:
        now = self.clock()
        rotate = self._rotate_s
        stale: list[str] = []
        with self._lock:
            helds = list(self._held.values())
        for held in helds:
            with held.cond:
                for lease_id, (granted_at, freed_at) in list(held.free.items()):
                    if now - freed_at >= idle_s or now - granted_at >= rotate:
                        del held.free[lease_id]
                        stale.append(lease_id)
        self._release(stale)

    def close(self) -> None:
        """Hand back every slot this process holds and is not using, and stop trimming."""
        self._closed.set()
        self._trim(idle_s=0.0)

    def _close_quietly(self) -> None:
        try:
            self.close()
        except sa.exc.SQLAlchemyError:
            logger.warning("could not hand back the budget's slots at exit; they will expire")

    def penalize(self, connection: ConnectionLimits, retry_after: float | None) -> None:
        """Halve the effective rate and pause new grants for ``retry_after`` seconds."""
        held = self._held_for(connection.name)
        with held.cond:
            held.tokens = 0  # the pause applies to this process's tokens in hand too
        with self.engine.begin() as conn:
            now, state = self._locked_state(conn, connection)
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
            lanes=tuple(state["lanes"].items()),
            day_used=self._day(state, now)[1] if getattr(connection, "daily_limit", None) else None,
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
            "demand_interactive": row.demand_interactive,
            "demand_flow": row.demand_flow,
            "demand_bulk": row.demand_bulk,
            "lanes": {lane.value: int(getattr(row, f"lane_{lane.value}")) for lane in LANES},
            "day_key": row.day_key,
            "day_used": row.day_used,
        }

    def _locked_state(
        self, conn: sa.Connection, connection: ConnectionLimits, *, expire: bool = False
    ) -> tuple[float, dict[str, Any]]:
        """Take the write lock, then read the clock and the state (see :meth:`_state`).

        With ``expire``, the connection's expired leases are dropped too, so that what is
        counted as in flight after it is what really is.

        Returns:
            ``(now, state)``.
        """
        write_lock(conn)
        now = self.clock()
        state = self._state(conn, connection, now)
        if expire:
            conn.execute(
                sa.delete(budget_leases).where(
                    budget_leases.c.connection == connection.name,
                    budget_leases.c.expires_at <= now,
                )
            )
        return now, state

    def _in_flight(self, conn: sa.Connection, name: str, now: float) -> int:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(budget_leases)
                .where(budget_leases.c.connection == name, budget_leases.c.expires_at > now)
            ).scalar_one()
        )

    def _try_grant(
        self, connection: ConnectionLimits, *, new_slot: bool, lane: Lane = Lane.FLOW
    ) -> tuple[float, str | None, int]:
        """Take tokens (and a new slot when asked) if free, by lane.

        A new slot goes to ``lane`` only when no caller of a higher lane waits for one (their
        demand, kept in the state row for half a second) and not into the slots the connection
        reserves for higher lanes. A caller of ``interactive``, ``flow`` or ``bulk`` that finds
        every slot taken records its demand, so that lower lanes and dispatchers (which hold
        slots in bulk) give one back. The day's calls are counted against ``daily_limit``.

        Returns:
            ``(wait, lease_id, tokens)``: the seconds worth waiting (0 when granted), the new
            lease (``None`` when no slot was asked for or none was granted), and how many tokens
            were taken.

        Raises:
            RateLimitExceeded: The day's allowance (less its ``interactive`` reserve) is spent.
        """
        lease_id = uuid.uuid4().hex if new_slot else None
        taken = 0
        with self.engine.begin() as conn:
            now, state = self._locked_state(conn, connection, expire=True)
            in_flight = self._in_flight(conn, connection.name, now)
            values: dict[str, Any] = {
                "rate_per_s": state["rate"],
                "tokens": state["tokens"],
                "refilled_at": now,
                "concurrency": connection.concurrency,
                "max_rate_per_s": connection.rate_per_s,
            }
            day, used = self._day(state, now)
            limit = _slot_limit(connection, lane)
            wait = 0.0
            if now < state["paused_until"]:
                wait = state["paused_until"] - now
            elif new_slot and (in_flight >= limit or _demand_above(state, lane, now)):
                wait = self.poll_s
                if in_flight >= limit and lane in _DEMANDING:
                    values[f"demand_{lane.value}"] = now + _DEMAND_S
            elif state["tokens"] < 1.0:
                wait = (1.0 - state["tokens"]) / max(state["rate"], 1e-6)
            else:
                taken = max(1, min(int(state["tokens"]), int(state["rate"] * _CHUNK_S)))
                taken = min(taken, _day_left(connection, lane, used))
                values["tokens"] = state["tokens"] - taken
                values["acquired_total"] = budget_state.c.acquired_total + taken
                values[f"lane_{lane.value}"] = getattr(budget_state.c, f"lane_{lane.value}") + taken
                values["day_key"], values["day_used"] = day, used + taken
                if lease_id is not None:
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
        if wait > 0:
            return wait, None, 0
        return wait, lease_id, taken

    @staticmethod
    def _day(state: dict[str, Any], now: float) -> tuple[str, int]:
        """Today's UTC key and the calls counted today (a new day starts at zero)."""
        day = time.strftime("%Y-%m-%d", time.gmtime(now))
        return day, int(state["day_used"]) if state["day_key"] == day else 0


_DEMAND_S = 0.5
"""How long a waiting higher-lane caller's demand keeps lower lanes from new slots."""
_DEMANDING = frozenset({Lane.INTERACTIVE, Lane.FLOW, Lane.BULK})
"""Lanes whose waiting callers make a dispatcher (and lower lanes) give slots back."""


def _reserved_above(connection: ConnectionLimits, current: Lane) -> int:
    reserve: dict[str, int] = getattr(connection, "reserve", None) or {}
    return sum(int(reserve.get(up.value, 0)) for up in lanes_above(current))


def _slot_limit(connection: ConnectionLimits, current: Lane) -> int:
    """Slots ``current`` may see in flight before it waits: all but the higher lanes' reserve."""
    return max(1, connection.concurrency - _reserved_above(connection, current))


def _demand_above(state: dict[str, Any], current: Lane, now: float) -> bool:
    return any(
        float(state.get(f"demand_{up.value}", 0.0)) > now
        for up in lanes_above(current)
        if up in _DEMANDING
    )


def _day_left(connection: ConnectionLimits, current: Lane, used: int) -> int:
    """Calls ``current`` may still make today (the ``interactive`` reserve is for that lane only).

    Raises:
        RateLimitExceeded: The allowance left to ``current`` is spent until midnight UTC.
    """
    limit = getattr(connection, "daily_limit", None)
    if not limit:
        return 1 << 30
    reserve = 0 if current is Lane.INTERACTIVE else int(getattr(connection, "daily_reserve", 0))
    left = limit - reserve - used
    if left < 1:
        raise RateLimitExceeded(
            f"the daily allowance of {limit} calls is spent for lane {current.value}",
            connector=connection.name,
            retry_after=_seconds_to_midnight(),
        )
    return int(left)


def _seconds_to_midnight() -> float:
    now = time.time()
    return 86400.0 - now % 86400.0


# ---------------------------------------------------------------------- read models
@dataclass(frozen=True)
class BudgetRow:
    """The shared budget state of one connection, as the console and the gauges show it."""

    connection: str
    rate_per_s: float
    max_rate_per_s: float
    concurrency: int
    acquired_total: int
    throttled_total: int
    paused_until: float
    lanes: tuple[tuple[str, int], ...] = ()
    """Calls granted per lane (interactive, flow, bulk, background), since the row began."""
    day_used: int = 0
    """Calls counted against today's (UTC) daily allowance."""


def states(conn: sa.Connection, *, now: float | None = None) -> dict[str, BudgetRow]:
    """Every connection's persisted budget, by name (``now``: for today's count; default now)."""
    today = time.strftime("%Y-%m-%d", time.gmtime(time.time() if now is None else now))
    rows = conn.execute(sa.select(budget_state).order_by(budget_state.c.connection))
    return {
        r.connection: BudgetRow(
            connection=r.connection,
            rate_per_s=float(r.rate_per_s),
            max_rate_per_s=float(r.max_rate_per_s),
            concurrency=int(r.concurrency),
            acquired_total=int(r.acquired_total),
            throttled_total=int(r.throttled_total),
            paused_until=float(r.paused_until),
            lanes=tuple((lane.value, int(getattr(r, f"lane_{lane.value}"))) for lane in LANES),
            day_used=int(r.day_used) if r.day_key == today else 0,
        )
        for r in rows
    }


def in_flight(conn: sa.Connection, *, now: float | None = None) -> dict[str, int]:
    """Slots held (unexpired leases) per connection, across every process."""
    rows = conn.execute(
        sa.select(budget_leases.c.connection, sa.func.count().label("n"))
        .where(budget_leases.c.expires_at > (time.time() if now is None else now))
        .group_by(budget_leases.c.connection)
    )
    return {str(r.connection): int(r.n) for r in rows}
