"""Business Central in the ERP role, cash and billing half: invoices, milestone invoices.

**Invoices** are the default company's ``salesInvoices`` (lines expanded), read as change
pages (the feed ``salesInvoices``). Drafts are no invoices yet. The canonical id is the one
Accord recorded for the invoice (milestone invoices: ``MS-<milestone id>``), else
``bc:<id>``; the customer is the ``customerNumber`` Accord knows; the company is the legal
entity whose company id it is; v2.0 invoices carry no project link, so the project's BC
number in ``externalDocumentNumber`` or ``customerPurchaseOrderReference`` names it
([inferred] the firm's convention).

**Payments**: BC's ``customerPayments`` are payment *journal lines* that leave the API when
the journal is posted, so a received payment shows as its invoices' new ``remainingAmount``
(an invoice change): there is no payment feed.

**Receivables**: the customer's ``salesInvoices`` that are neither drafts nor cancelled.

**Milestone invoices** need two calls, as BC has no upsert: a ``salesInvoices`` draft with
``externalDocumentNumber`` = the milestone id (hashed to 35 characters if longer; verified
before it is created) and one line (the connection's ``milestone_line_type`` and
``milestone_line_object``), then ``Microsoft.NAV.post``. A draft a refused post left behind
is found by its document number and posted on the retry, never created again.
"""

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from typing import Any, Final

from accord.connectors.business_central.connector import BusinessCentralConnector
from accord.connectors.business_central.mapping import (
    BusinessCentralLookups,
    bc_number,
    sales_invoice_to_canonical,
)
from accord.connectors.roles import (
    BilledInvoice,
    ChangeFeed,
    KnownIds,
    Mapped,
    MilestoneInvoice,
    OpenItem,
    Receivables,
    collection_feed,
)
from accord.connectors.roles.xref import remember_or_conflict
from accord.connectors.types import RawRecord
from accord.domain import ErpSystem, Invoice, Payment
from accord.errors import MappingError
from accord.rules import Rules

__all__ = ["INVOICES", "BusinessCentralBilling"]

INVOICES: Final = "salesInvoices"
"""The sales invoice feed (and entity set)."""
_PLAN_LINES: Final = "projectPlanningLines"
_KEY_LENGTH: Final = 35
"""``externalDocumentNumber`` is a ``Code[35]`` in Business Central."""
_MAX_ROWS: Final = 1000


def _date(value: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value or "")[:10])
    except ValueError:
        return None


def invoice_key(milestone_id: str) -> str:
    """The ``externalDocumentNumber`` of a milestone's invoice."""
    if len(milestone_id) <= _KEY_LENGTH:
        return milestone_id
    return bc_number(milestone_id, length=_KEY_LENGTH)


class BusinessCentralBilling:
    """The cash-and-billing methods of ``BusinessCentralErp`` (the module docstring)."""

    _connector: BusinessCentralConnector
    _rules: Rules

    def _entities(self) -> list[str]:
        """Legal entities the rules book on this connection (one BC company each)."""
        return [
            code
            for code, entity in self._rules.spec.legal_entities.items()
            if entity.erp is ErpSystem.BUSINESS_CENTRAL
            and entity.connection == self._connector.name
        ]

    def _billing_company(self) -> BusinessCentralConnector:
        """The company milestone invoices and billing plans live in: the first entity's."""
        entities = self._entities()
        return self._connector.for_company(entities[0]) if entities else self._connector

    # ----------------------------------------------------------------- feeds
    def invoice_changes(self, ids: KnownIds) -> ChangeFeed[Mapped[Invoice] | None]:
        """The default company's changed sales invoices (see the module docstring)."""
        return collection_feed(self._connector, INVOICES, lambda r: self._invoice(r, ids))

    def payment_changes(self, ids: KnownIds) -> ChangeFeed[Mapped[Payment] | None] | None:
        """None: payments show as invoice changes (see the module docstring)."""
        del ids
        return None

    def _legal_entity(self, company_id: str) -> str | None:
        config = self._connector.config
        for code in self._entities():
            try:
                if config.company_for(code).lower() == company_id.lower():
                    return code
            except ValueError:
                continue
        return None

    def _invoice(self, record: RawRecord, ids: KnownIds) -> Mapped[Invoice] | None:
        if record.get("status") == "Draft":
            return None
        record_id = str(record.get("id") or "")
        canonical_id = ids.canonical("invoice", record_id) or f"bc:{record_id}"
        base: Mapped[Invoice] = Mapped(
            kind="invoice",
            record_id=record_id,
            canonical_id=canonical_id,
            label=str(record.get("number") or record_id),
            context={"customerNumber": record.get("customerNumber")},
        )
        missing: dict[str, str] = {}
        number = str(record.get("customerNumber") or "")
        customer = ids.canonical("customer", number) if number else None
        if customer is None:
            missing["customerNumber"] = f"customer {number or '(none)'} is not known to Accord"
        company = self._connector.company_id
        legal_entity = self._legal_entity(company)
        if legal_entity is None:
            missing["company"] = f"company {company} is no legal entity in the rules"
        if missing or customer is None or legal_entity is None:
            return replace(base, missing=missing)
        lookups = BusinessCentralLookups(
            legal_entity=legal_entity,
            records={"customers": {customer: number}, INVOICES: {canonical_id: record_id}},
        )
        currency = self._rules.legal_entity(legal_entity).currency
        try:
            invoice = sales_invoice_to_canonical(record, lookups=lookups, company_currency=currency)
        except MappingError as exc:
            return replace(base, missing={"record": str(exc)})
        project = _project_of(record, ids)
        if project is not None:
            invoice = invoice.model_copy(update={"project_id": project})
        return replace(base, value=invoice)

    # ----------------------------------------------------------------- receivables
    def receivables(self, customer: str, legal_entity: str, *, today: dt.date) -> Receivables:
        """The customer's posted (not draft, not cancelled) sales invoices in the company."""
        company = self._connector.for_company(legal_entity)
        escaped = customer.replace("'", "''")
        response = company.send(
            "GET",
            f"/companies({company.company_id})/{INVOICES}",
            resource=INVOICES,
            params={
                "$filter": f"customerNumber eq '{escaped}' and status ne 'Draft' "
                "and status ne 'Canceled'",
                "$top": _MAX_ROWS,
            },
        )
        company.raise_for_status(response, resource=INVOICES)
        body = company.json_object(response, resource=INVOICES)
        items = [
            OpenItem(
                remaining=Decimal(str(r.get("remainingAmount") or 0)),
                due=_date(r.get("dueDate")),
                order=(str(r.get("postingDate") or ""), str(r.get("number") or "")),
                number=str(r["number"]) if r.get("number") else None,
            )
            for r in body.get("value") or ()
            if isinstance(r, dict)
        ]
        return Receivables.of(items, today)

    # ----------------------------------------------------------------- milestones
    def milestone_amount(self, plan_line: str, milestone_id: str) -> Decimal | None:
        """The ``lineAmount`` of planning line ``plan_line`` when it is the milestone's.

        Lead-to-project writes each line's description as ``<milestone id>: ...``.
        """
        if _PLAN_LINES not in self._connector.resources():
            return None
        line = self._billing_company().get_by_external_id(_PLAN_LINES, plan_line)
        if line is None or line.get("lineAmount") is None:
            return None
        if not str(line.get("description") or "").startswith(f"{milestone_id}:"):
            return None
        return Decimal(str(line["lineAmount"]))

    def bill_milestone(self, request: MilestoneInvoice, ids: KnownIds) -> BilledInvoice:
        """Verify, create the draft, record its canonical id, post (module docstring)."""
        company = self._billing_company()
        milestone = request.milestone
        key = invoice_key(milestone.id)
        found = company.get_by_external_id(INVOICES, key)
        if found is None:
            config = self._connector.config
            line: dict[str, Any] = {
                "lineType": config.milestone_line_type,
                "description": f"Milestone: {milestone.name}"[:100],
                "quantity": 1,
                "unitPrice": float(milestone.amount.amount),
            }
            if config.milestone_line_object:
                line["lineObjectNumber"] = config.milestone_line_object
            body = {
                "customerNumber": request.customer,
                "invoiceDate": request.invoice_date.isoformat(),
                "salesInvoiceLines": [line],
            }
            invoice_id = company.upsert(INVOICES, key, body).id
        else:
            invoice_id = str(found["id"])
        # Known before the post, so that the posted invoice maps to its canonical id.
        remember_or_conflict(
            ids,
            "invoice",
            request.invoice_id,
            invoice_id,
            connector=self._connector.name,
            resource=INVOICES,
            key=key,
        )
        posted = company.post_sales_invoice(invoice_id)
        # A draft a refused post left behind is billed now, by this post.
        number = company.get(INVOICES, invoice_id).get("number")
        return BilledInvoice(
            erp_id=invoice_id,
            number=str(number) if number else None,
            created=found is None,
            billed_now=found is None or posted,
        )


def _project_of(record: RawRecord, ids: KnownIds) -> str | None:
    """The canonical project a BC invoice names by its project number, if any."""
    for name in ("externalDocumentNumber", "customerPurchaseOrderReference"):
        value = record.get(name)
        if value:
            project = ids.canonical("erp_project", str(value))
            if project is not None:
                return project
    return None
