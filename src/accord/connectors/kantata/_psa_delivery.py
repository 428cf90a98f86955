"""Kantata in the PSA role, delivery half: status and fields, tasks, team, vendor costs (issue 23).

**The feed** ``delivery`` reads ``/subscribed_events`` (reference section 3.5) for the events that
change delivery, and maps each to what the record is *now* (the event's current snapshot, or
the record read again where the snapshot lacks something):

- ``workspace:updated`` and ``custom_field_value:created|updated|deleted`` of a workspace ->
  the project's state: its status (``status.message``) and the rules' custom fields
  (``custom_field_values`` of the workspace, by the Kantata field's name);
- ``story:created|updated`` of a ``task`` or ``deliverable`` -> a task (milestones are
  milestone billing's): the estimate ``time_estimate_in_minutes``, the progress
  ``percentage_complete``, the logged time, the state; its canonical id is Accord's reference
  on the story (a phase lead-to-project provisioned, ``<project id>-P<n>``), else
  ``kantata-st-<story id>``;
- ``assignment:created|updated`` (a user on a story, ``estimated_minutes``) and
  ``participation:created|updated`` (a user on the workspace's team; the client side is left
  out) -> an assignment, with the story's (else the workspace's) dates and the user's headline
  as the role; the person is the consultant id on the user, as for approvals;
- ``expense:updated`` of an approved expense with a ``vendor_id`` -> a vendor expense, whose
  vendor is the firm's key on the Kantata vendor (``service_model`` ``vendor``).

Workspaces Accord did not provision map to nothing.

**Vendor costs** from the ERP are Kantata expenses on the workspace, upserted by Accord's
reference (the cost's key), with the vendor, the story and ``reimbursable`` off; Accord never
submits them, so they never come back as approved vendor expenses.

**Custom fields** are Kantata custom fields on workspaces, matched by name; a value is a
``custom_field_values`` record of the workspace (created, updated, or deleted when cleared).
"""

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from accord.connectors.kantata._psa_billing import KantataBilling, describe_event, event_page
from accord.connectors.kantata.connector import KantataConnector
from accord.connectors.kantata.mapping import (
    STATUS_MESSAGES,
    KantataLookups,
    expense_to_canonical,
)
from accord.connectors.roles import (
    ChangeFeed,
    DeliveryRecord,
    KnownIds,
    Mapped,
    ProjectState,
    VendorCost,
    custom_field_names,
)
from accord.connectors.roles.recon import held_date, held_moment
from accord.connectors.types import Page, RawRecord
from accord.domain import Assignment, ProjectStatus, ProjectTask, System, TaskStatus
from accord.errors import MappingError, NotFoundError
from accord.rules import Rules

__all__ = ["DELIVERY_EVENT_TYPES", "DELIVERY_FEED", "KantataDelivery", "task_id"]

DELIVERY_FEED: Final = "delivery"
"""The delivery feed's name (capture's pair ``<connection>/delivery``)."""
DELIVERY_EVENT_TYPES: Final = (
    "workspace:updated",
    "story:created",
    "story:updated",
    "assignment:created",
    "assignment:updated",
    "participation:created",
    "participation:updated",
    "expense:updated",
    "custom_field_value:created",
    "custom_field_value:updated",
    "custom_field_value:deleted",
)
"""The feed's event types (see the module docstring)."""
_TASK_TYPES: Final = frozenset({"task", "deliverable"})
_STATE_IN: Final = {
    "not started": TaskStatus.NOT_STARTED,
    "started": TaskStatus.IN_PROGRESS,
    "needs feedback": TaskStatus.IN_PROGRESS,
    "completed": TaskStatus.COMPLETED,
    "rejected": TaskStatus.CANCELLED,
}
_STATUS_IN: Final = {
    **{message: status for status, message in STATUS_MESSAGES.items()},
    "In Planning": ProjectStatus.PLANNED,
}
_MINUTES: Final = Decimal(60)
_WORKSPACE: Final = "Workspace"

Record = Mapped[DeliveryRecord]


def task_id(story_id: str, key: str | None) -> str:
    """The canonical id of a story's task: Accord's key on it, else ``kantata-st-<id>``."""
    return key or f"kantata-st-{story_id}"


def _hours(minutes: object) -> Decimal | None:
    if minutes in (None, ""):
        return None
    return (Decimal(str(minutes)) / _MINUTES).quantize(Decimal("0.01"), ROUND_HALF_UP)


def _span(*records: RawRecord) -> tuple[dt.date, dt.date]:
    """The first start and due dates the records carry (today when none does)."""
    start = next((d for r in records if (d := held_date(r.get("start_date")))), None)
    end = next((d for r in records if (d := held_date(r.get("due_date")))), None)
    start = start or end or dt.datetime.now(dt.UTC).date()
    return start, max(end or start, start)


class KantataDelivery(KantataBilling):
    """The delivery methods of :class:`~accord.connectors.kantata.psa.KantataPsa`."""

    _connector: KantataConnector
    _rules: Rules

    # ----------------------------------------------------------------- the feed
    def delivery_feeds(self, ids: KnownIds) -> tuple[ChangeFeed[Record | None], ...]:
        """The ``/subscribed_events`` delivery feed (see the module docstring)."""
        return (
            ChangeFeed(
                name=DELIVERY_FEED,
                read=self._read_delivery,
                describe=describe_event,
                canonical=lambda event: self._delivery_event(event, ids),
            ),
        )

    def _read_delivery(self, cursor: str | None, since: dt.datetime | None, n: int | None) -> Page:
        return event_page(self._connector, cursor, since, n, DELIVERY_EVENT_TYPES)

    def _delivery_event(self, event: RawRecord, ids: KnownIds) -> Record | None:  # noqa: PLR0911 - one answer per event model
        snapshot = event.get("current_payload") or event.get("payload")
        if not isinstance(snapshot, dict):
            return None  # gone since
        model = str(event.get("event_type") or "").partition(":")[0]
        changed_at = held_moment(event.get("subject_changed_at"))
        if model == "custom_field_value" and snapshot.get("subject_type") == _WORKSPACE:
            # A field's value is a record of its own: the workspace's state is what changed.
            try:
                snapshot = self._connector.get("workspaces", str(snapshot.get("subject_id")))
            except NotFoundError:
                return None
            model = "workspace"
        if model == "workspace":
            return self._project_state_of(snapshot, ids, changed_at)
        if model == "story":
            return self._task(str(snapshot.get("id") or ""), ids)
        if model == "assignment":
            return self._story_assignment(snapshot, ids)
        if model == "participation" and snapshot.get("role") != "client":
            return self._team_member(snapshot, ids)
        if model == "expense" and snapshot.get("approved") and snapshot.get("vendor_id"):
            return self._vendor_expense(snapshot, ids, changed_at)
        return None

    # ----------------------------------------------------------------- project state
    def _project_state_of(
        self, workspace: RawRecord, ids: KnownIds, changed_at: dt.datetime | None
    ) -> Record | None:
        workspace_id = str(workspace.get("id") or "")
        project = ids.canonical("psa_project", workspace_id) if workspace_id else None
        if project is None:
            return None
        state = self._state(workspace, project, changed_at)
        return Mapped(
            kind="project",
            record_id=workspace_id,
            canonical_id=project,
            label=state.label,
            value=state,
        )

    def _state(
        self, workspace: RawRecord, project_id: str, changed_at: dt.datetime | None
    ) -> ProjectState:
        status = workspace.get("status")
        message = status.get("message") if isinstance(status, dict) else status
        return ProjectState(
            project_id=project_id,
            status=_STATUS_IN.get(str(message), ProjectStatus.ACTIVE),
            fields=self._custom_values(str(workspace.get("id"))),
            changed_at=changed_at or held_moment(workspace.get("updated_at")),
            label=str(workspace.get("title") or workspace.get("id")),
        )

    def project_state(self, psa_id: str, project_id: str) -> ProjectState:
        """The workspace's status and custom fields now."""
        workspace = self._connector.get("workspaces", psa_id)
        return self._state(workspace, project_id, None)

    def set_project_status(self, psa_id: str, status: ProjectStatus, *, reason: str) -> bool:
        """Write the workspace status (Kantata keeps no reason field: ``reason`` is unused)."""
        del reason
        workspace = self._connector.get("workspaces", psa_id)
        current = workspace.get("status")
        message = current.get("message") if isinstance(current, dict) else current
        if message == STATUS_MESSAGES[status]:
            return False
        self._connector.update("workspaces", psa_id, {"status": STATUS_MESSAGES[status]})
        return True

    # ----------------------------------------------------------------- custom fields
    def _fields(self) -> dict[str, str]:
        """Kantata workspace custom field name -> its id."""
        page = self._connector.query_page(
            "custom_fields", filters={"subject_type": _WORKSPACE}, limit=200
        )
        return {str(r.get("name")): str(r.get("id")) for r in page.records}

    def _values(self, workspace_id: str) -> dict[str, RawRecord]:
        """Custom field id -> the workspace's value record."""
        page = self._connector.query_page(
            "custom_field_values",
            filters={"subject_type": _WORKSPACE, "subject_id": workspace_id},
            limit=200,
        )
        return {str(r.get("custom_field_id")): r for r in page.records}

    def _custom_values(self, workspace_id: str) -> dict[str, str | None]:
        names = custom_field_names(self._rules, System.KANTATA.value)
        if not names:
            return {}
        fields, values = self._fields(), self._values(workspace_id)
        out: dict[str, str | None] = {}
        for canonical, name in names.items():
            record = values.get(fields.get(name, ""))
            out[canonical] = str(record["value"]) if record and record.get("value") else None
        return out

    def write_project_fields(self, psa_id: str, fields: Mapping[str, str | None]) -> None:
        """Create, update or delete the workspace's custom field values."""
        names = custom_field_names(self._rules, System.KANTATA.value)
        ids, values = self._fields(), self._values(psa_id)
        for canonical, value in fields.items():
            field_id = ids.get(names.get(canonical, ""))
            if field_id is None:
                continue
            current = values.get(field_id)
            if current is not None and value is None:
                self._connector.delete("custom_field_values", str(current["id"]))
            elif current is not None and current.get("value") != value:
                self._connector.update("custom_field_values", str(current["id"]), {"value": value})
            elif current is None and value is not None:
                self._connector.create(
                    "custom_field_values",
                    {
                        "subject_type": _WORKSPACE,
                        "subject_id": psa_id,
                        "custom_field_id": field_id,
                        "value": value,
                    },
                )

    def project_field_problems(self) -> dict[str, str]:
        """Mapped names Kantata has no workspace custom field for."""
        names = custom_field_names(self._rules, System.KANTATA.value)
        if not names:
            return {}
        known = self._fields()
        return {
            canonical: f"Kantata has no workspace custom field named {name!r}"
            for canonical, name in names.items()
            if name not in known
        }

    # ----------------------------------------------------------------- tasks and team
    def _story(self, story_id: str) -> RawRecord | None:
        try:
            return self._connector.get("stories", story_id) if story_id.isdigit() else None
        except NotFoundError:
            return None

    def _task_key(self, story: RawRecord, ids: KnownIds) -> str:
        story_id = str(story.get("id"))
        key = task_id(story_id, self._connector.describe("stories", story).external_id)
        ids.remember("psa_task", key, story_id)
        return key

    def _task(self, story_id: str, ids: KnownIds) -> Record | None:
        story = self._story(story_id)
        if story is None or story.get("story_type") not in _TASK_TYPES:
            return None
        workspace = str(story.get("workspace_id") or "")
        project = ids.canonical("psa_project", workspace) if workspace else None
        if project is None:
            return None
        key = self._task_key(story, ids)
        parent_id = str(story.get("parent_id") or "")
        parent = self._story(parent_id) if parent_id else None
        logged = sum(
            int(story.get(f) or 0)
            for f in ("logged_billable_time_in_minutes", "logged_nonbillable_time_in_minutes")
        )
        base: Record = Mapped(
            kind="task", record_id=story_id, canonical_id=key, label=str(story.get("title"))
        )
        try:
            task = ProjectTask(
                id=key,
                project_id=project,
                name=str(story.get("title") or key),
                parent_id=self._task_key(parent, ids) if parent is not None else None,
                status=_STATE_IN.get(str(story.get("state")), TaskStatus.NOT_STARTED),
                estimated_hours=_hours(story.get("time_estimate_in_minutes")),
                actual_hours=_hours(logged),
                percent_complete=Decimal(int(story.get("percentage_complete") or 0)),
                start_date=held_date(story.get("start_date")),
                end_date=held_date(story.get("due_date")),
                billable=bool(story.get("billable", True)),
            )
        except ValueError as exc:
            return replace(base, missing={"record": str(exc).splitlines()[0]})
        return replace(base, value=task)

    def _person(self, user_id: str, ids: KnownIds) -> tuple[str | None, str]:
        """The consultant id of a Kantata user and the role to show (the user's headline)."""
        if not user_id.isdigit():
            return None, ""
        resource = self._resource(user_id, ids)
        headline = str(self._connector.get("users", user_id).get("headline") or "")
        return resource, headline or "Team member"

    def _assignment(
        self,
        assignment_id: str,
        project: str,
        user_id: str,
        span: tuple[dt.date, dt.date],
        ids: KnownIds,
        **extra: Any,  # noqa: ANN401 - optional Assignment fields
    ) -> Record:
        resource, role = self._person(user_id, ids)
        base: Record = Mapped(
            kind="assignment",
            record_id=assignment_id,
            canonical_id=f"kantata-{assignment_id}",
            label=f"user {user_id} on {project}",
            context={"user_id": user_id},
        )
        if resource is None:
            return replace(
                base, missing={"resource": f"Kantata user {user_id} has no consultant id"}
            )
        value = Assignment(
            id=base.canonical_id,
            project_id=project,
            resource_id=resource,
            role=role,
            start_date=span[0],
            end_date=span[1],
            **extra,
        )
        return replace(base, value=value)

    def _story_assignment(self, record: RawRecord, ids: KnownIds) -> Record | None:
        story = self._story(str(record.get("story_id") or ""))
        if story is None or story.get("story_type") not in _TASK_TYPES:
            return None
        workspace_id = str(story.get("workspace_id") or "")
        project = ids.canonical("psa_project", workspace_id) if workspace_id else None
        if project is None:
            return None
        workspace = self._connector.get("workspaces", workspace_id)
        return self._assignment(
            f"as-{record.get('id')}",
            project,
            str(record.get("assignee_id") or ""),
            _span(story, workspace),
            ids,
            task_id=self._task_key(story, ids),
            planned_hours=_hours(record.get("estimated_minutes")),
        )

    def _team_member(self, record: RawRecord, ids: KnownIds) -> Record | None:
        workspace_id = str(record.get("workspace_id") or "")
        project = ids.canonical("psa_project", workspace_id) if workspace_id else None
        if project is None:
            return None
        workspace = self._connector.get("workspaces", workspace_id)
        return self._assignment(
            f"pa-{record.get('id')}", project, str(record.get("user_id") or ""),
            _span(workspace), ids,
        )  # fmt: skip

    # ----------------------------------------------------------------- vendor costs
    def _vendor(self, vendor_id: str, ids: KnownIds) -> str | None:
        found = ids.canonical("vendor", vendor_id)
        if found is not None:
            return found
        try:
            vendor = self._connector.get("vendors", vendor_id)
        except NotFoundError:
            return None
        key = self._connector.describe("vendors", vendor).external_id
        if key:
            ids.remember("vendor", key, vendor_id)
        return key

    def _vendor_expense(
        self, record: RawRecord, ids: KnownIds, approved_at: dt.datetime | None
    ) -> Record | None:
        workspace = str(record.get("workspace_id") or "")
        project = ids.canonical("psa_project", workspace) if workspace else None
        if project is None:
            return None
        expense_key = str(record.get("id"))
        canonical_id = f"kantata-ex-{expense_key}"
        base: Record = Mapped(
            kind="vendor_expense",
            record_id=expense_key,
            canonical_id=canonical_id,
            label=f"{expense_key} ({record.get('category')}, {record.get('date')})",
            context={"workspace_id": workspace, "vendor_id": record.get("vendor_id")},
            key=f"kantata:vendor_expense:{expense_key}@approved",
        )
        vendor = self._vendor(str(record.get("vendor_id")), ids)
        if vendor is None:
            missing = {"vendor": f"Kantata vendor {record.get('vendor_id')} has no vendor key"}
            return replace(base, missing=missing)
        lookups = KantataLookups(
            records={"workspaces": {project: workspace}, "expenses": {canonical_id: expense_key}}
        )
        try:
            expense = expense_to_canonical(record, lookups=lookups)
        except MappingError as exc:
            return replace(base, missing={"record": str(exc)})
        story = str(record.get("story_id") or "")
        task = ids.canonical("psa_task", story) if story else None
        context = {**base.context, "task_id": task}
        value = expense.model_copy(
            update={"vendor_id": vendor, "resource_id": None, "approved_at": approved_at}
        )
        return replace(base, value=value, context=context)

    def record_vendor_cost(self, cost: VendorCost, ids: KnownIds) -> str:
        """Upsert the workspace expense by Accord's reference (the cost's key)."""
        bill, line = cost.bill, cost.line
        vendor = ids.external("vendor", bill.vendor_id)
        if vendor is None:
            found = self._connector.get_by_external_id("vendors", bill.vendor_id)
            vendor = str(found["id"]) if found else None
        notes = f"Vendor bill {bill.number or bill.id}: {line.description or bill.memo}".strip()
        fields: dict[str, Any] = {
            "workspace_id": cost.project,
            "date": bill.bill_date.isoformat(),
            "category": line.category.value.title(),
            "amount_in_cents": int((line.amount.amount * 100).to_integral_value(ROUND_HALF_UP)),
            "currency": line.amount.currency,
            "billable": line.billable,
            "reimbursable": False,
            "notes": notes[:1000],
            "vendor_id": vendor,
            "story_id": cost.task,
        }
        return self._connector.upsert("expenses", cost.key, fields).id
