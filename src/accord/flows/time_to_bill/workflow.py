"""The time-to-bill workflow: one durable run per ``timesheet.approved`` / ``expense.approved``.

The run's id derives from the event (a redelivered event never runs twice). Approvals are
order-free (``spec.py``): every posting is idempotent by its external id, so runs are
partitioned by their own id and one project's submissions post in parallel. It has a single
step, :func:`~.steps.post_submission`, which validates, queues the postings for the ERP
connection's dispatcher, waits for their outcomes and records the whole submission (see
:mod:`.steps` for why one step).

A retry (the ops API's exception retry or re-date, :func:`accord.flows.replay.retry_exception`)
is a new run ``<run id>.r<n>`` of the same event: the ledger makes it post only the entries
that are not ``posted`` yet, and a re-date's ``posting_date`` override (from the run's
attributes) dates the entries whose own period is closed.

Compensation (:data:`COMPENSATION`): the run writes to one system only, entry by entry, so a
refusal undoes nothing. A refused entry stays unposted (ledger ``rejected`` or ``held``, with an
exception) while the others post; a posted entry is in the ERP's books, and reversing it is a
journal, finance's decision.
"""

import logging
from typing import Any

from dbos import DBOS

from accord.flows.record_event import EventRef, finish_run
from accord.flows.replay import run_overrides
from accord.flows.shared.compensation import Saga, SagaStep, Undo
from accord.flows.time_to_bill.steps import FLOW, SubmissionRequest, post_submission

__all__ = ["COMPENSATION", "WORKFLOW", "time_to_bill"]

logger = logging.getLogger(__name__)

WORKFLOW = FLOW
"""The DBOS workflow name approval events start."""
_BOOKED = (
    "each entry posts on its own key: a refused one stays unposted (held or rejected, with an "
    "exception) and the others post; a posted entry is in the books, reversed only by a journal"
)

COMPENSATION = Saga(
    flow=WORKFLOW,
    steps=(
        SagaStep("ttb.post_submission", "erp", Undo.KEEP, note=_BOOKED),
        SagaStep("ttb.release_holds", "erp", Undo.KEEP, note=_BOOKED),
        SagaStep(
            "ttb.confirm_rejected",
            None,
            Undo.NOTHING,
            note="records in the ledger what the ERP already holds",
        ),
    ),
)
"""What undoes or holds each step (see :mod:`accord.flows.shared.compensation`)."""


def _outcome(result: dict[str, Any]) -> str:
    if result["rejected"]:
        return "needs_attention"
    if result["held"]:
        return "held"
    return "posted"


@DBOS.workflow(name=WORKFLOW)
def time_to_bill(ref: EventRef) -> dict[str, Any]:
    """Post the approved entries of one event to the ERP (see the module docstring)."""
    overrides = run_overrides()
    result = post_submission(
        SubmissionRequest(
            seq=ref.seq,
            event_id=ref.event_id,
            event_type=ref.type,
            business_key=ref.business_key,
            overrides=overrides or None,
        )
    )
    outcome = _outcome(result)
    return finish_run(WORKFLOW, outcome, {"event_id": ref.event_id, **result})
