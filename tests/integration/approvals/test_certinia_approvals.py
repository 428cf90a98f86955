"""Certinia (on the Salesforce emulator): approved timecards and expenses become events."""

from decimal import Decimal

from tests.integration.approvals.conftest import unique

TIMECARDS = "pse__Timecard_Header__c"  # the Certinia PSA role's approval feeds
EXPENSES = "pse__Expense__c"
WEEK = "2026-11-16"  # a Monday


def resource_contact(approvals, not_in: str | None = None) -> tuple[str, str, dict]:
    """A seeded resource Contact: its id, its consultant id (``Accord_Id__c``) and record.

    ``not_in``: a currency the resource must not work in (one of another legal entity).
    """
    contacts = approvals.certinia().read_page("Contact").records
    contact = next(
        c for c in contacts if c.get("Accord_Id__c") and c.get("CurrencyIsoCode") != not_in
    )
    return contact["Id"], contact["Accord_Id__c"], contact


def project(approvals, key: str | None) -> str:
    """A Certinia project keyed by Accord (``Accord_Id__c``), or unknown to Accord (None)."""
    fields = {"Name": unique("Project"), "CurrencyIsoCode": "USD"}
    if key is None:
        return approvals.certinia().create("pse__Proj__c", fields).id
    return approvals.certinia().upsert("pse__Proj__c", key, fields).id


def approved_timecard(approvals, project_id: str, contact_id: str, **hours: float) -> str:
    certinia = approvals.certinia()
    card = certinia.create(
        "pse__Timecard_Header__c",
        {
            "pse__Resource__c": contact_id,
            "pse__Project__c": project_id,
            "pse__Start_Date__c": WEEK,
            "pse__Status__c": "Submitted",
            **{f"pse__{day}_Hours__c": value for day, value in hours.items()},
        },
    ).id
    certinia.update("pse__Timecard_Header__c", card, {"pse__Status__c": "Approved"})
    return card


def test_approved_timecard_becomes_one_event_with_an_entry_per_day(approvals):
    # A resource of another legal entity than the (USD) project's: it bills at the project's
    # rates (docs/flows/multi-entity.md).
    contact_id, consultant, contact = resource_contact(approvals, not_in="USD")
    key = unique("PRJ-C")
    card = approved_timecard(
        approvals, project(approvals, key), contact_id, Monday=8, Tuesday=7.5, Friday=0.25
    )

    approvals.poll("certinia", TIMECARDS)
    approvals.poll("certinia", TIMECARDS)

    (event,) = approvals.events("timesheet.approved", subject=f"SF-{card}")
    assert event["ce_id"] == f"certinia:timecard:{card}@approved"
    data = event["data"]
    assert data["project_id"] == key
    assert data["resource_id"] == consultant
    entries = {e["id"]: e for e in data["entries"]}
    assert {i: Decimal(e["hours"]) for i, e in entries.items()} == {
        f"SF-{card}-2026-11-16": Decimal("8.00"),
        f"SF-{card}-2026-11-17": Decimal("7.50"),
        f"SF-{card}-2026-11-20": Decimal("0.25"),
    }
    # No assignment: the rate card of the resource's role, in the project's currency, prices
    # the time.
    cards = approvals.certinia().rate_card_rates("USD")
    rate = data["entries"][0]["bill_rate"]
    assert Decimal(rate["amount"]) == cards[contact["pse__Resource_Role__c"]]
    assert rate["currency"] == "USD"


def test_timecard_on_a_project_accord_does_not_know_opens_an_exception(approvals):
    contact_id, _, _ = resource_contact(approvals)
    card = approved_timecard(approvals, project(approvals, None), contact_id, Monday=4)

    approvals.poll("certinia", TIMECARDS)

    assert approvals.events("timesheet.approved", subject=f"SF-{card}") == []
    (found,) = approvals.exceptions_about("timesheet", "certinia", card)
    assert found.queue == "delivery-ops"
    assert set(found.detail["problems"]) == {"project"}


def test_approved_expense_becomes_an_expense_event(approvals):
    contact_id, consultant, _ = resource_contact(approvals)
    key = unique("PRJ-C")
    expense = (
        approvals.certinia()
        .create(
            "pse__Expense__c",
            {
                "pse__Project__c": project(approvals, key),
                "pse__Resource__c": contact_id,
                "pse__Type__c": "Lodging",
                "pse__Amount__c": 250.5,
                "pse__Expense_Date__c": "2026-11-18",
                "pse__Status__c": "Approved",
                "CurrencyIsoCode": "USD",
            },
        )
        .id
    )

    approvals.poll("certinia", EXPENSES)

    (event,) = approvals.events("expense.approved", subject=f"SF-{expense}")
    assert event["ce_id"] == f"certinia:expense:{expense}@approved"
    assert event["data"]["amount"] == {"amount": "250.50", "currency": "USD"}
    assert event["data"]["project_id"] == key
    assert event["data"]["resource_id"] == consultant
