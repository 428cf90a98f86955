"""The emulators' multi-entity rules on their own: shared customers, rates, intercompany lines.

The happy paths run end to end through Accord (tests/e2e/multi_entity); here the refusals the
connectors never provoke, against emulators seeded with the small scenario.
"""

from decimal import Decimal
from typing import Any

import pytest

from accord_sandbox.business_central import BusinessCentralEmulator
from accord_sandbox.business_central.errors import BCError
from accord_sandbox.business_central.intercompany import exchange_rate, post_intercompany
from accord_sandbox.netsuite import NetSuiteEmulator
from accord_sandbox.netsuite.errors import NetSuiteError
from accord_sandbox.netsuite.records import RECORD_TYPES
from accord_sandbox.scenario import generate

FIRM = generate("small", 7)
T = RECORD_TYPES


@pytest.fixture(scope="module")
def netsuite() -> NetSuiteEmulator:
    emulator = NetSuiteEmulator()
    emulator.seed_firm(FIRM)
    return emulator


def _ids(emulator: NetSuiteEmulator) -> dict[str, str]:
    return {c["symbol"]: c["id"] for c in emulator.store.all("currency")}


def _journal(emulator: NetSuiteEmulator, amount: float, **body: Any) -> dict[str, Any]:
    def line(sub: str, account: str, side: str, value: float) -> dict[str, Any]:
        return {"lineSubsidiary": {"id": sub}, "account": {"id": account}, side: value}

    return emulator.book.create(
        T["intercompanyJournalEntry"],
        {
            "subsidiary": {"id": "3"},
            "toSubsidiary": {"id": "2"},
            "tranDate": "2026-09-14",
            "line": {
                "items": [
                    line("3", "1250", "debit", amount),
                    line("3", "4950", "credit", amount),
                    line("2", "5950", "debit", amount),
                    line("2", "2250", "credit", body.pop("us_credit", amount)),
                ]
            },
            **body,
        },
    )


def test_a_customer_is_shared_once_and_only_with_the_feature_on(netsuite):
    book = netsuite.book
    customer = book.create(T["customer"], {"companyName": "Shared Ltd", "subsidiary": {"id": "2"}})
    relationships = [
        r for r in netsuite.store.all("customerSubsidiaryRelationship")
        if r["entity"]["id"] == customer["id"]
    ]  # fmt: skip
    assert [(r["subsidiary"]["id"], r["isPrimarySub"]) for r in relationships] == [("2", True)]
    with pytest.raises(NetSuiteError) as refused:
        book.create(T["job"], {"companyName": "P", "parent": {"id": customer["id"]},
                               "subsidiary": {"id": "3"}})  # fmt: skip
    assert "Invalid Field Value 3 for the following field: subsidiary" in refused.value.detail
    share = {"entity": {"id": customer["id"]}, "subsidiary": {"id": "3"}}
    book.multi_subsidiary_customer = False
    try:
        with pytest.raises(NetSuiteError) as off:
            book.create(T["customerSubsidiaryRelationship"], share)
    finally:
        book.multi_subsidiary_customer = True
    assert off.value.code == "FEATURE_DISABLED"
    book.create(T["customerSubsidiaryRelationship"], share)
    with pytest.raises(NetSuiteError, match="already exists"):
        book.create(T["customerSubsidiaryRelationship"], share)
    job = book.create(T["job"], {"companyName": "P", "parent": {"id": customer["id"]},
                                 "subsidiary": {"id": "3"}})  # fmt: skip
    assert job["subsidiary"] == {"id": "3"}


def test_an_intercompany_journal_balances_per_subsidiary_and_takes_the_days_rate(netsuite):
    ids = _ids(netsuite)
    entry = _journal(netsuite, 100.0)
    # The home subsidiary's base currency by default, at the account's GBP -> USD rate.
    assert entry["currency"] == {"id": ids["GBP"]}
    expected = next(
        r.rate for r in FIRM.fx_rates
        if (r.base, r.currency, r.effective.isoformat()) == ("USD", "GBP", "2026-09-01")
    )  # fmt: skip
    assert Decimal(str(entry["exchangeRate"])) == expected
    with pytest.raises(NetSuiteError, match="must balance"):
        _journal(netsuite, 100.0, us_credit=99.0)
    with pytest.raises(NetSuiteError, match="currency"):
        _journal(netsuite, 100.0, currency={"id": ids["EUR"]})


def test_an_intercompany_journal_without_a_rate_is_refused(netsuite):
    ids = _ids(netsuite)
    pair = {ids["GBP"], ids["USD"]}
    removed = [
        r for r in netsuite.store.all("currencyRate")
        if {r["baseCurrency"]["id"], r["transactionCurrency"]["id"]} == pair
    ]  # fmt: skip
    for rate in removed:
        netsuite.store.delete("currencyRate", rate["id"])
    try:
        with pytest.raises(NetSuiteError, match="No exchange rate is available"):
            _journal(netsuite, 50.0)
    finally:
        for rate in removed:
            netsuite.book.put(T["currencyRate"], rate)


@pytest.fixture(scope="module")
def bc() -> BusinessCentralEmulator:
    emulator = BusinessCentralEmulator()
    emulator.seed_firm(FIRM)
    return emulator


def _cid(emulator: BusinessCentralEmulator, code: str) -> str:
    return next(cid for cid, known in emulator.company_codes.items() if known == code)


def test_business_central_rates_are_local_per_unit_and_missing_ones_refused(bc):
    uk = _cid(bc, "UK01")
    expected = next(
        r.rate for r in FIRM.fx_rates
        if (r.base, r.currency, r.effective.isoformat()) == ("GBP", "EUR", "2026-09-01")
    )  # fmt: skip
    assert exchange_rate(bc, uk, "EUR", "2026-09-14") == expected
    assert exchange_rate(bc, uk, "GBP", "2026-09-14") == 1
    with pytest.raises(BCError, match="There is no Currency Exchange Rate within the filter"):
        exchange_rate(bc, uk, "EUR", "2024-12-31")


def test_an_ic_partner_line_mirrors_in_the_partner_company_at_its_rate(bc):
    uk, us = _cid(bc, "UK01"), _cid(bc, "US01")
    line = {
        "postingDate": "2026-09-14",
        "documentNumber": "IC-TEST-1",
        "accountNumber": "6950",
        "amount": -100.0,
        "balanceAccountType": "IC Partner",
        "balancingAccountNumber": "US01",
        "icPartnerGLAccountNumber": "8950",
    }
    entries = post_intercompany(bc, uk, [line])
    rate = exchange_rate(bc, us, "GBP", "2026-09-14")
    mirrored = (Decimal(100) * rate).quantize(Decimal("0.01"))
    assert [
        (cid, e["accountNumber"], e["debitAmount"], e["creditAmount"]) for cid, e in entries
    ] == [
        (uk, "6950", 0.0, 100.0),
        (uk, "IC-US01", 100.0, 0.0),
        (us, "8950", float(mirrored), 0.0),
        (us, "IC-UK01", 0.0, float(mirrored)),
    ]
    with pytest.raises(BCError, match=r"related table \(IC Partner\)"):
        post_intercompany(bc, uk, [{**line, "balancingAccountNumber": "XX99"}])
