"""What a what-if replay reports: per record, what the proposal would do differently.

A record is what a flow decides on one by one: an opportunity (lead-to-project), a time entry
or an expense (time-to-bill). For each, the flow's decision under the version its run used
(*before*) and under the proposal (*after*) is an :class:`Outcome`: whether it passes
validation (and the failure codes), the target system and connection, the exception queue a
failure goes to, and the outbound body, flattened to dotted paths. The difference is listed
field by field, and the record is *unchanged*, *changed*, *newly failing* or *newly passing*.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from accord.governance.diff import Change, diff

__all__ = ["STATUSES", "Outcome", "RecordResult", "RecordStatus", "WhatIfReport", "compare"]

RecordStatus = Literal["unchanged", "changed", "newly_failing", "newly_passing"]
STATUSES: Final[tuple[RecordStatus, ...]] = (
    "unchanged",
    "changed",
    "newly_failing",
    "newly_passing",
)
"""Every record status, in the order summaries list them."""


@dataclass(frozen=True)
class Outcome:
    """A flow's decision about one record under one rules version."""

    valid: bool
    codes: tuple[str, ...] = ()
    """Failure codes (they route the exception) when not valid."""
    target: str | None = None
    """``<system>/<connection>`` the record is written to."""
    queue: str | None = None
    """The owner queue the failure's exception goes to."""
    body: dict[str, Any] = field(default_factory=dict)
    """The outbound body (or, for a failure, the problems), flattened to dotted paths."""

    def fields(self) -> dict[str, Any]:
        """The comparable view: validation, target, queue and ``body.<path>`` fields."""
        return {
            "validation": "passed" if self.valid else "failed: " + ", ".join(self.codes),
            "target": self.target,
            "queue": self.queue,
            **{f"body.{k}": v for k, v in self.body.items()},
        }

    def as_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return {
            "valid": self.valid,
            "codes": list(self.codes),
            "target": self.target,
            "queue": self.queue,
            "body": self.body,
        }


@dataclass(frozen=True)
class RecordResult:
    """One record: its outcome before and after, what differs and what was recorded."""

    event_id: str
    event_type: str
    run_id: str
    record: str
    status: RecordStatus
    baseline_version: str
    changes: tuple[Change, ...]
    before: Outcome
    after: Outcome
    actual: dict[str, Any] = field(default_factory=dict)
    """What Accord's records say happened (the posting ledger, exceptions), for reference."""

    def as_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "run_id": self.run_id,
            "record": self.record,
            "status": self.status,
            "baseline_version": self.baseline_version,
            "changes": [c.as_json() for c in self.changes],
            "before": self.before.as_json(),
            "after": self.after.as_json(),
            "actual": self.actual,
        }


def compare(before: Outcome, after: Outcome) -> tuple[RecordStatus, tuple[Change, ...]]:
    """The record's status and its field-by-field changes."""
    changes = tuple(diff(before.fields(), after.fields()))
    status: RecordStatus = "unchanged"
    if before.valid and not after.valid:
        status = "newly_failing"
    elif after.valid and not before.valid:
        status = "newly_passing"
    elif changes:
        status = "changed"
    return status, changes


@dataclass
class WhatIfReport:
    """Every record of the window's events, with a summary."""

    proposal_version: str
    since: datetime | None
    until: datetime | None
    events: int = 0
    records: list[RecordResult] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    """Events not evaluated, by type (no what-if for that flow)."""
    errors: list[dict[str, str]] = field(default_factory=list)
    """Events whose evaluation failed (a read refused, say), with the error."""
    truncated: bool = False
    writes_held: int = 0
    """Writes the flows' code attempted and the dry-run transport kept from the systems."""

    def counts(self) -> dict[str, int]:
        """Records by status (every status present, zero or not)."""
        found = Counter(r.status for r in self.records)
        return {s: found.get(s, 0) for s in STATUSES}

    def as_json(self, *, only_differences: bool = False) -> dict[str, Any]:
        """Plain JSON; with ``only_differences`` the unchanged records are left out."""
        return {
            "proposal_version": self.proposal_version,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "events": self.events,
            "summary": self.counts(),
            "skipped": dict(sorted(self.skipped.items())),
            "errors": self.errors,
            "truncated": self.truncated,
            "writes_held": self.writes_held,
            "records": [
                r.as_json()
                for r in self.records
                if not (only_differences and r.status == "unchanged")
            ],
        }
