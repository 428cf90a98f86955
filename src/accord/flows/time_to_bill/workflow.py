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
"""

import logging
from typing import Any

from dbos import DBOS

from accord.flows.record_event import EventRef, finish_run
from accord.flows.replay import run_overrides
from accord.flows.time_to_bill.steps import FLOW, SubmissionRequest, post_submission

__all__ = ["WORKFLOW", "time_to_bill"]

logger = logging.getLogger(__name__)

WORKFLOW = FLOW
"""The DBOS workflow name approval events start."""


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
