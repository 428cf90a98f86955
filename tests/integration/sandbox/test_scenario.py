"""The synthetic-firm generator: determinism, sizes, hierarchies, currencies, the CLI."""

import json
import time
from collections import Counter
from datetime import date
from decimal import Decimal
from functools import cache

import pytest
from typer.testing import CliRunner

from accord.cli.sandbox_cmd import sandbox_app
from accord_sandbox.firm import Firm
from accord_sandbox.scenario import REFERENCE_DATE, SCENARIOS, firm_to_json, generate


@cache
def _firm(scenario: str, seed: int = 7) -> Firm:
    # quarter-end takes about a second: build each (scenario, seed) once per session.
    return generate(scenario, seed)  # type: ignore[arg-type]


def test_same_seed_gives_identical_json():
    assert firm_to_json(generate("firm", 11)) == firm_to_json(generate("firm", 11))


def test_different_seeds_give_different_firms():
    assert firm_to_json(generate("firm", 11)) != firm_to_json(generate("firm", 12))


def test_quarter_end_is_firm_plus_timesheets():
    firm, quarter_end = _firm("firm"), _firm("quarter-end")
    exclude = {"scenario", "timesheets"}
    assert firm.model_dump(exclude=exclude) == quarter_end.model_dump(exclude=exclude)
    assert not firm.timesheets


def test_unknown_scenario_is_refused():
    with pytest.raises(ValueError, match="unknown scenario"):
        generate("huge", 1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("scenario", "customers", "consultants", "opportunities"),
    [
        ("small", 5, 8, 10),
        ("firm", 40, 30, 80),
        ("quarter-end", 40, 30, 80),
        ("quarter-end-large", 200, 500, 400),
    ],
)
def test_sizes(scenario, customers, consultants, opportunities):
    firm = _firm(scenario)
    assert firm.scenario == scenario
    assert len(firm.customers) == customers
    assert len(firm.consultants) == consultants
    assert len(firm.opportunities) == opportunities


def test_firm_has_a_dozen_closed_won_and_every_stage():
    stages = Counter(o.stage for o in _firm("firm").opportunities)
    assert 12 <= stages["Closed Won"] <= 15
    assert stages["Closed Lost"] > 0
    assert {"Prospecting", "Negotiation/Review"} <= set(stages)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_closed_won_covers_every_package_and_entity(scenario):
    won = [o for o in _firm(scenario).opportunities if o.stage == "Closed Won"]
    assert {o.service_package for o in won} == {
        "ADVISORY-TM",
        "IMPL-FIXED",
        "ROLLOUT-MILESTONE",
        "MANAGED-RETAINER",
    }
    assert {o.legal_entity for o in won} == {"US01", "UK01", "DE01"}


def test_legal_entities_and_erps():
    entities = {e.code: e for e in _firm("firm").legal_entities}
    assert {c: (e.currency, e.erp) for c, e in entities.items()} == {
        "US01": ("USD", "netsuite"),
        "UK01": ("GBP", "netsuite"),
        "DE01": ("EUR", "business_central"),
    }
    assert len({e.bc_company_id for e in entities.values()}) == 3
    assert len({e.netsuite_subsidiary_id for e in entities.values()}) == 3
    other = {e.code: e.bc_company_id for e in generate("small", 8).legal_entities}
    assert other != {c: e.bc_company_id for c, e in entities.items()}


@pytest.mark.parametrize("scenario", ["small", "firm"])
def test_hierarchies_are_three_levels_deep_and_cross_entities(scenario):
    customers = {c.id: c for c in _firm(scenario).customers}

    def depth(customer_id: str) -> int:
        parent = customers[customer_id].parent_id
        return 1 if parent is None else 1 + depth(parent)

    assert max(depth(c) for c in customers) == 3
    for c in customers.values():
        if c.parent_id is not None:
            # parents come first, so loaders can create them in file order
            assert c.parent_id < c.id
    assert any(
        c.parent_id and customers[c.parent_id].legal_entity != c.legal_entity
        for c in customers.values()
    )
    assert len({c.name for c in customers.values()}) == len(customers)


@pytest.mark.parametrize("scenario", ["small", "firm"])
def test_currencies_are_the_entities_but_irish_customers_pay_in_euros(scenario):
    firm = _firm(scenario)
    currency = {e.code: e.currency for e in firm.legal_entities}
    customers = {c.id: c for c in firm.customers}
    assert {c.legal_entity for c in firm.customers} == set(currency)
    for c in firm.customers:
        assert c.currency == ("EUR" if c.country == "IE" else currency[c.legal_entity])
    for p in firm.consultants:
        assert p.currency == currency[p.legal_entity]
    for o in firm.opportunities:
        assert o.currency == customers[o.customer_id].currency
        assert o.legal_entity == customers[o.customer_id].legal_entity


def test_the_firm_has_foreign_currency_deals_and_monthly_rates():
    firm = _firm("firm")
    currency = {e.code: e.currency for e in firm.legal_entities}
    foreign = [o for o in firm.opportunities if o.currency != currency[o.legal_entity]]
    assert any(o.stage == "Closed Won" for o in foreign)
    assert any(o.stage not in ("Closed Won", "Closed Lost") for o in foreign)
    pairs = {(r.base, r.currency) for r in firm.fx_rates}
    codes = set(currency.values())
    assert pairs == {(a, b) for a in codes for b in codes if a != b}
    months = {r.effective for r in firm.fx_rates}
    assert all(day.day == 1 for day in months)
    assert min(months) <= date(2026, 1, 1)
    assert max(months) >= REFERENCE_DATE
    for rate in firm.fx_rates:
        assert rate.rate > 0
        assert rate.rate.as_tuple().exponent == -6


def test_consultants_rates_and_roles():
    firm = _firm("firm")
    roles = Counter(p.role for p in firm.consultants)
    assert set(roles) == {"Partner", "Principal", "Senior Consultant", "Consultant", "Analyst"}
    assert roles["Analyst"] > roles["Partner"]
    for p in firm.consultants:
        assert p.cost_rate.as_tuple().exponent == -2
        assert p.bill_rate.as_tuple().exponent == -2
        assert Decimal(0) < p.cost_rate < p.bill_rate
    assert len({p.email for p in firm.consultants}) == len(firm.consultants)
    assert all(p.email.isascii() for p in firm.consultants)


def test_opportunities_are_consistent():
    firm = _firm("firm")
    practices = {p.code for p in firm.practices}
    regions = {r.code for r in firm.regions}
    packages = {p.code: p for p in firm.service_packages}
    owners = {p.email for p in firm.consultants}
    for o in firm.opportunities:
        assert o.practice in practices
        assert o.region in regions
        assert o.billing_model == packages[o.service_package].billing_model
        assert o.owner_email in owners
        assert o.amount > 0
        assert o.amount.as_tuple().exponent == -2
        assert o.start_date <= o.end_date
        if o.stage.startswith("Closed"):
            assert o.close_date < REFERENCE_DATE
        else:
            assert o.close_date > REFERENCE_DATE


def test_service_packages_and_milestones():
    packages = {p.code: p for p in _firm("small").service_packages}
    assert {c: p.billing_model for c, p in packages.items()} == {
        "ADVISORY-TM": "time_and_materials",
        "IMPL-FIXED": "fixed_fee",
        "ROLLOUT-MILESTONE": "milestone",
        "MANAGED-RETAINER": "retainer",
    }
    for p in packages.values():
        assert p.phases
        assert p.template
    milestones = packages["ROLLOUT-MILESTONE"].milestones
    assert sum(m.percent for m in milestones) == Decimal(100)


def test_accounting_periods_close_before_the_quarters_last_month():
    periods = {(p.legal_entity, p.period): p.status for p in _firm("firm").accounting_periods}
    for entity in ("US01", "UK01", "DE01"):
        assert periods[(entity, "2026-07")] == "closed"
        assert periods[(entity, "2026-08")] == "closed"
        assert periods[(entity, "2026-09")] == "open"
        assert periods[(entity, "2026-10")] == "open"


def test_quarter_end_burst():
    firm = _firm("quarter-end")
    opportunities = {o.id: o for o in firm.opportunities}
    consultants = {p.id for p in firm.consultants}
    entries = [e for sheet in firm.timesheets for e in sheet.entries]
    assert len(firm.timesheets) >= 5_000
    assert len(entries) >= 50_000
    assert len({e.id for e in entries}) == len(entries)
    for sheet in firm.timesheets:
        opp = opportunities[sheet.opportunity_id]
        assert opp.stage == "Closed Won"
        assert sheet.consultant_id in consultants
        assert sheet.week_start.weekday() == 0
        for entry in sheet.entries:
            assert opp.start_date <= entry.date <= opp.end_date
            assert entry.date < REFERENCE_DATE
            assert (
                sheet.week_start <= entry.date < date.fromordinal(sheet.week_start.toordinal() + 7)
            )
            assert Decimal("0.25") <= entry.hours <= Decimal(10)
            assert entry.hours.as_tuple().exponent == -2


@pytest.mark.parametrize("seed", [0, 99, 123456])
def test_quarter_end_minimums_hold_for_any_seed(seed):
    firm = _firm("quarter-end", seed)
    assert len(firm.timesheets) >= 5_000
    assert sum(len(s.entries) for s in firm.timesheets) >= 50_000


def test_quarter_end_large_spans_250_engagements_and_three_entities():
    firm = _firm("quarter-end-large")
    opportunities = {o.id: o for o in firm.opportunities}
    consultants = {p.id: p for p in firm.consultants}
    engagements = {s.opportunity_id for s in firm.timesheets}
    assert len(engagements) >= 250
    assert {opportunities[e].legal_entity for e in engagements} == {"US01", "UK01", "DE01"}
    assert sum(len(s.entries) for s in firm.timesheets) >= 50_000
    assert {e.code: e.erp for e in firm.legal_entities}["DE01"] == "business_central"
    assert len({e.id for s in firm.timesheets for e in s.entries}) == sum(
        len(s.entries) for s in firm.timesheets
    )
    for sheet in firm.timesheets:
        opp = opportunities[sheet.opportunity_id]
        # Staffed from the engagement's own entity, whose ERP holds each person as a resource.
        assert consultants[sheet.consultant_id].legal_entity == opp.legal_entity
        # The last five weeks only.
        assert date(2026, 8, 24) <= sheet.week_start < REFERENCE_DATE
        assert all(opp.start_date <= e.date < REFERENCE_DATE for e in sheet.entries)


def test_quarter_end_is_quick():
    start = time.perf_counter()
    generate("quarter-end", 4242)
    assert time.perf_counter() - start < 5


def test_json_round_trips():
    firm = _firm("small")
    text = firm_to_json(firm)
    assert Firm.model_validate_json(text) == firm
    data = json.loads(text)
    assert data["consultants"][0]["bill_rate"].count(".") == 1  # decimals stay strings


def test_cli_writes_the_scenario(tmp_path):
    out = tmp_path / "small.json"
    result = CliRunner().invoke(
        sandbox_app, ["scenario", "small", "--out", str(out), "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == firm_to_json(generate("small", 3))
    assert "5 customers" in result.output


def test_cli_is_deterministic(tmp_path):
    runner = CliRunner()
    for name in ("a.json", "b.json"):
        result = runner.invoke(sandbox_app, ["scenario", "firm", "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scenario", "huge", "--out", "x.json"], "unknown scenario 'huge'"),
        (["scenario", "small"], "--out FILE is required"),
        (["scenario", "small", "--out", "/nonexistent-dir/x.json"], "cannot write"),
        (["--scenario", "huge"], "unknown scenario 'huge'"),
    ],
)
def test_cli_bad_input_is_one_line(args, message):
    result = CliRunner().invoke(sandbox_app, args)
    assert result.exit_code != 0
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
