"""NetSuite in the ERP role, cash and billing half: invoices, payments, milestone invoices.

**Invoices and payments** are read as SuiteQL change pages of ``invoice`` and
``customerPayment`` (feeds of the same names); each changed row is read in full (sublists
inlined) and mapped:

- an invoice's canonical id is its ``externalId`` (invoices Accord wrote: ``MS-<milestone
  id>``) or ``NS-invoice-<internal id>``; its customer is its ``entity`` (a customer, or one
  of the customer's projects: then the project's ``parent``); each ``item`` line's ``job`` is
  a project Accord must know. Custom line columns ``custcol_accord_source_id`` and
  ``custcol_accord_source_kind`` [inferred] say what a line bills;
- a payment's canonical id is ``NS-customerPayment-<id>`` (or its ``externalId``); each
  ``apply`` line names an invoice, read for its canonical id.

**Receivables**: two SuiteQL reads, the customer's projects (``job.parent``) then the invoices
(``transaction`` rows of type ``CustInvc``) of the customer and its projects; each one not paid
in full is read from the record API for ``amountRemaining`` and ``dueDate`` (no documented
SuiteQL column).

**Milestone invoices**: ``PUT invoice/eid:<invoice id>`` with one item line (the connection's
``milestone_item_id``, quantity 1, the amount, the project's ``job``, the source columns =
the milestone). The ``eid:`` upsert is idempotent and a NetSuite invoice is posted when it is
created; an invoice found by its external id first is reported as billed before.
"""

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from typing import Final

from accord.connectors.netsuite._reference import currency_ids
from accord.connectors.netsuite.connector import NetSuiteConnector
from accord.connectors.netsuite.mapping import (
    SOURCE_ID_FIELD,
    SOURCE_KIND_FIELD,
    NetSuiteLookups,
    invoice_to_canonical,
    payment_to_canonical,
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
from accord.connectors.types import RawRecord
from accord.domain import ErpSystem, Invoice, InvoiceLineKind, Payment
from accord.errors import MappingError
from accord.rules import Rules

__all__ = ["INVOICES", "PAYMENTS", "NetSuiteBilling"]

INVOICES: Final = "invoice"
"""The invoice feed (and record type)."""
PAYMENTS: Final = "customerPayment"
"""The customer payment feed (and record type)."""
_MAX_ROWS: Final = 1000
_PAID_IN_FULL: Final = "B"
"""SuiteQL status letter of an invoice paid in full (``CustInvc:B``) [inferred]."""


def _ref(record: RawRecord, name: str) -> str | None:
    value = record.get(name)
    if isinstance(value, dict):
        found = value.get("id")
        return str(found) if found is not None else None
    return str(value) if value is not None else None


def _lines(record: RawRecord, sublist: str) -> list[RawRecord]:
    found = record.get(sublist)
    items = found.get("items") if isinstance(found, dict) else None
    return [line for line in items or () if isinstance(line, dict)]


def _canonical_invoice(record: RawRecord) -> str:
    return str(record.get("externalId") or f"NS-invoice-{record.get('id')}")


def _int_id(value: str) -> int:
    # Internal ids are digits; anything else must never reach a query.
    if not value.isdigit():
        raise ValueError("a NetSuite internal id is a number")
    return int(value)


def _date(value: object) -> dt.date | None:
    text = str(value or "")[:10]
    for fmt in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC).date()
        except ValueError:
            continue
    return None


class NetSuiteBilling:
    """The cash-and-billing methods of :class:`~accord.connectors.netsuite.erp.NetSuiteErp`."""

    _connector: NetSuiteConnector
    _rules: Rules

    # ----------------------------------------------------------------- feeds
    def invoice_changes(self, ids: KnownIds) -> ChangeFeed[Mapped[Invoice] | None]:
        """Changed invoices, each read in full and mapped (see the module docstring)."""
        return collection_feed(self._connector, INVOICES, lambda r: self._invoice(r, ids))

    def payment_changes(self, ids: KnownIds) -> ChangeFeed[Mapped[Payment] | None] | None:
        """Changed customer payments, each read in full with the invoices it applies to."""
        return collection_feed(self._connector, PAYMENTS, lambda r: self._payment(r, ids))

    def _customer(self, entity: str, ids: KnownIds) -> tuple[str | None, str | None]:
        """``(customer id, project id)`` of a transaction's entity (a customer or a project)."""
        customer = ids.canonical("customer", entity)
        if customer is not None:
            return customer, None
        project = ids.canonical("erp_project", entity)
        if project is None:
            return None, None
        parent = _ref(self._connector.get("job", entity), "parent")
        return (ids.canonical("customer", parent) if parent else None), project

    def _subsidiaries(self, *, booked_here: bool) -> dict[str, str]:
        connection = self._connector.name
        return {
            code: spec.netsuite_subsidiary_id
            for code, spec in self._rules.spec.legal_entities.items()
            if spec.netsuite_subsidiary_id is not None
            and (not booked_here or spec.erp is ErpSystem.NETSUITE or spec.connection == connection)
        }

    def _invoice(self, record: RawRecord, ids: KnownIds) -> Mapped[Invoice] | None:
        full = self._connector.get(INVOICES, str(record["id"]))
        entity = _ref(full, "entity")
        base: Mapped[Invoice] = Mapped(
            kind="invoice",
            record_id=str(full.get("id") or ""),
            canonical_id=_canonical_invoice(full),
            label=str(full.get("tranId") or full.get("id") or ""),
            context={"entity": entity},
        )
        customer, project = self._customer(entity, ids) if entity else (None, None)
        if customer is None:
            return replace(base, missing={"entity": f"customer {entity} is not known to Accord"})
        missing: dict[str, str] = {}
        jobs: dict[str, str] = {}
        for index, line in enumerate(_lines(full, "item")):
            job = _ref(line, "job")
            if job is None:
                continue
            known = ids.canonical("erp_project", job)
            if known is None:
                missing[f"item[{index}].job"] = f"project {job} is not known to Accord"
            else:
                jobs[known] = job
        if missing:
            return replace(base, missing=missing)
        lookups = NetSuiteLookups(
            subsidiaries=self._subsidiaries(booked_here=True),
            currencies=currency_ids(self._connector),
            # The entity may be the customer itself or one of its projects: either way it is
            # the canonical customer's (the project is recovered separately).
            records={"customer": {customer: entity or ""}, "job": jobs},
        )
        try:
            invoice = invoice_to_canonical(full, lookups=lookups)
        except MappingError as exc:
            return replace(base, missing={"record": str(exc)})
        if invoice.project_id is None and project is not None:
            invoice = invoice.model_copy(update={"project_id": project})
        return replace(base, value=invoice)

    def _payment(self, record: RawRecord, ids: KnownIds) -> Mapped[Payment] | None:
        full = self._connector.get(PAYMENTS, str(record["id"]))
        entity = _ref(full, "customer")
        base: Mapped[Payment] = Mapped(
            kind="payment",
            record_id=str(full.get("id") or ""),
            canonical_id=str(full.get("externalId") or f"NS-customerPayment-{full.get('id')}"),
            label=str(full.get("tranId") or full.get("id") or ""),
            context={"customer": entity},
        )
        customer, _ = self._customer(entity, ids) if entity else (None, None)
        if customer is None:
            return replace(base, missing={"customer": f"customer {entity} is not known to Accord"})
        invoices: dict[str, str] = {}
        for line in _lines(full, "apply"):
            doc = _ref(line, "doc")
            if doc is not None:
                invoices[_canonical_invoice(self._connector.get(INVOICES, doc))] = doc
        lookups = NetSuiteLookups(
            subsidiaries=self._subsidiaries(booked_here=False),
            currencies=currency_ids(self._connector),
            records={"customer": {customer: entity or ""}, "invoice": invoices},
        )
        try:
            payment = payment_to_canonical(full, lookups=lookups)
        except MappingError as exc:
            return replace(base, missing={"record": str(exc)})
        return replace(base, value=payment)

    # ----------------------------------------------------------------- receivables
    def receivables(self, customer: str, legal_entity: str, *, today: dt.date) -> Receivables:
        """The customer's and its projects' invoices (see the module docstring)."""
        del legal_entity  # a NetSuite customer's invoices are read across subsidiaries
        customer_id = _int_id(customer)
        jobs = self._suiteql(f"SELECT id FROM job WHERE parent = {customer_id}")  # noqa: S608
        entities = [customer_id, *(_int_id(str(j["id"])) for j in jobs if j.get("id") is not None)]
        query = (
            "SELECT id, tranid, trandate, status, duedate FROM transaction "  # noqa: S608 - ints
            f"WHERE type = 'CustInvc' AND entity IN ({', '.join(str(e) for e in entities)})"
        )
        items: list[OpenItem] = []
        for row in self._suiteql(query):
            order = (str(_date(row.get("trandate")) or ""), f"{int(row['id']):012d}")
            remaining = Decimal(0)
            due = _date(row.get("duedate"))
            if not str(row.get("status") or "").endswith(_PAID_IN_FULL):
                # The amount still due is read from the record (no documented SuiteQL column).
                found = self._connector.get(INVOICES, str(row["id"]))
                remaining = Decimal(str(found.get("amountRemaining", found.get("total")) or 0))
                due = _date(found.get("dueDate")) or due
            number = str(row["tranid"]) if row.get("tranid") else None
            items.append(OpenItem(remaining=remaining, due=due, order=order, number=number))
        return Receivables.of(items, today)

    def _suiteql(self, query: str) -> list[RawRecord]:
        body = self._connector.suiteql(query, resource=INVOICES, limit=_MAX_ROWS)
        return [item for item in body.get("items") or () if isinstance(item, dict)]

    # ----------------------------------------------------------------- milestones
    def milestone_amount(self, plan_line: str, milestone_id: str) -> Decimal | None:
        """The amount of sales order line ``<order id>:<line n>`` when it is the milestone's."""
        order_id, _, line_no = plan_line.partition(":")
        items = _lines(self._connector.get("salesOrder", order_id), "item")
        index = int(line_no) - 1 if line_no.isdigit() else -1
        if 0 <= index < len(items) and str(items[index].get("description", "")).startswith(
            f"{milestone_id}:"
        ):
            return Decimal(str(items[index]["amount"]))
        return None

    def bill_milestone(self, request: MilestoneInvoice, ids: KnownIds) -> BilledInvoice:
        """Upsert the milestone's invoice by ``eid:`` (posted as it is created)."""
        del ids  # the invoice's externalId is its canonical id
        connector = self._connector
        key = request.invoice_id
        found = connector.get_by_external_id(INVOICES, key)
        if found is not None:
            return BilledInvoice(
                erp_id=str(found["id"]),
                number=found.get("tranId"),
                created=False,
                billed_now=False,
            )
        milestone = request.milestone
        amount = float(milestone.amount.amount)  # a JSON number at the wire; two decimals survive
        body = {
            "entity": {"id": request.customer},
            "tranDate": request.invoice_date.isoformat(),
            "memo": f"Milestone {milestone.name} ({milestone.id})",
            "item": {
                "items": [
                    {
                        "item": {"id": connector.config.milestone_item_id},
                        "quantity": 1,
                        "rate": amount,
                        "amount": amount,
                        "description": f"Milestone: {milestone.name}",
                        "job": {"id": request.project},
                        SOURCE_ID_FIELD: milestone.id,
                        SOURCE_KIND_FIELD: InvoiceLineKind.MILESTONE.value,
                    }
                ]
            },
        }
        result = connector.upsert(INVOICES, key, body)
        record = connector.get(INVOICES, result.id)
        return BilledInvoice(
            erp_id=result.id,
            number=record.get("tranId"),
            created=result.created,
            billed_now=result.created,
        )
