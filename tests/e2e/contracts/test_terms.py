"""Pure pieces of contract change and the billing schedule: no sandbox, no runtime."""

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from accord.domain import BillingModel
from accord.flows.shared.billing import billing_lines
from accord.flows.shared.contracts import contract_from_plan, diff, plan_for, terms
from accord.flows.shared.plan import MilestonePlan, Plan


def plan(model: str = "milestone", **changes) -> Plan:
    base = Plan(
        rules_version="r1",
        opportunity_id="OPP-1",
        opportunity_sf_id="006A",
        opportunity_name="Deal",
        business_key="opportunity:OPP-1",
        customer_id="CUST-1",
        customers=(),
        project_id="PRJ-OPP-1",
        project_name="Deal",
        billing_model=model,
        currency="USD",
        amount="1000.00",
        budget="1100.00",
        start_date="2026-10-05",
        end_date="2027-10-05",
        legal_entity="US01",
        practice="TECH",
        region="NA-EAST",
        erp="netsuite",
        erp_connection="netsuite",
        subsidiary="2",
        department="102",
        class_="201",
        tax_region="US-EAST",
        psa_system="kantata",
        psa_connection="kantata",
        template="TPL",
        phases=("Plan",),
        milestones=(
            MilestonePlan(key="PRJ-OPP-1-M1", name="One", amount="400.00", due_date="2026-11-01"),
            MilestonePlan(key="PRJ-OPP-1-M2", name="Two", amount="600.00", due_date=None),
        )
        if model == "milestone"
        else (),
    )
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize(
    ("model", "keys"),
    [
        ("milestone", ["PRJ-OPP-1-M1", "PRJ-OPP-1-M2"]),
        ("fixed_fee", ["PRJ-OPP-1-FEE"]),
        ("retainer", ["PRJ-OPP-1-RET"]),
        ("time_and_materials", []),
    ],
)
def test_billing_lines_by_model_sum_to_the_amount(model: str, keys: list[str]) -> None:
    lines = billing_lines(plan(model))
    assert [line.key for line in lines] == keys
    if lines:
        assert sum(Decimal(line.amount) for line in lines) == Decimal("1000.00")


def test_retainer_is_monthly_over_the_term_and_exact() -> None:
    (line,) = billing_lines(plan("retainer", amount="1000.00", end_date="2027-01-05"))
    assert line.quantity == "3"
    assert line.rate == "333.33"  # to the cent; the line amount stays exact
    assert line.amount == "1000.00"


def test_diff_names_each_changed_field_and_milestone() -> None:
    before = contract_from_plan(plan())
    after = contract_from_plan(
        plan(
            amount="1200.00",
            end_date="2027-12-31",
            milestones=(
                MilestonePlan(
                    key="PRJ-OPP-1-M1", name="One", amount="400.00", due_date="2026-11-01"
                ),
                MilestonePlan(key="PRJ-OPP-1-M2", name="Two", amount="800.00", due_date=None),
            ),
        )
    )
    changes = diff(before, after)
    assert set(changes) == {"total_value", "end_date", "milestone PRJ-OPP-1-M2"}
    assert changes["total_value"] == {"from": "1000.00 USD", "to": "1200.00 USD"}
    assert changes["milestone PRJ-OPP-1-M2"]["to"] == "Two | 800.00 USD | due -"
    assert diff(before, before) == {}
    assert terms(before)["milestone PRJ-OPP-1-M1"] == "One | 400.00 USD | due 2026-11-01"


def test_a_version_plan_keeps_the_base_and_takes_the_new_terms() -> None:
    base = plan()
    doubled = tuple(
        dataclasses.replace(m, amount=str(Decimal(m.amount) * 2)) for m in base.milestones
    )
    contract = contract_from_plan(
        plan(amount="2000.00", start_date="2026-11-01", milestones=doubled)
    )
    assert contract.billing_model is BillingModel.MILESTONE
    assert contract.start_date == dt.date(2026, 11, 1)
    new = plan_for(base, contract, budget=Decimal("2100.00"))
    assert (new.amount, new.budget, new.start_date) == ("2000.00", "2100.00", "2026-11-01")
    assert new.project_id == base.project_id
    assert [m.key for m in new.milestones] == ["PRJ-OPP-1-M1", "PRJ-OPP-1-M2"]
