"""The customer master workflow: a CRM account version propagates to the ERP (and the PSA).

One durable run per ``customer.upserted`` event; runs of one customer (business key
``customer:<id>``) start one at a time in journal order, so two quick edits apply in order and
the ERP ends with the last. The steps:

1. merges (:func:`~.steps.check_merge`): an account Accord knows that was merged into this one
   is a sales-ops exception, and this version is held (nothing written) until a person decides;
2. plan (:func:`~.steps.plan_update`): skip an unchanged version (same CRM-owned fields as the
   last applied: the echo of a write to a field Accord does not propagate) and a customer no
   ERP knows; list the ERP writes, new parents first (top-down), the customer last. A parent
   chain that loops or a parent that is missing is a sales-ops exception;
3. write (:func:`~.steps.write_customer`), in that order: only the fields the CRM owns;
4. record (:func:`~.steps.record_outcome`): the event -> customer lineage edge, and the
   applied version.

The PSA needs no write: a PSA that shares the CRM's org knows the customer *as* the account,
and one without customers of its own has nothing to update (lead-to-project writes none
either). The run output lists the PSA records concerned.
"""

import json
import logging
from typing import Any

from dbos import DBOS

from accord.flows.customer_master.steps import (
    MergeRequest,
    OutcomeRequest,
    PlanRequest,
    WriteRequest,
    check_merge,
    plan_update,
    record_outcome,
    write_customer,
)
from accord.flows.record_event import EventRef, finish_run, load_event

__all__ = ["WORKFLOW", "customer_master"]

logger = logging.getLogger(__name__)

WORKFLOW = "customer_master"
"""The DBOS workflow name ``customer.upserted`` runs start."""


@DBOS.workflow(name=WORKFLOW)
def customer_master(ref: EventRef) -> dict[str, Any]:
    """Propagate one CRM version of a customer (see the module docstring)."""
    loaded = load_event(ref)
    data: dict[str, Any] = loaded["data"]
    customer_json = json.dumps(data)
    customer_id = str(data.get("id"))
    version = str(data.get("updated_at") or ref.event_id)
    base = {"event_id": ref.event_id, "customer_id": customer_id}

    def outcome(status: str, fingerprint: str | None = None) -> None:
        record_outcome(
            OutcomeRequest(
                customer_id=customer_id,
                event_id=ref.event_id,
                status=status,
                version=version,
                fingerprint=fingerprint,
            )
        )

    merged = check_merge(MergeRequest(customer_json=customer_json, business_key=ref.business_key))
    if merged["blocked"]:
        outcome("merge_held")
        return finish_run(WORKFLOW, "merge_held", {**base, "merged": merged["merged"]})
    plan = plan_update(PlanRequest(customer_json=customer_json, business_key=ref.business_key))
    if plan["status"] != "apply":
        outcome(plan["status"])
        return finish_run(
            WORKFLOW, plan["status"], {**base, **{k: v for k, v in plan.items() if k != "status"}}
        )
    written: list[dict[str, Any]] = []
    for w in plan["writes"]:
        result = write_customer(
            WriteRequest(
                target=w["target"],
                customer_json=w["customer_json"],
                crm_id=w["crm_id"],
                create=w["create"],
                omit=tuple(w["omit"]),
                business_key=ref.business_key,
                event_id=ref.event_id,
            )
        )
        written.append(result)
        if "rejected" in result:
            # A child is never written under a parent the ERP refused.
            break
    rejected = [w for w in written if "rejected" in w]
    status = "erp_rejected" if rejected else "applied"
    outcome(status, plan["fingerprint"])
    return finish_run(WORKFLOW, status, {**base, "writes": written, "psa": plan["psa"]})
