"""Group commit of accepted events: many journal rows and run starts per transaction.

Intake requests hand validated events to :class:`IntakeWriter`, which commits them in
batches from one thread: it drops redeliveries (same ``source`` and ``id``), appends the new
events to the journal and enqueues each one's run inside the same transaction, so a 202 is
only ever answered for an event whose journal row and run start are both durable.
"""

import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import sqlalchemy as sa

from accord.flows.record_event import EventRef
from accord.flows.runtime import Runtime
from accord.observability.metrics import get_metrics
from accord.store import journal
from accord.store.journal import JournalEntry, NewEvent

__all__ = ["IntakeWriter", "Receipt", "journal_events"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receipt:
    """What the sender gets back for one event."""

    event_id: str
    run_id: str
    status: str
    duplicate: bool

    def as_json(self) -> dict[str, str]:
        """The public receipt body."""
        return {"event_id": self.event_id, "run_id": self.run_id, "status": self.status}


@dataclass
class _Pending:
    event: NewEvent
    future: "Future[Receipt]"


class IntakeWriter:
    """Commits submitted events in batches on a thread of its own."""

    def __init__(
        self, engine: sa.Engine, runtime: Runtime, *, max_batch: int = 500, max_wait_ms: float = 2
    ) -> None:
        self.engine = engine
        self.runtime = runtime
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the committing thread."""
        self._thread = threading.Thread(target=self._loop, name="accord-intake", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Commit what is queued, then stop."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def submit(self, events: Sequence[NewEvent]) -> list["Future[Receipt]"]:
        """Queue events for the next commit; each future resolves to its receipt."""
        futures: list[Future[Receipt]] = []
        for event in events:
            fut: Future[Receipt] = Future()
            self._queue.put(_Pending(event, fut))
            futures.append(fut)
        return futures

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit_safely(batch)
            if stop:
                return

    def _commit_safely(self, batch: list[_Pending], *, retried: bool = False) -> None:
        try:
            receipts = self._commit(batch)
        except sa.exc.IntegrityError as exc:
            # Another process journaled one of these between our check and our insert: commit
            # them one by one, and once more, so the redelivered ones are found as duplicates.
            if len(batch) > 1:
                for item in batch:
                    self._commit_safely([item])
            elif not retried:
                self._commit_safely(batch, retried=True)
            else:
                batch[0].future.set_exception(exc)
            return
        except Exception as exc:
            logger.exception("intake commit failed")
            for item in batch:
                item.future.set_exception(exc)
            return
        for item, receipt in zip(batch, receipts, strict=True):
            item.future.set_result(receipt)

    def _commit(self, batch: list[_Pending]) -> list[Receipt]:
        metrics = get_metrics()
        with self.engine.begin() as conn:
            journaled = journal_events(conn, self.runtime, [p.event for p in batch])
        seen: set[tuple[str, str]] = set()
        receipts: list[Receipt] = []
        for p in batch:
            key = (p.event.source, p.event.ce_id)
            entry, existed = journaled[key]
            # A redelivery, or the second copy of one event inside this batch.
            duplicate = existed or key in seen
            seen.add(key)
            receipts.append(_receipt(entry, duplicate=duplicate))
            counter = metrics.events_deduplicated if duplicate else metrics.events_received
            counter.labels(type=p.event.type).inc()
        metrics.intake_batch_size.observe(len(batch))
        return receipts


def journal_events(
    conn: sa.Connection, runtime: Runtime, events: Sequence[NewEvent]
) -> dict[tuple[str, str], tuple[JournalEntry, bool]]:
    """Journal the events not journaled yet and enqueue their runs, in the caller's transaction.

    Returns, for each (``source``, ``id``), its journal entry and whether it was there already
    (a redelivery). The intake's group commit and change capture both hand events on this way,
    so a journal row never commits without its run start.
    """
    client = runtime.client
    if client is None:
        msg = "the flow runtime is not launched in this process"
        raise RuntimeError(msg)
    existing = journal.find_existing(conn, [(e.source, e.ce_id) for e in events])
    fresh: dict[tuple[str, str], NewEvent] = {}
    for event in events:
        key = (event.source, event.ce_id)
        if key not in existing:
            fresh.setdefault(key, event)
    out = {key: (entry, True) for key, entry in existing.items()}
    for entry in journal.insert_many(conn, list(fresh.values())):
        options = runtime.enqueue_options(
            event_type=entry.type, run_id=entry.run_id, business_key=entry.business_key
        )
        client.enqueue_in_transaction(
            conn,
            options,
            EventRef.of(entry),
        )
        out[(entry.source, entry.ce_id)] = (entry, False)
    return out


def _receipt(entry: JournalEntry, *, duplicate: bool) -> Receipt:
    return Receipt(
        event_id=entry.event_id, run_id=entry.run_id, status="accepted", duplicate=duplicate
    )
