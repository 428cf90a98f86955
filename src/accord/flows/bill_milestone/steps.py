"""The side effects of milestone billing, one DBOS step each, with one frozen-dataclass input.

**Never billed twice.** Before writing, :func:`bill_milestone` asks the xref
(``milestone_invoice``: milestone id -> ERP invoice) and then the ERP itself by the external id
derived from the milestone (NetSuite ``externalId`` ``MS-<milestone id>``; Business Central
``externalDocumentNumber`` = the milestone id). Either answer means "already billed" and
nothing is written. The NetSuite write is itself an ``eid:`` upsert, and runs about one project
are serialised by the event queue's partitions, so two completions of one milestone cannot
both create an invoice.

Business Central needs two calls (create the draft, then ``Microsoft.NAV.post``): a draft left
by a refused post (closed period, blocked customer) is found by its external document number
and posted on the retry, never created again.

A refusal by the ERP is returned (``{"rejected": ...}``), not raised: the workflow files it
with finance ops, and a retry after the fix re-runs the event (``accord.flows.replay``).
"""

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dbos import DBOS

from accord.connectors.business_central.mapping import bc_number
from accord.connectors.netsuite.mapping import SOURCE_ID_FIELD, SOURCE_KIND_FIELD
from accord.domain import ErpSystem, InvoiceLineKind, Milestone, Money
from accord.errors import PermanentError, is_retryable
from accord.flows import stepkit
from accord.flows.cash import common
from accord.flows.cash.settings import milestone_settings
from accord.flows.shared.exclusive import exclusive

__all__ = [
    "FLOW",
    "BillRequest",
    "MarkRequest",
    "ReportRequest",
    "bill_milestone",
    "billing_dedupe_key",
    "contract_amount",
    "invoice_id_for",
    "mark_invoiced",
    "report_refusal",
]

logger = logging.getLogger(__name__)

FLOW = "bill_milestone"
"""The flow's name in exceptions, metrics and lineage."""
_BC_KEY_LENGTH = 35
"""``externalDocumentNumber`` is a ``Code[35]`` in Business Central."""


def invoice_id_for(milestone_id: str) -> str:
    """Canonical id (and NetSuite external id) of a milestone's invoice."""
    return f"MS-{milestone_id}"


def billing_dedupe_key(milestone_id: str) -> str:
    """Dedupe key of the finance-ops exception about billing one milestone."""
    return f"{FLOW}:{milestone_id}:billing"


def _bc_key(milestone_id: str) -> str:
    if len(milestone_id) <= _BC_KEY_LENGTH:
        return milestone_id
    return bc_number(milestone_id, length=_BC_KEY_LENGTH)


# ---------------------------------------------------------------------- 1. bill
@dataclass(frozen=True)
class BillRequest:
    """Input of :func:`bill_milestone`: the completed milestone."""

    milestone_json: str
    event_id: str


def _bc_legal_entity(connection: str) -> str | None:
    for code, spec in stepkit.rules().spec.legal_entities.items():
        if spec.erp is ErpSystem.BUSINESS_CENTRAL and spec.connection == connection:
            return code
    return None


def contract_amount(milestone: Milestone, system: str, connection: str) -> Decimal | None:
    """The milestone's amount in the contract's ERP billing schedule, when one was written.

    Lead-to-project writes the schedule (xref ``erp_milestone``: NetSuite
    ``<sales order id>:<line n>``, Business Central planning line ``documentNumber``). The
    contract (CRM-owned) amount wins over the PSA's copy; without a schedule, the PSA's.
    """
    ext = stepkit.known_external("erp_milestone", milestone.id, connection)
    if ext is None:
        return None
    connector: Any = stepkit.connections().connector(connection)
    if system == ErpSystem.NETSUITE.value:
        order_id, _, line_no = ext.partition(":")
        items = (connector.get("salesOrder", order_id).get("item") or {}).get("items") or []
        index = int(line_no) - 1 if line_no.isdigit() else -1
        if 0 <= index < len(items) and str(items[index].get("description", "")).startswith(
            f"{milestone.id}:"
        ):
            return Decimal(str(items[index]["amount"]))
        return None
    if "projectPlanningLines" not in connector.resources():
        return None
    legal_entity = _bc_legal_entity(connection)
    scoped = connector.for_company(legal_entity) if legal_entity else connector
    line = scoped.get_by_external_id("projectPlanningLines", ext)
    if line is None or line.get("lineAmount") is None:
        return None
    return Decimal(str(line["lineAmount"]))


def _bill_netsuite(
    milestone: Milestone, connection: str, customer: str, job: str
) -> dict[str, Any]:
    connector: Any = stepkit.connections().connector(connection)
    eid = invoice_id_for(milestone.id)
    found = connector.get_by_external_id("invoice", eid)
    if found is not None:
        return {
            "erp_id": str(found["id"]),
            "number": found.get("tranId"),
            "created": False,
            "billed_now": False,
        }
    settings = milestone_settings(stepkit.config_file())
    amount = float(milestone.amount.amount)  # a JSON number at the wire; two decimals survive
    body = {
        "entity": {"id": customer},
        "tranDate": dt.datetime.now(dt.UTC).date().isoformat(),
        "memo": f"Milestone {milestone.name} ({milestone.id})",
        "item": {
            "items": [
                {
                    "item": {"id": settings.netsuite_item_id},
                    "quantity": 1,
                    "rate": amount,
                    "amount": amount,
                    "description": f"Milestone: {milestone.name}",
                    "job": {"id": job},
                    SOURCE_ID_FIELD: milestone.id,
                    SOURCE_KIND_FIELD: InvoiceLineKind.MILESTONE.value,
                }
            ]
        },
    }
    result = connector.upsert("invoice", eid, body)
    record = connector.get("invoice", result.id)
    return {
        "erp_id": result.id,
        "number": record.get("tranId"),
        "created": result.created,
        "billed_now": result.created,
    }


def _bill_business_central(milestone: Milestone, connection: str, customer: str) -> dict[str, Any]:
    legal_entity = _bc_legal_entity(connection)
    base: Any = stepkit.connections().connector(connection)
    connector = base.for_company(legal_entity) if legal_entity else base
    key = _bc_key(milestone.id)
    # BC has no upsert: two runs billing one milestone at once must not both find nothing.
    with exclusive(f"invoice:{connection}:{key}"):
        return _bill_bc_invoice(milestone, connection, connector, customer, key)


def _bill_bc_invoice(
    milestone: Milestone,
    connection: str,
    connector: Any,  # noqa: ANN401 - the company-scoped BC connector
    customer: str,
    key: str,
) -> dict[str, Any]:
    found = connector.get_by_external_id("salesInvoices", key)
    created = found is None
    if found is None:
        settings = milestone_settings(stepkit.config_file())
        line: dict[str, Any] = {
            "lineType": settings.bc_line_type,
            "description": f"Milestone: {milestone.name}"[:100],
            "quantity": 1,
            "unitPrice": float(milestone.amount.amount),
        }
        if settings.bc_line_object:
            line["lineObjectNumber"] = settings.bc_line_object
        result = connector.upsert(
            "salesInvoices",
            key,
            {
                "customerNumber": customer,
                "invoiceDate": dt.datetime.now(dt.UTC).date().isoformat(),
                "salesInvoiceLines": [line],
            },
        )
        invoice_id = result.id
    else:
        invoice_id = str(found["id"])
    # Known before the post, so that the posted invoice maps to this canonical id.
    stepkit.link_xref(
        "invoice", invoice_id_for(milestone.id), "business_central", connection, invoice_id
    )
    posted = connector.post_sales_invoice(invoice_id)
    record = connector.get("salesInvoices", invoice_id)
    # A draft a refused post left behind is billed now, by this post.
    return {
        "erp_id": invoice_id,
        "number": record.get("number"),
        "created": created,
        "billed_now": created or posted,
    }


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
    placed = common.place_project(project_id)
    if placed.erp is None or placed.customer_id is None:
        return {"unplaced": f"project {milestone.project_id} has no ERP project or customer"}
    system, connection, job = placed.erp
    invoice_id = invoice_id_for(milestone.id)
    out: dict[str, Any] = {"invoice_id": invoice_id, "erp": [system, connection]}
    known = stepkit.known_external("milestone_invoice", milestone.id, connection)
    if known is not None:
        return {**out, "erp_id": known, "number": None, "created": False, "already": True}
    customer = stepkit.known_external("customer", placed.customer_id, connection)
    if customer is None:
        return {"unplaced": f"customer {placed.customer_id} is not in {connection}"}
    try:
        contract = contract_amount(milestone, system, connection)
        if contract is not None:
            out["amount_source"] = "contract"
            milestone = milestone.model_copy(
                update={"amount": Money.of(contract, milestone.amount.currency)}
            )
        if system == ErpSystem.NETSUITE.value:
            billed = _bill_netsuite(milestone, connection, customer, job)
        else:
            billed = _bill_business_central(milestone, connection, customer)
    except PermanentError as exc:
        if is_retryable(exc):  # pragma: no cover - a PermanentError never is
            raise
        refusal = common.ErpRefusal(
            error=type(exc).__name__,
            code=exc.code,
            detail=exc.detail or str(exc),
            status_code=exc.status_code,
        )
        return {**out, "rejected": refusal.__dict__}
    stepkit.link_xref("milestone_invoice", milestone.id, system, connection, billed["erp_id"])
    stepkit.link_xref("invoice", invoice_id, system, connection, billed["erp_id"])
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
    return {**out, **billed, "amount": str(milestone.amount.amount)}


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
    return common.open_exception(
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


@DBOS.step(name="ms.mark_invoiced", **stepkit.STEP_RETRIES)
def mark_invoiced(request: MarkRequest) -> dict[str, Any]:
    """Mark the milestone invoiced in the PSA and resolve its billing exception.

    Kantata stories have no invoiced state: the story gets an ``invoice`` external reference
    naming the ERP invoice (``successful``). Certinia: ``pse__Invoiced__c = true``.
    """
    milestone = Milestone.model_validate_json(request.milestone_json)
    ref = milestone.refs[0] if milestone.refs else None
    marked: dict[str, Any] = {"psa": None}
    if ref is not None and ref.system.value == "kantata" and milestone.project_id:
        placed = common.place_project(milestone.project_id)
        connection = placed.psa[1] if placed.psa else "kantata"
        connector: Any = stepkit.connections().connector(connection)
        connector.set_reference(
            "stories",
            ref.id,
            service_name=connector.config.service_name,
            service_model="invoice",
            ref=request.invoice_id,
            message=f"Invoiced in {request.erp_connection} as {request.number or '?'}",
        )
        marked["psa"] = "kantata"
    elif ref is not None and ref.system.value in ("certinia", "salesforce"):
        placed = common.place_project(milestone.project_id or "")
        connection = placed.psa[1] if placed.psa else "certinia"
        stepkit.connections().connector(connection).update(
            "pse__Milestone__c", ref.id, {"pse__Invoiced__c": True}
        )
        marked["psa"] = "certinia"
    resolved = common.resolve_exceptions(
        billing_dedupe_key(milestone.id), f"billed as {request.number or request.invoice_id}"
    )
    return {**marked, "resolved": resolved}
