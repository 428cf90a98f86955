"""The contract-change workflow: one durable run per ``contract.amended`` event.

Ordering: the event's business key is ``contract:<contract id>`` (the canonical key of a
Contract), so every version of one contract lands in one queue partition, where runs start
one at a time in journal order (see :func:`accord.flows.runtime.partition_for`): version n is
applied before version n + 1 even with many workers. The contract key, rather than the
opportunity's, is the right one: amendments are emitted only once the opportunity says
``Provisioned``, i.e. after its ``opportunity.won`` run finished, so the two keys never race,
and the contract stays the unit a later source of amendments (a CLM, the API) would use.

Steps, in order:

1. :func:`prepare_amendment`: the previous version, the field diff, the new plan (and the plan
   of the version last applied), and whether the amendment touches an **invoiced** milestone
   (the ERP role's :meth:`~accord.connectors.roles.Erp.invoiced_milestones`);
2. invoiced -> :func:`block_amendment`: a ``finance-ops`` exception, and **nothing** of the
   amendment is applied (a partial contract would bill a total nobody agreed). Finance and
   sales settle it (a credit note, or a CRM correction that leaves the invoiced milestone as
   it was); the next amendment is applied normally;
3. :func:`update_erp`: the ERP project (an upsert: dates, amount) and its billing schedule
   (:func:`~accord.flows.shared.billing.write_schedule`);
4. :func:`update_psa_project`: budget, dates and milestones of the PSA project
   (:meth:`~accord.connectors.roles.Psa.update_terms`), once the ERP accepted;
5. :func:`record_version`: lineage ``contract -version-> contract_version`` with the outcome.

Compensation (:data:`COMPENSATION`): the PSA update is **held** until the ERP accepted the
version, so an ERP refusal leaves the PSA as it was (and a project the ERP rewrote before it
refused the schedule is reverted); a PSA refusal after the ERP accepted **reverts** the ERP
(:func:`revert_erp`: the version last applied, its schedule lines restored). Either refusal is
an exception (``finance-ops`` for the ERP's, ``delivery-ops`` for the PSA's) saying what was
compensated; the contract stays at the version last applied in both systems.
"""

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dbos import DBOS

from accord.connectors.roles import ProjectTerms
from accord.domain import Contract, Money
from accord.errors import PermanentError
from accord.flows import stepkit
from accord.flows.record_event import EventRef, finish_run, load_event
from accord.flows.shared.amendments import validation_dedupe_key
from accord.flows.shared.billing import billing_lines, write_schedule
from accord.flows.shared.compensation import Saga, SagaStep, Undo
from accord.flows.shared.contracts import (
    EVENT_TYPE,
    baseline_plan,
    contract_from_plan,
    diff,
    milestones_of,
    plan_for,
    versions,
)
from accord.flows.shared.erp_project import ErpRejection, write_erp_project
from accord.flows.shared.plan import Plan, project_id_for
from accord.rules.spec import BudgetBasis
from accord.store import exceptions, lineage

__all__ = [
    "COMPENSATION",
    "FLOW",
    "WORKFLOW",
    "AmendmentRequest",
    "block_amendment",
    "contract_change",
    "prepare_amendment",
    "record_version",
    "revert_erp",
    "update_erp",
    "update_psa_project",
]

logger = logging.getLogger(__name__)

WORKFLOW = "contract_change"
"""The DBOS workflow name ``contract.amended`` runs start."""
FLOW = "contract_change"
"""The flow's name in exceptions, metrics and lineage."""
INVOICED_CODE = "billing.invoiced_milestone_amended"
"""Exception code of an amendment touching an invoiced milestone (routed to finance ops)."""
REJECTED_CODE = "erp.contract_amendment.rejected"
"""Exception code of an amendment the ERP refused (routed to finance ops)."""
PSA_REJECTED_CODE = "psa.contract_amendment.rejected"
"""Exception code of an amendment the PSA refused after the ERP took it (delivery ops)."""
_ERP_STEP = "contracts.update_erp"
_PSA_STEP = "contracts.update_psa_project"
_REVERT_STEP = "contracts.revert_erp"

COMPENSATION = Saga(
    flow=FLOW,
    steps=(
        SagaStep("contracts.prepare_amendment", None, Undo.NOTHING, note="reads"),
        SagaStep("contracts.block_amendment", None, Undo.NOTHING, note="an exception in Accord"),
        SagaStep(
            _ERP_STEP,
            "erp",
            Undo.REVERT,
            by=_REVERT_STEP,
            note="the ERP goes first, so that its refusal leaves the PSA as it was; a project "
            "it rewrote before refusing the schedule, or a version the PSA then refuses, is "
            "written back to the version last applied (project and schedule lines)",
        ),
        SagaStep(
            _PSA_STEP,
            "psa",
            Undo.NOTHING,
            note="held until the ERP accepted the version, and the last system written",
        ),
        SagaStep(
            _REVERT_STEP,
            "erp",
            Undo.NOTHING,
            note="the compensation itself: the version last applied, written again",
        ),
        SagaStep("contracts.record_version", None, Undo.NOTHING, note="lineage"),
    ),
)
"""What undoes or holds each step (see :mod:`accord.flows.shared.compensation`)."""


@dataclass(frozen=True)
class AmendmentRequest:
    """Input of the contract-change steps: the new version and the run."""

    contract_json: str
    event_id: str
    business_key: str
    run_id: str | None = None


def _budget(base: Plan, amount: Decimal) -> Decimal:
    """The project budget for a new contract amount, by the template's budget basis."""
    rules = stepkit.rules()
    for package in rules.spec.service_packages.values():
        if base.template in package.psa_templates:
            if package.budget.basis is BudgetBasis.CONTRACT_AMOUNT:
                factor = 1 + package.budget.contingency_percent / 100
                return (amount * factor).quantize(Decimal("0.01"))
            return amount
    return amount


def _previous(contract: Contract, base: Plan) -> tuple[Contract, Contract, bool]:
    """The version before this one, the latest one applied, and whether a later one applied.

    The first two differ after a blocked version: its diff is shown against the version
    before, but what it changes in the systems is measured against what was last applied.
    A later version already applied means this event is replayed out of its time: applying
    it would roll the contract back.
    """
    with stepkit.engine().connect() as conn:
        known = versions(conn, contract.id)
        applied = {
            edge.to_id
            for edge in lineage.list_for(conn, node_type="contract", node_id=contract.id)
            if edge.relation == "amended" and edge.status == "applied"
        }
    earlier = [v.contract for v in known if v.version < contract.version]
    superseded = any(
        version_node(v.contract.id, v.version) in applied
        for v in known
        if v.version > contract.version
    )
    # Version 1's rate card (time and materials) is taken to be this version's: the plan
    # keeps only the card's id, and rates are not a term the CRM amends.
    baseline = contract_from_plan(base, rate_card=contract.rate_card)
    last_applied = next(
        (c for c in reversed(earlier) if version_node(c.id, c.version) in applied), baseline
    )
    return (earlier[-1] if earlier else baseline), last_applied, superseded


def _amount(contract: Contract, base: Plan) -> Decimal:
    """The contract's value (its total, or its retainer fee)."""
    return (contract.total_value or contract.retainer_fee or Money.of(0, base.currency)).amount


def _invoiced(plan: Plan, milestone_ids: list[str]) -> list[str]:
    """The milestones among ``milestone_ids`` the ERP has invoiced."""
    return stepkit.erp(plan.erp_connection).invoiced_milestones(plan.legal_entity, milestone_ids)


@DBOS.step(name="contracts.prepare_amendment", **stepkit.STEP_RETRIES)
def prepare_amendment(request: AmendmentRequest) -> dict[str, Any]:
    """The previous version, the diff, the new plan and the invoiced milestones it touches."""
    contract = Contract.model_validate_json(request.contract_json)
    assert contract.opportunity_id is not None  # contracts from capture always name it
    project_id = project_id_for(contract.opportunity_id)
    with stepkit.engine().connect() as conn:
        base = baseline_plan(conn, project_id)
    if base is None:
        return {"status": "not_provisioned", "version": contract.version}
    previous, applied, superseded = _previous(contract, base)
    if superseded:
        return {"status": "superseded", "version": contract.version}
    plan = plan_for(base, contract, budget=_budget(base, _amount(contract, base)))
    applied_plan = plan_for(base, applied, budget=_budget(base, _amount(applied, base)))
    changes = diff(previous, contract)
    before = {m.id: m for m in applied.milestones}
    after = {m.id: m for m in contract.milestones}
    touched = [
        key
        for key, old in before.items()
        if key not in after
        or (old.name, old.amount, old.due_date)
        != (after[key].name, after[key].amount, after[key].due_date)
    ]
    return {
        "status": "ready",
        "version": contract.version,
        "previous_version": previous.version,
        "plan": plan.to_json(),
        "applied_version": applied.version,
        "applied_plan": applied_plan.to_json(),
        "previous_keys": [m.id for m in applied.milestones],
        "diff": changes,
        "invoiced": _invoiced(plan, touched) if touched else [],
        "psa_id": stepkit.known_external("psa_project", project_id, plan.psa_connection),
    }


@dataclass(frozen=True)
class BlockRequest:
    """Input of :func:`block_amendment`: why the amendment cannot be applied."""

    plan: dict[str, Any]
    contract_id: str
    version: int
    business_key: str
    code: str
    reason: dict[str, Any]
    run_id: str | None = None


@DBOS.step(name="contracts.block_amendment", **stepkit.STEP_RETRIES)
def block_amendment(request: BlockRequest) -> dict[str, Any]:
    """File the amendment with finance ops (one open exception per contract)."""
    plan = Plan.from_json(request.plan)
    found = stepkit.open_routed(
        code=request.code,
        flow=FLOW,
        run_id=request.run_id,
        business_key=request.business_key,
        title=(f"Amendment v{request.version} of {plan.opportunity_name} was not applied"),
        detail={
            "contract": request.contract_id,
            "version": request.version,
            "opportunity": plan.opportunity_sf_id,
            "erp": plan.erp,
            **request.reason,
        },
        amount=plan.contract_value,
        dedupe_key=f"{FLOW}:{request.contract_id}",
    )
    return {"exception_id": found}


@dataclass(frozen=True)
class PsaRequest:
    """Input of :func:`update_psa_project`: the version's plan and the PSA project."""

    plan: dict[str, Any]
    psa_id: str


@DBOS.step(name=_PSA_STEP, **stepkit.STEP_RETRIES)
def update_psa_project(request: PsaRequest) -> dict[str, Any]:
    """Write the version's budget, dates and milestones to the PSA project (upserts).

    Returns:
        ``{"milestones": n}``, or ``{"rejected": {...}}`` when the PSA refused the terms.
    """
    plan = Plan.from_json(request.plan)
    milestones = milestones_of(plan)
    try:
        stepkit.psa(plan.psa_connection).update_terms(
            request.psa_id,
            ProjectTerms(
                project_id=plan.project_id,
                budget=plan.budget_value,
                contract_value=plan.contract_value,
                start_date=dt.date.fromisoformat(plan.start_date),
                end_date=dt.date.fromisoformat(plan.end_date) if plan.end_date else None,
                rate_card_id=plan.rate_card_id,
                milestones=milestones,
            ),
        )
    except PermanentError as exc:
        return {"rejected": ErpRejection.from_error(exc).__dict__}
    return {"milestones": len(milestones)}


@dataclass(frozen=True)
class ErpRequest:
    """Input of :func:`update_erp`: the version's plan and the schedule lines written before."""

    plan: dict[str, Any]
    previous_keys: tuple[str, ...] = ()


@DBOS.step(name=_ERP_STEP, **stepkit.STEP_RETRIES)
def update_erp(request: ErpRequest) -> dict[str, Any]:
    """Upsert the ERP project (dates, amount) and rewrite its billing schedule.

    Returns:
        The schedule written, or ``{"rejected": {...}, "erp_id": id or None}`` when the ERP
        refused it; ``erp_id`` is set when the project was rewritten before the schedule was
        refused (so that the compensation writes it back).
    """
    plan = Plan.from_json(request.plan)
    erp_id: str | None = None
    try:
        erp_id = write_erp_project(plan)
        return {
            "erp_id": erp_id,
            **write_schedule(plan, erp_id, previous_keys=request.previous_keys),
        }
    except PermanentError as exc:
        return {"rejected": ErpRejection.from_error(exc).__dict__, "erp_id": erp_id}


@dataclass(frozen=True)
class RevertRequest:
    """Input of :func:`revert_erp`: the version last applied and the refused version's lines."""

    plan: dict[str, Any]
    refused_keys: tuple[str, ...] = ()


@DBOS.step(name=_REVERT_STEP, **stepkit.STEP_RETRIES)
def revert_erp(request: RevertRequest) -> dict[str, Any]:
    """Write the version last applied back to the ERP: its project, then its schedule.

    Schedule lines only the refused version had are removed. A refusal of the revert itself is
    returned (``{"refused": {...}}``), so the exception can say the ERP was left as it is.
    """
    plan = Plan.from_json(request.plan)
    try:
        erp_id = write_erp_project(plan)
        keys = (*request.refused_keys, *(line.key for line in billing_lines(plan)))
        write_schedule(plan, erp_id, previous_keys=tuple(dict.fromkeys(keys)))
    except PermanentError as exc:
        return {"reverted": False, "refused": ErpRejection.from_error(exc).__dict__}
    return {"reverted": True, "erp_id": erp_id}


@dataclass(frozen=True)
class VersionRequest:
    """Input of :func:`record_version`: the version and its outcome."""

    contract_id: str
    opportunity_id: str
    version: int
    event_id: str
    status: str
    run_id: str | None = None


def version_node(contract_id: str, version: int) -> str:
    """Lineage node id of one contract version."""
    return f"{contract_id}@v{version}"


@DBOS.step(name="contracts.record_version", **stepkit.STEP_RETRIES)
def record_version(request: VersionRequest) -> dict[str, Any]:
    """Record the version in lineage (opportunity -> contract -> version), with its outcome."""
    with stepkit.engine().begin() as conn:
        lineage.link(
            conn,
            from_type="opportunity",
            from_id=request.opportunity_id,
            to_type="contract",
            to_id=request.contract_id,
            relation="contracted",
            run_id=request.run_id,
            status="active",
        )
        lineage.link(
            conn,
            from_type="contract",
            from_id=request.contract_id,
            to_type="contract_version",
            to_id=version_node(request.contract_id, request.version),
            relation="amended",
            run_id=request.run_id,
            event_id=request.event_id,
            status=request.status,
        )
        if request.status == "applied":
            # A later version applied: an earlier blocked one is moot.
            for key in (
                f"{FLOW}:{request.contract_id}",
                validation_dedupe_key(request.contract_id),
            ):
                exceptions.auto_resolve(
                    conn,
                    dedupe_key=key,
                    resolution=f"version {request.version} applied by run {request.run_id}",
                )
    return {"recorded_at": dt.datetime.now(dt.UTC).isoformat()}


def _state(applied_version: int, compensated: list[dict[str, Any]]) -> str:
    """What the systems hold after a refusal and its compensation, for the exception."""
    failed = [c for c in compensated if not c.get("reverted")]
    if not failed:
        return f"the ERP and the PSA keep version {applied_version}"
    return (
        f"the ERP could not be written back to version {applied_version} "
        f"({failed[0].get('refused')}): correct it there"
    )


@DBOS.workflow(name=WORKFLOW)
def contract_change(ref: EventRef) -> dict[str, Any]:
    """Apply one contract version to the PSA and the ERP (see the module docstring)."""
    run_id = DBOS.workflow_id
    data = load_event(ref)["data"]
    contract = Contract.model_validate(data)
    request = AmendmentRequest(
        contract_json=contract.model_dump_json(),
        event_id=ref.event_id,
        business_key=ref.business_key,
        run_id=run_id,
    )
    prepared = prepare_amendment(request)
    base = {"event_id": ref.event_id, "contract_id": contract.id, "version": contract.version}
    if prepared["status"] != "ready":
        return finish_run(WORKFLOW, prepared["status"], base)
    assert contract.opportunity_id is not None
    plan_json: dict[str, Any] = prepared["plan"]
    summary = {**base, "previous_version": prepared["previous_version"], "diff": prepared["diff"]}
    version = VersionRequest(
        contract_id=contract.id,
        opportunity_id=contract.opportunity_id,
        version=contract.version,
        event_id=ref.event_id,
        status="applied",
        run_id=run_id,
    )
    if prepared["invoiced"]:
        opened = block_amendment(
            BlockRequest(
                plan=plan_json,
                contract_id=contract.id,
                version=contract.version,
                business_key=ref.business_key,
                code=INVOICED_CODE,
                reason={
                    "invoiced_milestones": prepared["invoiced"],
                    "diff": prepared["diff"],
                    "action": "invoiced milestones are never changed: settle with a credit "
                    "note or correct the CRM; nothing of this amendment was applied",
                },
                run_id=run_id,
            )
        )
        record_version(VersionRequest(**{**version.__dict__, "status": "blocked_invoiced"}))
        return finish_run(
            WORKFLOW, "blocked", {**summary, "invoiced": prepared["invoiced"], **opened}
        )
    applied_json: dict[str, Any] = prepared["applied_plan"]
    refused_keys = tuple(line.key for line in billing_lines(Plan.from_json(plan_json)))
    ledger = COMPENSATION.ledger()

    def revert(_: object) -> dict[str, Any]:
        return revert_erp(RevertRequest(plan=applied_json, refused_keys=refused_keys))

    def refused(code: str, status: str, rejection: dict[str, Any]) -> dict[str, Any]:
        compensated = ledger.unwind(rejection)
        opened = block_amendment(
            BlockRequest(
                plan=plan_json,
                contract_id=contract.id,
                version=contract.version,
                business_key=ref.business_key,
                code=code,
                reason={
                    "error": rejection,
                    "diff": prepared["diff"],
                    "compensated": compensated,
                    "state": _state(prepared["applied_version"], compensated),
                },
                run_id=run_id,
            )
        )
        record_version(VersionRequest(**{**version.__dict__, "status": status}))
        return finish_run(
            WORKFLOW,
            status,
            {**summary, "rejection": rejection, "compensated": compensated, **opened},
        )

    erp = update_erp(ErpRequest(plan=plan_json, previous_keys=tuple(prepared["previous_keys"])))
    if "rejected" in erp:
        if erp.get("erp_id"):
            ledger.done(_ERP_STEP, undo=revert)  # the project was rewritten, the schedule not
        return refused(REJECTED_CODE, "erp_rejected", erp["rejected"])
    ledger.done(_ERP_STEP, undo=revert)
    if prepared["psa_id"]:
        psa = update_psa_project(PsaRequest(plan=plan_json, psa_id=prepared["psa_id"]))
        if "rejected" in psa:
            return refused(PSA_REJECTED_CODE, "psa_rejected", psa["rejected"])
        ledger.done(_PSA_STEP)
    recorded = record_version(version)
    return finish_run(WORKFLOW, "applied", {**summary, **recorded, "billing": erp})


_ = EVENT_TYPE  # the event type this workflow handles (registered in accord.flows.runtime)
