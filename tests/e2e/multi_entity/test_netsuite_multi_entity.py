"""One customer in several legal entities, staff from another entity, amounts in every currency.

NetSuite (US01 and UK01 are subsidiaries 2 and 3 of one account) and Business Central (DE01),
the sandbox's default rules: a customer won in US01 then UK01 is one NetSuite customer shared
with subsidiary 3 (and a customer of the DE01 company); a UK consultant's week on a US project
posts with an intercompany journal that ties out per project and per entity; a euro project of
the UK entity posts with GBP base amounts at NetSuite's rate; a missing rate is a finance-ops
exception; under the policy ``none`` nothing is booked between the entities; running everything
again creates nothing twice.
"""

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from tests.e2e.multi_entity.conftest import (
    CONSULTANT,
    Billing,
    cents,
    first_of_month,
    money,
    posted_rows,
    rejournal,
    start,
    week,
    won,
)

from accord.connectors.business_central.mapping import bc_number
from accord.connectors.netsuite import _entities
from accord.flows.pinning import resolver
from accord.governance.changes import RulesChanges
from accord.governance.settings import governance_settings
from accord.rules import parse_rules
from accord.store import lineage
from accord_sandbox.netsuite.records import RECORD_TYPES
from accord_sandbox.server import SandboxHandle

SUBSIDIARY = {"US01": "2", "UK01": "3"}


@pytest.fixture(scope="module")
def billing(sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Billing]:
    yield from start(tmp_path_factory.mktemp("multi-ns"), sandbox)


def _ns(billing: Billing, record_type: str) -> list[dict[str, Any]]:
    return billing.records("netsuite", record_type)


def _customer(billing: Billing, customer_id: str) -> dict[str, Any]:
    (found,) = [c for c in _ns(billing, "customer") if c.get("externalId") == customer_id]
    return found


def _shares(billing: Billing, internal_id: str) -> list[str]:
    return sorted(
        r["subsidiary"]["id"]
        for r in _ns(billing, "customerSubsidiaryRelationship")
        if r["entity"]["id"] == internal_id
    )


def _ns_rate(billing: Billing, base: str, currency: str, day: str) -> Decimal:
    """NetSuite's rate (ISO codes) effective on the first of the day's month."""
    ids = {c["symbol"]: c["id"] for c in _ns(billing, "currency")}
    (rate,) = [
        r
        for r in _ns(billing, "currencyRate")
        if r["baseCurrency"]["id"] == ids[base]
        and r["transactionCurrency"]["id"] == ids[currency]
        and r["effectiveDate"] == first_of_month(day)
    ]
    return Decimal(str(rate["exchangeRate"]))


def test_a_customer_won_in_us01_uk01_and_de01_is_shared_as_each_erp_allows(
    billing: Billing,
) -> None:
    account = billing.accord.account(entity="US01")
    runs = [won(billing, account, e) for e in ("US01", "UK01", "DE01")]
    assert [r["status"] for r in runs] == ["provisioned"] * 3, runs
    customer_id = f"SF-{account}"
    record = _customer(billing, customer_id)
    # One NetSuite customer: primary subsidiary US01, shared with UK01 (OneWorld).
    assert record["subsidiary"]["id"] == SUBSIDIARY["US01"]
    assert _shares(billing, record["id"]) == sorted(SUBSIDIARY.values())
    uk_job = next(
        j for j in _ns(billing, "job") if j.get("externalId") == f"PRJ-{runs[1]['opportunity_id']}"
    )
    assert uk_job["subsidiary"]["id"] == SUBSIDIARY["UK01"]
    assert uk_job["parent"]["id"] == record["id"]
    # One Business Central customer in DE01's company.
    bc = list(billing.records("business_central", "customers"))
    assert [c["number"] for c in bc].count(bc_number(customer_id)) == 1
    # Lineage: the customer's book in each entity, and how it got there.
    with billing.engine.connect() as conn:
        edges = lineage.list_for(conn, node_type="customer", node_id=customer_id)
    books = {e.to_id.rsplit(":", 1)[1]: e.status for e in edges if e.relation == "available_in"}
    assert books == {"US01": "created", "UK01": "shared", "DE01": "created"}

    # Everything again (redelivered events): nothing is created twice.
    counts = {
        t: len(_ns(billing, t)) for t in ("customer", "customerSubsidiaryRelationship", "job")
    }
    rejournal(billing, "opportunity.won", f"opportunity:{runs[1]['opportunity_id']}")
    rejournal(billing, "opportunity.won", f"opportunity:{runs[2]['opportunity_id']}")
    billing.accord.settle()
    assert {t: len(_ns(billing, t)) for t in counts} == counts
    assert len(billing.records("business_central", "customers")) == len(bc)
    assert set(billing.accord.duplicates().values()) == {0}


def test_sharing_refused_by_netsuite_is_a_finance_ops_exception_then_retried(
    billing: Billing, sandbox: SandboxHandle
) -> None:
    book = sandbox.emulators["netsuite"].book  # type: ignore[attr-defined]
    account = billing.accord.account(entity="US01")
    assert won(billing, account, "US01")["status"] == "provisioned"
    book.multi_subsidiary_customer = False
    try:
        run = won(billing, account, "UK01")
    finally:
        book.multi_subsidiary_customer = True
    assert run["status"] == "erp_rejected", run
    (exc,) = [
        e
        for e in billing.accord.exceptions_for(run["opportunity_id"].removeprefix("SF-"))
        if e.status == "open"
    ]
    assert (exc.code, exc.queue) == ("erp.customer.not_shared", "finance-ops")
    assert "Multi-Subsidiary Customer" in exc.detail["error"]["detail"]
    assert exc.detail["error"]["reason"] == "entity_not_shared"
    # Finance switches the feature on and retries: the run resumes at the ERP step.
    billing.action(exc.id, "retry")
    run = billing.accord.run_for(run["opportunity_id"].removeprefix("SF-"))
    assert run["status"] == "provisioned", run
    assert _shares(billing, _customer(billing, f"SF-{account}")["id"]) == sorted(
        SUBSIDIARY.values()
    )


def test_uk_consultant_on_a_us_project_recharges_and_ties_out(billing: Billing) -> None:
    project = billing.project(entity="US01")
    sheet = week(billing, project, CONSULTANT["UK01"], rate="150.00", currency="USD")
    assert billing.post(sheet)["status"] == "posted"
    rows = posted_rows(billing, sheet["id"])
    bills = {b["externalId"]: b for b in billing.time_bills(f"{sheet['id']}-")}
    journals = {
        j["externalId"]: j
        for j in _ns(billing, "intercompanyJournalEntry")
        if j["externalId"].startswith(f"IC-{sheet['id']}-")
    }
    assert len(bills) == len(journals) == len(rows) == 5
    employee = next(e for e in _ns(billing, "employee") if e["externalId"] == CONSULTANT["UK01"])
    cost = Decimal(str(employee["laborCost"]))
    project_usd = project_base = uk_gbp = us_usd = Decimal(0)
    for row in rows:
        fx, charge = row.detail["fx"], row.detail["intercompany"]
        bill = bills[row.external_id]
        # Per project, in transaction and base currency: what NetSuite holds.
        assert money(fx["transaction"]) == (
            cents(Decimal(str(bill["hours"])) * Decimal(str(bill["rate"]))),
            "USD",
        )
        assert money(fx["base"]) == money(fx["transaction"])
        project_usd += money(fx["transaction"])[0]
        project_base += money(fx["base"])[0]
        # The intercompany pair: UK01 recharges cost + 10 % in GBP, US01 bears it in USD.
        assert (charge["from_entity"], charge["to_entity"]) == ("UK01", "US01")
        amount = cents(Decimal(8) * cost * Decimal("1.10"))
        assert money(charge["amount"]) == (amount, "GBP")
        ic = journals[f"IC-{row.external_id}"]
        rate = Decimal(str(ic["exchangeRate"]))
        assert rate == _ns_rate(billing, "USD", "GBP", row.entry_date.isoformat())
        assert money(charge["amount_to"]) == (cents(amount * rate), "USD")
        lines = ic["line"]["items"]
        by_sub = {s: [ln for ln in lines if ln["lineSubsidiary"]["id"] == s] for s in ("2", "3")}
        for side in by_sub.values():
            debit = sum(Decimal(str(ln.get("debit") or 0)) for ln in side)
            assert debit == sum(Decimal(str(ln.get("credit") or 0)) for ln in side) == amount
        uk_gbp += amount
        us_usd += cents(amount * rate)
        assert charge["record_id"] == ic["id"]
    # Per entity, to the cent: the ledger's sums are the ERP's.
    assert project_usd == project_base == Decimal("6000.00")
    charges = [r.detail["intercompany"] for r in rows]
    assert sum(money(c["amount"])[0] for c in charges) == uk_gbp
    assert sum(money(c["amount_to"])[0] for c in charges) == us_usd
    # Lineage: each entry's time bill and its recharge.
    with billing.engine.connect() as conn:
        edges = lineage.list_for(conn, node_type="time_entry", node_id=rows[0].entry_id)
    assert {e.relation for e in edges} >= {"booked", "posted_as", "recharged_as"}

    # Posting everything again creates nothing twice.
    again = dict(sheet, id=sheet["id"])
    assert billing.post(again)["status"] == "posted"
    assert len(billing.time_bills(f"{sheet['id']}-")) == 5
    assert len([j for j in _ns(billing, "intercompanyJournalEntry")
                if j["externalId"].startswith(f"IC-{sheet['id']}-")]) == 5  # fmt: skip
    assert set(billing.accord.duplicates().values()) == {0}


def test_a_euro_project_of_the_uk_entity_posts_gbp_base_amounts(billing: Billing) -> None:
    account = billing.accord.account(entity="UK01", CurrencyIsoCode="EUR", BillingCountry="IE")
    run = won(billing, account, "UK01", currency="EUR")
    assert run["status"] == "provisioned", run.get("problems")
    project = f"PRJ-{run['opportunity_id']}"
    sheet = week(billing, project, CONSULTANT["US01"], rate="140.00", currency="EUR")
    assert billing.post(sheet)["status"] == "posted"
    rows = posted_rows(billing, sheet["id"])
    total_eur = total_gbp = Decimal(0)
    for row in rows:
        fx = row.detail["fx"]
        rate = _ns_rate(billing, "GBP", "EUR", row.entry_date.isoformat())
        assert Decimal(fx["rate"]) == rate
        assert money(fx["transaction"]) == (Decimal("1120.00"), "EUR")
        assert money(fx["base"]) == (cents(Decimal("1120.00") * rate), "GBP")
        total_eur += money(fx["transaction"])[0]
        total_gbp += money(fx["base"])[0]
        # A US consultant on the UK project: US01 recharges in USD, UK01 bears it in GBP.
        charge = row.detail["intercompany"]
        assert (money(charge["amount"])[1], money(charge["amount_to"])[1]) == ("USD", "GBP")
    assert total_eur == Decimal("5600.00")
    # The lineage API shows both amounts on the entry.
    graph = billing.accord.lineage("accord", "time_entry", rows[0].entry_id)
    (node,) = [n for n in graph["nodes"] if n["id"] == rows[0].entry_id]
    assert node["amounts"]["transaction"] == {"amount": "1120.00", "currency": "EUR"}
    assert node["amounts"]["base"] == rows[0].detail["fx"]["base"]
    rates = [Decimal(r.detail["fx"]["rate"]) for r in rows]
    assert total_gbp == sum(cents(Decimal("1120.00") * rate) for rate in rates)


@pytest.fixture
def no_gbp_usd_rates(sandbox: SandboxHandle) -> Iterator[list[dict[str, Any]]]:
    """NetSuite without GBP/USD rates (either way round); the removed rates, restored after."""
    emu = sandbox.emulators["netsuite"]
    ids = {c["symbol"]: c["id"] for c in emu.store.all("currency")}
    pair = {ids["GBP"], ids["USD"]}
    removed = [
        r
        for r in emu.store.all("currencyRate")
        if {r["baseCurrency"]["id"], r["transactionCurrency"]["id"]} == pair
    ]
    for rate in removed:
        emu.store.delete("currencyRate", rate["id"])
    _entities._rate_books.clear()
    try:
        yield removed
    finally:
        for rate in removed:
            if emu.store.get("currencyRate", rate["id"]) is None:
                emu.book.put(RECORD_TYPES["currencyRate"], rate)
        _entities._rate_books.clear()


def test_a_missing_rate_is_a_finance_ops_exception_naming_pair_and_date(
    billing: Billing, sandbox: SandboxHandle, no_gbp_usd_rates: list[dict[str, Any]]
) -> None:
    project = billing.project(entity="US01")
    sheet = billing.timesheet(
        project, [("2026-09-14", "6.00")], resource=CONSULTANT["UK01"], currency="USD"
    )
    assert billing.post(sheet)["status"] != "posted"
    (exc,) = billing.exceptions(project)
    assert (exc.code, exc.queue) == ("erp.rate.missing", "finance-ops")
    assert exc.detail["error"]["reason"] == "rate_missing"
    assert "GBP/USD on or before 2026-09-14" in exc.detail["error"]["detail"]
    assert billing.time_bills(f"{sheet['id']}-") == []  # nothing half-posted
    # Finance adds the rates in NetSuite and retries: the time posts with its recharge (the
    # cached rates miss the pair, so they are read again).
    emu = sandbox.emulators["netsuite"]
    for rate in no_gbp_usd_rates:
        emu.book.put(RECORD_TYPES["currencyRate"], rate)
    billing.action(exc.id, "retry")
    billing.settle()
    assert billing.exceptions(project) == []
    assert len(billing.time_bills(f"{sheet['id']}-")) == 1
    (row,) = posted_rows(billing, sheet["id"])
    assert row.detail["intercompany"]["record_id"]


@pytest.fixture
def no_recharge(billing: Billing) -> Iterator[None]:
    """The firm's intercompany policy ``none`` (an activated rules version); restored after."""
    changes = RulesChanges(billing.engine, governance_settings(billing.config))

    def activate(mode: str) -> None:
        found = resolver()
        assert found is not None
        document = found.current(billing.rules).spec.model_dump(mode="json")
        document["intercompany"]["mode"] = mode
        proposal = changes.propose(
            parse_rules(document), source="test", reason=f"intercompany {mode}", actor="key:a"
        )
        changes.activate(proposal.id, actor="key:b")

    activate("none")
    try:
        yield
    finally:
        activate("recharge")


def test_policy_none_books_nothing_between_the_entities(
    billing: Billing, no_recharge: None
) -> None:
    project = billing.project(entity="US01")
    sheet = billing.timesheet(
        project, [("2026-09-15", "8.00")], resource=CONSULTANT["UK01"], rate="150.00",
        currency="USD",
    )  # fmt: skip
    assert billing.post(sheet)["status"] == "posted"
    (row,) = posted_rows(billing, sheet["id"])
    assert money(row.detail["fx"]["transaction"]) == (Decimal("1200.00"), "USD")
    assert "intercompany" not in row.detail
    journals = {j["externalId"] for j in _ns(billing, "intercompanyJournalEntry")}
    assert f"IC-{row.external_id}" not in journals
    assert len(billing.time_bills(f"{sheet['id']}-")) == 1
