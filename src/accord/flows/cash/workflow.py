"""The cash workflow: an ERP invoice or payment updates the PSA and the CRM.

One durable run of the workflow ``cash`` per event (its id derives from the event, so a
redelivered event never runs twice; a new version of the record is a new event and a new run,
which is harmless because every write is idempotent).

An invoice (``invoice.posted`` / ``invoice.paid``):

1. cross-reference the invoice and link its lineage (project, customer, billed entries and
   milestones), and find the project's PSA project and the customer's CRM account;
2. write the invoice's status to the PSA (:meth:`~accord.connectors.roles.Psa.record_invoice`);
3. recompute the customer's receivables from the ERP and write them to the CRM account.

A payment (``payment.received``): link the payment to the invoices it pays and the customer,
then step 3 with the payment date. The invoices' own new versions (paid or part paid) arrive
as invoice events and update the PSA.

A write a target refuses ends as a ``billing.writeback_refused`` exception (finance-ops); the
other target is still updated: both receive absolute values derived from the ERP, the system of
record, so neither is wrong because the other refused, and nothing is undone
(:data:`COMPENSATION`). A retry after the fix writes the refused one.
"""

import logging
from typing import Any

from dbos import DBOS

from accord.domain import Invoice, InvoiceStatus, Payment
from accord.flows.cash.capture import FLOW
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
from accord.flows.shared.compensation import Saga, SagaStep, Undo

__all__ = ["COMPENSATION", "WORKFLOW", "cash"]

logger = logging.getLogger(__name__)

WORKFLOW = FLOW
"""The DBOS workflow ``invoice.posted``, ``invoice.paid`` and ``payment.received`` runs start."""
_ABSOLUTE = (
    "the ERP's status, written whole: right whatever the other target does; a refusal is "
    "written again by the retry"
)

COMPENSATION = Saga(
    flow=WORKFLOW,
    steps=(
        SagaStep("cash.link_invoice", None, Undo.NOTHING, note="xref and lineage in Accord"),
        SagaStep("cash.update_psa", "psa", Undo.NOTHING, note=_ABSOLUTE),
        SagaStep("cash.update_crm", "crm", Undo.NOTHING, note=_ABSOLUTE),
        SagaStep("cash.link_payment", None, Undo.NOTHING, note="xref and lineage in Accord"),
        SagaStep("cash.report_refusal", None, Undo.NOTHING, note="an exception in Accord"),
    ),
)
"""What undoes or holds each step (see :mod:`accord.flows.shared.compensation`)."""


@DBOS.workflow(name=WORKFLOW)
def cash(ref: EventRef) -> dict[str, Any]:
    """Carry one invoice's or payment's status back to the PSA and the CRM (module docstring)."""
    loaded = load_event(ref)
    if ref.type == "payment.received":
        return _payment(ref, Payment.model_validate(loaded["data"]), loaded["source"])
    return _invoice(ref, Invoice.model_validate(loaded["data"]), loaded["source"])


def _invoice(ref: EventRef, invoice: Invoice, source: str) -> dict[str, Any]:
    connection = erp_connection_of(source, invoice.legal_entity)
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
        return finish_run(WORKFLOW, "refused", {**result, "exceptions": refused})
    return finish_run(WORKFLOW, "updated", result)


def _payment(ref: EventRef, payment: Payment, source: str) -> dict[str, Any]:
    connection = erp_connection_of(source, payment.legal_entity)
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
            return finish_run(WORKFLOW, "refused", {**result, "exceptions": [opened]})
    return finish_run(WORKFLOW, "updated", result)
