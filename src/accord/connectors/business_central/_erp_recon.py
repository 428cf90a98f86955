"""Business Central in the ERP role, reconciliation half: postings, plans and Accord's records.

Everything is read as OData pages (``$filter``, ``$select``, following ``@odata.nextLink``),
never one record per posting, in the company of each legal entity the rules book on the
connection:

- **Postings**: the project ledger (``projectLedgerEntries``, BC's Job Ledger Entry, the page
  of Accord's extension) by ``projectNumber`` (and ``lastModifiedDateTime``), or by
  ``documentNumber`` (the number a posting is staged under, :meth:`held_key`). A ``Resource``
  entry is time (its quantity the hours), a ``G/L Account`` entry an expense; time is worth
  its ``totalPrice`` (zero: not billable), an expense its ``totalCost`` (its amount).
- **Billing plans**: the project's ``projectPlanningLines``, their ``lineAmount`` summed.
- **Existence**: customers and projects by ``number``, plan lines by ``documentNumber``,
  invoices by ``id``, in ``or`` filters of a few terms.
- **Accord's records**: customers and projects whose number is one
  :func:`~accord.connectors.business_central.mapping.bc_number` makes: a canonical id kept
  readable (it holds a ``-``) or a 20-character hash; BC's own numbering gives neither.
"""

import datetime as dt
import re
from collections.abc import Collection, Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from accord.connectors.business_central.connector import BusinessCentralConnector
from accord.connectors.business_central.mapping import bc_number
from accord.connectors.odata import chained, odata_string, odata_time
from accord.connectors.roles import BACKGROUND, ErpProject, HeldWork, Lane, WorkKind
from accord.connectors.roles.recon import held_decimal, held_moment
from accord.connectors.types import RawRecord
from accord.domain import Money

__all__ = ["BusinessCentralReconciliation"]

_LEDGER: Final = "projectLedgerEntries"
_TERMS: Final = 15
"""Terms per ``or`` filter: keeps the URL well under BC's limits."""
_BY_KEY: Final[dict[str, tuple[str, str]]] = {
    "customer": ("customers", "number"),
    "erp_project": ("projects", "number"),
    "erp_billing_schedule": ("projects", "number"),
    "erp_milestone": ("projectPlanningLines", "documentNumber"),
    "invoice": ("salesInvoices", "id"),
    "milestone_invoice": ("salesInvoices", "id"),
}
"""xref entity type -> the entity set and property its ids are."""
_KEYED: Final = {"customer": "customers", "erp_project": "projects"}
_ACCORD_NUMBER = re.compile(r"^(?:[0-9A-F]{20}|[A-Z0-9]+-[A-Z0-9-]+)$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def _any_of(name: str, values: Sequence[str]) -> Iterator[str]:
    """``name eq 'a' or name eq 'b' ...`` in filters of :data:`_TERMS` terms."""
    literal = (lambda v: v.lower()) if name == "id" else odata_string
    for start in range(0, len(values), _TERMS):
        yield " or ".join(f"{name} eq {literal(v)}" for v in values[start : start + _TERMS])


class BusinessCentralReconciliation:
    """The reconciliation methods of the Business Central ERP role."""

    _connector: BusinessCentralConnector

    if TYPE_CHECKING:

        def _entities(self) -> list[str]:
            """Legal entities booked on the connection (the billing half's)."""
            ...

    # --- reconciliation ------------------------------------------------------------------
    def held_key(self, key: str) -> str:
        """A posting is staged (and so ledgered) under the BC number of its key."""
        return bc_number(key)

    def _pages(
        self, company: BusinessCentralConnector, entity_set: str, filter_: str, *, lane: Lane
    ) -> Iterator[RawRecord]:
        return chained(
            lambda link: company.query_page(entity_set, filter_=filter_, next_link=link, lane=lane)
        )

    def posted_work(
        self,
        projects: Sequence[ErpProject],
        *,
        changed_since: dt.datetime | None = None,
        keys: Collection[str] = (),
        lane: Lane = BACKGROUND,
    ) -> list[HeldWork]:
        """Ledger entries of the projects (module docstring), and of the keys' numbers."""
        currency = {p.erp_id: p.currency for p in projects}
        found: dict[str, HeldWork] = {}
        since = (
            f" and lastModifiedDateTime ge {odata_time(changed_since, timespec='milliseconds')}"
            if changed_since
            else ""
        )
        for project in projects:
            company = self._connector.for_company(project.legal_entity)
            where = f"projectNumber eq {odata_string(project.erp_id)}{since}"
            for entry in self._pages(company, _LEDGER, where, lane=lane):
                work = _work(entry, currency)
                if work is not None:
                    found[work.record_id] = work
        numbers = sorted({bc_number(k) for k in keys})
        companies = sorted({p.legal_entity for p in projects} | set(self._entities()))
        for code in companies if numbers else ():
            company = self._connector.for_company(code)
            for where in _any_of("documentNumber", numbers):
                for entry in self._pages(company, _LEDGER, where, lane=lane):
                    work = _work(entry, currency)
                    if work is not None:
                        found[work.record_id] = work
        return list(found.values())

    def billing_plan_total(self, schedule_id: str, *, lane: Lane = BACKGROUND) -> Decimal | None:
        """The project's planning lines, summed (in the first company that has any)."""
        where = f"projectNumber eq {odata_string(schedule_id)}"
        for code in self._entities():
            company = self._connector.for_company(code)
            lines = list(self._pages(company, "projectPlanningLines", where, lane=lane))
            if lines:
                return sum((held_decimal(line.get("lineAmount")) for line in lines), Decimal(0))
        return None

    def existing(
        self, entity_type: str, ids: Collection[str], *, lane: Lane = BACKGROUND
    ) -> set[str] | None:
        """Ids found by ``or`` filters in every company of the connection."""
        place = _BY_KEY.get(entity_type)
        if place is None:
            return None
        entity_set, name = place
        values = sorted(v for v in set(ids) if v and (name != "id" or _GUID.match(v)))
        found: set[str] = set()
        for code in self._entities():
            company = self._connector.for_company(code)
            for where in _any_of(name, values):
                for record in self._pages(company, entity_set, where, lane=lane):
                    value = str(record.get(name) or "")
                    found.add(value.lower() if name == "id" else value)
        return {v for v in ids if (v.lower() if name == "id" else v) in found}

    def keyed_records(self, entity_type: str, *, lane: Lane = BACKGROUND) -> dict[str, str] | None:
        """Customers or projects numbered the way Accord numbers them (module docstring)."""
        entity_set = _KEYED.get(entity_type)
        if entity_set is None:
            return None
        out: dict[str, str] = {}
        for code in self._entities():
            company = self._connector.for_company(code)
            records, link = company.query_page(entity_set, select="id,number", lane=lane)
            while True:
                for record in records:
                    number = str(record.get("number") or "")
                    if _ACCORD_NUMBER.match(number):
                        out[number] = number
                if link is None:
                    break
                records, link = company.query_page(entity_set, next_link=link, lane=lane)
        return out


def _work(entry: RawRecord, currency: dict[str, str]) -> HeldWork | None:
    """A project ledger entry as posted work (``None``: not a usage entry)."""
    if str(entry.get("entryType") or "Usage") != "Usage":
        return None
    project = str(entry.get("projectNumber") or "")
    kind: WorkKind = "time" if entry.get("type") == "Resource" else "expense"
    code = currency.get(project)
    # Time is worth its billable price; an expense its cost (the ledger's amount of it).
    price = held_decimal(entry.get("totalPrice"))
    worth = price if kind == "time" else held_decimal(entry.get("totalCost"))
    amount = None
    if worth:
        amount = Money.of(worth, code).amount if code else worth.quantize(Decimal("0.01"))
    return HeldWork(
        kind=kind,
        key=str(entry.get("documentNumber") or ""),
        record_id=str(entry.get("id") or entry.get("entryNumber") or ""),
        project=project,
        date=dt.date.fromisoformat(str(entry.get("postingDate"))[:10]),
        hours=held_decimal(entry.get("quantity")) if kind == "time" else None,
        amount=amount,
        currency=code if amount is not None else None,
        billable=bool(price),
        changed_at=held_moment(entry.get("lastModifiedDateTime")),
    )
