"""The ``/subscribed_events`` feed: an append-only log of ``<model>:<action>`` events.

Kantata API v1 has no push webhooks; integrations poll this feed (reference section 3.5). Like
the real feed it may deliver an event twice: with probability :attr:`EventLog.duplicate_rate`
a recent event is appended again later, under the same id, so pollers must de-duplicate.
Retention is 7 days (the reference says 7 or 9).
"""

import copy
import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from accord_sandbox.kantata.forms import format_timestamp, parse_timestamp

__all__ = ["RETENTION", "EventLog", "event_types"]

Record = dict[str, Any]

RETENTION = timedelta(days=7)
"""How long events stay in the feed (the shorter of the two documented values)."""

_REDELIVERY_WINDOW = 20
"""A duplicate re-delivers one of this many most recent events (a late retry, not history)."""


class EventLog:
    """Events in delivery order, with the counter that names them."""

    def __init__(self, rng: random.Random, *, duplicate_rate: float = 0.02) -> None:
        self.rng = rng
        self.duplicate_rate = duplicate_rate
        self.events: list[Record] = []
        self.next_id = 1

    def emit(
        self,
        model: str,
        action: str,
        subject_type: str,
        record: Mapping[str, Any],
        now: datetime,
        *,
        user_id: str | None = None,
    ) -> Record:
        """Append ``<model>:<action>`` about ``record``; maybe re-deliver an earlier event."""
        event: Record = {
            "id": str(self.next_id),
            "event_type": f"{model}:{action}",
            "subject_type": subject_type,
            "subject_id": str(record["id"]),
            # [inferred] names beyond subject_changed_at/created_at (reference section 3.5).
            "subject_changed_at": record.get("updated_at") or format_timestamp(now),
            "created_at": format_timestamp(now),
            "user_id": user_id,
            "payload": copy.deepcopy(dict(record)),
        }
        self.next_id += 1
        recent = self.events[-_REDELIVERY_WINDOW:]
        self.events.append(event)
        if recent and self.duplicate_rate and self.rng.random() < self.duplicate_rate:
            # Same id and payload, delivered again with a later created_at, as a redelivery is.
            again = copy.deepcopy(self.rng.choice(recent))
            again["created_at"] = format_timestamp(now)
            self.events.append(again)
        return event

    def query(self, params: Mapping[str, str], now: datetime) -> list[Record]:
        """Retained events filtered by ``created_after`` and ``event_types``, in log order.

        ``created_after`` is exclusive. ``event_types`` is a comma list of ``model:action``;
        ``subject_type`` / ``subject_id`` filters are [inferred] conveniences.
        """
        oldest = now - RETENTION
        cutoff = (
            parse_timestamp(params["created_after"], "created_after")
            if params.get("created_after")
            else None
        )
        types = {t.strip() for t in params.get("event_types", "").split(",") if t.strip()}
        rows: list[Record] = []
        for event in self.events:
            created = parse_timestamp(event["created_at"], "created_at")
            if created < oldest or (cutoff is not None and created <= cutoff):
                continue
            if types and event["event_type"] not in types:
                continue
            if params.get("subject_type") and event["subject_type"] != params["subject_type"]:
                continue
            if params.get("subject_id") and event["subject_id"] != params["subject_id"]:
                continue
            rows.append(event)
        return rows

    def clear(self) -> None:
        """Forget every event and restart ids."""
        self.events.clear()
        self.next_id = 1

    def dump(self) -> dict[str, Any]:
        """A JSON-able snapshot."""
        return {"events": copy.deepcopy(self.events), "next_id": self.next_id}

    def load(self, data: Mapping[str, Any]) -> None:
        """Restore from :meth:`dump`."""
        self.events = copy.deepcopy(list(data.get("events", [])))
        self.next_id = int(data.get("next_id", len(self.events) + 1))


def event_types(models: list[str]) -> list[str]:
    """Every event type the emulator can emit, for ``GET /subscribed_event_types``."""
    return [f"{m}:{a}" for m in models for a in ("created", "updated", "deleted")]
