"""Dynamics 365 Finance in the ERP role, cash and billing half: invoices, milestone invoices.

**Invoices** are the default company's posted customer invoices, ``SalesInvoiceHeadersV2``
(the invoice journal), read as change pages (the feed ``SalesInvoiceHeadersV2``). The
canonical id is the one Accord recorded for the invoice; else, for an invoice whose
``CustomersOrderReference`` is a milestone invoice's canonical id (``MS-...``, written by
:meth:`DynamicsFinanceBilling.bill_milestone`) that Accord links to no other record, that id;
else ``d365:<record id>``. The customer is the ``InvoiceCustomerAccountNumber`` Accord knows;
the header carries no project.

**Payments**: a posted customer payment journal line settles the invoice it marks, so a
received payment shows as its invoice's new ``RemainingAmount`` (an invoice change): there
is no payment feed. :meth:`read_payment` reads one payment journal line for the system API.

**Receivables**: the customer's ``SalesInvoiceHeadersV2`` in the legal entity's company.

**Milestone invoices** are free text invoices (``FreeTextInvoiceHeaders`` + one line on the
connection's ``invoice_main_account``) in the project's company, found again by
``CustomersOrderReference`` = the canonical invoice id, then posted with ``PostInvoice``
(an action of Accord's extension package, [inferred]: standard entities post nothing). F&O
numbers the invoice when it posts it, so the posted invoice's id is recorded right after the
post; until then, the feed maps it by its reference (above). Invoicing the milestone's
on-account transaction through a project invoice proposal is not reachable through data
entities, so the on-account transaction stays ``NotInvoiced`` [inferred].
"""

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from typing import Final

from accord.connectors.dynamics_finance.connector import (
    RESOURCES,
    DynamicsFinanceConnector,
    odata_string,
)
from accord.connectors.dynamics_finance.mapping import date_day, date_field, fo_key
from accord.connectors.dynamics_finance.masters import (
    ON_ACCOUNT,
    DynamicsFinanceMasterData,
    known_id,
)
from accord.connectors.roles import (
    BilledInvoice,
    ChangeFeed,
    IdLookup,
    KnownIds,
    Mapped,
    MilestoneInvoice,
    OpenItem,
    Receivables,
    collection_feed,
)
from accord.connectors.roles.xref import remember_or_conflict
from accord.connectors.types import RawRecord
from accord.domain import Invoice, InvoiceStatus, Money, Payment, PaymentApplication
from accord.errors import MappingError, NotFoundError
from accord.rules import Rules

__all__ = ["FREE_TEXT", "INVOICES", "DynamicsFinanceBilling"]

INVOICES: Final = "SalesInvoiceHeadersV2"
"""Posted customer invoices (the invoice feed)."""
FREE_TEXT: Final = "FreeTextInvoiceHeaders"
_FREE_TEXT_LINES: Final = "FreeTextInvoiceLines"
_PAYMENTS: Final = "CustomerPaymentJournalLines"
_REFERENCE_LENGTH: Final = 60
"""``CustomersOrderReference`` holds 60 characters."""


def _amount(value: object) -> Decimal:
    # Through the number's text: exact to what F&O sent, never a binary float's expansion.
    return Decimal(str(value or 0))


class DynamicsFinanceBilling(DynamicsFinanceMasterData):
    """The cash-and-billing methods of ``DynamicsFinanceErp`` (the module docstring)."""

    _connector: DynamicsFinanceConnector
    _rules: Rules

    # ----------------------------------------------------------------- feeds
    def invoice_changes(self, ids: KnownIds) -> ChangeFeed[Mapped[Invoice] | None]:
        """The default company's changed posted invoices (see the module docstring)."""
        return collection_feed(self._connector, INVOICES, lambda r: self._invoice(r, ids))

    def payment_changes(self, ids: KnownIds) -> ChangeFeed[Mapped[Payment] | None] | None:
        """None: payments show as invoice changes (see the module docstring)."""
        del ids
        return None

    def _canonical_invoice(self, record: RawRecord, record_id: str, ids: KnownIds) -> str:
        known = ids.canonical("invoice", record_id)
        if known is not None:
            return known
        reference = str(record.get("CustomersOrderReference") or "")
        if reference.startswith("MS-") and ids.external("invoice", reference) in (None, record_id):
            return reference
        return f"d365:{record_id}"

    def _invoice(self, record: RawRecord, ids: KnownIds) -> Mapped[Invoice] | None:
        record_id = self._connector.describe(INVOICES, record).id
        canonical_id = self._canonical_invoice(record, record_id, ids)
        account = str(record.get("InvoiceCustomerAccountNumber") or "")
        base: Mapped[Invoice] = Mapped(
            kind="invoice",
            record_id=record_id,
            canonical_id=canonical_id,
            label=str(record.get("InvoiceNumber") or record_id),
            context={"InvoiceCustomerAccountNumber": account},
        )
        customer = ids.canonical("customer", account) if account else None
        if customer is None:
            missing = {"InvoiceCustomerAccountNumber": f"customer {account} is not known"}
            return replace(base, missing=missing)
        try:
            invoice = self._invoice_of(record, canonical_id, customer)
        except MappingError as exc:
            return replace(base, missing={"record": str(exc)})
        return replace(base, value=invoice)

    def _invoice_of(self, record: RawRecord, canonical_id: str, customer: str) -> Invoice:
        """A posted invoice as a canonical :class:`Invoice` (no lines: the header has none)."""
        area = str(record.get("dataAreaId") or "")
        currency = str(record.get("CurrencyCode") or "")
        total = _amount(record.get("TotalInvoiceAmount"))
        tax = _amount(record.get("TotalTaxAmount"))
        remaining = _amount(record.get("RemainingAmount"))
        status = (
            InvoiceStatus.PAID
            if remaining <= 0
            else InvoiceStatus.PARTIALLY_PAID
            if remaining < total
            else InvoiceStatus.POSTED
        )
        issued = date_day(record.get("InvoiceDate"))
        if issued is None:
            raise MappingError(f"invoice {record.get('InvoiceNumber')} has no invoice date")
        try:
            return Invoice(
                id=canonical_id,
                number=str(record.get("InvoiceNumber") or "") or None,
                customer_id=customer,
                legal_entity=self._legal_entity(area),
                status=status,
                currency=currency,
                issue_date=issued,
                due_date=date_day(record.get("DueDate")) or issued,
                subtotal=Money.of(total - tax, currency),
                tax_total=Money.of(tax, currency),
                total=Money.of(total, currency),
                amount_due=Money.of(max(remaining, Decimal(0)), currency),
                # The invoice journal posts on the invoice date; F&O's entity carries no time.
                posted_at=dt.datetime.combine(issued, dt.time(12), tzinfo=dt.UTC),
            )
        except ValueError as exc:
            raise MappingError(f"invoice does not map: {exc}") from exc

    # ----------------------------------------------------------------- receivables
    def receivables(self, customer: str, legal_entity: str, *, today: dt.date) -> Receivables:
        """The customer's posted invoices in the legal entity's company."""
        company = self._connector.for_company(legal_entity)
        rows = company.query(INVOICES, f"InvoiceCustomerAccountNumber eq {odata_string(customer)}")
        items = [
            OpenItem(
                remaining=_amount(r.get("RemainingAmount")),
                due=date_day(r.get("DueDate")),
                order=(str(r.get("InvoiceDate") or ""), str(r.get("InvoiceNumber") or "")),
                number=str(r["InvoiceNumber"]) if r.get("InvoiceNumber") else None,
            )
            for r in rows
        ]
        return Receivables.of(items, today)

    # ----------------------------------------------------------------- milestones
    def milestone_amount(self, plan_line: str, milestone_id: str) -> Decimal | None:
        """The amount of on-account transaction ``plan_line`` when it is the milestone's.

        ``plan_line`` is the transaction's key predicate (``write_billing_plan``'s line id).
        """
        try:
            line = self._connector.get(ON_ACCOUNT, plan_line)
        except (NotFoundError, ValueError):
            return None
        if str(line.get("TransactionId") or "").upper() != fo_key(milestone_id):
            return None
        return _amount(line.get("Amount"))

    def bill_milestone(self, request: MilestoneInvoice, ids: KnownIds) -> BilledInvoice:
        """Find or create the free text invoice, post it, record its id (module docstring)."""
        legal_entity = self._entity_of_project(request.project)
        company = self._connector.for_company(legal_entity) if legal_entity else self._connector
        reference = request.invoice_id[:_REFERENCE_LENGTH]
        header = company.get_by_external_id(FREE_TEXT, reference)
        created = header is None
        if header is None:
            header = company.insert(
                FREE_TEXT,
                {
                    "CustomerAccount": request.customer,
                    "InvoiceDate": date_field(request.invoice_date),
                    "CurrencyCode": request.milestone.amount.currency,
                    "CustomersOrderReference": reference,
                    "ProjectID": request.project,
                },
            )
        header_id = company.describe(FREE_TEXT, header).id
        identifier = header.get("InvoiceIdentifier")
        billed_now = header.get("IsPosted") != "Yes"
        if billed_now:
            lines = company.query(_FREE_TEXT_LINES, f"InvoiceIdentifier eq {identifier}", top=1)
            if not lines:
                # A create whose line was lost (or a crash between the two): add it now.
                company.insert(
                    _FREE_TEXT_LINES,
                    {
                        "InvoiceIdentifier": identifier,
                        "Description": f"Milestone: {request.milestone.name}"[:60],
                        "MainAccountDisplayValue": self._connector.config.invoice_main_account,
                        "Quantity": 1,
                        "UnitPrice": float(request.milestone.amount.amount),
                    },
                )
            company.action(FREE_TEXT, header_id, "PostInvoice")
            header = company.get(FREE_TEXT, header_id)
        number = str(header.get("InvoiceNumber") or "")
        invoice_id = company.record_id(RESOURCES[INVOICES], {"InvoiceNumber": number})
        remember_or_conflict(
            ids,
            "invoice",
            request.invoice_id,
            invoice_id,
            connector=self._connector.name,
            resource=INVOICES,
            key=reference,
        )
        return BilledInvoice(
            erp_id=invoice_id, number=number or None, created=created, billed_now=billed_now
        )

    def _entity_of_project(self, project_id: str) -> str | None:
        """The legal entity whose company holds the project ``project_id``, if any."""
        rows = self._connector.query(
            "Projects", f"ProjectID eq {odata_string(project_id)}", every_company=True, top=5
        )
        for row in rows:
            entity = self._connector.config.entity_of(str(row.get("dataAreaId") or ""))
            if entity is not None:
                return entity
        return None

    # ----------------------------------------------------------------- canonical reads
    def read_invoice(self, record_id: str, *, known: IdLookup | None = None) -> Invoice:
        """A posted invoice by its key predicate, canonical (id ``d365:<id>`` if unknown)."""
        record = self._get(INVOICES, record_id)
        account = str(record.get("InvoiceCustomerAccountNumber") or "")
        canonical = known_id(known, "Invoice", record_id) or f"d365:{record_id}"
        return self._invoice_of(record, canonical, known_id(known, "Customer", account) or account)

    def read_payment(self, record_id: str, *, known: IdLookup | None = None) -> Payment:
        """A customer payment journal line by its key predicate, canonical."""
        record = self._get(_PAYMENTS, record_id)
        account = str(record.get("AccountDisplayValue") or "")
        currency = str(record.get("CurrencyCode") or "")
        amount = Money.of(_amount(record.get("CreditAmount")), currency)
        marked = str(record.get("MarkedInvoice") or "")
        applications: tuple[PaymentApplication, ...] = ()
        if marked:
            area = str(record.get("dataAreaId") or "")
            invoice = self._connector.record_id(
                RESOURCES[INVOICES], {"dataAreaId": area, "InvoiceNumber": marked}
            )
            invoice_id = known_id(known, "Invoice", invoice) or f"d365:{invoice}"
            applications = (PaymentApplication(invoice_id=invoice_id, amount=amount),)
        received = date_day(record.get("TransactionDate"))
        if received is None:
            raise MappingError(f"payment {record_id} has no transaction date")
        try:
            return Payment(
                id=known_id(known, "Payment", record_id) or f"d365:{record_id}",
                customer_id=known_id(known, "Customer", account) or account,
                legal_entity=self._legal_entity(str(record.get("dataAreaId") or "")),
                amount=amount,
                received_on=received,
                reference=str(record.get("PaymentReference") or "") or None,
                applications=applications,
            )
        except ValueError as exc:
            raise MappingError(f"payment {record_id} does not map: {exc}") from exc

    def invoice_ids(self, customer_erp_id: str, *, max_pages: int) -> list[str]:
        """Posted invoice ids of a customer in the default company (one bounded read)."""
        del max_pages  # one filtered read holds up to 10,000 invoices
        rows = self._connector.query(
            INVOICES, f"InvoiceCustomerAccountNumber eq {odata_string(customer_erp_id)}"
        )
        return [self._connector.describe(INVOICES, r).id for r in rows]
