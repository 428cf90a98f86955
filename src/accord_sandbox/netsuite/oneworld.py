"""The NetSuite emulator's OneWorld rules: shared customers, currency rates, intercompany journals.

- **Multi-Subsidiary Customer**: a ``customerSubsidiaryRelationship`` makes a customer available
  to a further subsidiary (one per pair; ``isPrimarySub`` marks the customer's own); records of
  that subsidiary may then name the customer.
- **Currency rates**: ``currencyRate`` records (1 transaction currency = ``exchangeRate`` base
  currency from ``effectiveDate``); a pair held only the other way round is inverted.
- **Intercompany journal entries**: two subsidiaries, each one's lines balancing, in the base
  currency of one of them, converted into the other's at ``exchangeRate`` (by default the
  account's rate on the journal's date).

:class:`~accord_sandbox.netsuite.book.RecordBook` calls these with its store; the feature switch
and the accounting-period check stay there.
"""

from decimal import Decimal
from typing import Any

from accord_sandbox.common import RecordStore
from accord_sandbox.netsuite.errors import (
    ACCESS_PREFIX,
    DUPLICATE_DETAIL,
    NetSuiteError,
    no_exchange_rate_detail,
)
from accord_sandbox.netsuite.records import ref_id, stored_money

__all__ = ["base_currency", "check_intercompany", "check_relationship", "exchange_rate", "shared"]

Record = dict[str, Any]


def shared(store: RecordStore, customer: Record, subsidiary_id: str | None) -> bool:
    """Whether a customer is available to a subsidiary: its primary one, or shared."""
    if subsidiary_id is None or ref_id(customer, "subsidiary") == subsidiary_id:
        return True
    return any(
        ref_id(r, "entity") == customer.get("id") and ref_id(r, "subsidiary") == subsidiary_id
        for r in store.all("customerSubsidiaryRelationship")
    )


def check_relationship(store: RecordStore, rec: Record, old: Record | None) -> None:
    """A further subsidiary for a customer: the pair must be new (``old``: the version replaced).

    Completes ``isPrimarySub`` and, by default, ``primaryCurrency`` (the customer's).
    """
    customer = store.get("customer", ref_id(rec, "entity") or "") or {}
    subsidiary_id = ref_id(rec, "subsidiary")
    for other in store.all("customerSubsidiaryRelationship"):
        same = ref_id(other, "entity") == customer.get("id") and (
            ref_id(other, "subsidiary") == subsidiary_id
        )
        if same and other.get("id") != (old or {}).get("id"):
            raise NetSuiteError.user(DUPLICATE_DETAIL)
    rec["isPrimarySub"] = ref_id(customer, "subsidiary") == subsidiary_id
    if rec.get("primaryCurrency") is None and customer.get("currency"):
        rec["primaryCurrency"] = {"id": ref_id(customer, "currency")}


def base_currency(store: RecordStore, subsidiary_id: str | None) -> str | None:
    """The currency id of a subsidiary (its base currency)."""
    sub = store.get("subsidiary", subsidiary_id or "")
    return ref_id(sub, "currency") if sub else None


def exchange_rate(store: RecordStore, source: str, target: str, day: str) -> Decimal | None:
    """Units of currency ``target`` per unit of ``source`` in effect on ``day`` (ids).

    The latest currency rate effective on or before the day, held with ``target`` as its
    base; else the one held the other way round, inverted; ``None`` when there is none.
    """
    if source == target:
        return Decimal(1)
    best: dict[bool, tuple[str, Decimal]] = {}
    for rate in store.all("currencyRate"):
        effective = str(rate.get("effectiveDate") or "")
        pair = (ref_id(rate, "baseCurrency"), ref_id(rate, "transactionCurrency"))
        if not effective or effective > day or pair not in ((target, source), (source, target)):
            continue
        inverse = pair == (source, target)
        if inverse not in best or best[inverse][0] < effective:
            best[inverse] = (effective, stored_money(rate.get("exchangeRate")))
    if False in best:
        return best[False][1]
    if True in best and best[True][1] > 0:
        return Decimal(1) / best[True][1]
    return None


def check_intercompany(store: RecordStore, rec: Record) -> None:
    """An intercompany journal: two subsidiaries, each one's lines balancing.

    The currency is the base of ``subsidiary`` (the default) or of ``toSubsidiary``; the
    exchange rate converts it into the other one's base and defaults to the account's
    rate on the journal's date. Completes ``currency``, ``exchangeRate`` and the totals.
    [inferred] wording of every refusal.
    """
    sub_id, to_id = ref_id(rec, "subsidiary"), ref_id(rec, "toSubsidiary")
    if sub_id == to_id:
        raise NetSuiteError.invalid_ref(to_id, "toSubsidiary")
    bases = {sub_id: base_currency(store, sub_id), to_id: base_currency(store, to_id)}
    if rec.get("currency") is None:
        rec["currency"] = {"id": bases[sub_id]}
    currency = ref_id(rec, "currency")
    if currency not in bases.values():
        raise NetSuiteError.invalid_ref(currency, "currency")
    other = bases[to_id] if currency == bases[sub_id] else bases[sub_id]
    if rec.get("exchangeRate") is None:
        day = str(rec.get("tranDate"))
        rate = exchange_rate(store, str(currency), str(other), day)
        if rate is None:
            raise NetSuiteError.user(no_exchange_rate_detail(str(currency), str(other), day))
        rec["exchangeRate"] = float(rate)
    totals = {key or "": [Decimal(0), Decimal(0)] for key in (sub_id, to_id)}
    for i, line in enumerate(rec["line"]["items"]):
        line_sub = ref_id(line, "lineSubsidiary") or ""
        if line_sub not in totals:
            raise NetSuiteError.invalid_ref(line_sub, "lineSubsidiary", path=f"line.items[{i}]")
        debit, credit = stored_money(line.get("debit")), stored_money(line.get("credit"))
        if (debit > 0) == (credit > 0) or debit < 0 or credit < 0:
            raise NetSuiteError.user(
                ACCESS_PREFIX + "Each line needs either a debit or a credit amount.",
                path=f"line.items[{i}]",
            )
        totals[line_sub][0] += debit
        totals[line_sub][1] += credit
    if any(debit != credit for debit, credit in totals.values()):
        raise NetSuiteError.user(
            ACCESS_PREFIX + "The debits and credits of each subsidiary must balance."
        )
    total = sum((d for d, _ in totals.values()), Decimal(0))
    rec["debitTotal"] = rec["creditTotal"] = float(total)
