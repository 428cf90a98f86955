import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from accord.connectors.netsuite.mapping import (
    NetSuiteLookups,
    customer_from_canonical,
    customer_to_canonical,
    expense_report_from_canonical,
    expense_report_to_canonical,
    invoice_to_canonical,
    payment_to_canonical,
    project_from_canonical,
    project_to_canonical,
    time_bill_from_canonical,
    time_bill_to_canonical,
)
from accord.domain.enums import (
    BillingModel,
    ExpenseCategory,
    ExpenseStatus,
    InvoiceLineKind,
    InvoiceStatus,
    ProjectStatus,
)
from accord.domain.money import Money
from accord.errors import MappingError

FIXTURES = Path(__file__).parents[2] / "fixtures" / "netsuite"

LOOKUPS = NetSuiteLookups(
    subsidiaries={"US01": "2", "UK01": "3"},
    currencies={"USD": "1", "GBP": "2"},
    departments={"DATA": "11"},
    classes={"WEST": "21"},
    expense_categories={"travel": "3", "meals": "4"},
    line_kinds={"77": InvoiceLineKind.TIME, "78": InvoiceLineKind.EXPENSE},
    records={
        "customer": {"CUST-0000": "640", "CUST-0001": "647"},
        "job": {"PRJ-0001": "900"},
        "employee": {"RES-0301": "301"},
        "invoice": {"INV-0042": "8001"},
    },
)


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def test_customer_round_trip() -> None:
    customer = customer_to_canonical(fixture("customer"), lookups=LOOKUPS)
    assert customer.id == "CUST-0001"
    assert customer.name == "Acme Corp"
    assert customer.parent_id == "CUST-0000"
    assert customer.legal_entity == "US01"
    assert customer.currency == "USD"
    assert customer.tax_region == "US-CA"
    assert customer.bill_to.city == "San Francisco"
    assert customer.refs[0].id == "647"
    assert customer.updated_at == datetime(2025, 2, 1, 10, 30, tzinfo=UTC)
    body = customer_from_canonical(customer, lookups=LOOKUPS)
    assert body["subsidiary"] == {"id": "2"}
    assert body["parent"] == {"id": "640"}
    assert body["currency"] == {"id": "1"}
    assert body["addressBook"]["items"][0]["addressBookAddress"]["zip"] == "94105"
    assert "externalId" not in body


def test_customer_without_billing_address_is_a_mapping_error() -> None:
    record = fixture("customer") | {"addressBook": {"items": []}}
    with pytest.raises(MappingError):
        customer_to_canonical(record, lookups=LOOKUPS)


def test_project_round_trip() -> None:
    project = project_to_canonical(fixture("job"), lookups=LOOKUPS)
    assert project.id == "PRJ-0001"
    assert project.customer_id == "CUST-0001"
    assert (project.practice, project.region, project.legal_entity) == ("DATA", "WEST", "US01")
    assert project.billing_model is BillingModel.MILESTONE
    assert project.status is ProjectStatus.ACTIVE
    assert project.start_date == date(2025, 2, 3)
    assert project.end_date == date(2025, 6, 30)
    assert project.project_manager_id == "RES-0301"
    body = project_from_canonical(project, lookups=LOOKUPS)
    assert body["parent"] == {"id": "647"}
    assert body["department"] == {"id": "11"}
    assert body["class"] == {"id": "21"}
    assert body["jobBillingType"] == {"id": "FBM"}
    assert body["entityStatus"] == {"id": "2"}


def test_unknown_reference_is_a_mapping_error() -> None:
    record = fixture("job") | {"department": {"id": "99"}}
    with pytest.raises(MappingError):
        project_to_canonical(record, lookups=LOOKUPS)


def test_time_bill_round_trip() -> None:
    entry = time_bill_to_canonical(fixture("timeBill"), lookups=LOOKUPS)
    assert entry.id == "TE-0001"
    assert entry.project_id == "PRJ-0001"
    assert entry.resource_id == "RES-0301"
    assert entry.hours == Decimal("7.50")
    assert entry.billable is True
    body = time_bill_from_canonical(entry, lookups=LOOKUPS, item_id="77")
    assert body["customer"] == {"id": "900"}
    assert body["employee"] == {"id": "301"}
    assert body["hours"] == 7.5
    assert body["tranDate"] == "2025-02-04"
    assert body["item"] == {"id": "77"}


def test_expense_report_round_trip() -> None:
    expenses = expense_report_to_canonical(fixture("expenseReport"), lookups=LOOKUPS)
    assert [e.id for e in expenses] == ["EXR-0001-1", "EXR-0001-2"]
    assert expenses[0].category is ExpenseCategory.TRAVEL
    assert expenses[0].amount == Money.of("420.50", "USD")
    assert expenses[1].category is ExpenseCategory.MEALS
    assert expenses[1].amount.currency == "USD"  # from the report header
    assert all(e.status is ExpenseStatus.APPROVED for e in expenses)
    body = expense_report_from_canonical(
        expenses, employee_id="RES-0301", legal_entity="US01", lookups=LOOKUPS
    )
    assert body["entity"] == {"id": "301"}
    assert body["tranDate"] == "2025-02-06"
    lines = body["expense"]["items"]
    assert [line["amount"] for line in lines] == [420.5, 38.25]
    assert lines[0]["category"] == {"id": "3"}
    assert lines[0]["customer"] == {"id": "900"}


def test_expense_report_needs_expenses() -> None:
    with pytest.raises(MappingError):
        expense_report_from_canonical(
            [], employee_id="RES-0301", legal_entity="US01", lookups=LOOKUPS
        )


def test_invoice_to_canonical() -> None:
    invoice = invoice_to_canonical(fixture("invoice"), lookups=LOOKUPS)
    assert invoice.id == "INV-0042"
    assert invoice.number == "INV-2025-0042"
    assert invoice.customer_id == "CUST-0001"
    assert invoice.project_id == "PRJ-0001"
    assert invoice.status is InvoiceStatus.PARTIALLY_PAID
    assert invoice.subtotal == Money.of("1920.50", "USD")
    assert invoice.tax_total == Money.of("152.64", "USD")
    assert invoice.amount_due == Money.of("1073.14", "USD")
    assert [line.kind for line in invoice.lines] == [InvoiceLineKind.TIME, InvoiceLineKind.EXPENSE]
    assert invoice.due_date == date(2025, 3, 30)


def test_paid_invoice() -> None:
    record = fixture("invoice") | {
        "status": {"id": "B", "refName": "Paid In Full"},
        "amountRemaining": 0,
    }
    assert invoice_to_canonical(record, lookups=LOOKUPS).status is InvoiceStatus.PAID


def test_payment_to_canonical() -> None:
    payment = payment_to_canonical(fixture("customerPayment"), lookups=LOOKUPS)
    assert payment.customer_id == "CUST-0001"
    assert payment.amount == Money.of("1000", "USD")
    assert payment.reference == "WIRE-55102"
    assert payment.applications[0].invoice_id == "INV-0042"
    assert payment.unapplied.is_zero
    assert payment.id == "NS-customerPayment-9001"  # no externalId: NetSuite's own record
