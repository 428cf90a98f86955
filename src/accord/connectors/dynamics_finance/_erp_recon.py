"""Dynamics 365 Finance in the ERP role, reconciliation half: postings, plans and Accord's records.

Everything is read in server-driven OData pages (``$filter`` of ``or`` terms, following
``@odata.nextLink``; :meth:`DynamicsFinanceConnector.query_page`), on the caller's budget
lane, never one call per posting:

- **Postings** are what the poster (:mod:`accord.connectors.dynamics_finance.erp`) treats as
  posted: journal lines in a *posted* journal. Hour journal lines (``TransactionID`` = the
  posting's reference, :meth:`held_key`) are time, worth ``Hours x SalesPrice`` when their
  sales price is not zero; project expense journal lines (``Document`` = the reference) are
  expenses, worth their ``DebitAmount``. Lines are read by project (``ProjectID`` /
  ``ProjId``) in the project's company, or by reference in every company; their journals'
  headers then say which are posted, and when (``PostedDateTime``: a line's ``changed_at``
  and what ``changed_since`` compares with; journal lines carry no modification time).
- **Billing plans**: the project's milestone on-account transactions, ``Quantity x
  SalesPrice`` summed.
- **Existence**: customers by ``CustomerAccount`` and projects by ``ProjectID`` in every
  company (one cross-company read per chunk); milestones, invoices and milestone invoices by
  the key predicate Accord keeps (``dataAreaId='de01',InvoiceNumber='...'``), per company.
- **Accord's records**: projects whose project contract is named after the project
  (Accord creates both under one key, :mod:`~accord.connectors.dynamics_finance.masters`;
  F&O numbers contracts and projects from separate number sequences), and customers whose
  account has the shape :func:`~accord.connectors.dynamics_finance.mapping.fo_key` gives
  (a hash key ``AC`` + 18 base32 characters, or a canonical id kept readable, which holds a
  ``-``). ``[inferred]`` A firm whose own customer numbering also holds a ``-`` makes its
  customers look like Accord's: the reconciliation then reports them as unknown to Accord,
  never as missing.
"""

import datetime as dt
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from accord.connectors.dynamics_finance.connector import DynamicsFinanceConnector, odata_string
from accord.connectors.dynamics_finance.mapping import date_day, posting_ref
from accord.connectors.dynamics_finance.masters import any_of, chunks
from accord.connectors.odata import chained
from accord.connectors.roles import BACKGROUND, ErpProject, HeldWork, Lane, WorkKind
from accord.connectors.roles.recon import held_decimal, held_moment
from accord.connectors.types import RawRecord
from accord.domain import Money

__all__ = ["DynamicsFinanceReconciliation"]


@dataclass(frozen=True)
class _Lines:
    """Where one kind of posting's journal lines keep what reconciliation reads."""

    kind: WorkKind
    header: str
    lines: str
    journal: str
    ref: str
    project: str


_LINES: Final = (
    _Lines(
        "time",
        "ProjectHourJournalHeaders",
        "ProjectHourJournalLines",
        "JournalId",
        "TransactionID",
        "ProjectID",
    ),
    _Lines(
        "expense",
        "ProjectExpenseJournalHeaders",
        "ProjectExpenseJournalLines",
        "JournalBatchNumber",
        "Document",
        "ProjId",
    ),
)
_PLAIN: Final = {
    "customer": ("CustomersV3", "CustomerAccount"),
    "erp_project": ("Projects", "ProjectID"),
    "erp_billing_schedule": ("Projects", "ProjectID"),
}
"""xref entity type -> entity set and key of ids kept as the plain key value."""
_PREDICATED: Final = {
    "erp_milestone": ("ProjectOnAccountTransactions", "TransactionId"),
    "invoice": ("SalesInvoiceHeadersV2", "InvoiceNumber"),
    "milestone_invoice": ("SalesInvoiceHeadersV2", "InvoiceNumber"),
}
"""xref entity type -> entity set and key of ids kept as key predicates."""
_TERM = re.compile(r"(\w+)='((?:[^']|'')*)'")
_ACCORD_ACCOUNT = re.compile(r"^(?:AC[A-Z2-7]{18}|[A-Z0-9]+-[A-Z0-9-]+)$")


def _predicate(record_id: str) -> dict[str, str]:
    """The fields of a key predicate (``dataAreaId='de01',InvoiceNumber='X'``)."""
    return {name: value.replace("''", "'") for name, value in _TERM.findall(record_id)}


class DynamicsFinanceReconciliation:
    """The reconciliation methods of the Dynamics 365 Finance ERP role."""

    _connector: DynamicsFinanceConnector

    def held_key(self, key: str) -> str:
        """A posting's journal line carries the reference of its key."""
        return posting_ref(key)

    def _pages(
        self,
        company: DynamicsFinanceConnector,
        resource: str,
        where: str,
        *,
        lane: Lane,
        every_company: bool = False,
    ) -> Iterator[RawRecord]:
        return chained(
            lambda link: company.query_page(
                resource, where, every_company=every_company, next_link=link, lane=lane
            )
        )

    def _areas(self) -> set[str] | None:
        """The connection's companies (``None``: not configured, every company counts)."""
        areas = {a.lower() for a in self._connector.config.companies.values()}
        return areas or None

    def posted_work(
        self,
        projects: Sequence[ErpProject],
        *,
        changed_since: dt.datetime | None = None,
        keys: Collection[str] = (),
        lane: Lane = BACKGROUND,
    ) -> list[HeldWork]:
        """Lines of posted journals of the projects and of the keys (module docstring)."""
        currency = {p.erp_id: p.currency for p in projects}
        found: dict[str, HeldWork] = {}
        refs = sorted({posting_ref(k) for k in keys})
        areas = self._areas()
        for spec in _LINES:
            lines: list[RawRecord] = []
            for project in projects:
                company = self._connector.for_company(project.legal_entity)
                where = f"{spec.project} eq {odata_string(project.erp_id)}"
                lines += self._pages(company, spec.lines, where, lane=lane)
            for chunk in chunks(refs):
                lines += [
                    line
                    for line in self._pages(
                        self._connector,
                        spec.lines,
                        any_of(spec.ref, chunk),
                        lane=lane,
                        every_company=True,
                    )
                    if areas is None or str(line.get("dataAreaId") or "").lower() in areas
                ]
            posted = self._posted(spec, lines, lane=lane)
            for line in lines:
                place = _journal_of(spec, line)
                if place not in posted:
                    continue  # an open journal's line is not posted
                at = posted[place]
                by_key = str(line.get(spec.ref) or "") in refs
                if changed_since is not None and not by_key and (at is None or at < changed_since):
                    continue
                work = _work(spec, line, currency, at)
                found[work.record_id] = work
        return list(found.values())

    def _posted(
        self, spec: _Lines, lines: Sequence[RawRecord], *, lane: Lane
    ) -> dict[tuple[str, str], dt.datetime | None]:
        """(company, journal) -> when it was posted, for the lines' posted journals."""
        journals = sorted({_journal_of(spec, line) for line in lines})
        out: dict[tuple[str, str], dt.datetime | None] = {}
        numbers = sorted({number for _, number in journals})
        for chunk in chunks(numbers):
            where = any_of("JournalBatchNumber", chunk)
            for header in self._pages(
                self._connector, spec.header, where, lane=lane, every_company=True
            ):
                place = (
                    str(header.get("dataAreaId") or "").lower(),
                    str(header.get("JournalBatchNumber") or ""),
                )
                if header.get("Posted") == "Yes" and place in journals:
                    out[place] = held_moment(header.get("PostedDateTime"))
        return out

    def billing_plan_total(self, schedule_id: str, *, lane: Lane = BACKGROUND) -> Decimal | None:
        """The project's milestone on-account lines, summed (``None``: it has none)."""
        areas = self._areas()
        where = f"ProjectID eq {odata_string(schedule_id)}"
        lines = [
            line
            for line in self._pages(
                self._connector,
                "ProjectOnAccountTransactions",
                where,
                lane=lane,
                every_company=True,
            )
            if line.get("IsMilestone") == "Yes"
            and (areas is None or str(line.get("dataAreaId") or "").lower() in areas)
        ]
        if not lines:
            return None
        return sum(
            (
                held_decimal(line.get("Quantity")) * held_decimal(line.get("SalesPrice"))
                for line in lines
            ),
            Decimal(0),
        )

    def existing(
        self, entity_type: str, ids: Collection[str], *, lane: Lane = BACKGROUND
    ) -> set[str] | None:
        """Ids found by ``or`` filters of their keys (module docstring)."""
        if entity_type in _PLAIN:
            resource, key = _PLAIN[entity_type]
            areas = self._areas()
            found: set[str] = set()
            for chunk in chunks(sorted({i for i in ids if i})):
                for record in self._pages(
                    self._connector, resource, any_of(key, chunk), lane=lane, every_company=True
                ):
                    if areas is None or str(record.get("dataAreaId") or "").lower() in areas:
                        # F&O compares keys case-insensitively.
                        found.add(str(record.get(key) or "").upper())
            return {i for i in ids if i.upper() in found}
        if entity_type in _PREDICATED:
            return self._existing_predicated(*_PREDICATED[entity_type], ids, lane=lane)
        return None

    def _existing_predicated(
        self, resource: str, key: str, ids: Collection[str], *, lane: Lane
    ) -> set[str]:
        by_area: dict[str, dict[str, list[str]]] = {}
        for record_id in ids:
            fields = _predicate(record_id)
            area, value = fields.get("dataAreaId"), fields.get(key)
            if area and value:
                by_area.setdefault(area.lower(), {}).setdefault(value.upper(), []).append(record_id)
        out: set[str] = set()
        for area, wanted in by_area.items():
            try:
                company = self._connector.for_company(area)
            except ValueError:
                continue  # not a company of the connection: nothing is concluded about it
            for chunk in chunks(sorted(wanted)):
                for record in self._pages(company, resource, any_of(key, chunk), lane=lane):
                    out.update(wanted.get(str(record.get(key) or "").upper(), ()))
        return out

    def keyed_records(self, entity_type: str, *, lane: Lane = BACKGROUND) -> dict[str, str] | None:
        """Projects contracted under their own key, customers keyed as Accord keys them."""
        areas = self._areas()
        if entity_type == "erp_project":
            resource, key = "Projects", "ProjectID"
        elif entity_type == "customer":
            resource, key = "CustomersV3", "CustomerAccount"
        else:
            return None
        out: dict[str, str] = {}
        for record in self._pages(self._connector, resource, "", lane=lane, every_company=True):
            if areas is not None and str(record.get("dataAreaId") or "").lower() not in areas:
                continue
            value = str(record.get(key) or "")
            accord = (
                str(record.get("ProjectContractID") or "").upper() == value.upper()
                if entity_type == "erp_project"
                else _ACCORD_ACCOUNT.match(value) is not None
            )
            if value and accord:
                out[value] = value
        return out


def _journal_of(spec: _Lines, line: RawRecord) -> tuple[str, str]:
    return str(line.get("dataAreaId") or "").lower(), str(line.get(spec.journal) or "")


def _work(
    spec: _Lines, line: RawRecord, currency: dict[str, str], posted_at: dt.datetime | None
) -> HeldWork:
    """A line of a posted journal as posted work."""
    project = str(line.get(spec.project) or "")
    if spec.kind == "time":
        hours: Decimal | None = held_decimal(line.get("Hours"))
        price = held_decimal(line.get("SalesPrice"))
        worth = (hours or Decimal(0)) * price
        billable = bool(price)
        code = str(line.get("CurrencyId") or "") or currency.get(project)
    else:
        hours = None
        worth = held_decimal(line.get("DebitAmount"))
        billable = bool(held_decimal(line.get("ProjectSalesPrice")))
        code = str(line.get("CurrencyCode") or "") or currency.get(project)
    amount = None
    if worth:
        amount = Money.of(worth, code).amount if code else worth.quantize(Decimal("0.01"))
    area, journal = _journal_of(spec, line)
    day = date_day(line.get("ProjectDate")) or (posted_at or dt.datetime.now(dt.UTC)).date()
    return HeldWork(
        kind=spec.kind,
        key=str(line.get(spec.ref) or ""),
        record_id=f"{area}:{journal}:{line.get('LineNumber')}",
        project=project,
        date=day,
        hours=hours,
        amount=amount,
        currency=code if amount is not None else None,
        billable=billable,
        changed_at=posted_at,
    )
