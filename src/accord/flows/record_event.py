"""``record_event``: the run every accepted event starts until a business flow claims its type.

It records the event's lineage entry: an edge from the event to the business object it is
about. The write is idempotent (the lineage edge is unique), so the at-least-once step may
safely run twice after a crash.
"""

from dataclasses import dataclass

from dbos import DBOS

from accord.flows.context import flow_context
from accord.store import lineage

__all__ = ["EventRef", "record_event"]


@dataclass(frozen=True)
class EventRef:
    """The input of every event run: where the event sits in the journal."""

    seq: int
    event_id: str
    type: str
    business_key: str


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
