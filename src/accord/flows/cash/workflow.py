"""The cash workflows: an ERP invoice or payment updates the PSA and the CRM.

One durable run per event (its id derives from the event, so a redelivered event never runs
twice; a new version of the record is a new event and a new run, which is harmless because
every write is idempotent):

``cash_invoice`` (``invoice.posted`` / ``invoice.paid``):

1. cross-reference the invoice and link its lineage (project, customer, billed entries and
   milestones), and find the project's PSA project and the customer's CRM account;
2. write the invoice's status to the PSA (Kantata invoice, Certinia billing event);
3. recompute the customer's receivables from the ERP and write them to the CRM account.

``cash_payment`` (``payment.received``): link the payment to the invoices it pays and the
customer, then step 3 with the payment date. The invoices' own new versions (paid or part
paid) arrive as invoice events and update the PSA.

A write a target refuses ends as a ``billing.writeback_refused`` exception (finance-ops); the
other target is still updated.
"""

import logging
from typing import Any

from dbos import DBOS

from accord.domain import Invoice, InvoiceStatus, Payment
from accord.flows.cash.steps import (
    CrmRequest,
    InvoiceRequest,
    PaymentRequest,
    PsaRequest,
    RefusalRequest,
    erp_connection_of,
    link_invoice,
    link_payment,
    report_refusal,
    update_crm,
    update_psa,
)
from accord.flows.record_event import EventRef, finish_run, load_event

__all__ = ["INVOICE_WORKFLOW", "PAYMENT_WORKFLOW", "cash_invoice", "cash_payment"]

logger = logging.getLogger(__name__)

INVOICE_WORKFLOW = "cash_invoice"
"""The DBOS workflow ``invoice.posted`` and ``invoice.paid`` runs start."""
PAYMENT_WORKFLOW = "cash_payment"
"""The DBOS workflow ``payment.received`` runs start."""


@DBOS.workflow(name=INVOICE_WORKFLOW)
def cash_invoice(ref: EventRef) -> dict[str, Any]:
    """Carry one invoice's status back to the PSA and the CRM (see the module docstring)."""
    loaded = load_event(ref)
    invoice = Invoice.model_validate(loaded["data"])
    connection = erp_connection_of(loaded["source"], invoice.legal_entity)
    invoice_json = invoice.model_dump_json()
    placed = link_invoice(
        InvoiceRequest(
            invoice_json=invoice_json,
            event_id=ref.event_id,
            event_type=ref.type,
            erp_connection=connection,
        )
    )
    result: dict[str, Any] = {
        "event_id": ref.event_id,
        "invoice_id": invoice.id,
        "invoice_status": invoice.status.value,
        "project_id": placed["project_id"],
    }
    refused: list[int] = []
    if placed["psa"] is not None:
        psa = update_psa(
            PsaRequest(
                invoice_json=invoice_json, erp_connection=connection, psa=tuple(placed["psa"])
            )
        )
        result["psa"] = psa
        if "refused" in psa:
            refused.append(
                report_refusal(
                    RefusalRequest(
                        what=f"invoice {invoice.number or invoice.id}",
                        target=placed["psa"][0],
                        refusal=psa["refused"],
                        business_key=ref.business_key,
                        dedupe_key=f"cash:{invoice.id}:psa",
                    )
                )
            )
    if placed["account"] is not None:
        paid = invoice.status is InvoiceStatus.PAID
        crm = update_crm(
            CrmRequest(
                customer_id=invoice.customer_id,
                account_id=placed["account"],
                erp_connection=connection,
                legal_entity=invoice.legal_entity,
                payment_date=(
                    invoice.paid_at.date().isoformat() if paid and invoice.paid_at else None
                ),
            )
        )
        result["crm"] = crm
        if "refused" in crm:
            refused.append(
                report_refusal(
                    RefusalRequest(
                        what=f"invoice {invoice.number or invoice.id}",
                        target="crm",
                        refusal=crm["refused"],
                        business_key=ref.business_key,
                        dedupe_key=f"cash:{invoice.id}:crm",
                    )
                )
            )
    if refused:
        return finish_run(INVOICE_WORKFLOW, "refused", {**result, "exceptions": refused})
    return finish_run(INVOICE_WORKFLOW, "updated", result)


@DBOS.workflow(name=PAYMENT_WORKFLOW)
def cash_payment(ref: EventRef) -> dict[str, Any]:
    """Link one received payment and carry it to the CRM (see the module docstring)."""
    loaded = load_event(ref)
    payment = Payment.model_validate(loaded["data"])
    connection = erp_connection_of(loaded["source"], payment.legal_entity)
    linked = link_payment(
        PaymentRequest(
            payment_json=payment.model_dump_json(), event_id=ref.event_id, erp_connection=connection
        )
    )
    result: dict[str, Any] = {
        "event_id": ref.event_id,
        "payment_id": payment.id,
        "invoices": linked["invoices"],
    }
    if linked["account"] is not None:
        crm = update_crm(
            CrmRequest(
                customer_id=payment.customer_id,
                account_id=linked["account"],
                erp_connection=connection,
                legal_entity=payment.legal_entity,
                payment_date=payment.received_on.isoformat(),
            )
        )
        result["crm"] = crm
        if "refused" in crm:
            opened = report_refusal(
                RefusalRequest(
                    what=f"payment {payment.id}",
                    target="crm",
                    refusal=crm["refused"],
                    business_key=ref.business_key,
                    dedupe_key=f"cash:{payment.id}:crm",
                )
            )
            return finish_run(PAYMENT_WORKFLOW, "refused", {**result, "exceptions": [opened]})
    return finish_run(PAYMENT_WORKFLOW, "updated", result)
