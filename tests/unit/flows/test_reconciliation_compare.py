"""The pure comparisons of reconciliation: work (PSA = ledger = ERP) and terms (deal = others)."""

import datetime as dt
from decimal import Decimal

import pytest

from accord.connectors.roles import ErpCustomer, ErpProject, HeldTerms, HeldWork
from accord.domain import BillingModel, Money, Opportunity, OpportunityStage
from accord.errors import ConfigError
from accord.flows.reconciliation import terms
from accord.flows.reconciliation.settings import load_reconciliation_settings
from accord.flows.reconciliation.work import ErpItem, PsaItem, compare_work, second_look
from accord.resources import default_rules_path
from accord.rules import load_rules
from accord.store.postings import POSTED, QUEUED, REJECTED, Posting
from accord.store.reconciliation import InvoicedLine

NOW = dt.datetime(2026, 10, 12, 9, tzinfo=dt.UTC)
DAY = dt.date(2026, 10, 5)


def _row(
    entry: str, *, hours: str = "7.50", status: str = POSTED, key: str | None = None
) -> Posting:
    amount = Decimal(hours) * 150
    return Posting(
        kind="time",
        entry_id=entry,
        submission_id="ts-1",
        project_id="PRJ-1",
        event_id="ev-1",
        run_id="000000000001.ev-1",
        status=status,
        entry_date=DAY,
        external_id=key or entry,
        hours=Decimal(hours),
        amount=amount.quantize(Decimal("0.01")),
        currency="USD",
        code="erp.recon.posting_missing" if status == REJECTED else None,
    )


def _held(key: str, *, hours: str = "7.50", record: str = "1", project: str = "J1") -> HeldWork:
    return HeldWork(
        kind="time",
        key=key,
        record_id=record,
        project=project,
        date=DAY,
        hours=Decimal(hours),
        amount=(Decimal(hours) * 150).quantize(Decimal("0.01")),
        currency="USD",
        billable=True,
        changed_at=NOW - dt.timedelta(days=1),
    )


def _compare(ledger, psa, erp, **extra):
    extra.setdefault("hourly", {"PRJ-1"})
    return compare_work(
        connection="netsuite",
        system="netsuite",
        ledger=ledger,
        psa=[PsaItem(w, "PRJ-1", "kantata") for w in psa],
        erp=[ErpItem(w, "PRJ-1") for w in erp],
        held_key=str.upper,
        psa_projects={"PRJ-1"},
        settle_before=NOW,
        **extra,
    )


def test_three_sides_that_agree_report_nothing_and_totals_agree():
    out = _compare([_row("e1"), _row("e2")], [_held("e1"), _held("e2")], [_held("E1"), _held("E2")])
    assert out.drifts == []
    (totals,) = out.totals
    assert totals["agree"]
    assert (totals["psa"], totals["posted"], totals["erp"]) == ("2250.00",) * 3
    # Time of a project not billed by the hour posts non-billable: hours compare, not value.
    flat = [_held(k, hours="7.50") for k in ("E1", "E2")]
    flat = [HeldWork(**{**w.__dict__, "amount": None, "billable": False}) for w in flat]
    assert (
        _compare([_row("e1"), _row("e2")], [_held("e1"), _held("e2")], flat, hourly=set()).drifts
        == []
    )


def test_each_disagreement_has_its_code():
    ledger = [
        _row("gone"),
        _row("edited"),
        _row("twice"),
        _row("withdrawn"),
        _row("marked", status=REJECTED),
        _row("queued", status=QUEUED),
    ]
    psa = [
        _held("gone"),
        _held("edited"),
        _held("twice", hours="8.00"),
        _held("marked"),
        _held("queued"),
        _held("new"),
    ]
    erp = [
        _held("EDITED", hours="9.00", record="2"),
        _held("TWICE", record="3"),
        _held("WITHDRAWN", record="4"),
        _held("MARKED", record="5"),
        _held("CLERK-1", record="6"),  # same fact as TWICE: a duplicate
        _held("OTHER", hours="1.00", record="7"),  # nobody's: extra
    ]
    out = _compare(ledger, psa, erp)
    codes = {(d.code, d.business_key) for d in out.drifts}
    assert codes == {
        ("missing_in_erp", "GONE"),
        ("changed_in_erp", "EDITED"),
        ("changed_in_psa", "twice"),
        ("withdrawn_in_psa", "withdrawn"),
        ("not_in_ledger", "new"),
        ("duplicate_in_erp", "CLERK-1"),
        ("extra_in_erp", "OTHER"),
    }
    assert [r.entry_id for r in out.missing] == ["gone"]
    assert [r.entry_id for r in out.found_again] == ["marked"]
    (totals,) = out.totals
    assert not totals["agree"]


def test_work_still_on_its_way_is_not_drift_yet():
    fresh = HeldWork(**{**_held("new").__dict__, "changed_at": NOW + dt.timedelta(minutes=1)})
    assert _compare([], [fresh], []).drifts == []


def test_invoices_must_bill_an_entry_once_at_its_amount():
    def line(invoice: str, amount: str) -> InvoicedLine:
        return InvoicedLine(invoice, None, "time", "e1", Decimal(amount), "USD")

    ok = _compare([_row("e1")], [_held("e1")], [_held("E1")], invoiced=[line("I1", "1125.00")])
    assert ok.drifts == []
    twice = _compare(
        [_row("e1")], [_held("e1")], [_held("E1")], invoiced=[line("I1", "1125"), line("I2", "1")]
    )
    assert [d.code for d in twice.drifts] == ["invoiced_twice"]
    wrong = _compare([_row("e1")], [_held("e1")], [_held("E1")], invoiced=[line("I1", "1000")])
    assert [d.code for d in wrong.drifts] == ["invoiced_amount_differs"]


def test_a_second_look_is_asked_for_what_each_side_did_not_find():
    keys, entries = second_look(
        [_row("e1"), _row("e2")],
        [PsaItem(_held("e1"), "PRJ-1", "k")],
        [ErpItem(_held("E2"), "PRJ-1")],
        held_key=str.upper,
        psa_projects={"PRJ-1"},
    )
    assert (keys, entries) == ({"e1"}, {("time", "e2")})


# ----------------------------------------------------------------- terms
RULES = load_rules(default_rules_path())


def _deal(**fields) -> Opportunity:
    values = {
        "id": "SF-006A",
        "name": "Deal",
        "customer_id": "SF-001A",
        "stage": OpportunityStage.CLOSED_WON,
        "won": True,
        "amount": Money.of("100000", "USD"),
        "service_package": "IMPL-FIXED",
        "billing_model": BillingModel.FIXED_FEE,
        "close_date": dt.date(2026, 9, 20),
        "start_date": dt.date(2026, 10, 5),
        "end_date": dt.date(2027, 3, 31),
        "practice": "TECH",
        "region": "NA-EAST",
        "legal_entity": "US01",
        **fields,
    }
    return Opportunity(**values)


def _erp(start: dt.date, end: dt.date) -> ErpProject:
    return ErpProject(
        "77", "US01", True, "In Progress", start, end, BillingModel.FIXED_FEE, None, None, "USD"
    )


def test_a_contract_agrees_when_the_others_hold_what_the_deal_and_rules_say():
    expected = terms.expected_terms("PRJ-1", _deal(), RULES)
    assert expected is not None
    assert expected.budget == Decimal("110000.00")  # the template's 10% contingency
    psa = HeldTerms("55", Decimal(110000), "USD", expected.start_date, expected.end_date)
    erp = _erp(expected.start_date, expected.end_date)
    assert (
        terms.compare_contract(
            expected, psa=("kantata", psa), erp=("netsuite", erp), plan_total=Decimal(100000)
        )
        == []
    )
    # Certinia keeps the contract's value where the budget was: either agrees.
    amended = HeldTerms(
        "55", Decimal(100000), "USD", expected.start_date, expected.end_date, Decimal(100000)
    )
    assert (
        terms.compare_contract(expected, psa=("certinia", amended), erp=None, plan_total=None) == []
    )


def test_a_contract_drifts_where_a_system_holds_other_terms():
    expected = terms.expected_terms("PRJ-1", _deal(), RULES)
    assert expected is not None
    psa = HeldTerms("55", Decimal(99000), "USD", expected.start_date, dt.date(2027, 6, 30))
    erp = _erp(dt.date(2026, 11, 1), expected.end_date)
    drifts = terms.compare_contract(
        expected, psa=("kantata", psa), erp=("netsuite", erp), plan_total=None
    )
    assert [d.code for d in drifts] == [
        "psa_budget_differs",
        "psa_dates_differ",
        "erp_dates_differ",
        "plan_total_differs",
    ]
    assert terms.expected_terms("PRJ-1", _deal(service_package="NOPE"), RULES) is None


def test_a_customer_drifts_on_the_fields_the_crm_owns_and_the_erp_carries():
    held = terms.erp_view(
        ErpCustomer("7", "Renamed Inc", bill_to=("1 Main", None, "X", None, "1", "US"))
    )
    expected = {
        "name": "Acme",
        "bill_to": "1 Main |  | X |  | 1 | US",
        "parent_id": "",
        "tax_region": "US-EAST",
    }
    drift = terms.compare_customer(
        "SF-001A",
        connection="netsuite",
        erp_id="7",
        held=held,
        expected=expected,
        fields=["name", "bill_to", "tax_region"],
    )
    assert drift is not None
    assert drift.detail["fields"] == {"name": {"erp": "Renamed Inc", "crm": "Acme"}}
    same = dict(expected, name="Renamed Inc")
    assert (
        terms.compare_customer(
            "SF-001A", connection="netsuite", erp_id="7", held=held, expected=same, fields=["name"]
        )
        is None
    )


def test_settings_default_hourly_and_refuse_what_they_do_not_know(tmp_path):
    assert load_reconciliation_settings(None).interval_minutes == 60
    path = tmp_path / "accord.yaml"
    path.write_text("reconciliation:\n  interval_minutes: 0\n  checks: [xref]\n")
    loaded = load_reconciliation_settings(path)
    assert (loaded.interval_minutes, loaded.checks) == (0, ("xref",))
    path.write_text("reconciliation:\n  checks: [everything]\n")
    with pytest.raises(ConfigError):
        load_reconciliation_settings(path)
