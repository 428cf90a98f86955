"""Business Central postings across companies and currencies: rates, homes, intercompany.

The part of :class:`~accord.connectors.business_central.erp.BusinessCentralErp`'s posting that
looks past the project's own company (one company per legal entity):

- **Amounts.** What a posting is worth (billable hours x rate, an expense) in its own currency
  and in the local currency of the project's company, at the company's
  ``currencyExchangeRates`` in effect on the posting date (``exchangeRateAmount`` units of the
  currency = ``relationalExchangeRateAmount`` of the local currency). A pair without a rate is
  read again once, then refused with reason ``rate_missing`` before anything is staged.
- **Homes.** A canonical resource is the resource numbered by its id in every company that
  staffs it (never matched by name); its home legal entity is the company, of those the rules
  keep on this connection, that employs it (an ``employees`` record of that number), and its
  hourly cost the ``unitCost`` of its resource there.
- **Intercompany.** Under the rules' ``recharge`` policy, time of a resource of another company
  is recharged from the home company: one intercompany general journal line there (G/L
  ``revenue_account`` credited, balancing account type ``IC Partner`` = the project company's
  partner code, ``icPartnerGLAccountNumber`` = ``cost_account``), which BC sends to the
  partner, where it posts in the partner's local currency at the partner's rate. Exactly once
  like project postings: the home company's G/L entries are read by document number
  (``bc_number("IC-<key>")``) first, lines are staged in a journal batch of their own
  (:func:`intercompany_batch`), posted, and the G/L entries read again.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from accord.connectors.business_central.connector import BusinessCentralConnector
from accord.connectors.business_central.mapping import bc_number
from accord.connectors.cache import TtlCache
from accord.connectors.roles import (
    EntryPosting,
    IntercompanyCharge,
    PostingAmounts,
    PostingBatch,
)
from accord.connectors.roles.fx import Conversion, Rate, RateBook, rate_missing
from accord.connectors.roles.recon import held_date
from accord.domain import ErpSystem, Money, TimeEntry
from accord.errors import PermanentError, Reason
from accord.rules import IntercompanyMode, Rules

__all__ = ["BusinessCentralEntities", "Priced", "intercompany_number"]

_TTL_S: Final = 300.0
_NO_HOME: Final = ""

_homes = TtlCache()
_costs = TtlCache()
_rate_books = TtlCache()


def intercompany_number(posting_key: str) -> str:
    """The document number of a posting's intercompany journal line (``Code[20]``)."""
    return bc_number(f"IC-{posting_key}")


@dataclass(frozen=True)
class Priced:
    """A posting's amounts and the intercompany line to post with it, if any.

    Attributes:
        amounts: Its transaction and local amounts (``None``: it has no value).
        charge: The intercompany pair (its ``record_id`` not set yet).
        home: The legal entity whose company posts the intercompany line.
        line: The intercompany journal line's body.
    """

    amounts: PostingAmounts | None = None
    charge: IntercompanyCharge | None = None
    home: str | None = None
    line: dict[str, Any] | None = None


class BusinessCentralEntities:
    """Rates, homes and intercompany lines (see the module docstring)."""

    _connector: BusinessCentralConnector
    _rules: Rules

    def _entities_here(self) -> list[str]:
        return [
            code
            for code, le in self._rules.spec.legal_entities.items()
            if le.erp is ErpSystem.BUSINESS_CENTRAL and le.connection == self._connector.name
        ]

    # ----------------------------------------------------------------- rates
    def _rate_book(self, legal_entity: str, *, fresh: bool = False) -> RateBook:
        company = self._connector.for_company(legal_entity)
        local = self._rules.spec.legal_entities[legal_entity].currency

        def load() -> RateBook:
            rows: list[Rate] = []
            cursor: str | None = None
            while True:
                page = company.read_page("currencyExchangeRates", cursor=cursor)
                for r in page.records:
                    amount = Decimal(str(r.get("exchangeRateAmount") or 0))
                    day = held_date(r.get("startingDate"))
                    if r.get("relationalCurrencyCode") or amount == 0 or day is None:
                        continue
                    relational = Decimal(str(r.get("relationalExchangeRateAmount") or 0))
                    rows.append(Rate(local, str(r.get("currencyCode")), relational / amount, day))
                cursor = page.next_cursor
                if cursor is None:
                    return RateBook(rows)

        key = (self._connector.name, company.company_id)
        # ``fresh``: a ttl of 0 always reads, and what it reads serves every later reader.
        return _rate_books.get_or_load(key, 0.0 if fresh else _TTL_S, load)

    def conversion(self, legal_entity: str, source: str, day: dt.date) -> Conversion:
        """The company's conversion of ``source`` into its local currency on ``day``.

        Raises:
            PermanentError: No rate on or before ``day`` (reason ``rate_missing``).
        """
        local = self._rules.spec.legal_entities[legal_entity].currency
        if source == local:
            return Conversion.identity(local)
        found = self._rate_book(legal_entity).conversion(source, local, day)
        if found is None:
            found = self._rate_book(legal_entity, fresh=True).conversion(source, local, day)
        if found is None:
            where = f"Business Central company {legal_entity}"
            raise rate_missing(source, local, day, connector=self._connector.name, where=where)
        return found

    # ----------------------------------------------------------------- homes and costs
    def home_of(self, resource_number: str) -> str | None:
        """The legal entity (on this connection) whose company employs the resource."""

        def load() -> str:
            for code in self._entities_here():
                company = self._connector.for_company(code)
                if company.get_by_external_id("employees", resource_number) is not None:
                    return code
            return _NO_HOME

        home = _homes.get_or_load((self._connector.name, resource_number), _TTL_S, load)
        return home or None

    def _cost(self, legal_entity: str, resource_number: str) -> Decimal | None:
        def load() -> Decimal | None:
            company = self._connector.for_company(legal_entity)
            found = company.get_by_external_id("resources", resource_number)
            cost = Decimal(str((found or {}).get("unitCost") or 0))
            return cost if cost > 0 else None

        key = (self._connector.name, legal_entity, resource_number)
        return _costs.get_or_load(key, _TTL_S, load)

    # ----------------------------------------------------------------- pricing
    def price(self, batch: PostingBatch, posting: EntryPosting) -> Priced:
        """A posting's amounts and intercompany line; nothing is written.

        Raises:
            PermanentError: A rate is missing (``rate_missing``) or the home company has no
                cost for the resource (``validation``).
        """
        entry = posting.entry
        project_entity = batch.project.legal_entity
        value = entry.billable_amount() if isinstance(entry, TimeEntry) else entry.amount
        amounts = None
        if value is not None:
            conversion = self.conversion(project_entity, value.currency, entry.date)
            amounts = PostingAmounts(
                transaction=value,
                base=conversion.convert(value),
                rate=conversion.rate,
                rate_date=conversion.effective,
            )
        policy = self._rules.spec.intercompany
        if not isinstance(entry, TimeEntry) or policy.mode is IntercompanyMode.NONE:
            return Priced(amounts)
        number = bc_number(entry.resource_id)
        home = self.home_of(number)
        if home is None or home == project_entity:
            return Priced(amounts)
        charge = self._charge(entry, number, home, project_entity)
        return Priced(amounts, charge, home, self._recharge_line(batch, posting, charge))

    def _charge(
        self, entry: TimeEntry, number: str, home: str, project_entity: str
    ) -> IntercompanyCharge:
        entities = self._rules.spec.legal_entities
        home_currency = entities[home].currency
        cost = self._cost(home, number)
        if cost is None:
            message = (
                f"resource {number} has no unit cost in company {home}: the intercompany "
                "recharge cannot be priced"
            )
            raise PermanentError(
                message,
                detail=message,
                connector=self._connector.name,
                resource="resources",
                external_id=number,
                reason=Reason.VALIDATION,
            )
        markup = self._rules.spec.intercompany.markup_pct
        recharged = entry.hours * cost * (Decimal(100) + markup) / Decimal(100)
        amount = Money.of(recharged, home_currency)
        conversion = self.conversion(project_entity, home_currency, entry.date)
        return IntercompanyCharge(
            from_entity=home,
            to_entity=project_entity,
            hours=entry.hours,
            cost_rate=Money.of(cost, home_currency),
            markup_pct=markup,
            amount=amount,
            amount_to=conversion.convert(amount),
            rate=conversion.rate,
            rate_date=conversion.effective,
        )

    def _recharge_line(
        self, batch: PostingBatch, posting: EntryPosting, charge: IntercompanyCharge
    ) -> dict[str, Any]:
        spec = self._rules.spec
        accounts = spec.intercompany.business_central
        partner = spec.legal_entities[charge.to_entity].bc_ic_partner_code or charge.to_entity
        entry = posting.entry
        return {
            "postingDate": entry.date.isoformat(),
            "documentNumber": intercompany_number(posting.key),
            "externalDocumentNumber": bc_number(posting.key, length=35),
            "accountType": "G/L Account",
            "accountNumber": accounts.revenue_account,
            # BC's sign: positive debits the account; the recharge is income of the home.
            "amount": float(-charge.amount.amount),
            "description": (
                f"Recharge {charge.hours} h {entry.resource_id} {batch.project.erp_id}"
            )[:100],
            "balanceAccountType": "IC Partner",
            "balancingAccountNumber": partner,
            "icPartnerGLAccountNumber": accounts.cost_account,
        }
