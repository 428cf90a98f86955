"""Kantata records <-> canonical models, on recorded payloads."""

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from accord.connectors.kantata.connector import RESOURCES, _records
from accord.connectors.kantata.mapping import (
    KantataLookups,
    expense_to_canonical,
    invoice_to_canonical,
    milestone_from_canonical,
    milestone_to_canonical,
    time_entry_to_canonical,
    timesheet_to_canonical,
    user_to_canonical,
    workspace_from_canonical,
    workspace_to_canonical,
)
from accord.domain import (
    BillingModel,
    ExpenseCategory,
    ExpenseStatus,
    InvoiceLineKind,
    InvoiceStatus,
    MilestoneStatus,
    Money,
    Project,
    ProjectStatus,
    System,
    TimesheetStatus,
)
from accord.errors import MappingError

FIXTURES = Path(__file__).parents[2] / "fixtures" / "kantata"
LOOKUPS = KantataLookups(
    records={"workspaces": {"prj-1": "10"}, "users": {"EMP-0001": "2"}},
    legal_entity="US01",
)


def record(name: str, plural: str) -> dict[str, Any]:
    envelope = json.loads((FIXTURES / f"{name}.json").read_text())
    return _records(envelope, RESOURCES[plural])[0]


def base_project(**overrides: Any) -> Project:
    values: dict[str, Any] = {
        "id": "prj-1",
        "name": "Acme",
        "customer_id": "cust-1",
        "legal_entity": "US01",
        "practice": "DATA",
        "region": "NA-EAST",
        "billing_model": BillingModel.FIXED_FEE,
        "status": ProjectStatus.PLANNED,
        "currency": "USD",
        "start_date": dt.date(2026, 1, 1),
    } | overrides
    return Project.model_validate(values)


def test_workspace_overlays_execution_fields_on_the_project() -> None:
    project = workspace_to_canonical(record("workspaces_page", "workspaces"), base=base_project())
    assert project.id == "prj-1"
    assert project.name == "Acme data platform"
    assert project.status is ProjectStatus.ON_HOLD
    assert project.budget == Money.of(Decimal(50000), "USD")
    assert project.end_date == dt.date(2026, 6, 30)
    assert project.customer_id == "cust-1"
    assert (System.KANTATA, "10") in {(r.system, r.id) for r in project.refs}


def test_workspace_from_project_is_a_template_payload() -> None:
    project = base_project(
        budget=Money.of(Decimal("12500.50"), "USD"), end_date=dt.date(2026, 3, 1)
    )
    body = workspace_from_canonical(project, rate_card_id="9", status=ProjectStatus.ON_HOLD)
    assert body == {
        "title": "Acme",
        "currency": "USD",
        "start_date": "2026-01-01",
        "due_date": "2026-03-01",
        "status": "On Hold",
        "budgeted": True,
        "price_in_cents": 1250050,
        "rate_card_id": "9",
    }


def test_milestone_round_trip() -> None:
    milestone = milestone_to_canonical(
        record("story_milestone", "stories"), lookups=LOOKUPS, currency="USD"
    )
    assert milestone.status is MilestoneStatus.COMPLETED
    assert milestone.amount == Money.of(Decimal(12500), "USD")
    assert milestone.project_id == "prj-1"
    assert milestone.completed_at is not None
    body = milestone_from_canonical(milestone, lookups=LOOKUPS)
    assert body["workspace_id"] == "10"
    assert body["story_type"] == "milestone"
    assert body["budget_estimate_in_cents"] == 1250000
    assert body["state"] == "completed"


def test_approved_timesheet_with_its_entries() -> None:
    timesheet = timesheet_to_canonical(
        record("timesheet_approved", "timesheet_submissions"), lookups=LOOKUPS
    )
    assert timesheet.status is TimesheetStatus.APPROVED
    assert timesheet.resource_id == "EMP-0001"
    assert timesheet.project_id == "prj-1"
    assert timesheet.week_start == dt.date(2026, 1, 5)
    assert timesheet.approved_at == dt.datetime(2026, 1, 12, 9, tzinfo=dt.UTC)
    assert [e.hours for e in timesheet.entries] == [Decimal("8.00"), Decimal("0.83")]
    assert timesheet.entries[0].bill_rate == Money.of(Decimal(180), "USD")
    assert timesheet.entries[0].id == "kantata:12"


def test_timesheet_without_entries_is_a_mapping_error() -> None:
    raw = record("timesheet_approved", "timesheet_submissions") | {"time_entries": []}
    with pytest.raises(MappingError):
        timesheet_to_canonical(raw, lookups=LOOKUPS)


def test_time_entry_minutes_to_hours() -> None:
    raw = record("timesheet_approved", "timesheet_submissions")["time_entries"][0]
    entry = time_entry_to_canonical(raw, lookups=LOOKUPS)
    assert entry.hours == Decimal("8.00")
    assert entry.billable is True
    assert entry.notes == "Workshop"


def test_expense() -> None:
    expense = expense_to_canonical(record("expense", "expenses"), lookups=LOOKUPS)
    assert expense.category is ExpenseCategory.TRAVEL
    assert expense.amount == Money.of(Decimal("125.50"), "USD")
    assert expense.status is ExpenseStatus.APPROVED
    assert expense.resource_id == "EMP-0001"


def test_invoice_with_time_and_expense_lines() -> None:
    invoice = invoice_to_canonical(
        record("invoice", "invoices"), lookups=LOOKUPS, customer_id="cust-1", legal_entity="US01"
    )
    assert invoice.status is InvoiceStatus.POSTED
    assert invoice.total == Money.of(Decimal("1565.50"), "USD")
    assert [ln.kind for ln in invoice.lines] == [InvoiceLineKind.TIME, InvoiceLineKind.EXPENSE]
    assert invoice.lines[0].amount == Money.of(Decimal(1440), "USD")
    assert invoice.project_id == "prj-1"
    assert invoice.amount_due == invoice.total


def test_user_as_resource() -> None:
    resource = user_to_canonical(record("user", "users"), lookups=LOOKUPS)
    assert resource.id == "EMP-0001"
    assert resource.role == "Senior Consultant"
    assert resource.bill_rate == Money.of(Decimal(180), "USD")
    assert resource.legal_entity == "US01"


def test_unknown_lookups_fail_outbound() -> None:
    with pytest.raises(MappingError):
        KantataLookups().internal("workspaces", "prj-x", what="workspace")
    assert KantataLookups().internal("workspaces", "kantata:10", what="workspace") == "10"
