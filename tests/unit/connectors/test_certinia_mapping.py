"""Certinia mapping on recorded payloads (tests/fixtures/certinia)."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from accord.connectors.certinia.mapping import (
    RecordMappingError,
    expense_to_canonical,
    milestone_from_canonical,
    milestone_to_canonical,
    project_from_canonical,
    project_to_canonical,
    timecard_to_timesheet,
)
from accord.domain import (
    BillingModel,
    ExpenseCategory,
    ExpenseStatus,
    MilestoneStatus,
    Money,
    ProjectStatus,
    System,
    TimesheetStatus,
)
from accord.errors import MappingError

FIXTURES = Path(__file__).parents[2] / "fixtures" / "certinia"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def test_project_to_canonical() -> None:
    project = project_to_canonical(fixture("project"))
    assert project.id == "PRJ-0001"
    assert project.customer_id == "CUST-0002"
    assert project.opportunity_id == "SF-006000000000007AAA"
    assert (project.legal_entity, project.region, project.practice) == ("US01", "NA-EAST", "ADV")
    assert project.status is ProjectStatus.ON_HOLD
    assert project.billing_model is BillingModel.TIME_AND_MATERIALS
    assert project.budget == Money.of(Decimal("120000.10"), "USD")
    assert (project.start_date, project.end_date) == (date(2026, 2, 2), date(2026, 5, 1))
    assert project.refs[0].system is System.CERTINIA
    assert project.updated_at == datetime(2026, 2, 1, 8, 30, tzinfo=UTC)


def test_project_from_get_needs_lookups_for_codes() -> None:
    record = {k: v for k, v in fixture("project").items() if not k.endswith("__r")}
    with pytest.raises(RecordMappingError) as caught:
        project_to_canonical(record)
    assert set(caught.value.fields) == {"pse__Account__c", "pse__Region__c", "pse__Practice__c"}
    project = project_to_canonical(
        record,
        lookups={
            "Account": {"001000000000002AAA": "CUST-0002"},
            "Account.Legal_Entity__c": {"001000000000002AAA": "US01"},
            "pse__Region__c": {"a0R000000000001AAA": "NA-EAST"},
            "pse__Practice__c": {"a0Q000000000001AAA": "ADV"},
        },
    )
    assert (project.customer_id, project.region, project.legal_entity) == (
        "CUST-0002",
        "NA-EAST",
        "US01",
    )


def test_project_round_trip_closes_entry_when_on_hold() -> None:
    project = project_to_canonical(fixture("project"))
    body = project_from_canonical(project)
    assert body["pse__Stage__c"] == "On Hold"
    assert body["pse__Closed_for_Time_Entry__c"] is True
    assert body["pse__Closed_for_Expense_Entry__c"] is True
    assert body["pse__Is_Active__c"] is True
    assert body["pse__Account__r"] == {"Accord_Id__c": "CUST-0002"}
    assert body["pse__Region__r"] == {"Code__c": "NA-EAST"}
    assert body["pse__Practice__r"] == {"Code__c": "ADV"}
    assert body["pse__Opportunity__c"] == "006000000000007AAA"  # a default SF- id
    assert body["pse__Bookings__c"] == 120000.1
    assert body["pse__Billing_Type__c"] == "Time and Materials"
    active = project.model_copy(update={"status": ProjectStatus.ACTIVE})
    assert project_from_canonical(active)["pse__Closed_for_Time_Entry__c"] is False
    done = project.model_copy(update={"status": ProjectStatus.COMPLETED})
    assert project_from_canonical(done)["pse__Is_Active__c"] is False
    region_known = project_from_canonical(
        project, lookups={"pse__Region__c": {"a0R000000000009AAA": "NA-EAST"}}
    )
    assert region_known["pse__Region__c"] == "a0R000000000009AAA"


def test_unknown_stage_and_billing_type_are_named() -> None:
    record = fixture("project") | {"pse__Stage__c": "Paused", "pse__Billing_Type__c": "Barter"}
    with pytest.raises(RecordMappingError) as caught:
        project_to_canonical(record)
    assert set(caught.value.fields) == {"pse__Stage__c", "pse__Billing_Type__c"}


def test_milestone_round_trip() -> None:
    milestone = milestone_to_canonical(fixture("milestone"))
    assert milestone.id == "MS-0001"
    assert milestone.project_id == "PRJ-0001"
    assert milestone.status is MilestoneStatus.COMPLETED
    assert milestone.completed_at == datetime(2026, 3, 31, 17, 0, tzinfo=UTC)
    assert milestone.amount == Money.of(25000, "USD")
    invoiced = milestone_to_canonical(fixture("milestone") | {"pse__Invoiced__c": True})
    assert invoiced.status is MilestoneStatus.INVOICED
    body = milestone_from_canonical(milestone)
    assert body["pse__Status__c"] == "Approved"
    assert body["pse__Approved__c"] is True
    assert body["pse__Project__r"] == {"Accord_Id__c": "PRJ-0001"}
    with pytest.raises(MappingError):
        milestone_from_canonical(milestone.model_copy(update={"project_id": None}))


def test_timecard_one_entry_per_day_with_hours() -> None:
    sheet = timecard_to_timesheet(fixture("timecard"))
    assert sheet.id == "SF-a0T000000000001AAA"
    assert sheet.status is TimesheetStatus.APPROVED
    assert sheet.approved_at == datetime(2026, 2, 9, 16, 45, 12, 345000, tzinfo=UTC)
    assert (sheet.resource_id, sheet.project_id) == ("CONS-0001", "PRJ-0001")
    # The org's week starts on Sunday 2026-02-01: Sunday hours fall on the first day.
    assert [(e.date, e.hours) for e in sheet.entries] == [
        (date(2026, 2, 1), Decimal("2.00")),
        (date(2026, 2, 2), Decimal("8.00")),
        (date(2026, 2, 3), Decimal("7.50")),
        (date(2026, 2, 5), Decimal("0.10")),
        (date(2026, 2, 6), Decimal("4.25")),
    ]
    assert sheet.total_hours == Decimal("21.85")
    first = sheet.entries[1]
    assert first.id == "SF-a0T000000000001AAA-2026-02-02"
    assert first.notes == "Discovery workshop"
    assert first.billable is True
    assert first.bill_rate == Money.of(200, "USD")
    assert first.role == "Senior Consultant"


def test_saved_or_broken_timecards_are_refused_with_every_field() -> None:
    record = fixture("timecard") | {
        "pse__Status__c": "Saved",
        "pse__Tuesday_Hours__c": 25,
        "pse__Project__c": None,
        "pse__Project__r": None,
    }
    with pytest.raises(RecordMappingError) as caught:
        timecard_to_timesheet(record)
    assert set(caught.value.fields) == {
        "pse__Status__c",
        "pse__Tuesday_Hours__c",
        "pse__Project__c",
    }
    empty = fixture("timecard") | {
        f"pse__{d}_Hours__c": 0 for d in ("Monday", "Tuesday", "Thursday", "Friday", "Sunday")
    }
    with pytest.raises(RecordMappingError) as caught:
        timecard_to_timesheet(empty)
    assert caught.value.fields == ("pse__Total_Hours__c",)


def test_expense_to_canonical() -> None:
    expense = expense_to_canonical(fixture("expense"))
    assert expense.category is ExpenseCategory.TRAVEL
    assert expense.amount == Money.of(Decimal("432.10"), "USD")
    assert expense.status is ExpenseStatus.APPROVED
    assert expense.approved_at == datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
    assert (expense.project_id, expense.resource_id) == ("PRJ-0001", "CONS-0001")
    assert expense.date == date(2026, 2, 3)
    custom = expense_to_canonical(fixture("expense") | {"pse__Type__c": "Per Diem"})
    assert custom.category is ExpenseCategory.OTHER
    with pytest.raises(RecordMappingError) as caught:
        expense_to_canonical(fixture("expense") | {"pse__Status__c": "Draft", "pse__Amount__c": -5})
    assert set(caught.value.fields) == {"pse__Status__c"}
