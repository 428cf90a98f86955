"""NetSuite postings across legal entities and currencies: employees, rates, intercompany.

The part of :class:`~accord.connectors.netsuite.erp.NetSuiteErp`'s posting that looks past the
one record a posting becomes:

- **Employees.** A canonical resource is the employee whose ``externalId`` is its id (never a
  name); the employee's ``subsidiary`` is the resource's home legal entity and its
  ``laborCost`` the hourly cost there, in that subsidiary's base currency.
- **Amounts.** What a posting is worth (billable hours x rate, an expense) in its own currency
  and in the base currency of the project's legal entity, at the account's currency rate in
  effect on the posting date (``currencyRate``: 1 transaction currency = ``exchangeRate`` base
  currency from ``effectiveDate``), read by SuiteQL and kept five minutes. A pair without a
  rate is read again once, then refused with reason ``rate_missing``, before anything is
  written.
- **Intercompany.** Time of an employee of another subsidiary on the project's subsidiary
  follows the rules' ``intercompany`` policy: under ``recharge``, an
  ``intercompanyJournalEntry`` (``PUT .../eid:IC-<posting key>``, idempotent by its own key)
  from the home subsidiary to the project's: due-from and recharge income in the home
  subsidiary, recharged cost (naming the project) and due-to in the project's, each side
  balanced; amounts in the home subsidiary's base currency, converted at ``exchangeRate``
  (the account's rate on the posting date). An employee of a legal entity kept on another ERP
  is not recharged here (that ERP holds its books); ``none`` books nothing between the two.
"""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from accord.connectors.cache import TtlCache
from accord.connectors.netsuite._reference import currency_ids
from accord.connectors.netsuite.connector import NetSuiteConnector
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

__all__ = ["INTERCOMPANY", "NetSuiteEntities", "Planned", "intercompany_key"]

INTERCOMPANY: Final = "intercompanyJournalEntry"
"""The record type of an intercompany pair."""
_EMPLOYEE_TTL_S: Final = 300.0
_RATES_TTL_S: Final = 300.0
_MAX_RATE_PAGES: Final = 50

_employees = TtlCache()
_rate_books = TtlCache()


def intercompany_key(posting_key: str) -> str:
    """The ``externalId`` of a posting's intercompany journal."""
    return f"IC-{posting_key}"


def _ref(record: Mapping[str, Any], name: str) -> str | None:
    value = record.get(name)
    if isinstance(value, Mapping) and value.get("id") is not None:
        return str(value["id"])
    return str(value) if isinstance(value, str | int) and value != "" else None


def _number(value: Decimal) -> float:
    # The wire needs a JSON number; the value is exact to the cent (or the rate's digits).
    return float(value)


@dataclass(frozen=True)
class Planned:
    """One posting ready to send: its record, its amounts and its intercompany journal.

    Attributes:
        record_type: ``timeBill`` or ``expenseReport``.
        body: The record's ``PUT`` body.
        amounts: Its transaction and base amounts (``None``: it has no value).
        charge: The intercompany pair to book with it (its ``record_id`` not set yet).
        journal: The intercompany journal's ``PUT`` body (with ``charge``).
    """

    record_type: str
    body: dict[str, Any]
    amounts: PostingAmounts | None = None
    charge: IntercompanyCharge | None = None
    journal: dict[str, Any] | None = None


class NetSuiteEntities:
    """Employees, rates and intercompany journals (see the module docstring)."""

    _connector: NetSuiteConnector
    _rules: Rules
    where: str

    @property
    def connection(self) -> str:
        """The connection's name."""
        return self._connector.name

    # ----------------------------------------------------------------- employees
    def _employee(self, resource_id: str) -> dict[str, str]:
        """``{"id", "subsidiary", "cost"}`` of the employee of a canonical resource.

        Raises:
            PermanentError: No employee carries the resource's id (reason ``resource_unknown``).
        """

        def load() -> dict[str, str] | None:
            try:
                found = self._connector.get_by_external_id("employee", resource_id)
            except (PermanentError, ValueError):
                return None
            if found is None:
                return None
            cost = found.get("laborCost")
            return {
                "id": str(found["id"]),
                "subsidiary": _ref(found, "subsidiary") or "",
                "cost": str(cost) if cost not in (None, "") else "",
            }

        employee = _employees.get_or_load((self.where, resource_id), _EMPLOYEE_TTL_S, load)
        if employee is None:
            message = f"no ERP employee for resource {resource_id}"
            raise PermanentError(
                message,
                detail=message,
                connector=self.connection,
                resource="employee",
                external_id=resource_id,
                reason="resource_unknown",
            )
        return employee

    def entity_of(self, subsidiary: str) -> str | None:
        """The legal entity the rules book in a subsidiary (on this connection first)."""
        entities = self._rules.spec.legal_entities
        found = [c for c, e in entities.items() if e.netsuite_subsidiary_id == subsidiary]
        native = [c for c in found if entities[c].connection == self.connection]
        chosen = native or found
        return chosen[0] if chosen else None

    def ready(self, batch: PostingBatch, posting: EntryPosting) -> bool:
        """Whether a posting can be planned from cached data alone (no call to NetSuite)."""
        entry = posting.entry
        key = (self.where, entry.resource_id or "")
        if not isinstance(entry, TimeEntry) or not _employees.has(key, _EMPLOYEE_TTL_S):
            return False
        if _rate_books.has(self.where, _RATES_TTL_S):
            return True
        # Without rates: only a posting that needs none (its own currency, its own entity).
        employee = self._employee(entry.resource_id)
        home = self.entity_of(employee["subsidiary"])
        value = entry.billable_amount()
        base = self._base_currency(batch.project.legal_entity)
        same_currency = value is None or value.currency == base
        return same_currency and home in (None, batch.project.legal_entity)

    # ----------------------------------------------------------------- rates
    def _rate_book(self, *, fresh: bool = False) -> RateBook:
        def load() -> RateBook:
            iso = {v: k for k, v in currency_ids(self._connector).items()}
            rows: list[Rate] = []
            cursor: str | None = None
            for _ in range(_MAX_RATE_PAGES):
                page = self._connector.read_page("currencyRate", cursor=cursor)
                for r in page.records:
                    base = iso.get(_ref(r, "basecurrency") or "")
                    currency = iso.get(_ref(r, "transactioncurrency") or "")
                    day = held_date(r.get("effectivedate"))
                    if base and currency and day and r.get("exchangerate") is not None:
                        rows.append(Rate(base, currency, Decimal(str(r["exchangerate"])), day))
                cursor = page.next_cursor
                if cursor is None:
                    break
            return RateBook(rows)

        # ``fresh``: a ttl of 0 always reads, and what it reads serves every later reader.
        return _rate_books.get_or_load(self.where, 0.0 if fresh else _RATES_TTL_S, load)

    def conversion(self, source: str, target: str, day: dt.date) -> Conversion:
        """The account's conversion of ``source`` into ``target`` on ``day``.

        Raises:
            PermanentError: No rate on or before ``day`` (reason ``rate_missing``).
        """
        if source == target:
            return Conversion.identity(source)
        found = self._rate_book().conversion(source, target, day)
        if found is None:
            # A rate added since the book was read counts at once.
            found = self._rate_book(fresh=True).conversion(source, target, day)
        if found is None:
            raise rate_missing(source, target, day, connector=self.connection, where="NetSuite")
        return found

    def _base_currency(self, legal_entity: str) -> str:
        entity = self._rules.spec.legal_entities.get(legal_entity)
        return entity.currency if entity else "USD"

    def amounts(self, batch: PostingBatch, posting: EntryPosting) -> PostingAmounts | None:
        """A posting's value in its currency and in its project entity's base currency."""
        entry = posting.entry
        value = entry.billable_amount() if isinstance(entry, TimeEntry) else entry.amount
        if value is None:
            return None
        conversion = self.conversion(
            value.currency, self._base_currency(batch.project.legal_entity), entry.date
        )
        return PostingAmounts(
            transaction=value,
            base=conversion.convert(value),
            rate=conversion.rate,
            rate_date=conversion.effective,
        )

    # ----------------------------------------------------------------- intercompany
    def intercompany(
        self, batch: PostingBatch, posting: EntryPosting, employee: Mapping[str, str]
    ) -> tuple[IntercompanyCharge, dict[str, Any]] | None:
        """The intercompany pair of a posting and its journal's body, or ``None`` (none due).

        Raises:
            PermanentError: The pair cannot be priced: no cost for the employee (reason
                ``validation``) or no rate between the two base currencies (``rate_missing``).
        """
        entry = posting.entry
        spec = self._rules.spec
        policy = spec.intercompany
        if not isinstance(entry, TimeEntry) or policy.mode is IntercompanyMode.NONE:
            return None
        to_entity = batch.project.legal_entity
        from_entity = self.entity_of(employee["subsidiary"])
        home = spec.legal_entities.get(from_entity or "")
        project_entity = spec.legal_entities.get(to_entity)
        if from_entity is None or home is None or project_entity is None:
            return None
        if from_entity == to_entity or home.erp is not ErpSystem.NETSUITE:
            return None
        if home.connection != self.connection:
            return None
        if not employee.get("cost"):
            message = (
                f"employee of resource {entry.resource_id} has no labor cost in {from_entity}: "
                "the intercompany recharge cannot be priced"
            )
            raise PermanentError(
                message,
                detail=message,
                connector=self.connection,
                resource="employee",
                external_id=entry.resource_id,
                reason=Reason.VALIDATION,
            )
        cost_rate = Money.of(Decimal(employee["cost"]), home.currency)
        markup = policy.markup_pct
        amount = Money.of(
            entry.hours * cost_rate.amount * (Decimal(100) + markup) / Decimal(100),
            home.currency,
        )
        conversion = self.conversion(home.currency, project_entity.currency, entry.date)
        charge = IntercompanyCharge(
            from_entity=from_entity,
            to_entity=to_entity,
            hours=entry.hours,
            cost_rate=cost_rate,
            markup_pct=markup,
            amount=amount,
            amount_to=conversion.convert(amount),
            rate=conversion.rate,
            rate_date=conversion.effective,
        )
        return charge, self._journal(batch, posting, charge, employee["subsidiary"])

    def _journal(
        self,
        batch: PostingBatch,
        posting: EntryPosting,
        charge: IntercompanyCharge,
        home_subsidiary: str,
    ) -> dict[str, Any]:
        accounts = self._rules.spec.intercompany.netsuite
        project_subsidiary = (
            self._rules.spec.legal_entities[charge.to_entity].netsuite_subsidiary_id or ""
        )
        entry = posting.entry
        amount = _number(charge.amount.amount)
        memo = (
            f"Recharge of {charge.hours} h of {entry.resource_id} on {entry.project_id} "
            f"({posting.key})"
        )[:999]

        def line(subsidiary: str, account: str, side: str, **extra: Any) -> dict[str, Any]:  # noqa: ANN401
            return {
                "lineSubsidiary": {"id": subsidiary},
                "account": {"id": account},
                side: amount,
                "memo": memo,
                **extra,
            }

        return {
            "subsidiary": {"id": home_subsidiary},
            "toSubsidiary": {"id": project_subsidiary},
            "currency": {"id": currency_ids(self._connector)[charge.amount.currency]},
            "exchangeRate": _number(charge.rate),
            "tranDate": entry.date.isoformat(),
            "memo": memo,
            "line": {
                "items": [
                    line(home_subsidiary, accounts.due_from_account, "debit", eliminate=True),
                    line(home_subsidiary, accounts.revenue_account, "credit"),
                    line(
                        project_subsidiary,
                        accounts.cost_account,
                        "debit",
                        entity={"id": batch.project.erp_id},
                    ),
                    line(project_subsidiary, accounts.due_to_account, "credit", eliminate=True),
                ]
            },
        }
