"""The side effects of lead-to-project, one DBOS step each, with one frozen-dataclass input.

Retries come from the error class (``should_retry=is_retryable``): 429, 5xx and timeouts are
retried with backoff; a business refusal never is. Every write is idempotent on its own, so a
step that ran but whose checkpoint was lost (a crash between the call and the commit) runs
again harmlessly; each goes through a role (:mod:`accord.connectors.roles`), whose
implementation keys it:

- ERP customers: the xref is consulted first; the ERP role keys the customer by its canonical
  id (an external id, or a number derived from it, verified before it is created);
- PSA project and milestones: keyed by the project id (``PRJ-<opportunity id>``) and
  ``<project id>-M<n>``;
- ERP project: keyed by the project id;
- write-back: a plain update of the opportunity's status and ids (same values, same result).

A verify-before-create is a read then a write, which two runs for two opportunities of one
customer could interleave; the customer writes hold
:func:`~accord.flows.shared.customers.customer_lock`.

What does *not* belong here: the order of steps (:mod:`.workflow`), what lead-to-project
shares with other flows (:mod:`accord.flows.shared`: validation rules and the plan in
:mod:`~accord.flows.shared.plan`, ERP customers in :mod:`~accord.flows.shared.customers`, the
ERP project in :mod:`~accord.flows.shared.erp_project`, the billing schedule in
:mod:`~accord.flows.shared.billing`), and the compensation and write-back steps
(:mod:`.finish`).
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from dbos import DBOS

from accord.connectors.roles import DealLine, PsaProjectPlan
from accord.domain import BillingModel, Customer, Milestone, Money, Opportunity
from accord.domain.enums import ProjectStatus
from accord.flows import stepkit
from accord.flows.shared.customers import (
    customer_lock,
    link_customer_book,
    link_parent,
    write_plan_customer,
)
from accord.flows.shared.plan import Plan, PlanRequest, _project, build_plan
from accord.flows.shared.settings import flow_settings, rules_for

__all__ = [
    "FLOW",
    "NEEDS_ATTENTION",
    "PROVISIONED",
    "CustomerRequest",
    "ReportRequest",
    "ValidateRequest",
    "link_provisioned",
    "provision_psa_project",
    "report_invalid",
    "upsert_customer",
    "validate_opportunity",
]

logger = logging.getLogger(__name__)

FLOW = "lead_to_project"
"""The flow's name in exceptions, metrics and lineage."""
PROVISIONED = "Provisioned"
"""The opportunity's integration status once its project is provisioned."""
NEEDS_ATTENTION = "Needs attention"
"""Prefix of the opportunity's integration status when sales ops must fix it."""
HOLD_TAG = "[Accord: ERP rejected]"
"""Tag put on a PSA project held because the ERP refused its project."""


def validation_dedupe_key(opportunity_id: str) -> str:
    """Dedupe key of the opportunity's sales-ops exception."""
    return f"{FLOW}:{opportunity_id}:validation"


def erp_dedupe_key(opportunity_id: str) -> str:
    """Dedupe key of the opportunity's finance-ops exception."""
    return f"{FLOW}:{opportunity_id}:erp"


# ---------------------------------------------------------------------- 1. validate
@dataclass(frozen=True)
class ValidateRequest:
    """Input of :func:`validate_opportunity`: the event's canonical opportunity."""

    opportunity_json: str
    business_key: str
    event_id: str


@DBOS.step(name="l2p.validate", **stepkit.STEP_RETRIES)
def validate_opportunity(request: ValidateRequest) -> dict[str, Any]:
    """Read what validation needs (accounts, lines, rate card) and build the plan.

    Returns:
        ``{"plan": <plan JSON> | None, "problems": {field: what}, "rules_version": ...}``.
    """
    opportunity = Opportunity.model_validate_json(request.opportunity_json)
    settings = flow_settings(stepkit.config_file())
    rules = rules_for(settings)
    psa = settings.psa(rules)
    crm = stepkit.crm(settings.crm_connection)
    account_crm_id = crm.crm_id(opportunity.customer_id)
    if account_crm_id is None:
        # An account Accord keyed itself: find it by that key.
        found = crm.find_account(opportunity.customer_id)
        account_crm_id = found.crm_id if found else None
    accounts = crm.account_hierarchy(account_crm_id) if account_crm_id else ()
    lines: tuple[DealLine, ...] = ()
    opp_crm_id = crm.crm_id(opportunity.id) or ""
    if opportunity.billing_model is BillingModel.MILESTONE and opp_crm_id:
        lines = crm.opportunity_lines(opp_crm_id)
    card = None
    if opportunity.billing_model is BillingModel.TIME_AND_MATERIALS:
        card = stepkit.psa(psa[1]).rate_card_id(opportunity.amount.currency)
    outcome = build_plan(
        opportunity,
        business_key=request.business_key,
        rules=rules,
        accounts=accounts,
        lines=lines,
        rate_card_id=card,
        psa=psa,
        crm_id=opp_crm_id
        or next((r.id for r in opportunity.refs if r.system == crm.system), opportunity.id),
        fields=crm.opportunity_fields,
    )
    with stepkit.engine().begin() as conn:
        if opp_crm_id:
            stepkit.link_xref(
                "opportunity",
                opportunity.id,
                crm.system,
                settings.crm_connection,
                opp_crm_id,
                conn=conn,
            )
        stepkit.link_edge(
            conn,
            ("event", request.event_id),
            ("opportunity", opportunity.id),
            "opportunity.won",
            status="valid" if outcome.plan else "needs_attention",
            event_id=request.event_id,
        )
    return {
        "plan": outcome.plan.to_json() if outcome.plan else None,
        "problems": outcome.problems,
        "rules_version": rules.version,
        "opportunity_sf_id": opp_crm_id,
        "crm_connection": settings.crm_connection,
    }


# ---------------------------------------------------------------------- 1b. report
@dataclass(frozen=True)
class ReportRequest:
    """Input of :func:`report_invalid`: who to tell what."""

    opportunity_id: str
    opportunity_sf_id: str
    opportunity_name: str
    business_key: str
    crm_connection: str
    problems: dict[str, str]
    run_id: str | None = None


def needs_attention_status(problems: Mapping[str, str]) -> str:
    """``Needs attention: <fields>``, within the field's 255 characters."""
    reason = "; ".join(f"{field} {what}" for field, what in sorted(problems.items()))
    return f"{NEEDS_ATTENTION}: {reason}"[:255]


def open_validation_exception(request: ReportRequest) -> bool:
    """Open (or refresh) the sales-ops exception; False when the same one is already open.

    An unchanged open exception is left alone, so that the echo of Accord's own write-back
    (the opportunity's new version stamp) does not count as a new occurrence.
    """
    settings = flow_settings(stepkit.config_file())
    route = rules_for(settings).route("validation.failed")
    key = validation_dedupe_key(request.opportunity_id)
    detail = {
        "opportunity": request.opportunity_sf_id,
        "opportunity_id": request.opportunity_id,
        "problems": dict(sorted(request.problems.items())),
    }
    return stepkit.open_unless_same(
        queue=route.queue.value,
        severity=route.severity.value,
        flow=FLOW,
        run_id=request.run_id,
        business_key=request.business_key,
        code="validation.failed",
        title=(
            f"Opportunity {request.opportunity_name} cannot be provisioned: "
            f"{len(request.problems)} field(s) to fix"
        ),
        detail=detail,
        dedupe_key=key,
        scan=50,
    )


def write_status(connection: str, opportunity_crm_id: str, status: str) -> bool:
    """Write the integration status unless it already says so (no echo, no extra version)."""
    crm = stepkit.crm(connection)
    if crm.opportunity(opportunity_crm_id).status == status:
        return False
    crm.write_back(opportunity_crm_id, status)
    return True


@DBOS.step(name="l2p.report_invalid", **stepkit.STEP_RETRIES)
def report_invalid(request: ReportRequest) -> dict[str, Any]:
    """File every problem with sales ops and tell the opportunity it needs attention."""
    opened = open_validation_exception(request)
    written = False
    if request.opportunity_sf_id:
        written = write_status(
            request.crm_connection,
            request.opportunity_sf_id,
            needs_attention_status(request.problems),
        )
    return {"exception": opened, "written_back": written}


# ---------------------------------------------------------------------- 2. customers
@dataclass(frozen=True)
class CustomerRequest:
    """Input of :func:`upsert_customer`: one customer of the hierarchy and where it goes."""

    plan: dict[str, Any]
    customer_json: str
    crm_id: str
    run_id: str | None = None


@DBOS.step(name="l2p.upsert_customer", **stepkit.STEP_RETRIES)
def upsert_customer(request: CustomerRequest) -> dict[str, Any]:
    """Create the customer in the ERP (unless the xref knows it) and link every id.

    The customer lands in the deal's legal entity (subsidiary or company) with its bill-to,
    tax region and the entity's currency; the parent is created first by the workflow.
    """
    plan = Plan.from_json(request.plan)
    customer = Customer.model_validate_json(request.customer_json)
    customer = customer.model_copy(update={"currency": plan.currency})
    erp_id = stepkit.known_external("customer", customer.id, plan.erp_connection)
    created = False
    if erp_id is None:
        with customer_lock(f"customer:{plan.erp_connection}:{customer.id}"):
            erp_id = stepkit.known_external("customer", customer.id, plan.erp_connection)
            if erp_id is None:
                erp_id, created = write_plan_customer(plan, customer)
                stepkit.link_xref("customer", customer.id, plan.erp, plan.erp_connection, erp_id)
                with stepkit.engine().begin() as conn:
                    link_customer_book(conn, plan, customer.id, "created" if created else "matched")
    settings = flow_settings(stepkit.config_file())
    crm_system = stepkit.crm(settings.crm_connection).system
    # A PSA that shares the CRM's accounts (one org) knows the customer by the account.
    shared = stepkit.psa(plan.psa_connection).customer_of_account(request.crm_id)
    with stepkit.engine().begin() as conn:
        stepkit.link_xref(
            "customer", customer.id, crm_system, settings.crm_connection, request.crm_id, conn=conn
        )
        if shared is not None:
            stepkit.link_xref(
                "customer", customer.id, plan.psa_system, plan.psa_connection, shared, conn=conn
            )
        # A PSA without customers of its own carries the customer on the project.
        link_parent(conn, customer)
        if customer.id == plan.customer_id:
            stepkit.link_edge(
                conn,
                ("opportunity", plan.opportunity_id),
                ("customer", customer.id),
                "sold_to",
                status="resolved",
            )
    return {"customer_id": customer.id, "erp_id": erp_id, "created": created}


# ---------------------------------------------------------------------- 3. PSA project
def _description(plan: Plan) -> str:
    return (
        f"{plan.opportunity_name} ({plan.opportunity_sf_id}); template {plan.template}; "
        f"phases: {', '.join(plan.phases)}; billing: {plan.billing_model}"
    )


@DBOS.step(name="l2p.provision_psa_project", **stepkit.STEP_RETRIES)
def provision_psa_project(request: PlanRequest) -> dict[str, Any]:
    """Upsert the PSA project with its phases, milestones, budget and rate card.

    A project the xref already knows is not written again (a retry after an ERP rejection
    resumes past this step); the workflow lifts its hold once the ERP accepts.
    """
    plan = Plan.from_json(request.plan)
    known = stepkit.known_external("psa_project", plan.project_id, plan.psa_connection)
    if known is not None:
        return {"psa_id": known, "created": False}
    milestones = tuple(
        Milestone(
            id=m.key,
            name=m.name,
            amount=Money.of(Decimal(m.amount), plan.currency),
            project_id=plan.project_id,
            due_date=m.due_date,  # type: ignore[arg-type]  # ISO text, validated by pydantic
        )
        for m in plan.milestones
    )
    result = stepkit.psa(plan.psa_connection).upsert_project(
        PsaProjectPlan(
            project=_project(plan),
            phases=plan.phases,
            milestones=milestones,
            rate_card_id=plan.rate_card_id,
            description=_description(plan),
        )
    )
    stepkit.link_xref(
        "psa_project", plan.project_id, plan.psa_system, plan.psa_connection, result.id
    )
    with stepkit.engine().begin() as conn:
        link_provisioned(conn, ("customer", plan.customer_id), plan, status="provisioned")
        link_provisioned(conn, ("opportunity", plan.opportunity_id), plan, status="provisioned")
    return {"psa_id": result.id, "created": result.created}


def link_provisioned(
    conn: sa.Connection, source: tuple[str, str], plan: Plan, *, status: str
) -> None:
    """Record that ``source`` (the opportunity, its customer) provisioned the plan's project."""
    stepkit.link_edge(conn, source, ("psa_project", plan.project_id), "provisioned", status=status)


def _set_psa_status(plan: Plan, psa_id: str, *, hold: bool, message: str | None) -> None:
    psa = stepkit.psa(plan.psa_connection)
    if hold:
        psa.hold_project(
            psa_id, reason=f"{HOLD_TAG} {message or ''}", description=_description(plan)
        )
    else:
        psa.release_project(psa_id, description=_description(plan))


def _psa_on_hold(plan: Plan, psa_id: str) -> bool:
    return stepkit.psa(plan.psa_connection).project_status(psa_id) is ProjectStatus.ON_HOLD
