"""Valid raw payloads of every canonical model, as a producer (connector) would send them.

Each fixture returns a fresh dict so a test can break one field without affecting others.
"""

from typing import Any

import pytest


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


@pytest.fixture
def opportunity_data() -> dict[str, Any]:
    return {
        "id": "OPP-0001",
        "name": "Data platform rollout",
        "customer_id": "CUST-0001",
        "stage": "closed_won",
        "won": True,
        "amount": usd("120000.00"),
        "service_package": "DATA-PLATFORM",
        "billing_model": "milestone",
        "close_date": "2024-03-29",
        "start_date": "2024-04-01",
        "end_date": "2024-09-30",
        "practice": "DATA",
        "region": "NA-EAST",
        "legal_entity": "US01",
        "lines": [
            {
                "id": "OLI-1",
                "product": "DATA-PLATFORM",
                "quantity": "1",
                "unit_price": usd("100000"),
                "amount": usd("100000"),
            },
            {
                "id": "OLI-2",
                "product": "TRAINING",
                "quantity": 4,
                "unit_price": usd("5000"),
                "amount": usd("20000"),
            },
        ],
        "refs": [{"system": "salesforce", "id": "0065g00000AbCdE"}],
        "updated_at": "2024-03-29T17:04:00Z",
    }


@pytest.fixture
def customer_data() -> dict[str, Any]:
    return {
        "id": "CUST-0002",
        "name": "Globex Europe",
        "parent_id": "CUST-0001",
        "legal_entity": "UK01",
        "bill_to": {"line1": "1 King St", "city": "London", "postal_code": "EC2V", "country": "GB"},
        "tax_region": "UK",
        "currency": "GBP",
    }


@pytest.fixture
def project_data() -> dict[str, Any]:
    return {
        "id": "PRJ-0001",
        "name": "Data platform rollout",
        "customer_id": "CUST-0001",
        "opportunity_id": "OPP-0001",
        "legal_entity": "US01",
        "practice": "DATA",
        "region": "NA-EAST",
        "billing_model": "time_and_materials",
        "status": "active",
        "currency": "USD",
        "budget": usd("50000"),
        "start_date": "2024-04-01",
    }


@pytest.fixture
def time_entry_data() -> dict[str, Any]:
    return {
        "id": "TE-1",
        "project_id": "PRJ-0001",
        "resource_id": "RES-7",
        "date": "2024-04-01",
        "hours": "7.5",
        "billable": True,
        "bill_rate": usd("150"),
        "notes": "Workshop",
    }


@pytest.fixture
def timesheet_data(time_entry_data: dict[str, Any]) -> dict[str, Any]:
    second = {**time_entry_data, "id": "TE-2", "date": "2024-04-02", "hours": "8"}
    return {
        "id": "TS-1",
        "resource_id": "RES-7",
        "project_id": "PRJ-0001",
        "week_start": "2024-04-01",
        "status": "approved",
        "entries": [time_entry_data, second],
        "submitted_at": "2024-04-05T16:00:00+02:00",
        "approved_at": "2024-04-06T09:00:00Z",
    }


@pytest.fixture
def expense_data() -> dict[str, Any]:
    return {
        "id": "EXP-1",
        "project_id": "PRJ-0001",
        "resource_id": "RES-7",
        "date": "2024-04-03",
        "category": "travel",
        "amount": usd("412.80"),
        "billable": True,
        "status": "approved",
    }


@pytest.fixture
def milestone_data() -> dict[str, Any]:
    return {
        "id": "MS-1",
        "name": "Design signed off",
        "amount": usd("40000"),
        "contract_id": "CON-1",
        "project_id": "PRJ-0001",
        "due_date": "2024-05-01",
        "status": "completed",
        "completed_at": "2024-04-30T12:00:00Z",
    }


@pytest.fixture
def contract_data(milestone_data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "CON-1",
        "customer_id": "CUST-0001",
        "opportunity_id": "OPP-0001",
        "legal_entity": "US01",
        "billing_model": "milestone",
        "currency": "USD",
        "total_value": usd("120000"),
        "milestones": [
            milestone_data,
            {**milestone_data, "id": "MS-2", "name": "Go-live", "amount": usd("80000"),
             "status": "planned", "completed_at": None},
        ],
        "start_date": "2024-04-01",
        "end_date": "2024-09-30",
        "version": 2,
        "amendments": [
            {
                "version": 2,
                "effective_date": "2024-06-01",
                "amended_at": "2024-05-20T10:00:00Z",
                "reason": "Scope extension",
                "value_change": usd("20000"),
            }
        ],
    }  # fmt: skip


@pytest.fixture
def invoice_data() -> dict[str, Any]:
    return {
        "id": "INV-1",
        "number": "INV-2024-0001",
        "customer_id": "CUST-0001",
        "legal_entity": "US01",
        "project_id": "PRJ-0001",
        "status": "posted",
        "currency": "USD",
        "issue_date": "2024-04-30",
        "due_date": "2024-05-30",
        "lines": [
            {
                "kind": "time",
                "description": "Consulting, April",
                "quantity": "15.5",
                "unit_price": usd("150"),
                "amount": usd("2325"),
            },
            {
                "kind": "expense",
                "description": "Travel",
                "quantity": 1,
                "unit_price": usd("412.80"),
                "amount": usd("412.80"),
            },
        ],
        "subtotal": usd("2737.80"),
        "tax_total": usd("219.02"),
        "total": usd("2956.82"),
        "amount_due": usd("2956.82"),
        "posted_at": "2024-04-30T18:00:00Z",
    }


@pytest.fixture
def payment_data() -> dict[str, Any]:
    return {
        "id": "PAY-1",
        "customer_id": "CUST-0001",
        "legal_entity": "US01",
        "amount": usd("3000"),
        "received_on": "2024-05-20",
        "method": "bank_transfer",
        "applications": [{"invoice_id": "INV-1", "amount": usd("2956.82")}],
    }


@pytest.fixture
def status_change_data() -> dict[str, Any]:
    return {
        "project_id": "PRJ-0001",
        "previous_status": "active",
        "status": "on_hold",
        "changed_at": "2024-05-02T08:00:00Z",
        "reason": "Customer budget freeze",
    }


@pytest.fixture
def event_samples(request: pytest.FixtureRequest) -> dict[str, dict[str, Any]]:
    """Event type -> a valid raw ``data`` payload."""
    data = {
        name: request.getfixturevalue(f"{name}_data")
        for name in (
            "opportunity",
            "customer",
            "project",
            "status_change",
            "timesheet",
            "expense",
            "milestone",
            "contract",
            "invoice",
            "payment",
        )
    }
    paid = {
        **data["invoice"],
        "status": "paid",
        "amount_due": usd("0"),
        "paid_at": "2024-05-21T00:00:00Z",
    }
    return {
        "opportunity.won": data["opportunity"],
        "opportunity.updated": {**data["opportunity"], "stage": "negotiation", "won": False},
        "customer.upserted": data["customer"],
        "project.activated": data["project"],
        "project.status_changed": data["status_change"],
        "timesheet.approved": data["timesheet"],
        "expense.approved": data["expense"],
        "milestone.completed": data["milestone"],
        "contract.amended": data["contract"],
        "invoice.posted": data["invoice"],
        "invoice.paid": paid,
        "payment.received": data["payment"],
        "project.fields_changed": {
            "project_id": "PRJ-0001",
            "fields": {"delivery_health": "Amber", "customer_po": None},
            "changed_at": "2024-05-02T08:00:00Z",
        },
        "task.upserted": {
            "id": "PRJ-0001-P1",
            "project_id": "PRJ-0001",
            "name": "Discovery",
            "status": "in_progress",
            "estimated_hours": "40",
            "percent_complete": "25",
            "start_date": "2024-04-01",
            "end_date": "2024-04-30",
        },
        "assignment.upserted": {
            "id": "ASG-1",
            "project_id": "PRJ-0001",
            "task_id": "PRJ-0001-P1",
            "resource_id": "RES-7",
            "role": "Consultant",
            "start_date": "2024-04-01",
            "end_date": "2024-04-30",
            "planned_hours": "16",
        },
        "vendor_expense.approved": {**data["expense"], "resource_id": None, "vendor_id": "V-1"},
        "vendor_bill.posted": {
            "id": "VB-1",
            "vendor_id": "V-1",
            "legal_entity": "US01",
            "number": "NW-1001",
            "bill_date": "2024-04-30",
            "due_date": "2024-05-30",
            "currency": "USD",
            "status": "open",
            "lines": [
                {"project_id": "PRJ-0001", "amount": usd("1200"), "description": "Subcontractor"}
            ],
        },
    }


def envelope(event_type: str, data: object, **extra: object) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "evt-0001",
        "source": "salesforce://acme-prod",
        "type": event_type,
        "time": "2024-03-29T17:04:05.123Z",
        "datacontenttype": "application/json",
        "data": data,
        **extra,
    }


@pytest.fixture
def make_envelope():
    return envelope
