"""The Kantata OX resources the emulator serves: field lists, defaults and attribute coercion.

Each :class:`Resource` says what a record of one collection looks like in the API (reference
``shared/reference/saas-apis.md`` section 3.4) and which attributes a client may write. Coercion
turns a JSON or Rails-form payload into typed attributes and collects validation messages in
Kantata's wording ("Date performed can't be blank"). Cross-record rules (does the workspace
exist, is the entry locked) live in :mod:`accord_sandbox.kantata.app`, not here.
"""

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

__all__ = [
    "RESOURCES",
    "STORY_STATES",
    "STORY_TYPES",
    "SUBJECT_TYPES",
    "WORKSPACE_STATUSES",
    "FieldSpec",
    "Resource",
    "accord_reference",
    "coerce_attributes",
    "human_name",
    "new_record",
    "validation_error",
]

Kind = Literal["str", "int", "bool", "date", "id", "ids", "json"]
Record = dict[str, Any]

_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class FieldSpec:
    """One attribute of a resource as the API shows it."""

    kind: Kind
    default: Any = None
    writable: bool = True
    required: bool = False
    choices: tuple[str, ...] = ()
    ref: str | None = None
    """Plural key of the collection an ``id``/``ids`` field points at (checked by the app)."""


@dataclass(frozen=True)
class Resource:
    """One collection under ``/api/v1/``."""

    plural: str
    singular: str
    subject_type: str
    """The class name used by external references and events (``TimeEntry``)."""
    fields: Mapping[str, FieldSpec]
    creatable: bool = True
    updatable: bool = True
    deletable: bool = False
    includes: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """``?include=`` name -> (local id/ids field, target collection)."""

    @property
    def event_model(self) -> str:
        """``time_entry`` for ``TimeEntry``: the prefix of its event types."""
        return self.singular


def _f(kind: Kind, default: Any = None, **kw: Any) -> FieldSpec:  # noqa: ANN401 - defaults vary
    return FieldSpec(kind=kind, default=default, **kw)


def _ro(kind: Kind, default: Any = None, ref: str | None = None) -> FieldSpec:  # noqa: ANN401
    return FieldSpec(kind=kind, default=default, writable=False, ref=ref)


STORY_TYPES = ("task", "deliverable", "milestone", "issue")
"""[inferred] in the reference; Kantata's story types."""
STORY_STATES = ("not started", "started", "needs feedback", "completed", "rejected")
"""[inferred]: the reference lists "not started / started / completed ..."; others are UI states."""

WORKSPACE_STATUSES: dict[str, tuple[str, int]] = {
    # [inferred]: the reference only says ``status`` is {color, message}. These are the project
    # statuses a Kantata account ships with; ``key`` mirrors the UI's status ordering.
    "Not Started": ("grey", 100),
    "In Planning": ("grey", 110),
    "In Progress": ("green", 310),
    "On Hold": ("yellow", 320),
    "Completed": ("blue", 410),
    "Cancelled": ("red", 420),
}

_TIMESTAMPS = {"created_at": _ro("str"), "updated_at": _ro("str")}
_SUBMISSION_STATE = {
    "comment": _f("str", ""),
    "status": _ro("str", "pending"),
    "submitted_at": _ro("str"),
    "resolved_at": _ro("str"),
    "resolution": _ro("json"),
}
"""What a timesheet or expense-report submission says about its approval (set by approve/reject)."""

USERS = Resource(
    plural="users",
    singular="user",
    subject_type="User",
    creatable=False,
    updatable=False,
    # [inferred]: Kantata keeps rates on rate cards and account memberships; the emulator flattens
    # a consultant's default rates onto the user so that time entries can be priced.
    fields={
        "full_name": _ro("str"),
        "email_address": _ro("str"),
        "headline": _ro("str"),
        "role_id": _ro("id", ref="roles"),
        "bill_rate_in_cents": _ro("int"),
        "cost_rate_in_cents": _ro("int"),
        "currency": _ro("str"),
        "generic": _ro("bool", default=False),
        "disabled": _ro("bool", default=False),
        **_TIMESTAMPS,
    },
    includes={"role": ("role_id", "roles")},
)

ROLES = Resource(
    plural="roles",
    singular="role",
    subject_type="Role",
    creatable=False,
    updatable=False,
    fields={"name": _ro("str"), **_TIMESTAMPS},
)

RATE_CARDS = Resource(
    plural="rate_cards",
    singular="rate_card",
    subject_type="RateCard",
    creatable=False,
    updatable=False,
    # [inferred]: real rate cards have versions and rate_card_roles; one flat ``rates`` list of
    # {role_id, rate_in_cents} is enough to price time by role.
    fields={
        "title": _ro("str"),
        "currency": _ro("str"),
        "default": _ro("bool", default=False),
        "rates": _ro("json", default=[]),
        **_TIMESTAMPS,
    },
)

WORKSPACES = Resource(
    plural="workspaces",
    singular="workspace",
    subject_type="Workspace",
    fields={
        "title": _f("str", required=True),
        "description": _f("str", ""),
        "budgeted": _f("bool", default=False),
        "price_in_cents": _f("int"),
        "currency": _f("str", "USD"),
        "start_date": _f("date"),
        "due_date": _f("date"),
        "archived": _f("bool", default=False),
        "status": _f("json", {"color": "grey", "key": 100, "message": "Not Started"}),
        "creator_id": _ro("id", ref="users"),
        "primary_counterpart_id": _f("id", ref="users"),
        "participant_ids": _f("ids", [], ref="users"),
        "workspace_group_ids": _f("ids", []),
        "rate_card_id": _f("id", ref="rate_cards"),
        **_TIMESTAMPS,
    },
    includes={
        "creator": ("creator_id", "users"),
        "primary_counterpart": ("primary_counterpart_id", "users"),
        "participants": ("participant_ids", "users"),
        "rate_card": ("rate_card_id", "rate_cards"),
    },
)

TIME_ENTRIES = Resource(
    plural="time_entries",
    singular="time_entry",
    subject_type="TimeEntry",
    deletable=True,
    fields={
        "workspace_id": _f("id", required=True, ref="workspaces"),
        "user_id": _f("id", ref="users"),
        "story_id": _f("id", ref="stories"),
        "date_performed": _f("date", required=True),
        "time_in_minutes": _f("int", required=True),
        "billable": _f("bool", default=True),
        "notes": _f("str", ""),
        "rate_in_cents": _f("int"),
        "cost_rate_in_cents": _ro("int"),
        "currency": _ro("str"),
        "currency_symbol": _ro("str"),
        "currency_base_unit": _ro("int", 100),
        "approved": _ro("bool", default=False),
        "is_invoiced": _ro("bool", default=False),
        "taxable": _f("bool", default=False),
        "active_submission_id": _ro("id", ref="timesheet_submissions"),
        "location": _f("str"),
        "user_can_edit": _ro("bool", default=True),
        **_TIMESTAMPS,
    },
    includes={
        "user": ("user_id", "users"),
        "workspace": ("workspace_id", "workspaces"),
        "story": ("story_id", "stories"),
        "active_submission": ("active_submission_id", "timesheet_submissions"),
    },
)

EXPENSES = Resource(
    plural="expenses",
    singular="expense",
    subject_type="Expense",
    deletable=True,
    fields={
        "workspace_id": _f("id", required=True, ref="workspaces"),
        "user_id": _f("id", ref="users"),
        "date": _f("date", required=True),
        "category": _f("str", required=True),
        "amount_in_cents": _f("int", required=True),
        "currency": _f("str"),
        "billable": _f("bool", default=True),
        "notes": _f("str", ""),
        "is_invoiced": _ro("bool", default=False),
        "expense_report_id": _ro("id"),
        "approved": _ro("bool", default=False),
        # tap-mavenlink's expenses schema: the vendor billing it (a subcontractor or
        # pass-through cost), whether it is reimbursable, and the task it was spent on.
        "vendor_id": _f("id", ref="vendors"),
        "reimbursable": _f("bool", default=True),
        "story_id": _f("id", ref="stories"),
        **_TIMESTAMPS,
    },
    includes={
        "user": ("user_id", "users"),
        "workspace": ("workspace_id", "workspaces"),
        "vendor": ("vendor_id", "vendors"),
        "story": ("story_id", "stories"),
    },
)

STORIES = Resource(
    plural="stories",
    singular="story",
    subject_type="Story",
    deletable=True,
    fields={
        "workspace_id": _f("id", required=True, ref="workspaces"),
        "title": _f("str", required=True),
        "description": _f("str", ""),
        "story_type": _f("str", "task", choices=STORY_TYPES),
        "state": _f("str", "not started", choices=STORY_STATES),
        "start_date": _f("date"),
        "due_date": _f("date"),
        "parent_id": _f("id", ref="stories"),
        "sub_story_ids": _ro("ids", []),
        "budget_estimate_in_cents": _f("int"),
        "billable": _f("bool", default=True),
        # tap-mavenlink's stories schema: the estimate, the progress a project manager sets,
        # and the time logged to the story (computed from its time entries).
        "time_estimate_in_minutes": _f("int"),
        "percentage_complete": _f("int", 0),
        "logged_billable_time_in_minutes": _ro("int", 0),
        "logged_nonbillable_time_in_minutes": _ro("int", 0),
        "assignment_ids": _ro("ids", []),
        **_TIMESTAMPS,
    },
    includes={
        "workspace": ("workspace_id", "workspaces"),
        "parent": ("parent_id", "stories"),
        "sub_stories": ("sub_story_ids", "stories"),
    },
)

TIMESHEET_SUBMISSIONS = Resource(
    plural="timesheet_submissions",
    singular="timesheet_submission",
    subject_type="TimesheetSubmission",
    updatable=False,
    # [inferred] field list: the reference names the object, its grouping (user, workspace,
    # period) and the approve/reject operations, not its attributes.
    fields={
        "user_id": _f("id", ref="users"),
        "workspace_id": _f("id", required=True, ref="workspaces"),
        "start_date": _f("date"),
        "end_date": _f("date"),
        "time_entry_ids": _f("ids", [], ref="time_entries"),
        **_SUBMISSION_STATE,
        **_TIMESTAMPS,
    },
    includes={
        "user": ("user_id", "users"),
        "workspace": ("workspace_id", "workspaces"),
        "time_entries": ("time_entry_ids", "time_entries"),
    },
)

EXPENSE_REPORT_SUBMISSIONS = Resource(
    plural="expense_report_submissions",
    singular="expense_report_submission",
    subject_type="ExpenseReportSubmission",
    updatable=False,
    # [inferred] field list and approve/reject operations: the reference says expense reports
    # are approved through expense_report_submissions (mavenlink_gem) and that approving one
    # emits ``expense:updated`` for its expenses, not the object's attributes. The emulator
    # folds the report into its submission: ``expense_report_id`` of an expense is this id.
    fields={
        "user_id": _f("id", ref="users"),
        "workspace_id": _f("id", ref="workspaces"),
        "expense_ids": _f("ids", [], ref="expenses"),
        **_SUBMISSION_STATE,
        **_TIMESTAMPS,
    },
    includes={
        "user": ("user_id", "users"),
        "workspace": ("workspace_id", "workspaces"),
        "expenses": ("expense_ids", "expenses"),
    },
)

VENDORS = Resource(
    plural="vendors",
    singular="vendor",
    subject_type="Vendor",
    # [inferred] field list: tap-mavenlink's expenses name ``vendor_id`` (include ``vendor``),
    # not the vendor's own attributes. Vendors are account settings, seeded from the firm.
    fields={"name": _f("str", required=True), "email_address": _f("str"), **_TIMESTAMPS},
)

ASSIGNMENTS = Resource(
    plural="assignments",
    singular="assignment",
    subject_type="Assignment",
    deletable=True,
    # tap-mavenlink's assignments schema: a user assigned to a story, with an estimate.
    fields={
        "story_id": _f("id", required=True, ref="stories"),
        "assignee_id": _f("id", required=True, ref="users"),
        "estimated_minutes": _f("int"),
        "allocated_minutes": _ro("int", 0),
        "current": _ro("bool", default=True),
        **_TIMESTAMPS,
    },
    includes={"story": ("story_id", "stories"), "assignee": ("assignee_id", "users")},
)

PARTICIPATIONS = Resource(
    plural="participations",
    singular="participation",
    subject_type="Participation",
    deletable=True,
    # [inferred] field list: the workspaces schema names ``participation_ids``; a
    # participation puts a user on a project's team, on the consultant ("maven") side or the
    # client side.
    fields={
        "workspace_id": _f("id", required=True, ref="workspaces"),
        "user_id": _f("id", required=True, ref="users"),
        "role": _f("str", "maven", choices=("maven", "client")),
        **_TIMESTAMPS,
    },
    includes={"workspace": ("workspace_id", "workspaces"), "user": ("user_id", "users")},
)

CUSTOM_FIELDS = Resource(
    plural="custom_fields",
    singular="custom_field",
    subject_type="CustomField",
    creatable=False,
    updatable=False,
    # [inferred] shape of Kantata's custom fields (account settings, seeded): a name per
    # subject type and a value type.
    fields={
        "name": _ro("str"),
        "subject_type": _ro("str"),
        "value_type": _ro("str", "string"),
        **_TIMESTAMPS,
    },
)

CUSTOM_FIELD_VALUES = Resource(
    plural="custom_field_values",
    singular="custom_field_value",
    subject_type="CustomFieldValue",
    deletable=True,
    # [inferred]: one value of one custom field on one subject (a workspace).
    fields={
        "subject_type": _f("str", required=True, choices=("Workspace",)),
        "subject_id": _f("id", required=True),
        "custom_field_id": _f("id", required=True, ref="custom_fields"),
        "value": _f("str"),
        **_TIMESTAMPS,
    },
)

INVOICE_STATUSES = ("draft", "submitted", "paid", "void")
"""[inferred]: the reference lists ``status`` without its values."""

INVOICES = Resource(
    plural="invoices",
    singular="invoice",
    subject_type="Invoice",
    fields={
        "workspace_ids": _f("ids", [], required=True, ref="workspaces"),
        "invoice_date": _f("date"),
        "due_date": _f("date"),
        "status": _f("str", "draft", choices=INVOICE_STATUSES),
        "currency": _ro("str"),
        "subtotal": _ro("str", "0.00"),
        "total": _ro("str", "0.00"),
        "paid": _f("bool", default=False),
        "time_entry_ids": _f("ids", [], ref="time_entries"),
        "expense_ids": _f("ids", [], ref="expenses"),
        "fixed_fee_item_ids": _f("ids", []),
        "additional_item_ids": _f("ids", []),
        **_TIMESTAMPS,
    },
    includes={
        "workspaces": ("workspace_ids", "workspaces"),
        "time_entries": ("time_entry_ids", "time_entries"),
        "expenses": ("expense_ids", "expenses"),
    },
)

SUBJECT_TYPES = (
    *(
        r.subject_type
        for r in (WORKSPACES, TIME_ENTRIES, EXPENSES, STORIES, INVOICES, USERS, VENDORS)
    ),
    "TimesheetSubmission",
    "ExpenseReportSubmission",
)
"""Kantata objects an external reference may point at in the emulator."""

EXTERNAL_REFERENCES = Resource(
    plural="external_references",
    singular="external_reference",
    subject_type="ExternalReference",
    deletable=True,
    fields={
        "subject_type": _f("str", required=True, choices=SUBJECT_TYPES),
        "subject_id": _f("id", required=True),
        "service_name": _f("str", required=True),
        "service_model": _f("str", required=True),
        "service_model_ref": _f("str", required=True),
        "external_status": _f("str"),
        "external_message": _f("str"),
        "external_link": _f("str"),
        "status": _f("str", "successful", choices=("successful", "fail")),
        **_TIMESTAMPS,
    },
)

RESOURCES: dict[str, Resource] = {
    r.plural: r
    for r in (
        USERS,
        ROLES,
        RATE_CARDS,
        WORKSPACES,
        TIME_ENTRIES,
        EXPENSES,
        STORIES,
        TIMESHEET_SUBMISSIONS,
        EXPENSE_REPORT_SUBMISSIONS,
        INVOICES,
        EXTERNAL_REFERENCES,
        VENDORS,
        ASSIGNMENTS,
        PARTICIPATIONS,
        CUSTOM_FIELDS,
        CUSTOM_FIELD_VALUES,
    )
}
"""Every collection by plural key, which is also the URL segment and the store's object name."""


def human_name(name: str) -> str:
    """``date_performed`` -> ``Date performed``, as Rails words validation messages."""
    return name.replace("_", " ").capitalize()


def validation_error(name: str, message: str) -> dict[str, str]:
    """One entry of a 422 ``errors`` list ([inferred] shape from the reference, section 3.3)."""
    return {"type": "validation", "message": f"{human_name(name)} {message}", "field": name}


def _blank(value: Any) -> bool:  # noqa: ANN401 - any payload value
    return value is None or value in ("", [])


Coerced = tuple[Any, str | None]
"""A typed value, or None plus the end of a validation message ("is not a number")."""


def _to_str(name: str, spec: FieldSpec, value: Any) -> Coerced:  # noqa: ANN401
    if not isinstance(value, str | int | float):
        return None, "is invalid"
    text = str(value)
    if spec.choices and text not in spec.choices:
        return None, "is not included in the list"
    if name == "currency" and not _CURRENCY.match(text):
        return None, "is not a valid ISO 4217 currency code"
    return text, None


def _to_int(name: str, spec: FieldSpec, value: Any) -> Coerced:  # noqa: ANN401
    del name, spec
    if isinstance(value, int) and not isinstance(value, bool):
        return value, None
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value), None
    return None, "must be an integer" if isinstance(value, float) else "is not a number"


def _to_bool(name: str, spec: FieldSpec, value: Any) -> Coerced:  # noqa: ANN401
    del name, spec
    if isinstance(value, bool):
        return value, None
    lowered = str(value).strip().lower()
    if lowered in {"true", "1", "t", "yes"}:
        return True, None
    if lowered in {"false", "0", "f", "no"}:
        return False, None
    return None, "is not a boolean"


def _to_date(name: str, spec: FieldSpec, value: Any) -> Coerced:  # noqa: ANN401
    del name, spec
    try:
        return date.fromisoformat(str(value)).isoformat(), None
    except ValueError:
        return None, "is not a valid date"


def _to_id(name: str, spec: FieldSpec, value: Any) -> Coerced:  # noqa: ANN401
    del name, spec
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None, "is invalid"
    return str(value), None


def _to_ids(name: str, spec: FieldSpec, value: Any) -> Coerced:  # noqa: ANN401
    del name, spec
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or any(isinstance(i, bool | dict | list) for i in items):
        return None, "is invalid"
    return [str(i).strip() for i in items if str(i).strip()], None


def _to_json(name: str, spec: FieldSpec, value: Any) -> Coerced:  # noqa: ANN401
    del name, spec
    return copy.deepcopy(value), None


_COERCERS = {
    "str": _to_str,
    "int": _to_int,
    "bool": _to_bool,
    "date": _to_date,
    "id": _to_id,
    "ids": _to_ids,
    "json": _to_json,
}


def _coerce_one(name: str, spec: FieldSpec, value: Any) -> Coerced:  # noqa: ANN401
    """``None`` (and ``""`` for non-text fields, as Rails forms send it) clears the field."""
    if value is None or (value == "" and spec.kind not in {"str", "ids"}):
        return None, None
    return _COERCERS[spec.kind](name, spec, value)


def coerce_attributes(
    resource: Resource, raw: Mapping[str, Any], *, creating: bool
) -> tuple[Record, list[dict[str, str]]]:
    """Typed writable attributes from a payload, plus validation errors.

    Unknown and read-only attributes are dropped silently, as Rails' strong parameters do
    ([inferred]: Kantata does not document rejecting them).
    """
    attrs: Record = {}
    errors: list[dict[str, str]] = []
    for name, value in raw.items():
        spec = resource.fields.get(name)
        if spec is None or not spec.writable:
            continue
        typed, problem = _coerce_one(name, spec, value)
        if problem:
            errors.append(validation_error(name, problem))
            continue
        if spec.required and _blank(typed):
            errors.append(validation_error(name, "can't be blank"))
            continue
        attrs[name] = typed
    if creating:
        errors.extend(
            validation_error(name, "can't be blank")
            for name, spec in resource.fields.items()
            if spec.required and name not in attrs and not any(e["field"] == name for e in errors)
        )
    return attrs, errors


def accord_reference(subject_type: str, subject_id: str, model: str, ref: str) -> Record:
    """The attributes of an external reference keying a record by the firm's key ``ref``.

    ``service_name`` ``accord`` and ``service_model`` ``model``: what the sandbox seeds for
    the firm's consultants (``resource``) and vendors (``vendor``).
    """
    attrs, _ = coerce_attributes(
        EXTERNAL_REFERENCES,
        {
            "subject_type": subject_type,
            "subject_id": subject_id,
            "service_name": "accord",
            "service_model": model,
            "service_model_ref": ref,
        },
        creating=True,
    )
    return attrs


def new_record(resource: Resource, record_id: str, attrs: Mapping[str, Any], now: str) -> Record:
    """A full record: defaults for every field, then ``attrs``, then id and timestamps."""
    record: Record = {"id": record_id}
    for name, spec in resource.fields.items():
        record[name] = copy.deepcopy(spec.default)
    record.update(attrs)
    record["created_at"] = now
    record["updated_at"] = now
    return record
