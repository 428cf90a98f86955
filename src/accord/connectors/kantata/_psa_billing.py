"""Kantata in the PSA role, cash and billing half: approvals, milestones, invoice status.

**Approvals.** Kantata API v1 pushes nothing (reference section 3.5): approvals are read from
the ``/subscribed_events`` feed (the feed ``approvals``; only ``timesheet_submission:updated``
and ``expense:updated`` events), whose events are the feed's records:

- a ``timesheet_submission:updated`` event whose snapshot says ``approved`` is one timesheet
  carrying **all** the submission's entries (read back with the submission, which embeds
  them; approved time is locked, so what is read is what was approved); its key is
  ``kantata:timesheet_submission:<id>@approved``, the same for every re-delivery;
- an ``expense:updated`` event whose snapshot says ``approved`` is that one expense (Kantata
  approves expenses by report: each of the report's expenses is an approval of its own), key
  ``kantata:expense:<id>@approved``; later updates of the approved expense repeat the key (an
  expense with a ``vendor_id`` is a vendor's bill, not an employee's claim: the delivery
  feed carries it, :mod:`accord.connectors.kantata._psa_delivery`);
- anything else (a rejection, a submission) is nothing.

Canonical ids, which become the ERP's external ids and so never change: entries
``kantata-te-<time entry id>``, timesheets ``kantata-ts-<submission id>``, expenses
``kantata-ex-<expense id>``. The project is the one Accord provisioned in the workspace
(xref ``psa_project``), else Accord's reference on the workspace; the person is the xref
``resource`` of the user, else the consultant id on the user's Accord reference (``service_model``
``resource``), then remembered in xref so the next approval does not read the user again.
Time is in whole minutes; hours are minutes / 60 rounded half-up to two places.

**Milestones** are ``stories`` of ``story_type`` ``milestone`` in state ``completed``; the
milestone's canonical id is Accord's reference on the story (``<project id>-M<n>``, written by
lead-to-project), its amount the story's budget estimate, its currency the workspace's.
Kantata stories have no invoiced state: an invoiced milestone gets an ``invoice`` reference
naming the invoice.

**Invoice status**: a Kantata ``invoices`` record on the project's workspace, upserted by
Accord's reference (the canonical invoice id); the reference's message carries the ERP's
number, status and amount due.
"""

from dataclasses import replace
from datetime import datetime
from typing import Final

from accord.connectors.kantata.connector import KantataConnector
from accord.connectors.kantata.mapping import (
    KantataLookups,
    expense_to_canonical,
    milestone_to_canonical,
    timesheet_to_canonical,
)
from accord.connectors.roles import ApprovalKind, ChangeFeed, KnownIds, Mapped, collection_feed
from accord.connectors.roles.recon import held_moment
from accord.connectors.types import Page, RawRecord, RecordMeta
from accord.domain import Expense, Invoice, InvoiceStatus, Milestone, System, Timesheet
from accord.errors import MappingError

__all__ = [
    "APPROVALS_FEED",
    "FEED_EVENT_TYPES",
    "KantataBilling",
    "describe_event",
    "entry_id",
    "event_page",
    "expense_event_id",
    "timesheet_event_id",
]

APPROVALS_FEED: Final = "approvals"
"""The approvals feed's name (capture's pair ``<connection>/approvals``)."""
FEED_EVENT_TYPES: Final = ("timesheet_submission:updated", "expense:updated")
"""The feed's event types that can mean an approval (approve and reject are updates)."""
_STORIES: Final = "stories"
_INVOICE_STATUS: Final = {InvoiceStatus.PAID: "paid", InvoiceStatus.VOID: "void"}
"""Kantata invoice status of an ERP invoice's status; anything else is ``submitted``."""
_SUBMISSIONS: Final[dict[str, str]] = {
    "timesheet": "timesheet_submissions",
    "expense": "expense_report_submissions",
}

Approval = Mapped[Timesheet | Expense]


def entry_id(time_entry_id: str) -> str:
    """The canonical id of a Kantata time entry (the ERP's external id of its posting)."""
    return f"kantata-te-{time_entry_id}"


def timesheet_event_id(submission_id: str) -> str:
    """The key of a submission's approval: one per submission, whatever re-delivers it."""
    return f"kantata:timesheet_submission:{submission_id}@approved"


def expense_event_id(expense_id: str) -> str:
    """The key of an expense's approval."""
    return f"kantata:expense:{expense_id}@approved"


def describe_event(event: RawRecord) -> RecordMeta:
    """An event's id, stamped with its subject's change time.

    A re-delivery keeps the event's id and ``subject_changed_at`` (only ``created_at``
    moves), so capture's seen set drops it as already handed on.
    """
    return RecordMeta(
        id=f"event-{event.get('id', '')}",
        modified_at=held_moment(event.get("subject_changed_at"))
        or held_moment(event.get("created_at")),
    )


def event_page(
    connector: KantataConnector,
    cursor: str | None,
    since: datetime | None,
    limit: int | None,
    event_types: tuple[str, ...],
) -> Page:
    """One poll of ``/subscribed_events`` (of ``event_types``) as a page of event records."""
    page = connector.read_events(cursor, since=since, limit=limit, event_types=event_types)
    created = [t for t in (held_moment(e.get("created_at")) for e in page.events) if t is not None]
    return Page(
        records=page.events,
        next_cursor=page.cursor if page.has_more else None,
        high_watermark=max(created) if created else None,
    )


class KantataBilling:
    """The cash-and-billing methods of :class:`~accord.connectors.kantata.psa.KantataPsa`."""

    _connector: KantataConnector

    # ----------------------------------------------------------------- approvals
    def approval_feeds(self, ids: KnownIds) -> tuple[ChangeFeed[Approval | None], ...]:
        """The ``/subscribed_events`` feed (see the module docstring)."""
        return (
            ChangeFeed(
                name=APPROVALS_FEED,
                read=self._read_feed,
                describe=describe_event,
                canonical=lambda event: self._approval_event(event, ids),
            ),
        )

    def approval(self, kind: ApprovalKind, record_id: str, ids: KnownIds) -> Approval | None:
        """A submission (``timesheet``) or an expense read again by its Kantata id."""
        if not record_id.isdigit():
            return None
        if kind == "timesheet":
            return self._timesheet(record_id, ids)
        record = self._connector.get("expenses", record_id)
        if not record.get("approved") or record.get("vendor_id"):
            return None
        return self._expense(record, approved_at=held_moment(record.get("updated_at")), ids=ids)

    def resolve_approval(self, kind: ApprovalKind, record_id: str, *, approve: bool) -> None:
        """Approve or reject a timesheet submission or an expense report submission."""
        resource = _SUBMISSIONS[kind]
        # Kantata refuses a second resolution (422): read first, so a retry writes nothing.
        current = self._connector.get(resource, record_id).get("status")
        if current == ("approved" if approve else "rejected"):
            return
        self._connector.resolve_submission(resource, record_id, approve=approve)

    def _read_feed(self, cursor: str | None, since: datetime | None, limit: int | None) -> Page:
        """One poll of the feed as a page (the events are the records)."""
        return event_page(self._connector, cursor, since, limit, FEED_EVENT_TYPES)

    def _approval_event(self, event: RawRecord, ids: KnownIds) -> Approval | None:
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return None
        kind = event.get("event_type")
        if kind == "timesheet_submission:updated" and payload.get("status") == "approved":
            return self._timesheet(str(event.get("subject_id") or payload.get("id")), ids)
        # A vendor's expense is a payable, not the person's claim: delivery bills it.
        if kind == "expense:updated" and payload.get("approved") and not payload.get("vendor_id"):
            approved_at = held_moment(event.get("subject_changed_at"))
            return self._expense(payload, approved_at=approved_at, ids=ids)
        return None

    def _project(self, workspace_id: str, ids: KnownIds) -> str | None:
        found = ids.canonical("psa_project", workspace_id)
        if found is not None:
            return found
        # A project Accord did not provision: its own Accord key, if someone gave it one.
        workspace = self._connector.get("workspaces", workspace_id)
        return self._connector.describe("workspaces", workspace).external_id

    def _resource(self, user_id: str, ids: KnownIds) -> str | None:
        found = ids.canonical("resource", user_id)
        if found is not None:
            return found
        user = self._connector.get("users", user_id)
        consultant = self._connector.describe("users", user).external_id
        if consultant:
            # A conflict (two users carrying one consultant id) keeps the first link.
            ids.remember("resource", consultant, user_id)
        return consultant

    def _lookups(
        self, record: RawRecord, problems: dict[str, str], ids: KnownIds, **tables: dict[str, str]
    ) -> KantataLookups:
        workspace_id = str(record.get("workspace_id") or "")
        user_id = str(record.get("user_id") or "")
        project = self._project(workspace_id, ids) if workspace_id.isdigit() else None
        if project is None:
            problems["project"] = f"Kantata workspace {workspace_id or '(none)'} is not known"
        resource = self._resource(user_id, ids) if user_id.isdigit() else None
        if resource is None:
            problems["resource"] = f"Kantata user {user_id or '(none)'} has no consultant id"
        return KantataLookups(
            records={
                "workspaces": {project: workspace_id} if project else {},
                "users": {resource: user_id} if resource else {},
                **tables,
            }
        )

    def _timesheet(self, submission_id: str, ids: KnownIds) -> Approval | None:
        if not submission_id.isdigit():
            return None
        # The event's snapshot lacks the entries: the submission embeds them.
        record = self._connector.get("timesheet_submissions", submission_id)
        if record.get("status") != "approved":
            return None
        entries = [e for e in record.get("time_entries") or () if isinstance(e, dict)]
        problems: dict[str, str] = {}
        canonical_id = f"kantata-ts-{submission_id}"
        lookups = self._lookups(
            record,
            problems,
            ids,
            time_entries={entry_id(str(e.get("id"))): str(e.get("id")) for e in entries},
            timesheet_submissions={canonical_id: submission_id},
        )
        value: Timesheet | None = None
        if not problems:
            try:
                value = timesheet_to_canonical(record, lookups=lookups)
            except MappingError as exc:
                problems["record"] = str(exc)
        return Mapped(
            kind="timesheet",
            record_id=submission_id,
            canonical_id=canonical_id,
            label=f"{submission_id} (week of {record.get('start_date')})",
            value=value,
            missing=problems,
            context={
                "workspace_id": record.get("workspace_id"),
                "user_id": record.get("user_id"),
                "time_entry_ids": [e.get("id") for e in entries],
            },
            key=timesheet_event_id(submission_id),
        )

    def _expense(
        self, record: RawRecord, *, approved_at: datetime | None, ids: KnownIds
    ) -> Approval | None:
        expense_key = str(record.get("id") or "")
        if not expense_key.isdigit():
            return None
        problems: dict[str, str] = {}
        canonical_id = f"kantata-ex-{expense_key}"
        lookups = self._lookups(record, problems, ids, expenses={canonical_id: expense_key})
        value: Expense | None = None
        if not problems:
            try:
                value = expense_to_canonical(record, lookups=lookups)
            except MappingError as exc:
                problems["record"] = str(exc)
            else:
                if approved_at is not None:
                    value = value.model_copy(update={"approved_at": approved_at})
        return Mapped(
            kind="expense",
            record_id=expense_key,
            canonical_id=canonical_id,
            label=f"{expense_key} ({record.get('category')}, {record.get('date')})",
            value=value,
            missing=problems,
            context={"workspace_id": record.get("workspace_id"), "user_id": record.get("user_id")},
            key=expense_event_id(expense_key),
        )

    # ----------------------------------------------------------------- milestones
    def completed_milestones(self, ids: KnownIds) -> ChangeFeed[Mapped[Milestone] | None]:
        """Changed ``stories``; the completed milestones among them map."""
        return collection_feed(self._connector, _STORIES, lambda r: self._milestone(r, ids))

    def _milestone(self, record: RawRecord, ids: KnownIds) -> Mapped[Milestone] | None:
        if record.get("story_type") != "milestone" or record.get("state") != "completed":
            return None
        story_id = str(record.get("id") or "")
        key = self._connector.describe(_STORIES, record).external_id
        workspace = str(record.get("workspace_id") or "")
        project = ids.canonical("psa_project", workspace) if workspace else None
        base: Mapped[Milestone] = Mapped(
            kind="milestone",
            record_id=story_id,
            canonical_id=key or f"kantata:{story_id}",
            label=str(record.get("title") or story_id),
            context={"workspace_id": workspace or None},
        )
        if key is None:
            missing = {"key": "Accord does not know the milestone key (external reference)"}
            return replace(base, missing=missing)
        if project is None:
            return replace(base, missing={"project": "Accord does not know the project"})
        currency = str(self._connector.get("workspaces", workspace).get("currency") or "")
        lookups = KantataLookups(
            records={"stories": {key: story_id}, "workspaces": {project: workspace}}
        )
        try:
            milestone = milestone_to_canonical(record, lookups=lookups, currency=currency)
        except MappingError as exc:
            return replace(base, missing={"record": str(exc)})
        return replace(base, value=milestone)

    def mark_milestone_invoiced(self, milestone: Milestone, *, invoice_id: str, note: str) -> bool:
        """Give the milestone's story an ``invoice`` reference naming the invoice."""
        story = next((r.id for r in milestone.refs if r.system is System.KANTATA), None)
        if story is None:
            return False
        self._connector.set_reference(
            _STORIES,
            story,
            service_name=self._connector.config.service_name,
            service_model="invoice",
            ref=invoice_id,
            message=note,
        )
        return True

    # ----------------------------------------------------------------- invoices
    def record_invoice(self, project: str, invoice: Invoice, *, note: str) -> str:
        """Upsert the Kantata invoice by Accord's reference; its reference carries ``note``."""
        result = self._connector.upsert(
            "invoices",
            invoice.id,
            {
                "workspace_ids": [project],
                "invoice_date": invoice.issue_date.isoformat(),
                "due_date": invoice.due_date.isoformat(),
                "status": _INVOICE_STATUS.get(invoice.status, "submitted"),
                "paid": invoice.status is InvoiceStatus.PAID,
            },
        )
        self._connector.set_reference(
            "invoices",
            result.id,
            service_name=self._connector.config.service_name,
            service_model="invoice",
            ref=invoice.id,
            message=note,
        )
        return result.id
