"""Kantata approvals: the ``/subscribed_events`` feed -> ``timesheet.approved`` and so on.

Kantata API v1 pushes nothing (reference section 3.5): its event feed is polled. The capture
pair ``<connection>/approvals`` reads it with :func:`read_feed` (only
``timesheet_submission:updated`` and ``expense:updated`` events) instead of a collection's
pages; capture's cursor, overlap, seen set and one-transaction commit apply as for any pair.

What is mapped (:func:`approval_mapper`):

- a ``timesheet_submission:updated`` event whose snapshot says ``approved`` becomes one
  ``timesheet.approved`` event carrying **all** the submission's entries (read back with the
  submission, which embeds them). Its id is ``kantata:timesheet_submission:<id>@approved``,
  stable per approval, so the feed's re-deliveries (and a re-read overlap) are dropped by the
  journal. A rejected submission means nothing here;
- an ``expense:updated`` event whose snapshot says ``approved`` becomes one
  ``expense.approved`` event carrying that one expense (Kantata approves expenses by report:
  each of the report's expenses gets its own event), id ``kantata:expense:<id>@approved``;
  later updates of the approved expense (invoicing) repeat that id and are dropped.

Canonical ids, which become the ERP's external ids and so never change: entries
``kantata-te-<time entry id>``, timesheets ``kantata-ts-<submission id>``, expenses
``kantata-ex-<expense id>``; project and person as :mod:`accord.flows.approvals.resolve` says.
Time is in whole minutes; hours are minutes / 60 rounded half-up to two places (see
``docs/flows/approvals.md`` for what that means for amounts).
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from accord.connectors.base import Connector
from accord.connectors.kantata import KantataConnector
from accord.connectors.kantata.mapping import (
    KantataLookups,
    expense_to_canonical,
    timesheet_to_canonical,
)
from accord.connectors.types import Page, RawRecord, RecordMeta
from accord.errors import ConfigError, MappingError
from accord.flows import stepkit
from accord.flows.approvals.resolve import (
    Unmapped,
    link_resource,
    open_unmapped,
    report_unmapped,
    resolve_mapped,
)
from accord.flows.capture import PageReader, canonical_event
from accord.store.journal import NewEvent

__all__ = [
    "FEED",
    "FEED_EVENT_TYPES",
    "RETRY",
    "RETRY_EVERY",
    "approval_mapper",
    "describe_event",
    "entry_id",
    "expense_event_id",
    "feed_reader",
    "read_feed",
    "timesheet_event_id",
]

logger = logging.getLogger(__name__)

FEED = "approvals"
"""The capture pair's name (``<connection>/approvals``); its cursor is the feed's position."""
FEED_EVENT_TYPES = ("timesheet_submission:updated", "expense:updated")
"""The feed's event types that can mean an approval (approve and reject are updates)."""
RETRY = "accord:retry"
"""Event type of the synthetic records that retry an approval waiting for a fix."""
RETRY_EVERY = timedelta(seconds=60)
"""How often an approval waiting for a fix is tried again."""
SYSTEM = "kantata"


def entry_id(time_entry_id: str) -> str:
    """The canonical id of a Kantata time entry (the ERP's external id of its posting)."""
    return f"kantata-te-{time_entry_id}"


def timesheet_event_id(submission_id: str) -> str:
    """The event id of a submission's approval: one per submission, whatever re-delivers it."""
    return f"kantata:timesheet_submission:{submission_id}@approved"


def expense_event_id(expense_id: str) -> str:
    """The event id of an expense's approval."""
    return f"kantata:expense:{expense_id}@approved"


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


# ---------------------------------------------------------------------- the feed as pages
def read_feed(
    connector: Connector[Any], cursor: str | None, since: datetime | None, limit: int | None
) -> Page:
    """One poll of the feed as a capture page (the events are the records).

    Raises:
        ConfigError: The connection is not a Kantata one.
    """
    if not isinstance(connector, KantataConnector):
        msg = f"approvals capture of {connector.name}: the feed is Kantata's"
        raise ConfigError(msg)
    page = connector.read_events(cursor, since=since, limit=limit, event_types=FEED_EVENT_TYPES)
    created = [t for t in (_time(e.get("created_at")) for e in page.events) if t is not None]
    return Page(
        records=page.events,
        next_cursor=page.cursor if page.has_more else None,
        high_watermark=max(created) if created else None,
    )


def _retry_slot(now: datetime, every: timedelta) -> datetime:
    step = max(1, int(every.total_seconds()))
    return datetime.fromtimestamp(int(now.timestamp()) // step * step, UTC)


def feed_reader(connection: str, *, retry_every: timedelta = RETRY_EVERY) -> PageReader:
    """:func:`read_feed`, plus a retry of the approvals waiting for a fix.

    An approval that did not map has left the feed's window by the time its owner fixes the
    mapping. So each sweep also hands on, at most once per ``retry_every``, one synthetic
    ``accord:retry`` record per open ``psa.approval.unmapped`` exception of the connection
    (its stamp is the current ``retry_every`` slot, so capture's seen set lets one through
    per slot): mapped again, it becomes its event (same stable id) and the exception is
    resolved; still unmapped, the unchanged exception is left alone.
    """

    def read(
        connector: Connector[Any], cursor: str | None, since: datetime | None, limit: int | None
    ) -> Page:
        page = read_feed(connector, cursor, since, limit)
        if cursor is not None:
            return page  # only at the start of a sweep
        slot = _retry_slot(datetime.now(UTC), retry_every).isoformat()
        retries: list[RawRecord] = [
            {
                "id": f"retry-{kind}-{psa_id}",
                "event_type": RETRY,
                "subject_type": kind,
                "subject_id": psa_id,
                "subject_changed_at": slot,
            }
            for kind, psa_id in open_unmapped(connection)
        ]
        return Page(
            records=[*retries, *page.records],
            next_cursor=page.next_cursor,
            high_watermark=page.high_watermark,
        )

    return read


def describe_event(event: RawRecord) -> RecordMeta:
    """An event's id, stamped with its subject's change time.

    A re-delivery keeps the event's id and ``subject_changed_at`` (only ``created_at``
    moves), so capture's seen set drops it as already handed on.
    """
    return RecordMeta(
        id=f"event-{event.get('id', '')}",
        modified_at=_time(event.get("subject_changed_at")) or _time(event.get("created_at")),
    )


# ---------------------------------------------------------------------- mapping
class _Mapper:
    """Maps feed events of one connection (resolving ids through xref and Kantata)."""

    def __init__(self, connection: str) -> None:
        self.connection = connection

    def connector(self) -> KantataConnector:
        found = stepkit.connections().connector(self.connection)
        if not isinstance(found, KantataConnector):
            msg = f"approvals: connection {self.connection} is not a Kantata one"
            raise ConfigError(msg)
        return found

    def __call__(self, event: RawRecord) -> list[NewEvent]:
        kind = event.get("event_type")
        if kind == RETRY:
            return self.retry(str(event.get("subject_type")), str(event.get("subject_id")))
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return []
        if kind == "timesheet_submission:updated" and payload.get("status") == "approved":
            return self.timesheet(str(event.get("subject_id") or payload.get("id")))
        if kind == "expense:updated" and payload.get("approved"):
            return self.expense(payload, approved_at=_time(event.get("subject_changed_at")))
        return []

    def retry(self, kind: str, psa_id: str) -> list[NewEvent]:
        if not psa_id.isdigit():
            return []
        if kind == "timesheet":
            return self.timesheet(psa_id)
        if kind == "expense":
            record = self.connector().get("expenses", psa_id)
            if record.get("approved"):
                return self.expense(record, approved_at=_time(record.get("updated_at")))
        return []

    # ------------------------------------------------------------------ resolution
    def project(self, workspace_id: str) -> str | None:
        found = stepkit.canonical_of("psa_project", self.connection, workspace_id)
        if found is not None:
            return found
        # A project Accord did not provision: its own Accord key, if someone gave it one.
        kantata = self.connector()
        workspace = kantata.get("workspaces", workspace_id)
        return kantata.describe("workspaces", workspace).external_id

    def resource(self, user_id: str) -> str | None:
        found = stepkit.canonical_of("resource", self.connection, user_id)
        if found is not None:
            return found
        kantata = self.connector()
        consultant = kantata.describe("users", kantata.get("users", user_id)).external_id
        if consultant:
            link_resource(SYSTEM, self.connection, consultant, user_id)
        return consultant

    def lookups(
        self, record: RawRecord, problems: dict[str, str], **tables: dict[str, str]
    ) -> KantataLookups:
        workspace_id = str(record.get("workspace_id") or "")
        user_id = str(record.get("user_id") or "")
        project = self.project(workspace_id) if workspace_id.isdigit() else None
        if project is None:
            problems["project"] = f"Kantata workspace {workspace_id or '(none)'} is not known"
        resource = self.resource(user_id) if user_id.isdigit() else None
        if resource is None:
            problems["resource"] = f"Kantata user {user_id or '(none)'} has no consultant id"
        return KantataLookups(
            records={
                "workspaces": {project: workspace_id} if project else {},
                "users": {resource: user_id} if resource else {},
                **tables,
            }
        )

    # ------------------------------------------------------------------ records
    def timesheet(self, submission_id: str) -> list[NewEvent]:
        if not submission_id.isdigit():
            return []
        # The event's snapshot lacks the entries: the submission embeds them. Approved time
        # is locked, so what is read now is what was approved.
        record = self.connector().get("timesheet_submissions", submission_id)
        if record.get("status") != "approved":
            return []
        entries = [e for e in record.get("time_entries") or () if isinstance(e, dict)]
        problems: dict[str, str] = {}
        lookups = self.lookups(
            record,
            problems,
            time_entries={entry_id(str(e.get("id"))): str(e.get("id")) for e in entries},
            timesheet_submissions={f"kantata-ts-{submission_id}": submission_id},
        )
        unmapped = Unmapped(
            kind="timesheet",
            system=SYSTEM,
            connection=self.connection,
            psa_id=submission_id,
            label=f"{submission_id} (week of {record.get('start_date')})",
            problems=problems,
            record={
                "workspace_id": record.get("workspace_id"),
                "user_id": record.get("user_id"),
                "time_entry_ids": [e.get("id") for e in entries],
            },
        )
        if not problems:
            try:
                timesheet = timesheet_to_canonical(record, lookups=lookups)
            except MappingError as exc:
                problems["record"] = str(exc)
            else:
                resolve_mapped(unmapped.business_key, unmapped.dedupe_key)
                return [
                    canonical_event(
                        "timesheet.approved",
                        timesheet,
                        subject=timesheet.id,
                        time=timesheet.approved_at,
                        event_id=timesheet_event_id(submission_id),
                    )
                ]
        report_unmapped(unmapped)
        return []

    def expense(self, record: RawRecord, *, approved_at: datetime | None) -> list[NewEvent]:
        expense_key = str(record.get("id") or "")
        if not expense_key.isdigit():
            return []
        problems: dict[str, str] = {}
        lookups = self.lookups(
            record, problems, expenses={f"kantata-ex-{expense_key}": expense_key}
        )
        unmapped = Unmapped(
            kind="expense",
            system=SYSTEM,
            connection=self.connection,
            psa_id=expense_key,
            label=f"{expense_key} ({record.get('category')}, {record.get('date')})",
            problems=problems,
            record={"workspace_id": record.get("workspace_id"), "user_id": record.get("user_id")},
        )
        if not problems:
            try:
                expense = expense_to_canonical(record, lookups=lookups)
                if approved_at is not None:
                    expense = expense.model_copy(update={"approved_at": approved_at})
            except MappingError as exc:
                problems["record"] = str(exc)
            else:
                resolve_mapped(unmapped.business_key, unmapped.dedupe_key)
                return [
                    canonical_event(
                        "expense.approved",
                        expense,
                        subject=expense.id,
                        time=approved_at,
                        event_id=expense_event_id(expense_key),
                    )
                ]
        report_unmapped(unmapped)
        return []


def approval_mapper(connection: str) -> Callable[[RawRecord], list[NewEvent]]:
    """The ``to_events`` mapper of a Kantata connection's approvals pair."""
    return _Mapper(connection)
