"""Dispatchers: one per outbound connection, keeping the connection's concurrency full.

Runs hand outbound work to the outbox (:mod:`accord.store.outbox`) in their own transaction;
a dispatcher sends it. Per connection, one process at a time holds the dispatch lease
(``dispatch:<connection>``, renewed every couple of seconds, taken over within
:data:`LEASE_TTL_S` when its holder dies); that process's dispatcher:

1. takes due items in lane order (``interactive`` > ``flow`` > ``bulk`` > ``background``),
   grouped by batch, keeping about four times the connection's concurrency in hand;
2. sends each batch through the item kind's :class:`OutboxHandler`, every call passing the
   :class:`Gate`: as many calls in flight as the slots it holds in the connection's shared
   budget (:meth:`accord.store.budget.DatabaseBudget.hold`, so API calls of other processes
   still get theirs), paced at the budget's rate, paused after a 429 for its ``Retry-After``,
   and one slot fewer for a while after each concurrency refusal;
3. records outcomes in batches: one transaction writes what the handler records (the posting
   ledger, lineage) and removes the items, or queues them again for later (transient
   failures, with exponential backoff and full jitter), then tells the handler, which wakes the
   runs waiting in this process.

All I/O runs on one event loop in a thread of the worker process; database calls go to worker
threads. A crash loses nothing (items stay in the outbox until their outcome is recorded) and
doubles nothing (every item is idempotent at its target by its key; a new holder first queues
again what its predecessor had taken).
"""

import asyncio
import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final, Protocol

import sqlalchemy as sa

from accord.connectors.base import Connector
from accord.connectors.budget import Lane, lane
from accord.errors import RetryableError
from accord.store import leases, outbox
from accord.store.budget import DatabaseBudget
from accord.store.outbox import OutboxRow
from accord.store.util import write_lock

__all__ = [
    "LEASE_TTL_S",
    "Dispatcher",
    "Disposition",
    "Gate",
    "OutboxHandler",
    "backoff_at",
]

logger = logging.getLogger(__name__)

LEASE_TTL_S: Final = 8.0
"""A dead holder's dispatch lease frees after this many seconds (renewed every third of it)."""
_IDLE_POLL_S: Final = 0.2
_HOLD_EVERY_S: Final = 0.25
_DEMAND_CHECK_S: Final = 0.01
"""How soon a higher lane waiting in this process makes the dispatcher give a slot back."""
_FLUSH_EVERY_S: Final = 0.05
_FLUSH_AT: Final = 200
_MAX_BACKOFF_S: Final = 60.0


def backoff_at(attempts: int, retry_after: float | None, *, now: float | None = None) -> float:
    """When to try an item again: ``Retry-After`` if given, else full-jitter exponential backoff."""
    moment = time.time() if now is None else now
    if retry_after:
        return moment + retry_after
    return moment + random.uniform(0, min(_MAX_BACKOFF_S, 0.5 * 2**attempts))  # noqa: S311


@dataclass
class Disposition:
    """What to do with one taken item: done (its outcome recorded) or queued again."""

    row: OutboxRow
    result: Any = None
    retry_at: float | None = None
    """Queue again, due at this epoch second (``None``: done)."""
    payload: str | None = None
    """A new payload when queued again (a re-dated posting)."""

    @property
    def done(self) -> bool:
        """The outcome is final and recorded; the item leaves the outbox."""
        return self.retry_at is None


class OutboxHandler(Protocol):
    """What a dispatcher needs to know about one kind of item (e.g. ``posting``)."""

    kind: str

    async def send(self, gate: "Gate", rows: list[OutboxRow]) -> list[Disposition]:
        """Send one batch's items; one disposition per row."""
        ...

    def record(self, conn: sa.Connection, done: list[Disposition]) -> None:
        """Record final outcomes in the dispatcher's transaction."""
        ...

    def settled(self, batch_ids: Collection[str]) -> None:
        """Items of these batches were recorded (wake whoever waits for them)."""
        ...

    async def aclose(self) -> None:
        """The dispatcher stops: close what the handler keeps open (connections)."""
        ...


class Gate:
    """One connection's outbound slots for its dispatcher: concurrency, pacing, pauses.

    ``async with gate(): ...`` around each call. The number of slots follows what the
    dispatcher holds in the shared budget; calls are spaced at the budget's rate.
    """

    def __init__(self, connector: Connector[Any]) -> None:
        self.connector = connector
        self.slots = 0
        self.rate = float(connector.config.rate_per_s)
        self.paused_until = 0.0
        self.used = 0
        """Calls made since the budget was last told."""
        self.refusals = 0
        """Concurrency refusals since the budget was last told (:meth:`refused`)."""
        self._in_flight = 0
        self._cond: asyncio.Condition | None = None
        self._next_at = 0.0

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    async def drained(self, slots: int) -> None:
        """Wait until no more than ``slots`` calls are in flight."""
        cond = self._condition()
        async with cond:
            await cond.wait_for(lambda: self._in_flight <= slots)

    def refused(self) -> None:
        """The system refused a call for concurrency: hold one slot fewer for a while."""
        self.refusals += 1

    async def resize(self, slots: int, rate: float, paused_until: float) -> None:
        """New limits from the budget."""
        cond = self._condition()
        async with cond:
            self.slots = slots
            self.rate = max(rate, 1e-3)
            self.paused_until = paused_until
            cond.notify_all()

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        """Hold one call slot for the block (waiting for a slot, the pace and any pause)."""
        cond = self._condition()
        async with cond:
            await cond.wait_for(lambda: self._in_flight < self.slots)
            self._in_flight += 1
        try:
            now = time.monotonic()
            wall = time.time()
            if wall < self.paused_until:
                await asyncio.sleep(self.paused_until - wall)
                now = time.monotonic()
            start = max(now, self._next_at)
            self._next_at = start + 1.0 / self.rate
            if start > now:
                await asyncio.sleep(start - now)
            self.used += 1
            yield
        finally:
            async with cond:
                self._in_flight -= 1
                cond.notify_all()


@dataclass
class _Link:
    """One connection's dispatcher state."""

    name: str
    connector: Connector[Any]
    gate: Gate
    want: int
    held: bool = False
    in_hand: int = 0
    pending: list[Disposition] = field(default_factory=list)
    first_pending_at: float | None = None
    tasks: set["asyncio.Task[None]"] = field(default_factory=set)
    active: dict[tuple[str, str], list[OutboxRow]] = field(default_factory=dict)
    """Batches in flight (kind, batch id) -> rows of the same batch taken meanwhile."""


class Dispatcher:
    """Every connection's dispatcher in this process (see the module docstring).

    Args:
        engine: Accord's database.
        connector_for: The process's connector of a connection.
        handlers: Item kind -> handler.
        holder: This process's identity for leases (its worker id).
    """

    def __init__(
        self,
        engine: sa.Engine,
        connector_for: Callable[[str], Connector[Any]],
        handlers: Mapping[str, OutboxHandler],
        *,
        holder: str,
    ) -> None:
        self.engine = engine
        self.connector_for = connector_for
        self.handlers = dict(handlers)
        self.holder = holder
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._links: dict[str, _Link] = {}
        self._lease_pool: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Run the dispatchers on an event loop in a daemon thread."""
        if self._thread is not None:
            return
        self._lease_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dispatch-lease")
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._stop = asyncio.Event()
            ready.set()
            try:
                # Every call the dispatchers make (their worker threads too) is bulk.
                with lane(Lane.BULK):
                    loop.run_until_complete(self._main())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="dispatcher", daemon=True)
        self._thread.start()
        ready.wait(5)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking work, let calls in flight finish and record them, give the leases back."""
        if self._loop is None or self._stop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        self._thread = None
        if self._lease_pool is not None:
            self._lease_pool.shutdown(wait=False)
            self._lease_pool = None

    # ------------------------------------------------------------------ the loop
    async def _main(self) -> None:
        assert self._stop is not None
        runners: dict[str, asyncio.Task[None]] = {}
        while not self._stop.is_set():
            try:
                names = await asyncio.to_thread(outbox.connections_with_work, self.engine)
            except sa.exc.SQLAlchemyError:
                logger.warning("dispatcher: the database is unavailable; trying again")
                names = []
            for name in names:
                if name not in runners or runners[name].done():
                    runners[name] = asyncio.create_task(self._run(name))
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=1.0)
            except TimeoutError:
                continue
        if runners:
            await asyncio.gather(*runners.values(), return_exceptions=True)
        for handler in self.handlers.values():
            try:
                await handler.aclose()
            except Exception:
                logger.exception("dispatcher: closing the %s handler failed", handler.kind)

    async def _run(self, name: str) -> None:
        """One connection's dispatcher, while it has work or holds the lease."""
        assert self._stop is not None
        try:
            connector = self.connector_for(name)
        except Exception:
            logger.exception("dispatcher: connection %s is not usable", name)
            return
        link = self._links.get(name)
        if link is None:
            link = _Link(name, connector, Gate(connector), want=connector.config.concurrency)
            self._links[name] = link
        lease = f"dispatch:{name}"
        last_hold = 0.0
        idle_since: float | None = None
        done = asyncio.Event()
        keeper = asyncio.create_task(self._keep(link, lease, done))
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if not link.held:
                    await self._sleep(0.25)
                    continue
                if now - last_hold >= _HOLD_EVERY_S or (
                    now - last_hold >= _DEMAND_CHECK_S and self._demand(link)
                ):
                    last_hold = now
                    await self._hold(link)
                took = await self._fill(link)
                await self._flush(link)
                if took or link.in_hand:
                    idle_since = None
                    await self._sleep(0.005 if link.in_hand >= 2 * link.want else 0.02)
                    continue
                idle_since = idle_since or now
                if now - idle_since > 5.0:
                    break  # nothing to do for a while: _main starts us again when there is
                await self._sleep(_IDLE_POLL_S)
        finally:
            while link.tasks:  # a finished batch may start the rest of its batch
                await asyncio.gather(*list(link.tasks), return_exceptions=True)
            await self._flush(link, force=True)
            # The keeper ends between renewals (never cancelled mid-acquire, which could take
            # the lease again just after it is given back).
            done.set()
            await keeper
            await self._release(link, lease)

    @staticmethod
    def _demand(link: _Link) -> bool:
        """Another caller (bulk or higher) waits in this process for one of the slots held."""
        budget = link.connector.budget
        return isinstance(budget, DatabaseBudget) and budget.has_local_demand(
            link.name, Lane.BACKGROUND
        )

    async def _sleep(self, seconds: float) -> None:
        assert self._stop is not None
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        except TimeoutError:
            return

    async def _keep(self, link: _Link, lease: str, done: asyncio.Event) -> None:
        """Take or renew the connection's lease until ``done``: a task of its own.

        Renewing from the dispatch loop let the lease lapse whenever recording a flush or
        taking items was slow (a loaded database): another process took it over, queued the
        items in flight again and sent them twice (idempotent, but budget spent twice).
        """
        while not done.is_set():
            await self._keep_lease(link, lease)
            try:
                await asyncio.wait_for(done.wait(), timeout=LEASE_TTL_S / 4 if link.held else 1.0)
            except TimeoutError:
                continue

    async def _keep_lease(self, link: _Link, lease: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            # A thread of its own: the shared to_thread pool may be busy with slow records.
            got = await loop.run_in_executor(
                self._lease_pool,
                partial(leases.acquire, self.engine, lease, self.holder, ttl_s=LEASE_TTL_S),
            )
        except sa.exc.SQLAlchemyError:
            got = False
        if got and not link.held:
            # A new holder: whatever a predecessor had taken is queued again (idempotent).
            released = await asyncio.to_thread(outbox.release_taken, self.engine, link.name)
            logger.info("dispatcher: holding %s (%d items queued again)", link.name, released)
        elif link.held and not got:
            logger.warning("dispatcher: lost the lease of %s", link.name)
        link.held = got

    async def _hold(self, link: _Link) -> None:
        budget = link.connector.budget
        used, link.gate.used = link.gate.used, 0
        # After a concurrency refusal hold one slot fewer for a while (additive recovery).
        if link.gate.refusals:
            link.want = max(1, link.want - link.gate.refusals)
            link.gate.refusals = 0
        elif link.want < link.connector.config.concurrency and random.random() < 0.05:  # noqa: S311
            link.want += 1
        if isinstance(budget, DatabaseBudget):
            config = link.connector.config
            try:
                held = await asyncio.to_thread(
                    budget.hold, config, want=link.want, used=used, keep_extra=True
                )
                if held.slots < link.gate.slots:
                    # Give way (a higher lane waits, or fewer slots are free): let the calls in
                    # flight drain to what may be held, then hand the freed slots back.
                    await link.gate.resize(held.slots, held.rate_per_s, held.paused_until)
                    await link.gate.drained(held.slots)
                    held = await asyncio.to_thread(budget.hold, config, want=held.slots, used=0)
            except sa.exc.SQLAlchemyError:
                return
            await link.gate.resize(held.slots, held.rate_per_s, held.paused_until)
        else:
            await link.gate.resize(link.want, link.connector.config.rate_per_s, 0.0)

    async def _fill(self, link: _Link) -> int:
        """Take items while fewer than four times the concurrency are in hand."""
        room = 4 * max(1, link.want) - link.in_hand
        if room < link.want:
            return 0
        try:
            rows = await asyncio.to_thread(
                outbox.take, self.engine, link.name, self.holder, limit=room
            )
        except sa.exc.SQLAlchemyError:
            logger.warning("dispatcher: could not take items of %s", link.name)
            return 0
        batches: dict[tuple[str, str], list[OutboxRow]] = defaultdict(list)
        for row in rows:
            batches[(row.kind, row.batch_id)].append(row)
        for key, members in batches.items():
            link.in_hand += len(members)
            if key in link.active:
                # One batch at a time: an ERP without an upsert (Business Central) must never
                # see two calls for the same batch at once. These go after the one in flight.
                link.active[key].extend(members)
            else:
                link.active[key] = []
                self._start(link, key, members)
        return len(rows)

    def _start(self, link: _Link, key: tuple[str, str], rows: list[OutboxRow]) -> None:
        task = asyncio.create_task(self._send(link, key, rows))
        link.tasks.add(task)
        task.add_done_callback(link.tasks.discard)

    async def _send(self, link: _Link, key: tuple[str, str], rows: list[OutboxRow]) -> None:
        try:
            await self._send_batch(link, key[0], rows)
        finally:
            waiting = link.active.pop(key, [])
            if waiting:
                link.active[key] = []
                self._start(link, key, waiting)

    async def _send_batch(self, link: _Link, kind: str, rows: list[OutboxRow]) -> None:
        handler = self.handlers.get(kind)
        if handler is None:
            logger.error("dispatcher: no handler for outbox items of kind %r", kind)
            dispositions = [Disposition(row=r, retry_at=backoff_at(8, None)) for r in rows]
            link.pending.extend(dispositions)
            link.in_hand -= len(rows)
            return
        try:
            dispositions = await handler.send(link.gate, rows)
        except RetryableError as exc:
            dispositions = [
                Disposition(row=r, retry_at=backoff_at(r.attempts, exc.retry_after)) for r in rows
            ]
        except Exception:
            logger.exception("dispatcher: sending %d %s items failed", len(rows), kind)
            dispositions = [
                Disposition(row=r, retry_at=backoff_at(r.attempts + 3, None)) for r in rows
            ]
        link.pending.extend(dispositions)
        link.in_hand -= len(rows)

    async def _flush(self, link: _Link, *, force: bool = False) -> None:
        """Record pending outcomes: many at once, but none waits more than a few ms."""
        if not link.pending:
            return
        now = time.monotonic()
        if link.first_pending_at is None:
            link.first_pending_at = now
        due = now - link.first_pending_at >= _FLUSH_EVERY_S
        if not (force or due or len(link.pending) >= _FLUSH_AT or not link.tasks):
            return
        link.first_pending_at = None
        batch, link.pending = link.pending, []
        try:
            await asyncio.to_thread(self._record, batch)
        except Exception:
            logger.exception("dispatcher: recording %d outcomes failed; sending again", len(batch))
            # The items stay taken in the outbox: queue them again so they are resent.
            await asyncio.to_thread(outbox.release_taken, self.engine, link.name)
            return
        by_kind: dict[str, set[str]] = defaultdict(set)
        for d in batch:
            by_kind[d.row.kind].add(d.row.batch_id)
        for kind, batch_ids in by_kind.items():
            handler = self.handlers.get(kind)
            if handler is not None:
                handler.settled(batch_ids)

    def _record(self, batch: list[Disposition]) -> None:
        done = [d for d in batch if d.done]
        with self.engine.begin() as conn:
            write_lock(conn)
            by_kind: dict[str, list[Disposition]] = defaultdict(list)
            for d in done:
                by_kind[d.row.kind].append(d)
            for kind, items in by_kind.items():
                self.handlers[kind].record(conn, items)
            outbox.complete(conn, [d.row.id for d in done])
            for d in batch:
                if d.retry_at is not None:
                    outbox.retry_later(conn, d.row.id, not_before=d.retry_at, payload=d.payload)

    async def _release(self, link: _Link, lease: str) -> None:
        budget = link.connector.budget
        try:
            if isinstance(budget, DatabaseBudget):
                await asyncio.to_thread(budget.unhold, link.connector.config)
            if link.held:
                await asyncio.to_thread(leases.release, self.engine, lease, self.holder)
        except sa.exc.SQLAlchemyError:
            logger.warning("dispatcher: could not give back %s's lease; it expires", link.name)
        link.held = False
