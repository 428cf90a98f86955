"""Request budgets: how many requests a connection may make per second and at once.

The :class:`Budget` protocol is what a connector calls around every HTTP request. It *waits*
(never fails) for a rate token and a concurrency slot, lowers the rate after the system says
"too many requests" (:meth:`Budget.penalize`) and recovers gradually afterwards.

:class:`LocalBudget` holds in one process (tests, the embedded single-process mode). The
cross-process implementation backed by the database lives in ``accord.store`` and implements
the same protocol; nothing here knows about it.

What does *not* belong here: retries and backoff (the flow layer does those, durably).
"""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

__all__ = [
    "LANES",
    "Budget",
    "BudgetUsage",
    "ConnectionLimits",
    "Lane",
    "LocalBudget",
    "current_lane",
    "lane",
    "lanes_above",
    "slot_held",
    "slot_is_held",
]


class Lane(StrEnum):
    """Who a call is for, which decides who gets a connection's next free slot.

    ``interactive`` (a person waiting on a synchronous API answer) before ``flow`` (a
    business flow's own writes: provisioning, contract changes, customer master) before
    ``bulk`` (postings, polling of invoices and payments) before ``background``
    (reconciliation, discovery). A lower lane takes a free slot only when no higher lane is
    waiting for one, and never one of the slots its connection ``reserve``s for higher lanes.
    """

    INTERACTIVE = "interactive"
    FLOW = "flow"
    BULK = "bulk"
    BACKGROUND = "background"


LANES: tuple[Lane, ...] = (Lane.INTERACTIVE, Lane.FLOW, Lane.BULK, Lane.BACKGROUND)
"""Lanes, highest priority first."""

_LANE: ContextVar[Lane] = ContextVar("accord_budget_lane", default=Lane.FLOW)


@contextmanager
def lane(value: Lane | str) -> Iterator[None]:
    """Calls made inside (this thread or task, and threads started from it) use ``value``."""
    token = _LANE.set(Lane(value))
    try:
        yield
    finally:
        _LANE.reset(token)


def current_lane() -> Lane:
    """The lane of calls made now (``flow`` unless :func:`lane` says otherwise)."""
    return _LANE.get()


def lanes_above(value: Lane) -> tuple[Lane, ...]:
    """The lanes that go before ``value``."""
    return LANES[: LANES.index(value)]


_SLOT_HELD: ContextVar[bool] = ContextVar("accord_budget_slot_held", default=False)


@contextmanager
def slot_held() -> Iterator[None]:
    """Calls made inside already hold a slot of their connection (a dispatcher's gate).

    A dispatcher holds its connection's slots in bulk and passes one to each call it makes;
    a synchronous call it makes from a worker thread inside that slot (a reference-data read,
    a Business Central batch) must not ask the budget for a second one, which the dispatcher
    itself may be holding.
    """
    token = _SLOT_HELD.set(True)
    try:
        yield
    finally:
        _SLOT_HELD.reset(token)


def slot_is_held() -> bool:
    """Whether the current call already holds a slot (see :func:`slot_held`)."""
    return _SLOT_HELD.get()


@runtime_checkable
class ConnectionLimits(Protocol):
    """What a budget needs to know about a connection; every ``ConnectorConfig`` is one."""

    @property
    def name(self) -> str:
        """Connection name: the key the budget is kept under."""
        ...

    @property
    def rate_per_s(self) -> float:
        """Configured requests per second."""
        ...

    @property
    def concurrency(self) -> int:
        """Configured requests in flight at once."""
        ...


@dataclass(frozen=True, slots=True)
class BudgetUsage:
    """A snapshot of one connection's budget, for the API, the console and tests."""

    connection: str
    rate_per_s: float
    """The configured rate."""
    effective_rate_per_s: float
    """The rate currently granted: lower than configured after a 429, recovering over time."""
    concurrency: int
    in_flight: int
    waiting: int
    """Callers currently waiting for a token or a slot."""
    acquired_total: int
    penalties_total: int
    max_in_flight: int
    """Highest ``in_flight`` seen since the budget was created."""
    lanes: tuple[tuple[str, int], ...] = ()
    """Calls granted per lane (``interactive``, ``flow``, ``bulk``, ``background``)."""
    day_used: int | None = None
    """Calls made today against a daily allowance (``daily_limit``), when one is set."""


@runtime_checkable
class Budget(Protocol):
    """The rate and concurrency budget of connections, shared by every caller that holds it.

    Implementations must be thread-safe. ``acquire`` receives the connection's limits on every
    call, so an implementation needs no registration step and picks up changed limits.
    """

    def acquire(self, connection: ConnectionLimits) -> AbstractContextManager[None]:
        """Wait for a rate token and a concurrency slot; the slot is held inside the block.

        Never raises for lack of budget: it blocks until both are available.
        """
        ...

    def penalize(self, connection: ConnectionLimits, retry_after: float | None) -> None:
        """Record a throttle answer (429): halve the effective rate, pause ``retry_after``."""
        ...

    def usage(self, connection: ConnectionLimits) -> BudgetUsage:
        """The current state of one connection's budget."""
        ...


@dataclass(slots=True)
class _Bucket:
    rate: float
    effective: float
    concurrency: int
    tokens: float
    updated_at: float
    paused_until: float = 0.0
    in_flight: int = 0
    waiting: int = 0
    acquired_total: int = 0
    penalties_total: int = 0
    max_in_flight: int = 0


class LocalBudget:
    """In-process :class:`Budget`: a token bucket plus a counting slot per connection.

    Tokens refill at the effective rate with a burst of at most one second's worth (and at
    least one token). A penalty halves the effective rate (never below ``min_rate_fraction`` of
    the configured rate) and pauses new grants for ``retry_after`` seconds; afterwards the rate
    climbs back linearly to the configured one over ``recovery_s`` seconds (AIMD, as TCP does).

    Args:
        monotonic: Clock in seconds (injected for tests).
        sleep: How to wait for a token (injected for tests; a fake advances the fake clock).
        recovery_s: Seconds for the effective rate to climb from zero back to the configured one.
        min_rate_fraction: Floor of the effective rate, as a fraction of the configured rate.
    """

    def __init__(
        self,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        recovery_s: float = 60.0,
        min_rate_fraction: float = 0.05,
    ) -> None:
        self._monotonic = monotonic
        self._sleep = sleep
        self._recovery_s = recovery_s
        self._min_fraction = min_rate_fraction
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self._slot_freed = threading.Condition(self._lock)

    def acquire(self, connection: ConnectionLimits) -> AbstractContextManager[None]:
        """Wait for a concurrency slot, then a rate token; release the slot on exit."""
        return self._acquire(connection)

    @contextmanager
    def _acquire(self, connection: ConnectionLimits) -> Iterator[None]:
        self._take_slot(connection)
        try:
            self._take_token(connection)
            yield
        finally:
            with self._lock:
                bucket = self._buckets[connection.name]
                bucket.in_flight -= 1
                self._slot_freed.notify()

    def penalize(self, connection: ConnectionLimits, retry_after: float | None) -> None:
        """Halve the effective rate and pause grants for ``retry_after`` seconds."""
        with self._lock:
            now = self._monotonic()
            bucket = self._bucket(connection, now)
            floor = bucket.rate * self._min_fraction
            bucket.effective = max(floor, bucket.effective / 2)
            bucket.tokens = min(bucket.tokens, 0.0)
            bucket.paused_until = max(bucket.paused_until, now + max(retry_after or 0.0, 0.0))
            bucket.penalties_total += 1

    def usage(self, connection: ConnectionLimits) -> BudgetUsage:
        """A snapshot of the connection's budget."""
        with self._lock:
            bucket = self._bucket(connection, self._monotonic())
            return BudgetUsage(
                connection=connection.name,
                rate_per_s=bucket.rate,
                effective_rate_per_s=bucket.effective,
                concurrency=bucket.concurrency,
                in_flight=bucket.in_flight,
                waiting=bucket.waiting,
                acquired_total=bucket.acquired_total,
                penalties_total=bucket.penalties_total,
                max_in_flight=bucket.max_in_flight,
            )

    # ----------------------------------------------------------------- internals (lock held)
    def _bucket(self, connection: ConnectionLimits, now: float) -> _Bucket:
        bucket = self._buckets.get(connection.name)
        if bucket is None:
            rate = float(connection.rate_per_s)
            bucket = _Bucket(
                rate=rate,
                effective=rate,
                concurrency=connection.concurrency,
                tokens=1.0,
                updated_at=now,
            )
            self._buckets[connection.name] = bucket
        elif bucket.rate != connection.rate_per_s or bucket.concurrency != connection.concurrency:
            # Limits were reconfigured: adopt them, keeping the penalty ratio.
            ratio = bucket.effective / bucket.rate
            bucket.rate = float(connection.rate_per_s)
            bucket.effective = bucket.rate * ratio
            bucket.concurrency = connection.concurrency
        self._refill(bucket, now)
        return bucket

    def _refill(self, bucket: _Bucket, now: float) -> None:
        start = max(bucket.updated_at, bucket.paused_until)
        if now > start:
            elapsed = now - start
            if bucket.effective < bucket.rate:
                bucket.effective = min(
                    bucket.rate, bucket.effective + bucket.rate * elapsed / self._recovery_s
                )
            burst = max(1.0, bucket.effective)
            bucket.tokens = min(burst, bucket.tokens + elapsed * bucket.effective)
        bucket.updated_at = max(bucket.updated_at, now)

    def _take_slot(self, connection: ConnectionLimits) -> None:
        with self._lock:
            bucket = self._bucket(connection, self._monotonic())
            bucket.waiting += 1
            try:
                while bucket.in_flight >= bucket.concurrency:
                    self._slot_freed.wait()
            finally:
                bucket.waiting -= 1
            bucket.in_flight += 1
            bucket.max_in_flight = max(bucket.max_in_flight, bucket.in_flight)

    def _take_token(self, connection: ConnectionLimits) -> None:
        while True:
            with self._lock:
                now = self._monotonic()
                bucket = self._bucket(connection, now)
                if now >= bucket.paused_until and bucket.tokens >= 1.0:
                    bucket.tokens -= 1.0
                    bucket.acquired_total += 1
                    return
                if now < bucket.paused_until:
                    wait = bucket.paused_until - now
                else:
                    wait = (1.0 - bucket.tokens) / bucket.effective
                bucket.waiting += 1
            try:
                # Sleep outside the lock so that other connections and releases go on.
                self._sleep(max(wait, 0.001))
            finally:
                with self._lock:
                    bucket.waiting -= 1
