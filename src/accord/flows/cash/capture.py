"""Change capture of ERP invoices and payments: posted / paid invoices and received payments.

Polled pairs (registered by :func:`enable_cash_capture` when the ``cash:`` section turns
polling on):

- NetSuite ``invoice`` and ``customerPayment`` (SuiteQL change reads; the mapper reads the
  full record with its sublists);
- Business Central ``salesInvoices`` (lines expanded). BC's ``customerPayments`` are payment
  *journal lines*: they leave the API when the journal is posted, so a received payment is seen
  on BC as the invoice's new ``remainingAmount`` / ``Paid`` status (an ``invoice.posted`` or
  ``invoice.paid`` event), not as a ``payment.received`` event.

What is mapped, per record version (capture makes the event id ``<record id>@<modified>``, so an
invoice that becomes paid later is a new event):

- an invoice posted and not fully paid -> ``invoice.posted`` (also after a part payment: the
  amount due changed); paid in full -> ``invoice.paid``; drafts and voided ones -> nothing;
- a NetSuite customer payment -> ``payment.received`` with its applications.

A record Accord cannot place (a customer or project it does not know, a currency it cannot
map) never becomes a half-empty event: the mapper opens a ``billing.unmappable`` exception
(finance-ops) naming what is missing, and hands nothing on. The exception is refreshed, not
duplicated, when the record is read again.
"""

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from accord.connectors.business_central.mapping import (
    BusinessCentralLookups,
    sales_invoice_to_canonical,
)
from accord.connectors.netsuite.mapping import (
    NetSuiteLookups,
    invoice_to_canonical,
    payment_to_canonical,
)
from accord.connectors.types import RawRecord
from accord.domain import ErpSystem, Invoice, InvoiceStatus
from accord.errors import ConfigError, MappingError
from accord.flows import stepkit
from accord.flows.capture import CaptureSpec, canonical_event, register_capture, unregister_capture
from accord.flows.cash import common
from accord.flows.cash.settings import cash_settings
from accord.flows.connections import Connections
from accord.store.journal import NewEvent

__all__ = [
    "BC_INVOICES",
    "NS_INVOICES",
    "NS_PAYMENTS",
    "bc_invoice_events",
    "enable_cash_capture",
    "invoice_event",
    "netsuite_invoice_events",
    "netsuite_payment_events",
    "unmappable_key",
]

logger = logging.getLogger(__name__)

NS_INVOICES = "invoice"
NS_PAYMENTS = "customerPayment"
BC_INVOICES = "salesInvoices"


def unmappable_key(connection: str, resource: str, record_id: str) -> str:
    """Dedupe key of the exception about an ERP record Accord cannot place."""
    return f"cash:{connection}:{resource}:{record_id}:unmappable"


def invoice_event(invoice: Invoice) -> list[NewEvent]:
    """``invoice.paid`` for a paid invoice, ``invoice.posted`` for an open one, else nothing."""
    if invoice.status is InvoiceStatus.PAID:
        return [canonical_event("invoice.paid", invoice, subject=invoice.id)]
    if invoice.status in (InvoiceStatus.POSTED, InvoiceStatus.PARTIALLY_PAID):
        return [canonical_event("invoice.posted", invoice, subject=invoice.id)]
    return []


def _report(
    connection: str, resource: str, record: RawRecord, canonical_id: str, missing: dict[str, str]
) -> None:
    record_id = str(record.get("id") or "")
    number = record.get("tranId") or record.get("number") or record_id
    common.open_exception(
        code="billing.unmappable",
        title=f"{resource} {number} on {connection} cannot be placed: "
        + "; ".join(f"{k} {v}" for k, v in sorted(missing.items())),
        detail={
            "connection": connection,
            "resource": resource,
            "record_id": record_id,
            "number": number,
            "missing": dict(sorted(missing.items())),
        },
        business_key=f"{'payment' if resource == NS_PAYMENTS else 'invoice'}:{canonical_id}",
        dedupe_key=unmappable_key(connection, resource, record_id),
    )
    logger.info("%s %s on %s is unmappable: %s", resource, record_id, connection, sorted(missing))


# ---------------------------------------------------------------------- NetSuite
def _ns_ref(record: RawRecord, name: str) -> str | None:
    value = record.get(name)
    if isinstance(value, dict):
        found = value.get("id")
        return str(found) if found is not None else None
    return str(value) if value is not None else None


def _ns_customer(connection: str, entity: str) -> tuple[str | None, str | None]:
    """``(customer id, project id)`` of a transaction's entity (a customer or a project)."""
    customer = stepkit.canonical_of("customer", connection, entity)
    if customer is not None:
        return customer, None
    project = stepkit.canonical_of("erp_project", connection, entity)
    if project is None:
        return None, None
    job = stepkit.connections().connector(connection).get("job", entity)
    parent = _ns_ref(job, "parent")
    return (stepkit.canonical_of("customer", connection, parent) if parent else None), project


def _ns_lookups(
    connection: str, customer_id: str, entity: str, record: RawRecord, missing: dict[str, str]
) -> NetSuiteLookups:
    jobs: dict[str, str] = {}
    sublist = record.get("item")
    lines = sublist.get("items") if isinstance(sublist, dict) else None
    for index, line in enumerate(lines or ()):
        job = _ns_ref(line, "job") if isinstance(line, dict) else None
        if job is None:
            continue
        project = stepkit.canonical_of("erp_project", connection, job)
        if project is None:
            missing[f"item[{index}].job"] = f"project {job} is not known to Accord"
        else:
            jobs[project] = job
    subsidiaries = {
        code: entity_spec.netsuite_subsidiary_id
        for code, entity_spec in stepkit.rules().spec.legal_entities.items()
        if entity_spec.netsuite_subsidiary_id is not None
        and (entity_spec.erp is ErpSystem.NETSUITE or entity_spec.connection == connection)
    }
    return NetSuiteLookups(
        subsidiaries=subsidiaries,
        currencies=stepkit.netsuite_currencies(connection),
        # The entity may be the customer itself or one of its projects: either way it is the
        # canonical customer's (the project is recovered separately).
        records={"customer": {customer_id: entity}, "job": jobs},
    )


def _ns_canonical_invoice(record: RawRecord) -> str:
    return str(record.get("externalId") or f"NS-invoice-{record.get('id')}")


def netsuite_invoice_events(record: RawRecord) -> list[NewEvent]:
    """The events of one polled NetSuite invoice version (see the module docstring)."""
    connection = cash_settings(stepkit.config_file()).netsuite_connection
    full = stepkit.connections().connector(connection).get(NS_INVOICES, str(record["id"]))
    canonical_id = _ns_canonical_invoice(full)
    entity = _ns_ref(full, "entity")
    missing: dict[str, str] = {}
    customer_id, project_id = _ns_customer(connection, entity) if entity else (None, None)
    if customer_id is None:
        missing["entity"] = f"customer {entity} is not known to Accord"
        _report(connection, NS_INVOICES, full, canonical_id, missing)
        return []
    lookups = _ns_lookups(connection, customer_id, entity or "", full, missing)
    if missing:
        _report(connection, NS_INVOICES, full, canonical_id, missing)
        return []
    try:
        invoice = invoice_to_canonical(full, lookups=lookups)
    except MappingError as exc:
        _report(connection, NS_INVOICES, full, canonical_id, {"record": str(exc)})
        return []
    if invoice.project_id is None and project_id is not None:
        invoice = invoice.model_copy(update={"project_id": project_id})
    common.resolve_exceptions(
        unmappable_key(connection, NS_INVOICES, str(full["id"])), "the invoice maps now"
    )
    return invoice_event(invoice)


def netsuite_payment_events(record: RawRecord) -> list[NewEvent]:
    """``payment.received`` for one polled NetSuite customer payment version."""
    connection = cash_settings(stepkit.config_file()).netsuite_connection
    connector = stepkit.connections().connector(connection)
    full = connector.get(NS_PAYMENTS, str(record["id"]))
    canonical_id = str(full.get("externalId") or f"NS-customerPayment-{full.get('id')}")
    entity = _ns_ref(full, "customer")
    customer_id, _ = _ns_customer(connection, entity) if entity else (None, None)
    if customer_id is None:
        missing = {"customer": f"customer {entity} is not known to Accord"}
        _report(connection, NS_PAYMENTS, full, canonical_id, missing)
        return []
    invoices: dict[str, str] = {}
    sublist = full.get("apply")
    for line in (sublist.get("items") if isinstance(sublist, dict) else None) or ():
        doc = _ns_ref(line, "doc") if isinstance(line, dict) else None
        if doc is not None:
            invoices[_ns_canonical_invoice(connector.get(NS_INVOICES, doc))] = doc
    lookups = NetSuiteLookups(
        subsidiaries={
            code: spec.netsuite_subsidiary_id
            for code, spec in stepkit.rules().spec.legal_entities.items()
            if spec.netsuite_subsidiary_id is not None
        },
        currencies=stepkit.netsuite_currencies(connection),
        records={"customer": {customer_id: entity or ""}, "invoice": invoices},
    )
    try:
        payment = payment_to_canonical(full, lookups=lookups)
    except MappingError as exc:
        _report(connection, NS_PAYMENTS, full, canonical_id, {"record": str(exc)})
        return []
    return [canonical_event("payment.received", payment, subject=payment.id)]


# ---------------------------------------------------------------------- Business Central
def _bc_legal_entity(connection: str, company_id: str) -> str | None:
    connector: Any = stepkit.connections().connector(connection)
    for code, spec in stepkit.rules().spec.legal_entities.items():
        if spec.erp is not ErpSystem.BUSINESS_CENTRAL or spec.connection != connection:
            continue
        try:
            if connector.config.company_for(code).lower() == company_id.lower():
                return code
        except ValueError:
            continue
    return None


def bc_project_of(connection: str, record: RawRecord) -> str | None:
    """The canonical project a BC invoice names, if any.

    Its external document number or customer PO reference holds the project's number
    ([inferred] the firm's convention; BC v2.0 invoices carry no project link).
    """
    for name in ("externalDocumentNumber", "customerPurchaseOrderReference"):
        value = record.get(name)
        if value:
            project = stepkit.canonical_of("erp_project", connection, str(value))
            if project is not None:
                return project
    return None


def bc_invoice_events(record: RawRecord) -> list[NewEvent]:
    """The events of one polled Business Central sales invoice version."""
    if record.get("status") == "Draft":
        return []
    connection = cash_settings(stepkit.config_file()).business_central_connection
    connector: Any = stepkit.connections().connector(connection)
    record_id = str(record.get("id") or "")
    canonical_id = stepkit.canonical_of("invoice", connection, record_id) or f"bc:{record_id}"
    missing: dict[str, str] = {}
    number = str(record.get("customerNumber") or "")
    customer_id = stepkit.canonical_of("customer", connection, number) if number else None
    if customer_id is None:
        missing["customerNumber"] = f"customer {number or '(none)'} is not known to Accord"
    legal_entity = _bc_legal_entity(connection, connector.company_id)
    if legal_entity is None:
        missing["company"] = f"company {connector.company_id} is no legal entity in the rules"
    if missing or customer_id is None or legal_entity is None:
        _report(connection, BC_INVOICES, record, canonical_id, missing)
        return []
    currency = stepkit.rules().legal_entity(legal_entity).currency
    lookups = BusinessCentralLookups(
        legal_entity=legal_entity,
        records={"customers": {customer_id: number}, "salesInvoices": {canonical_id: record_id}},
    )
    try:
        invoice = sales_invoice_to_canonical(record, lookups=lookups, company_currency=currency)
    except MappingError as exc:
        _report(connection, BC_INVOICES, record, canonical_id, {"record": str(exc)})
        return []
    project = bc_project_of(connection, record)
    if project is not None:
        invoice = invoice.model_copy(update={"project_id": project})
    return invoice_event(invoice)


# ---------------------------------------------------------------------- registration
def enable_cash_capture(connections: Connections, config_file: Path | None) -> bool:
    """Register ERP invoice and payment polling when ``cash.capture_interval_s`` is set.

    Called by ``Services.start`` before capture schedules are applied; returns whether it
    registered anything. Each pair starts polling at the present the first time.
    """
    pairs = (
        ("netsuite", NS_INVOICES, netsuite_invoice_events),
        ("netsuite", NS_PAYMENTS, netsuite_payment_events),
        ("business_central", BC_INVOICES, bc_invoice_events),
    )
    try:
        settings = cash_settings(config_file)
        names = set(connections.names()) if settings.capture_interval_s > 0 else set()
    except ConfigError:
        logger.exception("cash capture not enabled: accord.yaml is invalid")
        return False
    chosen = {
        "netsuite": settings.netsuite_connection,
        "business_central": settings.business_central_connection,
    }
    registered = False
    for system, resource, mapper in pairs:
        connection = chosen[system]
        if connection not in names:
            unregister_capture(connection, resource)
            continue
        common.start_cursor_at_now(connection, resource)
        register_capture(
            CaptureSpec(
                connection=connection,
                resource=resource,
                to_events=mapper,
                interval=timedelta(seconds=settings.capture_interval_s),
                overlap=timedelta(seconds=30),
            )
        )
        registered = True
    return registered
