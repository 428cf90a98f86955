import datetime as dt
from decimal import Decimal

import pytest
from pydantic import ValidationError

from accord.domain import (
    AccountingPeriod,
    BillingModel,
    Contract,
    Customer,
    Expense,
    Invoice,
    LegalEntity,
    Milestone,
    Money,
    Opportunity,
    OpportunityStage,
    Payment,
    Project,
    ProjectStatusChange,
    RateCard,
    Resource,
    TimeEntry,
    Timesheet,
)


def usd(amount):
    return {"amount": amount, "currency": "USD"}


# -- opportunity --------------------------------------------------------------------------


def test_valid_opportunity(opportunity_data):
    opp = Opportunity.model_validate(opportunity_data)
    assert opp.stage is OpportunityStage.CLOSED_WON
    assert opp.billing_model is BillingModel.MILESTONE
    assert opp.amount == Money.of("120000", "USD")
    assert opp.updated_at is not None
    assert opp.updated_at.tzinfo is dt.UTC


def test_opportunity_won_must_match_stage(opportunity_data):
    with pytest.raises(ValidationError, match="closed_won"):
        Opportunity.model_validate({**opportunity_data, "won": False})
    with pytest.raises(ValidationError, match="closed_won"):
        Opportunity.model_validate({**opportunity_data, "stage": "proposal"})


def test_opportunity_amount_must_equal_its_lines(opportunity_data):
    with pytest.raises(ValidationError, match="sum of its line amounts"):
        Opportunity.model_validate({**opportunity_data, "amount": usd("119999.99")})
    assert Opportunity.model_validate({**opportunity_data, "lines": []}).lines == ()


def test_opportunity_lines_in_another_currency_are_refused(opportunity_data):
    line = {**opportunity_data["lines"][0], "amount": {"amount": "1", "currency": "EUR"}}
    with pytest.raises(ValidationError, match="same currency"):
        Opportunity.model_validate({**opportunity_data, "lines": [line]})


def test_opportunity_dates_in_order(opportunity_data):
    with pytest.raises(ValidationError, match="before start"):
        Opportunity.model_validate({**opportunity_data, "end_date": "2024-03-01"})


def test_unknown_fields_are_refused(opportunity_data):
    with pytest.raises(ValidationError, match="Extra inputs"):
        Opportunity.model_validate({**opportunity_data, "Amount__c": "1"})


def test_models_are_immutable(opportunity_data):
    opp = Opportunity.model_validate(opportunity_data)
    with pytest.raises(ValidationError):
        opp.name = "other"  # type: ignore[misc]


# -- parties ------------------------------------------------------------------------------


def test_customer_hierarchy(customer_data):
    customer = Customer.model_validate(customer_data)
    assert customer.parent_id == "CUST-0001"
    assert customer.bill_to.country == "GB"
    with pytest.raises(ValidationError, match="own parent"):
        Customer.model_validate({**customer_data, "parent_id": customer_data["id"]})


def test_legal_entity_lives_on_one_erp():
    entity = LegalEntity.model_validate(
        {"code": "UK01", "name": "Acme UK Ltd", "currency": "GBP", "erp": "business_central"}
    )
    assert entity.erp == "business_central"
    with pytest.raises(ValidationError):
        LegalEntity.model_validate({"code": "X", "name": "X", "currency": "GBP", "erp": "sap"})


def test_resource_rates_are_money():
    resource = Resource.model_validate(
        {
            "id": "RES-7",
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "role": "architect",
            "legal_entity": "UK01",
            "bill_rate": {"amount": "180", "currency": "GBP"},
        }
    )
    assert resource.bill_rate == Money.of(180, "GBP")
    with pytest.raises(ValidationError):
        Resource.model_validate({**resource.model_dump(), "email": "not-an-email"})


# -- contract, rate card, milestones -------------------------------------------------------


def test_valid_milestone_contract(contract_data):
    contract = Contract.model_validate(contract_data)
    assert contract.version == 2
    assert [m.amount.amount for m in contract.milestones] == [Decimal("40000.00"), Decimal(80000)]


def test_milestone_amounts_must_add_up_to_the_contract_value(contract_data):
    with pytest.raises(ValidationError, match="add up"):
        Contract.model_validate({**contract_data, "total_value": usd("120000.01")})


def test_cancelled_milestones_do_not_count(contract_data, milestone_data):
    cancelled = {**milestone_data, "id": "MS-3", "status": "cancelled", "amount": usd("5")}
    data = {**contract_data, "milestones": [*contract_data["milestones"], cancelled]}
    assert len(Contract.model_validate(data).milestones) == 3


def test_milestone_contract_needs_milestones(contract_data):
    with pytest.raises(ValidationError, match="needs milestones"):
        Contract.model_validate({**contract_data, "milestones": []})


def test_contract_amounts_in_one_currency(contract_data, milestone_data):
    eur = {**milestone_data, "amount": {"amount": "40000", "currency": "EUR"}}
    data = {**contract_data, "milestones": [eur, contract_data["milestones"][1]]}
    with pytest.raises(ValidationError, match="must be in USD"):
        Contract.model_validate(data)


@pytest.mark.parametrize(
    ("model", "missing"),
    [
        ("time_and_materials", "rate card"),
        ("fixed_fee", "total_value"),
        ("retainer", "retainer_fee"),
    ],
)
def test_billing_model_requirements(contract_data, model, missing):
    data = {**contract_data, "billing_model": model, "milestones": [], "total_value": None}
    with pytest.raises(ValidationError, match=missing):
        Contract.model_validate(data)


def test_time_and_materials_contract_with_rate_card(contract_data):
    rate_card = {
        "currency": "USD",
        "rates": [
            {"role": "architect", "rate": usd("200")},
            {"role": "developer", "rate": usd("150")},
        ],
    }
    data = {
        **contract_data,
        "billing_model": "time_and_materials",
        "milestones": [],
        "total_value": None,
        "rate_card": rate_card,
    }
    contract = Contract.model_validate(data)
    assert contract.rate_card is not None
    assert contract.rate_card.rate_for("developer") == Money.of(150, "USD")
    assert contract.rate_card.rate_for("pm") is None


def test_rate_card_rules():
    with pytest.raises(ValidationError, match="each role once"):
        RateCard.model_validate(
            {
                "currency": "USD",
                "rates": [{"role": "a", "rate": usd("1")}, {"role": "a", "rate": usd("2")}],
            }
        )
    with pytest.raises(ValidationError, match="rate card's currency"):
        RateCard.model_validate(
            {"currency": "USD", "rates": [{"role": "a", "rate": {"amount": 1, "currency": "EUR"}}]}
        )
    with pytest.raises(ValidationError):
        RateCard.model_validate({"currency": "USD", "rates": []})


@pytest.mark.parametrize(
    ("version", "amendment_versions"),
    [(1, [2]), (2, []), (3, [2]), (3, [3, 2]), (3, [2, 2])],
)
def test_amendment_versions_must_be_consecutive(contract_data, version, amendment_versions):
    template = contract_data["amendments"][0]
    amendments = [{**template, "version": v} for v in amendment_versions]
    with pytest.raises(ValidationError, match="amendments must be versions"):
        Contract.model_validate({**contract_data, "version": version, "amendments": amendments})


def test_third_version_with_two_amendments(contract_data):
    first = contract_data["amendments"][0]
    second = {**first, "version": 3, "value_change": usd("-5000")}
    contract = Contract.model_validate(
        {**contract_data, "version": 3, "amendments": [first, second]}
    )
    assert [a.version for a in contract.amendments] == [2, 3]


def test_milestone_rules(milestone_data):
    assert Milestone.model_validate(milestone_data).completed_at is not None
    with pytest.raises(ValidationError, match="negative"):
        Milestone.model_validate({**milestone_data, "amount": usd("-1")})
    with pytest.raises(ValidationError, match="completed_at"):
        Milestone.model_validate({**milestone_data, "completed_at": None})
    planned = Milestone.model_validate(
        {**milestone_data, "status": "planned", "completed_at": None}
    )
    assert planned.status == "planned"


def test_milestone_of_another_contract_is_refused(contract_data, milestone_data):
    other = {**milestone_data, "contract_id": "CON-OTHER", "amount": usd("80000")}
    data = {**contract_data, "milestones": [milestone_data, other]}
    with pytest.raises(ValidationError, match="another contract"):
        Contract.model_validate(data)


# -- delivery -----------------------------------------------------------------------------


def test_project(project_data):
    assert Project.model_validate(project_data).status == "active"
    with pytest.raises(ValidationError, match="budget"):
        Project.model_validate({**project_data, "budget": {"amount": "1", "currency": "EUR"}})


def test_status_change_needs_two_statuses(status_change_data):
    assert ProjectStatusChange.model_validate(status_change_data).status == "on_hold"
    with pytest.raises(ValidationError, match="two different"):
        ProjectStatusChange.model_validate({**status_change_data, "status": "active"})


def test_time_entry_billable_amount(time_entry_data):
    entry = TimeEntry.model_validate(time_entry_data)
    assert entry.billable_amount() == Money.of("1125.00", "USD")
    assert (
        TimeEntry.model_validate({**time_entry_data, "billable": False}).billable_amount() is None
    )
    assert (
        TimeEntry.model_validate({**time_entry_data, "bill_rate": None}).billable_amount() is None
    )


def test_valid_timesheet(timesheet_data):
    sheet = Timesheet.model_validate(timesheet_data)
    assert sheet.total_hours == Decimal("15.50")
    assert sheet.approved_at == dt.datetime(2024, 4, 6, 9, tzinfo=dt.UTC)


def _with_entry(timesheet_data, **changes):
    entry = {**timesheet_data["entries"][0], "id": "TE-9", **changes}
    return {**timesheet_data, "entries": [*timesheet_data["entries"], entry]}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"project_id": "PRJ-OTHER"}, "another resource or project"),
        ({"resource_id": "RES-OTHER"}, "another resource or project"),
        ({"date": "2024-04-08"}, "outside the week"),
        ({"date": "2024-03-31"}, "outside the week"),
        ({"id": "TE-1"}, "appears twice"),
        ({"hours": "16.51"}, "more than 24 hours"),
    ],
)
def test_timesheet_entry_rules(timesheet_data, changes, message):
    with pytest.raises(ValidationError, match=message):
        Timesheet.model_validate(_with_entry(timesheet_data, **changes))


def test_timesheet_day_can_total_exactly_24_hours(timesheet_data):
    sheet = Timesheet.model_validate(_with_entry(timesheet_data, hours="16.5"))
    assert sheet.total_hours == Decimal("32.00")


def test_timesheet_needs_entries_and_approval_time(timesheet_data):
    with pytest.raises(ValidationError):
        Timesheet.model_validate({**timesheet_data, "entries": []})
    with pytest.raises(ValidationError, match="approved_at"):
        Timesheet.model_validate({**timesheet_data, "approved_at": None})


def test_expense(expense_data):
    expense = Expense.model_validate(expense_data)
    assert expense.amount == Money.of("412.80", "USD")
    assert expense.category == "travel"
    with pytest.raises(ValidationError, match="positive"):
        Expense.model_validate({**expense_data, "amount": usd("0")})
    with pytest.raises(ValidationError):
        Expense.model_validate({**expense_data, "category": "yacht"})
    with pytest.raises(ValidationError, match="float refused"):
        Expense.model_validate({**expense_data, "amount": {"amount": 412.8, "currency": "USD"}})


# -- finance ------------------------------------------------------------------------------


def test_valid_invoice(invoice_data):
    invoice = Invoice.model_validate(invoice_data)
    assert invoice.total == Money.of("2956.82", "USD")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"subtotal": usd("2737.81"), "total": usd("2956.83")}, "sum of the line amounts"),
        ({"total": usd("2956.83")}, "subtotal \\+ tax_total"),
        ({"amount_due": usd("3000")}, "between zero and the total"),
        ({"amount_due": usd("-1")}, "between zero and the total"),
        ({"status": "paid"}, "nothing due"),
        ({"posted_at": None}, "posted_at"),
        ({"due_date": "2024-04-01"}, "before issue date"),
        ({"tax_total": {"amount": "219.02", "currency": "EUR"}}, "must be in USD"),
    ],
)
def test_invoice_rules(invoice_data, changes, message):
    with pytest.raises(ValidationError, match=message):
        Invoice.model_validate({**invoice_data, **changes})


def test_payment(payment_data):
    payment = Payment.model_validate(payment_data)
    assert payment.unapplied == Money.of("43.18", "USD")
    too_much = [{"invoice_id": "INV-1", "amount": usd("3000.01")}]
    with pytest.raises(ValidationError, match="exceed"):
        Payment.model_validate({**payment_data, "applications": too_much})
    with pytest.raises(ValidationError, match="positive"):
        Payment.model_validate({**payment_data, "amount": usd("0")})


def test_accounting_period():
    period = AccountingPeriod.model_validate(
        {
            "legal_entity": "US01",
            "period": "2024-04",
            "start_date": "2024-04-01",
            "end_date": "2024-04-30",
            "status": "closed",
        }
    )
    assert period.key == "US01:2024-04"
    assert period.contains(dt.date(2024, 4, 30))
    assert not period.contains(dt.date(2024, 5, 1))
    with pytest.raises(ValidationError):
        AccountingPeriod.model_validate({**period.model_dump(), "period": "2024-4"})
    with pytest.raises(ValidationError, match="ends before"):
        AccountingPeriod.model_validate({**period.model_dump(), "end_date": "2024-03-31"})


def test_models_round_trip_through_json(event_samples):
    from accord.domain import EVENT_TYPES

    for event_type, raw in event_samples.items():
        model = EVENT_TYPES[event_type]
        instance = model.model_validate(raw)
        assert model.model_validate_json(instance.model_dump_json()) == instance, event_type
