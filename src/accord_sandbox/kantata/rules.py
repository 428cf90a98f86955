"""Kantata's business rules on writes: references must exist, locked time stays locked, rates.

Each ``prepare_*`` function takes the coerced attributes of one create or update, checks them
against the rest of the store and returns the attributes to write (with derived values such as
a time entry's rate and currency). They raise :class:`KantataError` (422) with every problem
found, in Kantata's validation shape. Side effects on *other* records (marking entries
invoiced) are left to the caller, which owns events and timestamps.
"""

from collections.abc import Callable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from accord_sandbox.common import RecordStore
from accord_sandbox.kantata.forms import KantataError
from accord_sandbox.kantata.models import (
    RESOURCES,
    WORKSPACE_STATUSES,
    Resource,
    human_name,
    validation_error,
)

__all__ = [
    "CURRENCY_SYMBOLS",
    "PREPARERS",
    "Preparer",
    "check_references",
    "invoice_totals",
    "subject_collection",
]

Record = dict[str, Any]
Errors = list[dict[str, str]]
Preparer = Callable[[RecordStore, Record, Record | None, str], Record]
"""(store, attrs, existing record or None, acting user id) -> attrs to write."""

CURRENCY_SYMBOLS = {"USD": "$", "CAD": "$", "AUD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
"""Symbols for ``currency_symbol``; other currencies show their code."""

MAX_MINUTES_PER_ENTRY = 24 * 60
"""[inferred]: one entry cannot exceed a day."""


def subject_collection(subject_type: str) -> str | None:
    """``TimeEntry`` -> ``time_entries``: where records of a subject type are stored."""
    return next((r.plural for r in RESOURCES.values() if r.subject_type == subject_type), None)


def _fail(errors: Errors) -> None:
    if errors:
        raise KantataError(422, errors)


def _must_exist(name: str) -> dict[str, str]:
    label = human_name(name.removesuffix("_ids").removesuffix("_id"))
    return {"type": "validation", "message": f"{label} must exist", "field": name}


def check_references(store: RecordStore, resource: Resource, attrs: Record) -> Errors:
    """Errors for ``*_id`` / ``*_ids`` attributes that point at missing records."""
    errors: Errors = []
    for name, value in attrs.items():
        spec = resource.fields[name]
        if spec.ref is None or value is None:
            continue
        ids = value if isinstance(value, list) else [value]
        if any(store.get(spec.ref, i) is None for i in ids):
            errors.append(_must_exist(name))
    return errors


def _subject_exists(store: RecordStore, record: Record) -> bool:
    """Whether the record's ``subject_type`` / ``subject_id`` names a stored record."""
    plural = subject_collection(record.get("subject_type") or "")
    return plural is not None and store.get(plural, record.get("subject_id") or "") is not None


def _merged(resource: Resource, attrs: Record, existing: Record | None) -> Record:
    base = existing or {n: s.default for n, s in resource.fields.items()}
    return {**base, **attrs}


def _dates_in_order(record: Record, start: str, end: str, errors: Errors) -> None:
    if record.get(start) and record.get(end) and record[end] < record[start]:
        errors.append(validation_error(end, f"must be on or after the {human_name(start).lower()}"))


def _locked(existing: Record | None, what: str) -> None:
    if existing is not None and (
        not existing.get("user_can_edit", True) or existing["is_invoiced"]
    ):
        raise KantataError.invalid(f"{what} is locked by an approved, submitted or invoiced record")


def prepare_workspace(
    store: RecordStore, attrs: Record, existing: Record | None, user_id: str
) -> Record:
    """Status by message, creator as participant, rate card in the workspace's currency."""
    resource = RESOURCES["workspaces"]
    errors = check_references(store, resource, attrs)
    if "status" in attrs:
        raw = attrs["status"]
        message = raw.get("message") if isinstance(raw, dict) else raw
        if message not in WORKSPACE_STATUSES:
            errors.append(validation_error("status", "is not included in the list"))
        else:
            color, key = WORKSPACE_STATUSES[message]
            attrs["status"] = {"color": color, "key": key, "message": message}
    if (attrs.get("price_in_cents") or 0) < 0:
        errors.append(validation_error("price_in_cents", "must be greater than or equal to 0"))
    record = _merged(resource, attrs, existing)
    _dates_in_order(record, "start_date", "due_date", errors)
    card = store.get("rate_cards", record["rate_card_id"]) if record.get("rate_card_id") else None
    if card is not None and card["currency"] != record["currency"]:
        errors.append(validation_error("rate_card_id", "must be in the workspace currency"))
    _fail(errors)
    if existing is None:
        attrs["creator_id"] = user_id
        # Kantata makes the creator a participant of the new project.
        attrs["participant_ids"] = list(dict.fromkeys([user_id, *record["participant_ids"]]))
    return attrs


def _workspace_for(store: RecordStore, record: Record, errors: Errors) -> Record | None:
    workspace = store.get("workspaces", record["workspace_id"] or "")
    if workspace is not None and workspace["archived"]:
        errors.append(validation_error("workspace_id", "is archived"))
    return workspace


def prepare_time_entry(
    store: RecordStore, attrs: Record, existing: Record | None, user_id: str
) -> Record:
    """Lock check, minutes range, story in workspace, and rate/currency derived from user + card."""
    _locked(existing, "Time entry")
    resource = RESOURCES["time_entries"]
    if existing is None:
        attrs.setdefault("user_id", user_id)
    errors = check_references(store, resource, attrs)
    record = _merged(resource, attrs, existing)
    minutes = record["time_in_minutes"]
    if minutes is not None and not 0 < minutes <= MAX_MINUTES_PER_ENTRY:
        errors.append(
            validation_error("time_in_minutes", f"must be between 1 and {MAX_MINUTES_PER_ENTRY}")
        )
    workspace = _workspace_for(store, record, errors)
    story = store.get("stories", record["story_id"]) if record.get("story_id") else None
    if story is not None and story["workspace_id"] != record["workspace_id"]:
        errors.append(validation_error("story_id", "must belong to the workspace"))
    _fail(errors)
    moved = existing is None or {"user_id", "workspace_id"} & attrs.keys()
    if workspace is not None and moved:
        user = store.get("users", record["user_id"]) or {}
        currency = workspace["currency"]
        attrs["currency"] = currency
        attrs["currency_symbol"] = CURRENCY_SYMBOLS.get(currency, currency)
        attrs["cost_rate_in_cents"] = user.get("cost_rate_in_cents")
        if "rate_in_cents" not in attrs:
            attrs["rate_in_cents"] = _bill_rate(store, workspace, user)
    return attrs


def _bill_rate(store: RecordStore, workspace: Record, user: Record) -> int | None:
    """The workspace rate card's rate for the user's role, else the user's own bill rate.

    [inferred] simplification of Kantata's rate precedence (rate card role rate, then the
    user's default rate).
    """
    card = store.get("rate_cards", workspace["rate_card_id"] or "")
    if card is not None:
        for rate in card["rates"]:
            if rate["role_id"] == user.get("role_id"):
                return int(rate["rate_in_cents"])
    if user.get("currency") in {None, workspace["currency"]}:
        return user.get("bill_rate_in_cents")
    return None


def prepare_expense(
    store: RecordStore, attrs: Record, existing: Record | None, user_id: str
) -> Record:
    """Invoiced expenses are locked; currency defaults to the workspace's."""
    _locked(existing, "Expense")
    if existing is not None and existing.get("approved"):
        raise KantataError.invalid("Expense is locked by an approved expense report")
    resource = RESOURCES["expenses"]
    if existing is None:
        attrs.setdefault("user_id", user_id)
    errors = check_references(store, resource, attrs)
    record = _merged(resource, attrs, existing)
    if (record["amount_in_cents"] or 0) < 0:
        errors.append(validation_error("amount_in_cents", "must be greater than or equal to 0"))
    workspace = _workspace_for(store, record, errors)
    _fail(errors)
    if workspace is not None and not record.get("currency"):
        attrs["currency"] = workspace["currency"]
    return attrs


def prepare_story(
    store: RecordStore, attrs: Record, existing: Record | None, user_id: str
) -> Record:
    """Parent in the same workspace (and not itself); due date after start date."""
    del user_id  # stories are not owned by the caller
    resource = RESOURCES["stories"]
    errors = check_references(store, resource, attrs)
    record = _merged(resource, attrs, existing)
    _dates_in_order(record, "start_date", "due_date", errors)
    parent = store.get("stories", record["parent_id"]) if record.get("parent_id") else None
    if parent is not None and (
        parent["workspace_id"] != record["workspace_id"]
        or (existing is not None and parent["id"] == existing["id"])
    ):
        errors.append(validation_error("parent_id", "must be another story in the workspace"))
    _workspace_for(store, record, errors)
    _fail(errors)
    return attrs


def prepare_timesheet_submission(
    store: RecordStore, attrs: Record, existing: Record | None, user_id: str
) -> Record:
    """Collect the user's unsubmitted entries on the workspace for the week (or the given ids).

    ``end_date`` defaults to six days after ``start_date`` (a week). With ``time_entry_ids`` the
    dates are derived from the entries. [inferred]: the reference documents the grouping (one
    submission per user, workspace and period), not the create payload.
    """
    del existing  # submissions are never updated through PUT
    resource = RESOURCES["timesheet_submissions"]
    attrs.setdefault("user_id", user_id)
    errors = check_references(store, resource, attrs)
    _fail(errors)
    ids = attrs.get("time_entry_ids") or []
    if ids:
        entries = [store.get("time_entries", i) or {} for i in ids]
    elif attrs.get("start_date"):
        start = date.fromisoformat(attrs["start_date"])
        end = attrs.get("end_date") or (start + timedelta(days=6)).isoformat()
        attrs["end_date"] = end
        entries = [
            e
            for e in store.all("time_entries")
            if e["user_id"] == attrs["user_id"]
            and e["workspace_id"] == attrs["workspace_id"]
            and attrs["start_date"] <= e["date_performed"] <= end
            and e["active_submission_id"] is None
        ]
    else:
        raise KantataError.invalid("Start date or time entry ids must be given", "start_date")
    for entry in entries:
        if entry["user_id"] != attrs["user_id"] or entry["workspace_id"] != attrs["workspace_id"]:
            errors.append(
                validation_error("time_entry_ids", "must belong to the user and workspace")
            )
        elif entry["active_submission_id"] is not None:
            errors.append(validation_error("time_entry_ids", "are already submitted"))
    if not entries:
        errors.append(validation_error("time_entry_ids", "can't be empty: no time to submit"))
    _fail(errors)
    attrs["time_entry_ids"] = [e["id"] for e in entries]
    dates = sorted(e["date_performed"] for e in entries)
    attrs.setdefault("start_date", dates[0])
    attrs.setdefault("end_date", dates[-1])
    return attrs


def prepare_expense_report_submission(
    store: RecordStore, attrs: Record, existing: Record | None, user_id: str
) -> Record:
    """The user's own expenses, none of them on another report ([inferred] rules)."""
    del existing  # submissions are never updated through PUT
    resource = RESOURCES["expense_report_submissions"]
    attrs.setdefault("user_id", user_id)
    errors = check_references(store, resource, attrs)
    _fail(errors)
    expenses = [store.get("expenses", i) or {} for i in attrs.get("expense_ids") or []]
    if not expenses:
        errors.append(validation_error("expense_ids", "can't be empty: no expenses to submit"))
    for expense in expenses:
        if expense["user_id"] != attrs["user_id"]:
            errors.append(validation_error("expense_ids", "must belong to the user"))
        elif expense["expense_report_id"] is not None:
            errors.append(validation_error("expense_ids", "are already submitted"))
    _fail(errors)
    return attrs


def invoice_totals(store: RecordStore, record: Record) -> Decimal:
    """Billable time at its rate plus billable expenses, in major units, rounded to cents."""
    cents = Decimal(0)
    for entry_id in record["time_entry_ids"]:
        entry = store.get("time_entries", entry_id) or {}
        if entry.get("billable"):
            cents += Decimal(entry["time_in_minutes"]) * Decimal(entry["rate_in_cents"] or 0) / 60
    for expense_id in record["expense_ids"]:
        expense = store.get("expenses", expense_id) or {}
        if expense.get("billable"):
            cents += Decimal(expense["amount_in_cents"])
    return (cents / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def prepare_invoice(
    store: RecordStore, attrs: Record, existing: Record | None, user_id: str
) -> Record:
    """Lines belong to the invoice's workspaces, are not yet invoiced, share one currency."""
    del user_id
    resource = RESOURCES["invoices"]
    errors = check_references(store, resource, attrs)
    if existing is not None:
        for name in ("workspace_ids", "time_entry_ids", "expense_ids"):
            if name in attrs and attrs[name] != existing[name]:
                errors.append(validation_error(name, "can't be changed after creation"))
        _fail(errors)
        if attrs.get("paid"):
            attrs["status"] = "paid"
        return attrs
    _fail(errors)
    workspaces = [store.get("workspaces", w) or {} for w in attrs["workspace_ids"]]
    currencies = {w["currency"] for w in workspaces}
    if len(currencies) > 1:
        errors.append(validation_error("workspace_ids", "must share one currency"))
    for name, plural in (("time_entry_ids", "time_entries"), ("expense_ids", "expenses")):
        for line_id in attrs.get(name, []):
            line = store.get(plural, line_id) or {}
            if line["workspace_id"] not in attrs["workspace_ids"]:
                errors.append(validation_error(name, "must belong to the invoice's workspaces"))
            elif line["is_invoiced"]:
                errors.append(validation_error(name, "are already invoiced"))
    _fail(errors)
    attrs["currency"] = workspaces[0]["currency"]
    if attrs.get("paid"):
        attrs["status"] = "paid"
    return attrs


def prepare_external_reference(
    store: RecordStore, attrs: Record, existing: Record | None, user_id: str
) -> Record:
    """The subject must exist."""
    del user_id
    record = _merged(RESOURCES["external_references"], attrs, existing)
    if not _subject_exists(store, record):
        raise KantataError(422, [_must_exist("subject_id")])
    return attrs


def _taken(
    store: RecordStore, plural: str, record: Record, existing: Record | None, keys: tuple[str, ...]
) -> None:
    """Refuse a second record with the same ``keys`` ([inferred] Rails uniqueness wording)."""
    for other in store.all(plural):
        if (existing is None or other["id"] != existing["id"]) and all(
            other.get(k) == record.get(k) for k in keys
        ):
            raise KantataError(422, [validation_error(keys[-1], "has already been taken")])


def prepare_assignment(
    store: RecordStore, attrs: Record, existing: Record | None, user_id: str
) -> Record:
    """The story and assignee exist; one assignment per story and assignee."""
    del user_id
    resource = RESOURCES["assignments"]
    errors = check_references(store, resource, attrs)
    if (attrs.get("estimated_minutes") or 0) < 0:
        errors.append(validation_error("estimated_minutes", "must be greater than or equal to 0"))
    _fail(errors)
    _taken(store, "assignments", _merged(resource, attrs, existing), existing,
           ("story_id", "assignee_id"))  # fmt: skip
    return attrs


def prepare_participation(
    store: RecordStore, attrs: Record, existing: Record | None, user_id: str
) -> Record:
    """The workspace and user exist; a user takes part in a workspace once."""
    del user_id
    resource = RESOURCES["participations"]
    errors = check_references(store, resource, attrs)
    record = _merged(resource, attrs, existing)
    _workspace_for(store, record, errors)
    _fail(errors)
    _taken(store, "participations", record, existing, ("workspace_id", "user_id"))
    return attrs


def prepare_custom_field_value(
    store: RecordStore, attrs: Record, existing: Record | None, user_id: str
) -> Record:
    """The field applies to the subject's type, the subject exists; one value per field."""
    del user_id
    resource = RESOURCES["custom_field_values"]
    errors = check_references(store, resource, attrs)
    record = _merged(resource, attrs, existing)
    field = store.get("custom_fields", record.get("custom_field_id") or "")
    if field is not None and field["subject_type"] != record["subject_type"]:
        errors.append(validation_error("custom_field_id", "does not apply to this subject"))
    if not _subject_exists(store, record):
        errors.append(_must_exist("subject_id"))
    _fail(errors)
    _taken(store, "custom_field_values", record, existing,
           ("subject_type", "subject_id", "custom_field_id"))  # fmt: skip
    return attrs


def _read_only(store: RecordStore, attrs: Record, existing: Record | None, user_id: str) -> Record:
    del store, existing, user_id
    return attrs


PREPARERS: dict[str, Preparer] = {
    "workspaces": prepare_workspace,
    "time_entries": prepare_time_entry,
    "expenses": prepare_expense,
    "stories": prepare_story,
    "timesheet_submissions": prepare_timesheet_submission,
    "expense_report_submissions": prepare_expense_report_submission,
    "invoices": prepare_invoice,
    "external_references": prepare_external_reference,
    "users": _read_only,
    "roles": _read_only,
    "rate_cards": _read_only,
    "vendors": _read_only,
    "assignments": prepare_assignment,
    "participations": prepare_participation,
    "custom_fields": _read_only,
    "custom_field_values": prepare_custom_field_value,
}
"""Rules by collection."""
