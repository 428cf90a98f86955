"""One ledger read per poll for every run of this process that waits for its postings.

A run waits (:func:`accord.flows.time_to_bill.queue.wait_settled`) until none of its entries is
``queued``. When this process's dispatcher records an outcome the run is woken at once; when
another process holds the ERP connection's dispatch lease, only the ledger tells. Each waiting
run used to read the ledger itself every half second: with two workers, the process without
the lease spent about a quarter of its CPU on those reads (``bench/RESULTS.md``, scale-out).
The watch reads the ledger once per poll for all the process's waiting runs together and wakes
the runs none of whose entries is still queued; each run then confirms with its own read.
"""

import logging
import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa

from accord.store import postings

__all__ = ["LedgerWatch"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Waiting:
    engine: sa.Engine
    keys: frozenset[tuple[str, str]]
    event: threading.Event


class LedgerWatch:
    """Wakes waiting runs whose entries the ledger no longer holds as ``queued``.

    Args:
        poll_s: Seconds between reads of the ledger.
    """

    def __init__(self, poll_s: float) -> None:
        self.poll_s = poll_s
        self._lock = threading.Lock()
        self._waiting: dict[int, _Waiting] = {}
        self._thread: threading.Thread | None = None

    def add(
        self, engine: sa.Engine, kind: str, entry_ids: list[str], event: threading.Event
    ) -> None:
        """Watch these entries: ``event`` is set once none of them is queued."""
        keys = frozenset((kind, entry_id) for entry_id in entry_ids)
        with self._lock:
            self._waiting[id(event)] = _Waiting(engine, keys, event)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="accord-ledger-watch", daemon=True
                )
                self._thread.start()

    def remove(self, event: threading.Event) -> None:
        """Stop watching (the run has settled, timed out or is stopping)."""
        with self._lock:
            self._waiting.pop(id(event), None)

    def _loop(self) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    # Started again by the next ``add``.
                    self._thread = None
                    return
                waiting = list(self._waiting.values())
            try:
                self._poll(waiting)
            except Exception:
                # A failed read is the next poll's to retry; each run also reads on its own.
                logger.warning("reading the ledger for waiting runs failed", exc_info=True)
            time.sleep(self.poll_s)

    @staticmethod
    def _poll(waiting: list[_Waiting]) -> None:
        by_engine: dict[int, list[_Waiting]] = {}
        for w in waiting:
            by_engine.setdefault(id(w.engine), []).append(w)
        for group in by_engine.values():
            with group[0].engine.connect() as conn:
                queued = postings.queued_among(conn, (k for w in group for k in w.keys))
            for w in group:
                if not w.keys & queued:
                    w.event.set()
