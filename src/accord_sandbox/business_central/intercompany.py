"""Business Central's currencies and intercompany postings as the emulator applies them.

- **Exchange rates**: a company's ``currencyExchangeRates``: ``exchangeRateAmount`` units of a
  currency equal ``relationalExchangeRateAmount`` units of the local currency (a blank
  relational currency) from ``startingDate``; the rate of a day is the latest starting on or
  before it. A posting in a foreign currency without one is refused with BC's text for a
  record not found, "There is no Currency Exchange Rate within the filter." [inferred wording].
- **Project entries in a foreign currency**: a project whose currency is not the company's keeps
  its entries' prices in the project currency, with ``totalPriceLCY`` converted at the rate of
  the posting date (BC's Job Ledger Entry "Total Price (LCY)").
- **Intercompany general journal lines**: a line with ``balanceAccountType`` ``IC Partner``
  (reference 5.4 lists the account type) posts its G/L account (``accountNumber``, ``amount``)
  and the partner's receivable or payable in this company, then, as an IC partner in the same
  environment with automatic acceptance, the mirrored entry in the partner company: its
  ``icPartnerGLAccountNumber`` against this company's payable or receivable there, converted
  into the partner's local currency at the partner's rate [inferred: BC transfers the IC
  outbox transaction and the partner posts it from its inbox]. Partners are known by their
  legal-entity code (``company_codes``). Every entry is a ``generalLedgerEntries`` record with
  the line's document number.
"""

from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from accord_sandbox.business_central.entities import ENTITY_SETS
from accord_sandbox.business_central.errors import BCError
from accord_sandbox.business_central.validation import VALIDATION
from accord_sandbox.business_central.validation import dec as _dec

if TYPE_CHECKING:
    from accord_sandbox.business_central.emulator import BusinessCentralEmulator

__all__ = ["IC_PARTNER", "exchange_rate", "ledger_amounts_lcy", "post_intercompany"]

Record = dict[str, Any]

IC_PARTNER = "IC Partner"
"""The account type of an intercompany partner (reference 5.4)."""
_CENT = Decimal("0.01")


def _round(value: Decimal) -> Decimal:
    # BC rounds amounts to the nearest cent, halves away from zero.
    return value.quantize(_CENT, ROUND_HALF_UP)


def _no_rate(currency: str, day: str) -> BCError:
    return BCError(
        400,
        VALIDATION,
        "There is no Currency Exchange Rate within the filter.\n\n"
        f"Filters: Currency Code: {currency}, Starting Date: ''..{day}",
    )


def exchange_rate(emu: "BusinessCentralEmulator", cid: str, currency: str, day: str) -> Decimal:
    """Local currency per unit of ``currency`` in company ``cid`` on ``day``.

    Raises:
        BCError: No rate starts on or before the day.
    """
    local = emu.company(cid)["_currency"]
    if currency in ("", local):
        return Decimal(1)
    best: Record | None = None
    for rate in emu.candidates(ENTITY_SETS["currencyExchangeRates"], cid, "currencyCode", currency):
        start = str(rate.get("startingDate") or "")
        if rate.get("relationalCurrencyCode") or start > day:
            continue
        if best is None or start > str(best["startingDate"]):
            best = rate
    if best is None or _dec(best.get("exchangeRateAmount")) == 0:
        raise _no_rate(currency, day)
    return _dec(best["relationalExchangeRateAmount"]) / _dec(best["exchangeRateAmount"])


def ledger_amounts_lcy(
    emu: "BusinessCentralEmulator", cid: str, line: Record, total_price: Decimal
) -> Record:
    """Currency code and LCY price of a project entry (the project's currency, if foreign)."""
    project = emu.find_by(ENTITY_SETS["projects"], cid, "number", str(line.get("projectNumber")))
    currency = str((project or {}).get("currencyCode") or "")
    rate = exchange_rate(emu, cid, currency, str(line.get("postingDate")))
    local = emu.company(cid)["_currency"]
    return {
        "currencyCode": "" if currency == local else currency,
        "totalPriceLCY": float(_round(total_price * rate)),
    }


def _partner(emu: "BusinessCentralEmulator", code: str) -> str:
    for cid, known in emu.company_codes.items():
        if known == code:
            return cid
    raise BCError(
        400,
        VALIDATION,
        f"The field Bal. Account No. of table Gen. Journal Line contains a value ({code}) that "
        "cannot be found in the related table (IC Partner).",
    )


def _entry(
    cid: str, line: Record, account: str, amount: Decimal, description: str
) -> tuple[str, Record]:
    return cid, {
        "postingDate": line.get("postingDate"),
        "documentNumber": line.get("documentNumber") or "",
        "documentType": "",
        "accountNumber": account,
        "description": description,
        "debitAmount": float(amount) if amount > 0 else 0.0,
        "creditAmount": float(-amount) if amount < 0 else 0.0,
    }


def post_intercompany(
    emu: "BusinessCentralEmulator", cid: str, lines: list[Record]
) -> list[tuple[str, Record]]:
    """The G/L entries (company, entry) of a batch's intercompany lines; writes nothing.

    All are computed before any is kept, so a refusal (an unknown partner, a missing rate)
    leaves the batch as it was, like BC's all-or-nothing post.

    Raises:
        BCError: The partner is unknown, or it has no rate for this company's currency.
    """
    own_code = emu.company_codes.get(cid, "")
    local = emu.company(cid)["_currency"]
    out: list[tuple[str, Record]] = []
    for line in lines:
        if line.get("balanceAccountType") != IC_PARTNER:
            continue
        partner_code = str(line.get("balancingAccountNumber") or "")
        partner = _partner(emu, partner_code)
        amount = _round(_dec(line.get("amount")))
        text = str(line.get("description") or "")
        out.append(_entry(cid, line, str(line.get("accountNumber") or ""), amount, text))
        out.append(_entry(cid, line, f"IC-{partner_code}", -amount, text))
        rate = exchange_rate(emu, partner, local, str(line.get("postingDate")))
        mirrored = _round(-amount * rate)
        account = str(line.get("icPartnerGLAccountNumber") or "")
        out.append(_entry(partner, line, account, mirrored, text))
        out.append(_entry(partner, line, f"IC-{own_code}", -mirrored, text))
    return out
