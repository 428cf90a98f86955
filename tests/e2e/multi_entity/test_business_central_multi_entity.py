"""Business Central, one company per legal entity: US01, UK01 and DE01 all book in BC here.

A customer won in three entities is a customer of each company (one number); a UK consultant's
week on a US project posts to the US company's project and the UK company recharges it through
an intercompany general journal line, mirrored in the US company at its rate; a euro project of
the UK company keeps LCY amounts; a rate missing in the US company is a finance-ops exception
naming the pair and date, and posts once the rate is added and the exception retried; running
everything again creates nothing twice.
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

from accord.connectors.business_central import _entities
from accord.connectors.business_central._entities import intercompany_number
from accord.connectors.business_central.mapping import bc_number
from accord.store import lineage
from accord_sandbox.business_central.entities import ENTITY_SETS
from accord_sandbox.server import SandboxHandle

COMPANY_NAMES = {"US01": "Brightline Partners Inc.", "UK01": "Brightline Partners Ltd"}


def _all_in_bc(rules: dict[str, Any]) -> None:
    for code, name in COMPANY_NAMES.items():
        entity = rules["legal_entities"][code]
        entity.update(erp="business_central", connection="business-central", bc_company=name)
        entity.pop("netsuite_subsidiary_id", None)


@pytest.fixture(scope="module")
def billing(sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Billing]:
    yield from start(tmp_path_factory.mktemp("multi-bc"), sandbox, _all_in_bc)


def _company(sandbox: SandboxHandle, entity: str) -> str:
    codes = sandbox.emulators["business_central"].company_codes  # type: ignore[attr-defined]
    return next(cid for cid, code in codes.items() if code == entity)


def _in(billing: Billing, sandbox: SandboxHandle, entity_set: str, entity: str) -> list[dict]:
    cid = _company(sandbox, entity)
    return [r for r in billing.records("business_central", entity_set) if r["_companyId"] == cid]


def _rate(sandbox: SandboxHandle, entity: str, currency: str, day: str) -> Decimal:
    emu = sandbox.emulators["business_central"]
    (rate,) = [
        r
        for r in emu.store.all("currencyExchangeRates")
        if r["_companyId"] == _company(sandbox, entity)
        and r["currencyCode"] == currency
        and r["startingDate"] == first_of_month(day)
    ]
    return Decimal(str(rate["relationalExchangeRateAmount"])) / Decimal(
        str(rate["exchangeRateAmount"])
    )


def test_a_customer_won_in_three_entities_is_a_customer_of_each_company(
    billing: Billing, sandbox: SandboxHandle
) -> None:
    account = billing.accord.account(entity="US01")
    runs = [won(billing, account, e) for e in ("US01", "UK01", "DE01")]
    assert [r["status"] for r in runs] == ["provisioned"] * 3, runs
    number = bc_number(f"SF-{account}")
    for entity in ("US01", "UK01", "DE01"):
        found = [c for c in _in(billing, sandbox, "customers", entity) if c["number"] == number]
        assert len(found) == 1, entity
    with billing.engine.connect() as conn:
        edges = lineage.list_for(conn, node_type="customer", node_id=f"SF-{account}")
    books = {e.to_id.rsplit(":", 1)[1] for e in edges if e.relation == "available_in"}
    assert books == {"US01", "UK01", "DE01"}
    before = len(billing.records("business_central", "customers"))
    for run in runs:
        rejournal(billing, "opportunity.won", f"opportunity:{run['opportunity_id']}")
    billing.accord.settle()
    assert len(billing.records("business_central", "customers")) == before


def test_uk_consultant_on_a_us_project_recharges_through_the_ic_journal(
    billing: Billing, sandbox: SandboxHandle
) -> None:
    project = billing.project(entity="US01")
    sheet = week(billing, project, CONSULTANT["UK01"], rate="150.00", currency="USD")
    assert billing.post(sheet)["status"] == "posted"
    rows = posted_rows(billing, sheet["id"])
    ledger = {e["documentNumber"]: e for e in _in(billing, sandbox, "projectLedgerEntries", "US01")}
    resource = next(
        r
        for r in _in(billing, sandbox, "resources", "UK01")
        if r["number"] == bc_number(CONSULTANT["UK01"])
    )
    cost = Decimal(str(resource["unitCost"]))
    uk_gl = _in(billing, sandbox, "generalLedgerEntries", "UK01")
    us_gl = _in(billing, sandbox, "generalLedgerEntries", "US01")
    for row in rows:
        fx, charge = row.detail["fx"], row.detail["intercompany"]
        entry = ledger[bc_number(row.external_id)]
        assert money(fx["transaction"]) == (Decimal(str(entry["totalPrice"])), "USD")
        assert money(fx["base"])[0] == Decimal(str(entry["totalPriceLCY"]))
        amount = cents(Decimal(8) * cost * Decimal("1.10"))
        rate = _rate(sandbox, "US01", "GBP", row.entry_date.isoformat())
        assert money(charge["amount"]) == (amount, "GBP")
        assert money(charge["amount_to"]) == (cents(amount * rate), "USD")
        number = intercompany_number(row.external_id)
        uk = {g["accountNumber"]: g for g in uk_gl if g["documentNumber"] == number}
        us = {g["accountNumber"]: g for g in us_gl if g["documentNumber"] == number}
        assert Decimal(str(uk["6950"]["creditAmount"])) == amount
        assert Decimal(str(uk["IC-US01"]["debitAmount"])) == amount
        assert Decimal(str(us["8950"]["debitAmount"])) == cents(amount * rate)
        assert Decimal(str(us["IC-UK01"]["creditAmount"])) == cents(amount * rate)
        assert charge["record_id"] == number
    counts = {
        s: len(billing.records("business_central", s))
        for s in ("projectLedgerEntries", "generalLedgerEntries", "journalLines")
    }
    assert billing.post(sheet)["status"] == "posted"
    assert {s: len(billing.records("business_central", s)) for s in counts} == counts


def test_a_euro_project_of_the_uk_company_keeps_lcy_amounts(
    billing: Billing, sandbox: SandboxHandle
) -> None:
    account = billing.accord.account(entity="UK01", CurrencyIsoCode="EUR", BillingCountry="IE")
    run = won(billing, account, "UK01", currency="EUR")
    assert run["status"] == "provisioned", run.get("problems")
    project = f"PRJ-{run['opportunity_id']}"
    sheet = week(billing, project, CONSULTANT["UK01"], rate="140.00", currency="EUR")
    assert billing.post(sheet)["status"] == "posted"
    ledger = {e["documentNumber"]: e for e in _in(billing, sandbox, "projectLedgerEntries", "UK01")}
    total_lcy = Decimal(0)
    for row in posted_rows(billing, sheet["id"]):
        fx = row.detail["fx"]
        entry = ledger[bc_number(row.external_id)]
        rate = _rate(sandbox, "UK01", "EUR", row.entry_date.isoformat())
        assert entry["currencyCode"] == "EUR"
        assert money(fx["transaction"]) == (Decimal(str(entry["totalPrice"])), "EUR")
        assert money(fx["base"]) == (Decimal(str(entry["totalPriceLCY"])), "GBP")
        assert money(fx["base"])[0] == cents(Decimal("1120.00") * rate)
        assert "intercompany" not in row.detail  # the UK consultant is at home
        total_lcy += money(fx["base"])[0]
    mine = [
        e for e in ledger.values() if e["externalDocumentNumber"].startswith(sheet["id"].upper())
    ]
    assert total_lcy == sum(Decimal(str(e["totalPriceLCY"])) for e in mine)


@pytest.fixture
def no_gbp_rates_in_us01(sandbox: SandboxHandle) -> Iterator[list[dict[str, Any]]]:
    """The US company without GBP exchange rates; the removed rates, restored afterwards."""
    emu = sandbox.emulators["business_central"]
    spec = ENTITY_SETS["currencyExchangeRates"]
    removed = [
        r
        for r in emu.store.all(spec.name)
        if r["_companyId"] == _company(sandbox, "US01") and r["currencyCode"] == "GBP"
    ]
    for rate in removed:
        emu.remove(spec, rate)
    _entities._rate_books.clear()
    try:
        yield removed
    finally:
        for rate in removed:
            if emu.store.get(spec.name, rate["id"]) is None:
                emu.put_version(spec, rate)


def test_a_missing_rate_is_a_finance_ops_exception_then_retried(
    billing: Billing, sandbox: SandboxHandle, no_gbp_rates_in_us01: list[dict[str, Any]]
) -> None:
    project = billing.project(entity="US01")
    sheet = billing.timesheet(
        project, [("2026-09-14", "6.00")], resource=CONSULTANT["UK01"], currency="USD"
    )
    sets = ("projectLedgerEntries", "generalLedgerEntries", "journalLines")
    before = {s: len(billing.records("business_central", s)) for s in sets}
    assert billing.post(sheet)["status"] != "posted"
    (exc,) = billing.exceptions(project)
    assert (exc.code, exc.queue) == ("erp.rate.missing", "finance-ops")
    assert exc.detail["error"]["reason"] == "rate_missing"
    assert "GBP/USD on or before 2026-09-14" in exc.detail["error"]["detail"]
    # Nothing of the posting was written: no project ledger entry, no IC journal line.
    assert {s: len(billing.records("business_central", s)) for s in sets} == before

    def mine() -> list[dict[str, Any]]:
        prefix = sheet["id"].upper()
        rows = _in(billing, sandbox, "projectLedgerEntries", "US01")
        return [r for r in rows if str(r["externalDocumentNumber"]).upper().startswith(prefix)]

    # Finance adds the rate in Business Central and retries: the time posts with its recharge.
    emu = sandbox.emulators["business_central"]
    for rate in no_gbp_rates_in_us01:
        emu.put_version(ENTITY_SETS["currencyExchangeRates"], rate)
    billing.action(exc.id, "retry")
    billing.settle()
    assert billing.exceptions(project) == []
    (row,) = posted_rows(billing, sheet["id"])
    assert money(row.detail["intercompany"]["amount_to"])[1] == "USD"
    assert len(mine()) == 1
