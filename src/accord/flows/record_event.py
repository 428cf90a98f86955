"""Event runs: their input, the steps every flow begins and ends with, and ``record_event``.

Every business flow's run takes an :class:`EventRef`, reads the journaled event with the
shared :func:`load_event` step (one durable step name, ``flow.load_event``, for all flows; a
step reading the event itself uses :func:`journaled`) and ends through :func:`finish_run` (the
run's outcome metric and status).

``record_event`` is the run every accepted event starts until a business flow claims its
type. It records the event's lineage entry: an edge from the event to the business object it
is about. The write is idempotent (the lineage edge is unique), so the at-least-once step may
safely run twice after a crash.

What does *not* belong here: a flow's own steps and the order of its steps (its package).
"""

from dataclasses import dataclass
from typing import Any, Self

from dbos import DBOS

from accord.flows.context import flow_context
from accord.observability.metrics import get_metrics
from accord.store import journal, lineage
from accord.store.journal import JournalEntry

__all__ = ["EventRef", "finish_run", "journaled", "load_event", "record_event"]


@dataclass(frozen=True)
class EventRef:
    """The input of every event run: where the event sits in the journal."""

    seq: int
    event_id: str
    type: str
    business_key: str

    @classmethod
    def of(cls, entry: JournalEntry) -> Self:
        """The reference to a journal entry (what a run of it is enqueued with)."""
        return cls(
            seq=entry.seq,
            event_id=entry.event_id,
            type=entry.type,
            business_key=entry.business_key,
        )


@DBOS.step(name="flow.load_event", retries_allowed=True, max_attempts=5)
def load_event(ref: EventRef) -> dict[str, Any]:
    """The journaled event's data (the canonical object, as JSON) and source."""
    entry, data = journaled(ref.seq, ref.event_id)
    return {"data": data, "source": entry.source}


def journaled(seq: int, event_id: str) -> tuple[JournalEntry, Any]:
    """The journal entry at ``seq`` and its data (call it from a step).

    Raises:
        LookupError: The journal has no event at ``seq``.
    """
    with flow_context().engine.connect() as conn:
        found = journal.get(conn, seq=seq)
    if found is None:
        msg = f"event {event_id} (seq {seq}) is not in the journal"
        raise LookupError(msg)
    return found


def finish_run(flow: str, outcome: str, result: dict[str, Any]) -> dict[str, Any]:
    """Count the run's outcome and return its result with ``status`` set to it."""
    get_metrics().runs.labels(flow=flow, outcome=outcome).inc()
    return {"status": outcome, **result}


@DBOS.step(name="record_lineage", retries_allowed=True, max_attempts=5)
def record_lineage(ref: EventRef) -> bool:
    """Link the event to its business object; True when the link was new."""
    with flow_context().engine.begin() as conn:
        return lineage.link(
            conn,
            from_type="event",
            from_id=ref.event_id,
            to_type="business_key",
            to_id=ref.business_key,
            relation=ref.type,
            run_id=DBOS.workflow_id,
            event_id=ref.event_id,
            status="recorded",
        )


@DBOS.workflow(name="record_event")
def record_event(ref: EventRef) -> dict[str, object]:
    """Record the lineage entry of one journaled event."""
    created = record_lineage(ref)
    return {"event_id": ref.event_id, "linked": created}
