"""The milestone billing workflow: a completed PSA milestone is billed once in the ERP.

One durable run per ``milestone.completed`` event:

1. bill it (:func:`~.steps.bill_milestone`): nothing when the xref or the ERP already has its
   invoice; otherwise the ERP role creates and posts the invoice keyed by
   ``MS-<milestone id>`` (:meth:`~accord.connectors.roles.Erp.bill_milestone`); lineage
   milestone -> invoice -> project;
2. on a refusal (closed period, credit hold, inactive or blocked customer): a ``billing.refused``
   exception for finance ops carrying the ERP's error; the run ends ``refused``. After the fix,
   the exception's retry re-runs the event and bills once;
3. mark the milestone invoiced in the PSA and resolve the exception.
"""

import logging
from typing import Any

from dbos import DBOS

from accord.domain import Milestone
from accord.flows.bill_milestone.steps import (
    BillRequest,
    MarkRequest,
    ReportRequest,
    bill_milestone,
    mark_invoiced,
    report_refusal,
)
from accord.flows.record_event import EventRef, finish_run, load_event

__all__ = ["WORKFLOW", "bill_completed_milestone"]

logger = logging.getLogger(__name__)

WORKFLOW = "bill_milestone"
"""The DBOS workflow ``milestone.completed`` runs start."""


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
    marked = mark_invoiced(
        MarkRequest(
            milestone_json=milestone_json,
            invoice_id=billed["invoice_id"],
            number=billed.get("number"),
            erp_connection=connection or "",
        )
    )
    outcome = "billed" if billed.get("billed_now") else "already_billed"
    return finish_run(WORKFLOW, outcome, {**base, **billed, **marked})
