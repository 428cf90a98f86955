"""The milestone billing workflow: a completed PSA milestone is billed once in the ERP.

One durable run per ``milestone.completed`` event:

1. bill it (:func:`~.steps.bill_milestone`): nothing when the xref or the ERP already has its
   invoice; otherwise the ERP role creates and posts the invoice keyed by
   ``MS-<milestone id>`` (:meth:`~accord.connectors.roles.Erp.bill_milestone`); lineage
   milestone -> invoice -> project;
2. on a refusal (closed period, credit hold, inactive or blocked customer): a ``billing.refused``
   exception for finance ops carrying the ERP's error; the run ends ``refused``. After the fix,
   the exception's retry re-runs the event and bills once;
3. mark the milestone invoiced in the PSA and resolve the exception; a PSA refusal keeps the
   invoice (:data:`COMPENSATION`) and is a ``delivery-ops`` exception whose retry marks it.
"""

import logging
from typing import Any

from dbos import DBOS

from accord.domain import Milestone
from accord.flows.bill_milestone.steps import (
    BillRequest,
    MarkRequest,
    PsaRefusalRequest,
    ReportRequest,
    bill_milestone,
    mark_invoiced,
    report_psa_refusal,
    report_refusal,
)
from accord.flows.record_event import EventRef, finish_run, load_event
from accord.flows.shared.compensation import Saga, SagaStep, Undo

__all__ = ["COMPENSATION", "WORKFLOW", "bill_completed_milestone"]

logger = logging.getLogger(__name__)

WORKFLOW = "bill_milestone"
"""The DBOS workflow ``milestone.completed`` runs start."""
_EXCEPTION = "an exception in Accord"

COMPENSATION = Saga(
    flow=WORKFLOW,
    steps=(
        SagaStep(
            "ms.bill",
            "erp",
            Undo.KEEP,
            note="a posted invoice is a financial document: when the PSA then refuses the "
            "mark, it stays; reversing it is a credit note, finance's decision",
        ),
        SagaStep("ms.report_refusal", None, Undo.NOTHING, note=_EXCEPTION),
        SagaStep(
            "ms.mark_invoiced",
            "psa",
            Undo.NOTHING,
            note="the last write; refused, it is retried forward after the fix",
        ),
        SagaStep("ms.report_psa_refusal", None, Undo.NOTHING, note=_EXCEPTION),
    ),
)
"""What undoes or holds each step (see :mod:`accord.flows.shared.compensation`)."""


@DBOS.workflow(name=WORKFLOW)
def bill_completed_milestone(ref: EventRef) -> dict[str, Any]:
    """Bill one completed milestone (see the module docstring)."""
    loaded = load_event(ref)
    milestone = Milestone.model_validate(loaded["data"])
    milestone_json = milestone.model_dump_json()
    base: dict[str, Any] = {"event_id": ref.event_id, "milestone_id": milestone.id}
    if milestone.amount.is_zero:
        return finish_run(WORKFLOW, "nothing_to_bill", base)
    billed = bill_milestone(BillRequest(milestone_json=milestone_json, event_id=ref.event_id))
    erp = billed.get("erp")
    connection = str(erp[1]) if erp else None
    if "rejected" in billed or "unplaced" in billed:
        reason = billed.get("rejected") or {"unplaced": billed["unplaced"]}
        opened = report_refusal(
            ReportRequest(
                milestone_json=milestone_json,
                business_key=ref.business_key,
                reason=reason,
                erp_connection=connection,
            )
        )
        return finish_run(WORKFLOW, "refused", {**base, "reason": reason, "exception": opened})
    ledger = COMPENSATION.ledger()
    ledger.done("ms.bill")
    marked = mark_invoiced(
        MarkRequest(
            milestone_json=milestone_json,
            invoice_id=billed["invoice_id"],
            number=billed.get("number"),
            erp_connection=connection or "",
        )
    )
    if "refused" in marked:
        compensated = ledger.unwind(marked["refused"])  # the invoice is kept: nothing to run
        opened = report_psa_refusal(
            PsaRefusalRequest(
                milestone_json=milestone_json,
                business_key=ref.business_key,
                invoice_id=billed["invoice_id"],
                number=billed.get("number"),
                psa_connection=marked["psa"],
                refusal=marked["refused"],
            )
        )
        return finish_run(
            WORKFLOW,
            "psa_refused",
            {**base, **billed, **marked, "compensated": compensated, "exception": opened},
        )
    outcome = "billed" if billed.get("billed_now") else "already_billed"
    return finish_run(WORKFLOW, outcome, {**base, **billed, **marked})
