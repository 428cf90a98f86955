"""The lead-to-project workflow: a won opportunity becomes a provisioned, billable project.

One durable run per ``opportunity.won`` event (its id derives from the event, so a redelivered
event never runs twice). The steps, in order:

1. validate (:func:`~.steps.validate_opportunity`): every problem is collected; any problem
   ends the run with a sales-ops exception and ``Needs attention: ...`` on the opportunity;
2. resolve the customer hierarchy top-down (:func:`~.steps.upsert_customer`, parents first);
3. provision the PSA project (:func:`~.steps.provision_psa_project`);
4. create the ERP project (:func:`~.erp.create_erp_project`) and its billing schedule
   (:func:`~.billing.write_billing_schedule`: sales order / planning lines);
5. write back ids and ``Provisioned`` (:func:`~.steps.write_back`), lift a hold left by an
   earlier rejection, resolve the opportunity's exceptions;
6. compensation when step 4 is refused: hold and tag the PSA project, finance-ops exception
   (:data:`COMPENSATION` declares what undoes or holds each step).

A retry after the ERP is fixed (:func:`retry_from_erp_step`) forks the run at step 4: the
checkpointed results of steps 1-3 are reused, nothing is read or written again. A brand-new
run for the same opportunity (a redelivery with a new id, a fix in the CRM) also creates
nothing twice: steps 2-3 find their results in the xref before writing.
"""

import json
import logging
from collections.abc import Mapping
from typing import Any

from dbos import DBOS

from accord.flows.lead_to_project.finish import (
    HoldRequest,
    WriteBackRequest,
    hold_psa_project,
    open_erp_exception,
    record_success,
    release_psa_hold,
    write_back,
)
from accord.flows.lead_to_project.steps import (
    CustomerRequest,
    ReportRequest,
    ValidateRequest,
    provision_psa_project,
    report_invalid,
    upsert_customer,
    validate_opportunity,
)
from accord.flows.record_event import EventRef, finish_run, load_event
from accord.flows.shared.billing import BillingRequest, write_billing_schedule
from accord.flows.shared.compensation import Saga, SagaStep, Undo
from accord.flows.shared.erp_project import create_erp_project
from accord.flows.shared.plan import Plan, PlanRequest
from accord.flows.shared.shadow_masters import ShadowMasterRequest, shadow_masters

__all__ = ["COMPENSATION", "ERP_STEP", "WORKFLOW", "lead_to_project", "retry_from_erp_step"]

logger = logging.getLogger(__name__)

WORKFLOW = "lead_to_project"
"""The DBOS workflow name ``opportunity.won`` runs start."""
ERP_STEP = "l2p.create_erp_project"
"""The step a retry after an ERP refusal resumes at."""
_PSA_STEP = "l2p.provision_psa_project"
_STATUS_NOTE = "a status on the opportunity, overwritten by the next run that gets further"

COMPENSATION = Saga(
    flow=WORKFLOW,
    steps=(
        SagaStep("l2p.validate", None, Undo.NOTHING, note="reads the CRM and the rules"),
        SagaStep("l2p.report_invalid", "crm", Undo.NOTHING, note=_STATUS_NOTE),
        SagaStep(
            "l2p.upsert_customer",
            "erp",
            Undo.KEEP,
            note="the customer of a real CRM account stays right whatever is refused later; "
            "a retry finds it in the xref",
        ),
        SagaStep(
            _PSA_STEP,
            "psa",
            Undo.HOLD,
            by="l2p.hold_psa_project",
            note="delivery may already staff the project, so it stays, on hold and tagged "
            "with the refusal (no time or expense) until the ERP has it; a retry that gets "
            "through lifts the hold (l2p.release_psa_hold)",
        ),
        SagaStep(
            ERP_STEP,
            "erp",
            Undo.KEEP,
            note="refused here, or kept when its billing plan is refused: the retry resumes "
            "at this step and upserts the same project",
        ),
        SagaStep(
            "l2p.write_billing_schedule",
            "erp",
            Undo.KEEP,
            note="written whole or refused; the retry writes it again",
        ),
        SagaStep(
            "l2p.hold_psa_project",
            "psa",
            Undo.NOTHING,
            note="the compensation itself; lifted by l2p.release_psa_hold",
        ),
        SagaStep("l2p.open_erp_exception", "crm", Undo.NOTHING, note=_STATUS_NOTE),
        SagaStep(
            "l2p.release_psa_hold",
            "psa",
            Undo.NOTHING,
            note="runs once the ERP accepted: no business refusal can follow",
        ),
        SagaStep(
            "l2p.write_back",
            "crm",
            Undo.NOTHING,
            note="ids and status once both projects exist; a refusal dead-letters the run "
            "and its replay writes them again",
        ),
        SagaStep("l2p.record_success", None, Undo.NOTHING, note="lineage and exceptions"),
        SagaStep(
            "shadow.queue_masters",
            None,
            Undo.NOTHING,
            note="queues the shadow ERP's copy of a migrating entity's records; the shadow's "
            "outcome never reaches this run",
        ),
    ),
)
"""What undoes or holds each step (see :mod:`accord.flows.shared.compensation`)."""


@DBOS.workflow(name=WORKFLOW)
def lead_to_project(ref: EventRef) -> dict[str, Any]:
    """Provision the project of one won opportunity (see the module docstring)."""
    run_id = DBOS.workflow_id
    data = load_event(ref)["data"]
    checked = validate_opportunity(
        ValidateRequest(
            opportunity_json=json.dumps(data), business_key=ref.business_key, event_id=ref.event_id
        )
    )
    base = {
        "event_id": ref.event_id,
        "opportunity_id": data.get("id"),
        "rules_version": checked["rules_version"],
    }
    if checked["plan"] is None:
        report_invalid(
            ReportRequest(
                opportunity_id=str(data.get("id")),
                opportunity_sf_id=checked["opportunity_sf_id"],
                opportunity_name=str(data.get("name")),
                business_key=ref.business_key,
                crm_connection=checked["crm_connection"],
                problems=checked["problems"],
                run_id=run_id,
            )
        )
        return finish_run(WORKFLOW, "needs_attention", {**base, "problems": checked["problems"]})
    plan_json: dict[str, Any] = checked["plan"]
    plan = Plan.from_json(plan_json)
    ledger = COMPENSATION.ledger()
    customers = []
    for c in plan.customers:
        customers.append(
            upsert_customer(
                CustomerRequest(
                    plan=plan_json, customer_json=c.customer_json, crm_id=c.crm_id, run_id=run_id
                )
            )
        )
        ledger.done("l2p.upsert_customer")
    psa = provision_psa_project(PlanRequest(plan=plan_json, run_id=run_id))

    def hold(refusal: Mapping[str, Any]) -> dict[str, Any]:
        return hold_psa_project(
            HoldRequest(
                plan=plan_json, psa_id=psa["psa_id"], rejection=dict(refusal), run_id=run_id
            )
        )

    ledger.done(_PSA_STEP, undo=hold)
    erp = create_erp_project(PlanRequest(plan=plan_json, run_id=run_id))
    if "rejected" not in erp:
        # The billing plan is part of step 4: a refusal of it is compensated the same way,
        # and a retry from the ERP step writes it again (idempotently).
        billing = write_billing_schedule(
            BillingRequest(plan=plan_json, erp_id=erp["erp_id"], run_id=run_id)
        )
        if "rejected" in billing:
            erp = {"rejected": billing["rejected"]}
        else:
            erp = {**erp, "billing": billing}
    summary = {
        **base,
        "customers": customers,
        "psa": {"system": plan.psa_system, "id": psa["psa_id"]},
        "erp": {"system": plan.erp, "connection": plan.erp_connection},
    }
    if "rejected" in erp:
        compensated = ledger.unwind(erp["rejected"])
        opened = open_erp_exception(
            HoldRequest(
                plan=plan_json, psa_id=psa["psa_id"], rejection=erp["rejected"], run_id=run_id
            )
        )
        return finish_run(
            WORKFLOW,
            "erp_rejected",
            {
                **summary,
                "rejection": erp["rejected"],
                "compensated": compensated,
                "exception": opened,
                "plan": plan_json,
            },
        )
    request = WriteBackRequest(
        plan=plan_json, psa_id=psa["psa_id"], erp_id=erp["erp_id"], run_id=run_id
    )
    released = release_psa_hold(request)
    write_back(request)
    resolved = record_success(request)
    summary["erp"]["id"] = erp["erp_id"]
    summary["erp"]["billing_schedule"] = erp["billing"]["schedule_id"]
    # The plan is contract version 1: the contract-change flow starts from it.
    summary["plan"] = plan_json
    # Last, so that recovery replays the earlier steps in their order: a migrating entity's
    # shadow ERP gets the same customers, project and billing plan (background lane).
    shadowed = shadow_masters(ShadowMasterRequest(plan=plan_json, run_id=run_id))
    return finish_run(WORKFLOW, "provisioned", {**summary, **released, **resolved, **shadowed})


def retry_from_erp_step(run_id: str) -> str:
    """Fork a run that the ERP refused at its ERP step; returns the new run's id.

    Steps 1-3 keep their checkpointed outputs (nothing is created again); the ERP step and
    everything after it run anew, so after the fix the project is created, the PSA hold is
    lifted and the ids are written back.

    Raises:
        LookupError: The run never reached the ERP step.
    """
    for step in DBOS.list_workflow_steps(run_id, load_output=False):
        if step["function_name"] == ERP_STEP:
            handle = DBOS.fork_workflow(run_id, step["function_id"])
            return str(handle.workflow_id)
    msg = f"run {run_id} has no {ERP_STEP} step to resume at"
    raise LookupError(msg)
