"""The side effects of milestone billing, one DBOS step each, with one frozen-dataclass input.

**Never billed twice.** Before writing, :func:`bill_milestone` asks the xref
(``milestone_invoice``: milestone id -> ERP invoice); then the ERP role bills it
(:meth:`~accord.connectors.roles.Erp.bill_milestone`), which finds an invoice it already holds
under the milestone's invoice id and never creates a second one. The call is made holding a
lease on the invoice (an ERP without an upsert verifies before it creates, and two runs doing
that at once could both find nothing), and runs about one project are serialised by the event
queue's partitions.

A draft left by a refused post (closed period, blocked customer) is found and posted on the
retry, never created again.

A refusal by the ERP is returned (``{"rejected": ...}``), not raised: the workflow files it
with finance ops, and a retry after the fix re-runs the event (``accord.flows.replay``). A
refusal by the PSA to mark a billed milestone invoiced is returned too (``{"refused": ...}``):
the invoice stays (reversing it is a credit note, finance's decision) and delivery ops get an
exception whose retry re-runs the event, which finds the invoice and marks the milestone.
"""

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dbos import DBOS

from accord.connectors.roles import MilestoneInvoice
from accord.domain import Milestone, Money
from accord.errors import PermanentError, is_retryable
from accord.flows import stepkit
from accord.flows.shared.exclusive import exclusive
from accord.flows.shared.feeds import ConnectionIds
from accord.flows.shared.finance import (
    open_exception,
    place_project,
    refusal,
    resolve_exceptions,
)
from accord.flows.shared.settings import flow_settings, rules_for

__all__ = [
    "FLOW",
    "BillRequest",
    "MarkRequest",
    "ReportRequest",
    "bill_milestone",
    "billing_dedupe_key",
    "contract_amount",
    "invoice_id_for",
    "mark_dedupe_key",
    "mark_invoiced",
    "report_psa_refusal",
    "report_refusal",
]

logger = logging.getLogger(__name__)

FLOW = "bill_milestone"
"""The flow's name in exceptions, metrics and lineage."""


def invoice_id_for(milestone_id: str) -> str:
    """Canonical id (and the ERP's idempotency key) of a milestone's invoice."""
    return f"MS-{milestone_id}"


def billing_dedupe_key(milestone_id: str) -> str:
    """Dedupe key of the finance-ops exception about billing one milestone."""
    return f"{FLOW}:{milestone_id}:billing"


def mark_dedupe_key(milestone_id: str) -> str:
    """Dedupe key of the delivery-ops exception about marking a billed milestone invoiced."""
    return f"{FLOW}:{milestone_id}:psa"


# ---------------------------------------------------------------------- 1. bill
@dataclass(frozen=True)
class BillRequest:
    """Input of :func:`bill_milestone`: the completed milestone."""

    milestone_json: str
    event_id: str


def contract_amount(milestone: Milestone, connection: str) -> Decimal | None:
    """The milestone's amount in the contract's ERP billing plan, when one was written.

    Lead-to-project writes the plan (xref ``erp_milestone``: the plan line of the milestone).
    The contract (CRM-owned) amount wins over the PSA's copy; without a plan, the PSA's.
    """
    line = stepkit.known_external("erp_milestone", milestone.id, connection)
    if line is None:
        return None
    return stepkit.erp(connection).milestone_amount(line, milestone.id)


@DBOS.step(name="ms.bill", **stepkit.STEP_RETRIES)
def bill_milestone(request: BillRequest) -> dict[str, Any]:
    """Invoice a completed milestone in its project's ERP, unless it was already billed.

    Returns:
        ``{"erp_id", "number", "created", "invoice_id", "erp": [system, connection]}``;
        ``{"unplaced": why}`` when the project or customer is not known in the ERP;
        ``{"rejected": {...}}`` when the ERP refused it.
    """
    milestone = Milestone.model_validate_json(request.milestone_json)
    if milestone.project_id is None:
        return {"unplaced": "the milestone has no project"}
    project_id = milestone.project_id
    placed = place_project(project_id)
    if placed.erp is None or placed.customer_id is None:
        return {"unplaced": f"project {milestone.project_id} has no ERP project or customer"}
    system, connection, project = placed.erp
    invoice_id = invoice_id_for(milestone.id)
    out: dict[str, Any] = {"invoice_id": invoice_id, "erp": [system, connection]}
    known = stepkit.known_external("milestone_invoice", milestone.id, connection)
    if known is not None:
        return {**out, "erp_id": known, "number": None, "created": False, "already": True}
    customer = stepkit.known_external("customer", placed.customer_id, connection)
    if customer is None:
        return {"unplaced": f"customer {placed.customer_id} is not in {connection}"}
    try:
        contract = contract_amount(milestone, connection)
        if contract is not None:
            out["amount_source"] = "contract"
            milestone = milestone.model_copy(
                update={"amount": Money.of(contract, milestone.amount.currency)}
            )
        invoice = MilestoneInvoice(
            invoice_id=invoice_id,
            milestone=milestone,
            customer=customer,
            project=project,
            invoice_date=dt.datetime.now(dt.UTC).date(),
        )
        # Two runs billing one milestone at once must not both find nothing and create.
        with exclusive(f"invoice:{connection}:{invoice_id}"):
            billed = stepkit.erp(connection).bill_milestone(invoice, ConnectionIds(connection))
    except PermanentError as exc:
        if is_retryable(exc):  # pragma: no cover - a PermanentError never is
            raise
        return {**out, "rejected": refusal(exc)}
    stepkit.link_xref("milestone_invoice", milestone.id, system, connection, billed.erp_id)
    stepkit.link_xref("invoice", invoice_id, system, connection, billed.erp_id)
    with stepkit.engine().begin() as conn:
        stepkit.link_edge(
            conn, ("milestone", milestone.id), ("invoice", invoice_id), "billed_by",
            status="invoiced", event_id=request.event_id,
        )  # fmt: skip
        stepkit.link_edge(
            conn, ("invoice", invoice_id), ("erp_project", project_id), "bills",
            status="posted",
        )  # fmt: skip
        stepkit.link_edge(
            conn, ("milestone", milestone.id), ("psa_project", project_id),
            "milestone_of", status="completed",
        )  # fmt: skip
    return {
        **out,
        "erp_id": billed.erp_id,
        "number": billed.number,
        "created": billed.created,
        "billed_now": billed.billed_now,
        "amount": str(milestone.amount.amount),
    }


# ---------------------------------------------------------------------- 1b. report
@dataclass(frozen=True)
class ReportRequest:
    """Input of :func:`report_refusal`: the milestone and what stopped its billing."""

    milestone_json: str
    business_key: str
    reason: dict[str, Any]
    erp_connection: str | None = None


@DBOS.step(name="ms.report_refusal", **stepkit.STEP_RETRIES)
def report_refusal(request: ReportRequest) -> int:
    """File the billing refusal with finance ops (with the ERP's error); returns its id."""
    milestone = Milestone.model_validate_json(request.milestone_json)
    detail = request.reason.get("detail") or request.reason.get("unplaced") or "refused"
    return open_exception(
        code="billing.refused" if "detail" in request.reason else "billing.unplaced",
        title=f"Milestone {milestone.name} ({milestone.id}) was not billed: {detail}",
        detail={
            "milestone_id": milestone.id,
            "project_id": milestone.project_id,
            "amount": str(milestone.amount.amount),
            "currency": milestone.amount.currency,
            "erp_connection": request.erp_connection,
            "error": request.reason,
        },
        business_key=request.business_key,
        dedupe_key=billing_dedupe_key(milestone.id),
        flow=FLOW,
        run_id=DBOS.workflow_id,
        amount=milestone.amount,
    )


# ---------------------------------------------------------------------- 2. mark invoiced
@dataclass(frozen=True)
class MarkRequest:
    """Input of :func:`mark_invoiced`: the milestone and the invoice that billed it."""

    milestone_json: str
    invoice_id: str
    number: str | None
    erp_connection: str


def _psa_connection(project_id: str | None) -> str:
    """The PSA connection of the milestone's project, else lead-to-project's PSA."""
    placed = place_project(project_id) if project_id else None
    if placed is not None and placed.psa is not None:
        return placed.psa[1]
    settings = flow_settings(stepkit.config_file())
    return settings.psa(rules_for(settings))[1]


@DBOS.step(name="ms.mark_invoiced", **stepkit.STEP_RETRIES)
def mark_invoiced(request: MarkRequest) -> dict[str, Any]:
    """Mark the milestone invoiced in the PSA and resolve its exceptions.

    Returns:
        ``{"psa": the PSA connection or None, "resolved": exceptions resolved}``; ``psa`` is
        ``None`` when the milestone carries no reference to the PSA. ``{"refused": {...},
        "psa": connection}`` when the PSA refused the mark.
    """
    milestone = Milestone.model_validate_json(request.milestone_json)
    connection = _psa_connection(milestone.project_id)
    note = f"Invoiced in {request.erp_connection} as {request.number or '?'}"
    try:
        marked = stepkit.psa(connection).mark_milestone_invoiced(
            milestone, invoice_id=request.invoice_id, note=note
        )
    except PermanentError as exc:
        if is_retryable(exc):  # pragma: no cover - a PermanentError never is
            raise
        return {"psa": connection, "refused": refusal(exc)}
    billed_as = f"billed as {request.number or request.invoice_id}"
    resolved = resolve_exceptions(billing_dedupe_key(milestone.id), billed_as)
    resolved += resolve_exceptions(mark_dedupe_key(milestone.id), f"{billed_as}, marked")
    return {"psa": connection if marked else None, "resolved": resolved}


@dataclass(frozen=True)
class PsaRefusalRequest:
    """Input of :func:`report_psa_refusal`: the billed milestone and the PSA's refusal."""

    milestone_json: str
    business_key: str
    invoice_id: str
    number: str | None
    psa_connection: str
    refusal: dict[str, Any]


@DBOS.step(name="ms.report_psa_refusal", **stepkit.STEP_RETRIES)
def report_psa_refusal(request: PsaRefusalRequest) -> int:
    """File the PSA's refusal to mark a billed milestone with delivery ops; returns its id."""
    milestone = Milestone.model_validate_json(request.milestone_json)
    number = request.number or request.invoice_id
    return open_exception(
        code="psa.milestone_invoiced.refused",
        title=f"Milestone {milestone.name} ({milestone.id}) is billed as {number}, but "
        f"{request.psa_connection} refused to mark it invoiced: {request.refusal.get('detail')}",
        detail={
            "milestone_id": milestone.id,
            "project_id": milestone.project_id,
            "invoice_id": request.invoice_id,
            "number": request.number,
            "psa_connection": request.psa_connection,
            "error": request.refusal,
            "state": "the invoice stays in the ERP (a credit note is finance's decision); "
            "retry after the fix marks the milestone",
        },
        business_key=request.business_key,
        dedupe_key=mark_dedupe_key(milestone.id),
        flow=FLOW,
        run_id=DBOS.workflow_id,
        amount=milestone.amount,
    )
