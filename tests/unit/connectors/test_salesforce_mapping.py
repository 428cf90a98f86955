"""Salesforce mapping on recorded payloads (tests/fixtures/salesforce)."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from accord.connectors.salesforce.mapping import (
    ArStatus,
    IntegrationStatus,
    RecordMappingError,
    account_to_customer,
    ar_status_fields,
    customer_to_account,
    integration_fields,
    opportunity_to_canonical,
    reference_body,
)
from accord.domain import (
    BillingModel,
    Invoice,
    InvoiceStatus,
    Money,
    OpportunityStage,
    System,
)
from accord.errors import MappingError

FIXTURES = Path(__file__).parents[2] / "fixtures" / "salesforce"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def test_account_to_customer() -> None:
    customer = account_to_customer(fixture("account"))
    assert customer.id == "CUST-0002"
    assert customer.name == "Globex Boston"
    assert customer.parent_id == "CUST-0001"  # from the nested Parent.Accord_Id__c
    assert customer.legal_entity == "US01"
    assert customer.tax_region == "US-MA"
    assert customer.currency == "USD"
    assert customer.industry == "Manufacturing"
    assert (customer.bill_to.line1, customer.bill_to.line2) == ("1 Main St", "Suite 400")
    assert customer.bill_to.country == "US"
    assert customer.refs[0].system is System.SALESFORCE
    assert customer.refs[0].id == "001000000000002AAA"
    assert customer.updated_at == datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def test_account_from_get_uses_lookups_then_default_ids() -> None:
    record = {k: v for k, v in fixture("account").items() if k not in {"Parent", "Accord_Id__c"}}
    with_lookup = account_to_customer(
        record, lookups={"Account": {"001000000000001AAA": "CUST-0001"}}
    )
    assert with_lookup.parent_id == "CUST-0001"
    assert with_lookup.id == "SF-001000000000002AAA"
    assert account_to_customer(record).parent_id == "SF-001000000000001AAA"


def test_account_problems_are_all_named() -> None:
    record = fixture("account") | {
        "Legal_Entity__c": None,
        "Tax_Region__c": "",
        "BillingCountry": "United States",
        "CurrencyIsoCode": "XXX",
    }
    with pytest.raises(RecordMappingError) as caught:
        account_to_customer(record)
    assert set(caught.value.fields) == {"Legal_Entity__c", "Tax_Region__c", "BillingCountry"}
    record["Legal_Entity__c"], record["Tax_Region__c"], record["BillingCountry"] = (
        "US01",
        "US-MA",
        "US",
    )
    with pytest.raises(RecordMappingError) as caught:
        account_to_customer(record)
    assert caught.value.fields == ("CurrencyIsoCode",)  # the model's own check, named natively


def test_customer_to_account_round_trip() -> None:
    customer = account_to_customer(fixture("account"))
    body = customer_to_account(customer)
    assert body["BillingStreet"] == "1 Main St\nSuite 400"
    assert body["Parent"] == {"Accord_Id__c": "CUST-0001"}
    assert body["Legal_Entity__c"] == "US01"
    assert "Accord_Id__c" not in body  # the key travels in the upsert URL
    parent_known = customer_to_account(
        customer, lookups={"Account": {"001000000000001AAA": "CUST-0001"}}
    )
    assert parent_known["ParentId"] == "001000000000001AAA"


def test_reference_body_to_a_default_id() -> None:
    assert reference_body("AccountId", "Account", "Account", "SF-001000000000004AAA") == {
        "AccountId": "001000000000004AAA"
    }


def test_opportunity_to_canonical() -> None:
    opp = opportunity_to_canonical(fixture("opportunity"))
    assert opp.id == "SF-006000000000007AAA"  # not keyed by Accord yet
    assert opp.customer_id == "CUST-0002"
    assert opp.stage is OpportunityStage.CLOSED_WON
    assert opp.won is True
    assert opp.amount == Money.of(Decimal("120000.10"), "USD")  # no float arithmetic
    assert opp.billing_model is BillingModel.TIME_AND_MATERIALS
    assert opp.service_package == "ADVISORY-TM"
    assert (opp.practice, opp.region, opp.legal_entity) == ("ADV", "NA-EAST", "US01")
    assert (opp.start_date, opp.end_date) == (date(2026, 2, 2), date(2026, 5, 1))
    assert opp.owner_email == "grace.hopper@accord.example"
    assert opp.updated_at == datetime(2026, 1, 6, 9, 15, 30, 250000, tzinfo=UTC)


def test_incomplete_won_opportunity_names_every_field() -> None:
    with pytest.raises(RecordMappingError) as caught:
        opportunity_to_canonical(fixture("opportunity_incomplete"))
    error = caught.value
    assert isinstance(error, MappingError)
    assert set(error.fields) == {
        "Amount",
        "Service_Package__c",
        "Billing_Model__c",
        "Practice__c",
        "Start_Date__c",
    }
    assert error.sobject == "Opportunity"
    assert error.record_id == "006000000000008AAA"


def test_open_opportunity_needs_no_start_date_but_stage_must_be_known() -> None:
    record = fixture("opportunity") | {"StageName": "Proposal/Price Quote", "Start_Date__c": None}
    opp = opportunity_to_canonical(record)
    assert (opp.stage, opp.won, opp.start_date) == (OpportunityStage.PROPOSAL, False, None)
    with pytest.raises(RecordMappingError) as caught:
        opportunity_to_canonical(record | {"StageName": "Shaking Hands"})
    assert caught.value.fields == ("StageName",)


def test_dates_out_of_order_are_reported() -> None:
    record = fixture("opportunity") | {"End_Date__c": "2026-01-01"}
    with pytest.raises(RecordMappingError) as caught:
        opportunity_to_canonical(record)
    assert caught.value.fields == ("(record)",)


def test_integration_fields() -> None:
    assert integration_fields(IntegrationStatus.IN_PROGRESS) == {
        "Integration_Status__c": "In Progress"
    }
    assert integration_fields(
        IntegrationStatus.PROVISIONED, psa_project_id="a0P000000000001AAA", erp_project_id="900"
    ) == {
        "Integration_Status__c": "Provisioned",
        "PSA_Project_Id__c": "a0P000000000001AAA",
        "ERP_Project_Id__c": "900",
    }


def invoice(due: date, due_amount: str, *, currency: str = "USD") -> Invoice:
    total = Money.of("1000.00", currency)
    return Invoice(
        id=f"INV-{due.isoformat()}",
        customer_id="CUST-0002",
        legal_entity="US01",
        status=InvoiceStatus.POSTED if due_amount == "1000.00" else InvoiceStatus.PARTIALLY_PAID,
        currency=currency,
        issue_date=date(2025, 10, 1),
        due_date=due,
        subtotal=total,
        tax_total=Money.zero(currency),
        total=total,
        amount_due=Money.of(due_amount, currency),
        posted_at=datetime(2025, 10, 1, tzinfo=UTC),
    )


def test_ar_status_fields() -> None:
    today = date(2026, 2, 1)
    current = ar_status_fields([invoice(date(2026, 2, 15), "1000.00")], currency="USD", today=today)
    assert current == {"AR_Status__c": ArStatus.CURRENT.value, "AR_Balance__c": 1000.0}
    overdue = ar_status_fields(
        [invoice(date(2026, 1, 15), "400.00"), invoice(date(2026, 2, 15), "1000.00")],
        currency="USD",
        today=today,
        last_payment_on=date(2026, 1, 20),
    )
    assert overdue == {
        "AR_Status__c": "Overdue",
        "AR_Balance__c": 1400.0,
        "Last_Payment_Date__c": "2026-01-20",
    }
    late = ar_status_fields([invoice(date(2025, 10, 15), "1000.00")], currency="USD", today=today)
    assert late["AR_Status__c"] == "In Collections"
    held = ar_status_fields([], currency="USD", today=today, credit_hold=True)
    assert held["AR_Status__c"] == "Credit Hold"
    with pytest.raises(MappingError):
        ar_status_fields(
            [invoice(date(2026, 2, 15), "1000.00", currency="EUR")], currency="USD", today=today
        )
