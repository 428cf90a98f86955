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
3. write (:func:`~.steps.create_parent`, :func:`~.steps.write_customer`), in that order: only
   the fields the CRM owns; each update after a snapshot of what the ERP held
   (:func:`~.compensation.snapshot_customer`). ERPs are written in the order of their
   connection names;
4. an ERP refuses: the ERPs written before it are written back to their snapshots, the ones
   after it are not written, and one exception says so (:mod:`.compensation`, whose
   :data:`~.compensation.COMPENSATION` declares each step's undo);
5. record (:func:`~.steps.record_outcome`): the event -> customer lineage edge, and the
   applied version.

The PSA needs no write: a PSA that shares the CRM's org knows the customer *as* the account,
and one without customers of its own has nothing to update (lead-to-project writes none
either). The run output lists the PSA records concerned.
"""

import json
import logging
from typing import Any

from dbos import DBOS

from accord.flows.customer_master.compensation import (
    COMPENSATION,
    CREATE_STEP,
    WRITE_STEP,
    RejectionRequest,
    RevertRequest,
    SnapshotRequest,
    report_rejection,
    revert_customer,
    snapshot_customer,
)
from accord.flows.customer_master.steps import (
    MergeRequest,
    OutcomeRequest,
    PlanRequest,
    WriteRequest,
    check_merge,
    create_parent,
    plan_update,
    record_outcome,
    write_customer,
)
from accord.flows.record_event import EventRef, finish_run, load_event
from accord.flows.shared.compensation import Compensator
from accord.flows.shared.shadow_masters import ShadowCustomersRequest, shadow_customers

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
    ledger = COMPENSATION.ledger()
    compensated: list[dict[str, Any]] = []
    for w in plan["writes"]:
        request = WriteRequest(
            target=w["target"],
            customer_json=w["customer_json"],
            crm_id=w["crm_id"],
            create=w["create"],
            omit=tuple(w["omit"]),
            business_key=ref.business_key,
            event_id=ref.event_id,
        )
        before: dict[str, Any] | None = None
        if request.create:
            written.append(create_parent(request))
        else:
            before = snapshot_customer(SnapshotRequest(target=w["target"], customer_id=customer_id))
            written.append(write_customer(request))
        result = written[-1]
        if "rejected" in result:
            # A child is never written under a parent the ERP refused, nor the version
            # in the ERPs after this one; the ones before it are written back.
            compensated = ledger.unwind(result["refusal"])
            report_rejection(
                RejectionRequest(
                    customer_id=str(result["customer_id"]),
                    customer_name=str(data.get("name")),
                    business_key=ref.business_key,
                    connection=w["target"]["connection"],
                    erp=w["target"]["erp"],
                    refusal=result["refusal"],
                    compensated=tuple(compensated),
                )
            )
            break
        if request.create:
            ledger.done(CREATE_STEP)
        else:
            ledger.done(WRITE_STEP, undo=_revert(request, before))
    rejected = [w for w in written if "rejected" in w]
    status = "erp_rejected" if rejected else "applied"
    outcome(status, plan["fingerprint"])
    # Last: a migrating entity's shadow ERP gets each write its system of record accepted.
    accepted = tuple(
        {"target": w["target"], "customer_json": w["customer_json"], "omit": list(w["omit"])}
        for w, result in zip(plan["writes"], written, strict=False)
        if "rejected" not in result
    )
    shadowed = shadow_customers(ShadowCustomersRequest(writes=accepted)) if accepted else {}
    return finish_run(
        WORKFLOW,
        status,
        {**base, "writes": written, "psa": plan["psa"], "compensated": compensated, **shadowed},
    )


def _revert(request: WriteRequest, before: dict[str, Any] | None) -> Compensator:
    """The compensation of one update: write the snapshot back."""

    def revert(_: object) -> dict[str, Any]:
        if before is None:  # pragma: no cover - the plan updates only customers the ERP has
            return {"connection": request.target["connection"], "reverted": False}
        return revert_customer(
            RevertRequest(
                target=request.target,
                customer_json=request.customer_json,
                snapshot=before,
                omit=tuple(request.omit),
            )
        )

    return revert
