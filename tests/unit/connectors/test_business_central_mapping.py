"""Business Central records <-> canonical models, on recorded payloads."""

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from accord.connectors.business_central.mapping import (
    BusinessCentralLookups,
    bc_number,
    customer_from_canonical,
    customer_to_canonical,
    journal_line_from_time_entry,
    payment_to_canonical,
    project_from_canonical,
    project_to_canonical,
    sales_invoice_to_canonical,
)
from accord.domain import (
    BillingModel,
    InvoiceLineKind,
    InvoiceStatus,
    Money,
    ProjectStatus,
    System,
    TimeEntry,
)
from accord.errors import MappingError

FIXTURES = Path(__file__).parents[2] / "fixtures" / "business_central"
LOOKUPS = BusinessCentralLookups(
    legal_entity="DE01",
    departments={"DATA": "DATA-AI"},
    areas={"DACH": "DACH"},
    resources={"EMP-0007": "EMP-0007"},
    tax_regions={"DE": "EU"},
    records={
        "customers": {"cust-1": "CUST-0001"},
        "projects": {"prj-1": "PRJ-0001"},
        "salesInvoices": {"inv-1": "9e0f5c9c-0000-4000-8000-0000000000a1"},
    },
)


def record(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def test_bc_number_is_stable_and_short() -> None:
    assert bc_number("cust-1") == "CUST-1"
    long_id = "0066g00000AbCdEfGhIjKlMnOp"
    assert bc_number(long_id) == bc_number(long_id)
    assert len(bc_number(long_id, prefix="C")) == 20
    assert bc_number(long_id, prefix="C").startswith("C")


def test_customer_round_trip() -> None:
    customer = customer_to_canonical(record("customer"), lookups=LOOKUPS, company_currency="EUR")
    assert customer.id == "cust-1"
    assert customer.currency == "EUR"  # blank currencyCode: the company's
    assert customer.bill_to.city == "Köln"
    assert customer.tax_region == "EU"
    assert customer.active is True
    assert customer.refs[0].system is System.BUSINESS_CENTRAL
    body = customer_from_canonical(customer)
    assert body["displayName"] == "Contoso GmbH"
    assert body["blocked"] == " "
    assert "number" not in body


def test_customer_without_tax_region_is_a_mapping_error() -> None:
    lookups = BusinessCentralLookups(legal_entity="DE01")
    with pytest.raises(MappingError):
        customer_to_canonical(record("customer"), lookups=lookups, company_currency="EUR")


def test_project_round_trip() -> None:
    project = project_to_canonical(record("project"), lookups=LOOKUPS)
    assert project.id == "prj-1"
    assert project.customer_id == "cust-1"
    assert project.practice == "DATA"
    assert project.billing_model is BillingModel.FIXED_FEE
    assert project.status is ProjectStatus.ON_HOLD  # open but blocked for posting
    body = project_from_canonical(project, lookups=LOOKUPS)
    assert body["customerNumber"] == "CUST-0001"
    assert body["departmentCode"] == "DATA-AI"
    assert body["blocked"] == "Posting"
    assert body["endDate"] == "2026-06-30"


def test_sales_invoice_partially_paid_with_lines() -> None:
    invoice = sales_invoice_to_canonical(
        record("sales_invoice"), lookups=LOOKUPS, company_currency="EUR"
    )
    assert invoice.id == "inv-1"
    assert invoice.number == "PS-INV103001"
    assert invoice.status is InvoiceStatus.PARTIALLY_PAID
    assert invoice.total == Money.of(Decimal("1449.50"), "EUR")
    assert invoice.amount_due == Money.of(Decimal("449.50"), "EUR")
    assert [ln.kind for ln in invoice.lines] == [InvoiceLineKind.TIME, InvoiceLineKind.OTHER]
    assert invoice.due_date == dt.date(2026, 10, 30)


def test_customer_payment() -> None:
    payment = payment_to_canonical(record("customer_payment"), lookups=LOOKUPS, currency="EUR")
    assert payment.amount == Money.of(Decimal(1000), "EUR")
    assert payment.customer_id == "cust-1"
    assert payment.applications[0].invoice_id == "inv-1"
    assert payment.reference == "PAY-1"


def test_journal_line_from_time_entry() -> None:
    entry = TimeEntry(
        id="kantata:12",
        project_id="prj-1",
        resource_id="EMP-0007",
        date=dt.date(2026, 9, 1),
        hours=Decimal("7.50"),
        billable=True,
        bill_rate=Money.of(Decimal(180), "EUR"),
        notes="Workshop",
    )
    body = journal_line_from_time_entry(entry, lookups=LOOKUPS)
    assert body == {
        "postingDate": "2026-09-01",
        "projectNumber": "PRJ-0001",
        "resourceNumber": "EMP-0007",
        "quantity": 7.5,
        "unitPrice": 180.0,
        "description": "Workshop",
        "externalDocumentNumber": "KANTATA:12",
    }
    with pytest.raises(MappingError):
        journal_line_from_time_entry(
            entry.model_copy(update={"resource_id": "EMP-9"}), lookups=LOOKUPS
        )
