"""The end of lead-to-project: compensation when the ERP refuses, write-back when it accepts.

Same conventions as :mod:`.steps`: one DBOS step per side effect, one frozen-dataclass input,
retries from the error class, idempotent writes (a status set twice is the same status).
"""

from dataclasses import dataclass
from typing import Any

from dbos import DBOS

from accord.flows import stepkit
from accord.flows.lead_to_project.steps import (
    FLOW,
    NEEDS_ATTENTION,
    PROVISIONED,
    _psa_on_hold,
    _set_psa_status,
    erp_dedupe_key,
    link_provisioned,
    validation_dedupe_key,
    write_status,
)
from accord.flows.shared.erp_project import link_financed_by
from accord.flows.shared.plan import Plan
from accord.flows.shared.settings import flow_settings
from accord.store import exceptions

__all__ = [
    "HoldRequest",
    "WriteBackRequest",
    "erp_refusal_status",
    "hold_psa_project",
    "open_erp_exception",
    "record_success",
    "release_psa_hold",
    "write_back",
]


# ---------------------------------------------------------------------- 6. compensation
@dataclass(frozen=True)
class HoldRequest:
    """Input of :func:`hold_psa_project` and :func:`open_erp_exception`."""

    plan: dict[str, Any]
    psa_id: str
    rejection: dict[str, Any]
    run_id: str | None = None


@DBOS.step(name="l2p.hold_psa_project", **stepkit.STEP_RETRIES)
def hold_psa_project(request: HoldRequest) -> dict[str, Any]:
    """Put the PSA project on hold and tag it with the ERP's refusal (no time until fixed)."""
    plan = Plan.from_json(request.plan)
    message = f"{request.rejection.get('code') or ''} {request.rejection.get('detail') or ''}"
    _set_psa_status(plan, request.psa_id, hold=True, message=message.strip())
    with stepkit.engine().begin() as conn:
        link_provisioned(conn, ("opportunity", plan.opportunity_id), plan, status="on_hold")
    return {"held": True}


@DBOS.step(name="l2p.open_erp_exception", **stepkit.STEP_RETRIES)
def open_erp_exception(request: HoldRequest) -> dict[str, Any]:
    """File the ERP's refusal with finance ops, with its error code and text."""
    plan = Plan.from_json(request.plan)
    code, title = "erp.project.rejected", f"{plan.erp} refused the project of"
    if request.rejection.get("reason") == "entity_not_shared":
        # The customer could not be made available in the project's entity (docs/flows/
        # multi-entity.md): the ERP's text says why (a feature off, a forbidden pair).
        code = "erp.customer.not_shared"
        title = f"{plan.erp} does not share the customer with {plan.legal_entity} for"
    found = stepkit.open_routed(
        code=code,
        flow=FLOW,
        run_id=request.run_id,
        business_key=plan.business_key,
        title=f"{title} {plan.opportunity_name}",
        detail={
            "opportunity": plan.opportunity_sf_id,
            "opportunity_id": plan.opportunity_id,
            "erp": plan.erp,
            "connection": plan.erp_connection,
            "legal_entity": plan.legal_entity,
            "psa_project": request.psa_id,
            "error": request.rejection,
            "retry": "fix the cause in the ERP, then retry: the run resumes at the ERP step",
        },
        amount=plan.contract_value,
        dedupe_key=erp_dedupe_key(plan.opportunity_id),
    )
    # Sales sees the refusal where it works, like a validation failure (the write is skipped
    # when the opportunity already says so, so the echo of this write changes nothing).
    written = False
    if plan.opportunity_sf_id:
        written = write_status(
            flow_settings(stepkit.config_file()).crm_connection,
            plan.opportunity_sf_id,
            erp_refusal_status(request.rejection),
        )
    return {"exception_id": found, "written_back": written}


def erp_refusal_status(rejection: dict[str, Any]) -> str:
    """``Needs attention: ERP refused the project: <the ERP's reason>``, within 255 characters."""
    reason = str(rejection.get("detail") or rejection.get("code") or rejection.get("error"))
    return f"{NEEDS_ATTENTION}: ERP refused the project: {reason}"[:255]


# ---------------------------------------------------------------------- 5. write back
@dataclass(frozen=True)
class WriteBackRequest:
    """Input of :func:`write_back`: the ids to put on the opportunity."""

    plan: dict[str, Any]
    psa_id: str
    erp_id: str
    run_id: str | None = None


@DBOS.step(name="l2p.release_psa_hold", **stepkit.STEP_RETRIES)
def release_psa_hold(request: WriteBackRequest) -> dict[str, Any]:
    """Lift the hold a rejected earlier attempt put on the PSA project (if any)."""
    plan = Plan.from_json(request.plan)
    if not _psa_on_hold(plan, request.psa_id):
        return {"released": False}
    _set_psa_status(plan, request.psa_id, hold=False, message=None)
    return {"released": True}


@DBOS.step(name="l2p.write_back", **stepkit.STEP_RETRIES)
def write_back(request: WriteBackRequest) -> dict[str, Any]:
    """Write the PSA and ERP project ids and ``Provisioned`` to the opportunity."""
    plan = Plan.from_json(request.plan)
    settings = flow_settings(stepkit.config_file())
    stepkit.crm(settings.crm_connection).write_back(
        plan.opportunity_sf_id,
        PROVISIONED,
        psa_project_id=request.psa_id,
        erp_project_id=request.erp_id,
    )
    # The PSA project carries the ERP id too (where it can), so delivery sees where it bills.
    stepkit.psa(plan.psa_connection).link_erp_project(request.psa_id, request.erp_id)
    return {"written_back": True}


@DBOS.step(name="l2p.record_success", **stepkit.STEP_RETRIES)
def record_success(request: WriteBackRequest) -> dict[str, Any]:
    """Mark the lineage provisioned and close the opportunity's now moot exceptions."""
    plan = Plan.from_json(request.plan)
    with stepkit.engine().begin() as conn:
        link_provisioned(conn, ("opportunity", plan.opportunity_id), plan, status="provisioned")
        link_financed_by(conn, plan, status="provisioned")
        resolved = 0
        for key in (
            validation_dedupe_key(plan.opportunity_id),
            erp_dedupe_key(plan.opportunity_id),
        ):
            resolved += exceptions.auto_resolve(
                conn, dedupe_key=key, resolution=f"provisioned by run {DBOS.workflow_id}"
            )
    return {"resolved_exceptions": resolved}
