"""The side effects of the cash flow, one DBOS step each, with one frozen-dataclass input.

Every write is idempotent on its own, so a step that ran but whose checkpoint was lost runs
again harmlessly:

- xref and lineage links are unique (linking twice keeps one);
- the PSA records the invoice's status upserted by the canonical invoice id
  (:meth:`~accord.connectors.roles.Psa.record_invoice`);
- the CRM account's receivable fields get absolute values recomputed from the ERP
  (:meth:`~accord.connectors.roles.Erp.receivables`, :mod:`.receivables`), never increments.

A target's business refusal (a permanent error) is returned, not raised: the workflow files it
with finance ops. What does *not* belong here: which events arrive (:mod:`.capture`) and the
order of steps (:mod:`.workflow`).
"""

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from dbos import DBOS

from accord.connectors.roles import AccountReceivables
from accord.domain import Invoice, InvoiceLineKind, Payment
from accord.errors import PermanentError, is_retryable
from accord.flows import stepkit
from accord.flows.cash.capture import FLOW
from accord.flows.cash.receivables import ar_status
from accord.flows.shared.finance import crm_account, open_exception, place_project, refusal
from accord.store import lineage

__all__ = [
    "CrmRequest",
    "InvoiceRequest",
    "PaymentRequest",
    "RefusalRequest",
    "erp_connection_of",
    "link_invoice",
    "link_payment",
    "report_refusal",
    "update_crm",
    "update_psa",
]

logger = logging.getLogger(__name__)


def erp_connection_of(source: str, legal_entity: str) -> str:
    """The ERP connection an event came from: its capture source, else the entity's ERP."""
    parts = source.split("/")
    if len(parts) >= 4 and parts[0] == "accord" and parts[1] == "capture":
        return parts[2]
    return stepkit.rules().legal_entity(legal_entity).connection


# ---------------------------------------------------------------------- 1. link
@dataclass(frozen=True)
class InvoiceRequest:
    """Input of the invoice steps: the event's canonical invoice and where it came from."""

    invoice_json: str
    event_id: str
    event_type: str
    erp_connection: str


def _project_from_lineage(invoice_id: str) -> str | None:
    with stepkit.engine().connect() as conn:
        edges = lineage.list_for(conn, node_type="invoice", node_id=invoice_id)
    return next(
        (e.to_id for e in edges if e.from_id == invoice_id and e.to_type == "erp_project"), None
    )


@DBOS.step(name="cash.link_invoice", **stepkit.STEP_RETRIES)
def link_invoice(request: InvoiceRequest) -> dict[str, Any]:
    """Cross-reference the invoice and link it to its project, customer, entries, milestones.

    Returns:
        Where the invoice's project and customer live: ``project_id``, ``customer_id``,
        ``psa`` (``[system, connection, id]`` or None), ``account`` (CRM id or None).
    """
    invoice = Invoice.model_validate_json(request.invoice_json)
    erp_system = invoice.refs[0].system.value if invoice.refs else "erp"
    if invoice.refs:
        stepkit.link_xref(
            "invoice", invoice.id, erp_system, request.erp_connection, invoice.refs[0].id
        )
    project_id = invoice.project_id or _project_from_lineage(invoice.id)
    placed = place_project(project_id) if project_id else None
    status = invoice.status.value
    with stepkit.engine().begin() as conn:
        node = ("invoice", invoice.id)
        stepkit.link_edge(
            conn, node, ("customer", invoice.customer_id), "billed_to", status=status,
            event_id=request.event_id,
        )  # fmt: skip
        if project_id is not None:
            stepkit.link_edge(
                conn, node, ("erp_project", project_id), "bills", status=status,
                event_id=request.event_id,
            )  # fmt: skip
        for line in invoice.lines:
            if line.source_id is None:
                continue
            target = "milestone" if line.kind is InvoiceLineKind.MILESTONE else "time_entry"
            if line.kind is InvoiceLineKind.EXPENSE:
                target = "expense"
            stepkit.link_edge(conn, node, (target, line.source_id), "bills", status=status)
    return {
        "project_id": project_id,
        "customer_id": invoice.customer_id,
        "psa": list(placed.psa) if placed and placed.psa else None,
        "account": crm_account(invoice.customer_id),
    }


# ---------------------------------------------------------------------- 2. PSA
@dataclass(frozen=True)
class PsaRequest:
    """Input of :func:`update_psa`: the invoice and its PSA project."""

    invoice_json: str
    erp_connection: str
    psa: tuple[str, str, str]


def _psa_message(invoice: Invoice, erp_connection: str) -> str:
    due = invoice.amount_due
    return (
        f"{erp_connection} invoice {invoice.number or invoice.id}: {invoice.status.value}; "
        f"due {due.amount} {due.currency} of {invoice.total.amount}"
    )[:255]


@DBOS.step(name="cash.update_psa", **stepkit.STEP_RETRIES)
def update_psa(request: PsaRequest) -> dict[str, Any]:
    """Write the invoice's status to the PSA project (:meth:`Psa.record_invoice`).

    Returns:
        ``{"psa_id": id}``, or ``{"refused": {...}}`` when the PSA refused the write.
    """
    invoice = Invoice.model_validate_json(request.invoice_json)
    _, connection, project_psa_id = request.psa
    psa = stepkit.psa(connection)
    try:
        psa_id = psa.record_invoice(
            project_psa_id, invoice, note=_psa_message(invoice, request.erp_connection)
        )
    except PermanentError as exc:
        if is_retryable(exc):  # pragma: no cover - a PermanentError never is
            raise
        return {"refused": refusal(exc)}
    return {"psa_id": psa_id}


# ---------------------------------------------------------------------- 3. CRM
@dataclass(frozen=True)
class CrmRequest:
    """Input of :func:`update_crm`: whose receivables to recompute, and what just happened."""

    customer_id: str
    account_id: str
    erp_connection: str
    legal_entity: str
    payment_date: str | None = None


@DBOS.step(name="cash.update_crm", **stepkit.STEP_RETRIES)
def update_crm(request: CrmRequest) -> dict[str, Any]:
    """Recompute the customer's receivables from the ERP and write them to the CRM account.

    Every value is derived from the ERP's current state (status, balance, latest invoice), so
    runs finishing in any order converge; the last payment date only ever moves forward.

    Returns:
        What was written, or ``{"refused": {...}}`` / ``{"skipped": why}``.
    """
    today = dt.datetime.now(dt.UTC).date()
    erp_customer = stepkit.known_external("customer", request.customer_id, request.erp_connection)
    if erp_customer is None:
        return {"skipped": "the customer has no ERP id"}
    items = stepkit.erp(request.erp_connection).receivables(
        erp_customer, request.legal_entity, today=today
    )
    receivables = AccountReceivables(
        status=ar_status(items),
        balance=items.balance,
        last_invoice_number=items.last_number,
        payment_date=dt.date.fromisoformat(request.payment_date) if request.payment_date else None,
    )
    try:
        stepkit.crm(stepkit.crm_connection()).record_receivables(request.account_id, receivables)
    except PermanentError as exc:
        if is_retryable(exc):  # pragma: no cover
            raise
        return {"refused": refusal(exc)}
    return {
        "status": receivables.status.value,
        "balance": str(items.balance),
        "last_invoice_number": items.last_number,
        "payment_date": request.payment_date,
        "open_invoices": items.count,
    }


# ---------------------------------------------------------------------- payments
@dataclass(frozen=True)
class PaymentRequest:
    """Input of :func:`link_payment`: the event's canonical payment and its ERP connection."""

    payment_json: str
    event_id: str
    erp_connection: str


@DBOS.step(name="cash.link_payment", **stepkit.STEP_RETRIES)
def link_payment(request: PaymentRequest) -> dict[str, Any]:
    """Cross-reference the payment and link it to the invoices it pays."""
    payment = Payment.model_validate_json(request.payment_json)
    if payment.refs:
        stepkit.link_xref(
            "payment",
            payment.id,
            payment.refs[0].system.value,
            request.erp_connection,
            payment.refs[0].id,
        )
    with stepkit.engine().begin() as conn:
        for application in payment.applications:
            stepkit.link_edge(
                conn,
                ("payment", payment.id),
                ("invoice", application.invoice_id),
                "applied_to",
                status=f"{application.amount.amount} {application.amount.currency}",
                event_id=request.event_id,
            )
        stepkit.link_edge(
            conn,
            ("payment", payment.id),
            ("customer", payment.customer_id),
            "paid_by",
            status="received",
            event_id=request.event_id,
        )
    return {
        "customer_id": payment.customer_id,
        "account": crm_account(payment.customer_id),
        "invoices": [a.invoice_id for a in payment.applications],
    }


@dataclass(frozen=True)
class RefusalRequest:
    """Input of :func:`report_refusal`: which write-back a target refused, and why."""

    what: str
    target: str
    refusal: dict[str, Any]
    business_key: str
    dedupe_key: str


@DBOS.step(name="cash.report_refusal", **stepkit.STEP_RETRIES)
def report_refusal(request: RefusalRequest) -> int:
    """File a target's refusal of a cash write-back with finance ops; returns its id."""
    return open_exception(
        code="billing.writeback_refused",
        title=f"{request.target} refused the status of {request.what}: "
        f"{request.refusal.get('detail')}",
        detail={"record": request.what, "target": request.target, "error": request.refusal},
        business_key=request.business_key,
        dedupe_key=request.dedupe_key,
        flow=FLOW,
        run_id=DBOS.workflow_id,
    )
