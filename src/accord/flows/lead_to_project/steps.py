"""The side effects of lead-to-project, one DBOS step each, with one frozen-dataclass input.

Retries come from the error class (``should_retry=is_retryable``): 429, 5xx and timeouts are
retried with backoff; a business refusal never is. Every write is idempotent on its own, so a
step that ran but whose checkpoint was lost (a crash between the call and the commit) runs
again harmlessly:

- ERP customers: the xref is consulted first; NetSuite upserts by ``externalId``
  (``PUT eid:<canonical id>``), Business Central verifies before creating by ``number``
  (:func:`~accord.connectors.business_central.mapping.bc_number` of the canonical id);
- PSA project and milestones: Kantata external references / Certinia ``Accord_Id__c`` upserts
  keyed by the project id (``PRJ-<opportunity id>``) and ``<project id>-M<n>``;
- ERP project: NetSuite ``job`` upsert by ``externalId``, BC ``projects`` by ``number``;
- write-back: a plain update of the opportunity's fields (same values, same result).

Business Central's verify-before-create is a read then a write, which two runs for two
opportunities of one customer could interleave; the customer writes hold
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

from dbos import DBOS

from accord.connectors.certinia.mapping import (
    milestone_from_canonical as certinia_milestone,
)
from accord.connectors.certinia.mapping import (
    project_from_canonical as certinia_project,
)
from accord.connectors.kantata.mapping import (
    STATUS_MESSAGES,
    KantataLookups,
    workspace_from_canonical,
)
from accord.connectors.kantata.mapping import (
    milestone_from_canonical as kantata_milestone,
)
from accord.domain import BillingModel, Customer, Milestone, Money, Opportunity
from accord.domain.enums import ProjectStatus
from accord.flows import stepkit
from accord.flows.shared import reads
from accord.flows.shared.customers import ErpCustomerTarget, customer_lock, write_erp_customer
from accord.flows.shared.plan import Plan, PlanRequest, _project, build_plan
from accord.flows.shared.settings import flow_settings, rules_for
from accord.store import exceptions, xref

__all__ = [
    "FLOW",
    "CustomerRequest",
    "ReportRequest",
    "ValidateRequest",
    "provision_psa_project",
    "report_invalid",
    "upsert_customer",
    "validate_opportunity",
]

logger = logging.getLogger(__name__)

FLOW = "lead_to_project"
"""The flow's name in exceptions, metrics and lineage."""
NEEDS_ATTENTION = "Needs attention"
"""Prefix of ``Integration_Status__c`` when sales ops must fix the opportunity."""
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
    connections = stepkit.connections()
    crm = connections.connector(settings.crm_connection)
    account_sf_id = _salesforce_id(opportunity.customer_id)
    if account_sf_id is None:
        # An account Accord keyed itself (Accord_Id__c): find it by that key.
        found = crm.get_by_external_id("Account", opportunity.customer_id)
        account_sf_id = str(found["Id"]) if found else None
    accounts = reads.account_chain(crm, account_sf_id) if account_sf_id else []
    lines = []
    opp_sf_id = _salesforce_id(opportunity.id) or ""
    if opportunity.billing_model is BillingModel.MILESTONE and opp_sf_id:
        lines = reads.opportunity_lines(crm, opp_sf_id)
    card = None
    if opportunity.billing_model is BillingModel.TIME_AND_MATERIALS:
        card = reads.rate_card_id(
            connections.connector(psa[1]), psa[0], opportunity.amount.currency
        )
    outcome = build_plan(
        opportunity,
        business_key=request.business_key,
        rules=rules,
        accounts=accounts,
        lines=lines,
        rate_card_id=card,
        psa=psa,
    )
    with stepkit.engine().begin() as conn:
        if opp_sf_id:
            xref.link(
                conn,
                entity_type="opportunity",
                canonical_id=opportunity.id,
                system="salesforce",
                connection=settings.crm_connection,
                external_id=opp_sf_id,
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
        "opportunity_sf_id": opp_sf_id,
        "crm_connection": settings.crm_connection,
    }


def _salesforce_id(canonical: str) -> str | None:
    return canonical.removeprefix("SF-") if canonical.startswith("SF-") else None


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
    (the opportunity's new ``SystemModstamp``) does not count as a new occurrence.
    """
    settings = flow_settings(stepkit.config_file())
    route = rules_for(settings).route("validation.failed")
    key = validation_dedupe_key(request.opportunity_id)
    detail = {
        "opportunity": request.opportunity_sf_id,
        "opportunity_id": request.opportunity_id,
        "problems": dict(sorted(request.problems.items())),
    }
    with stepkit.engine().begin() as conn:
        current = [
            e
            for e in exceptions.list_(
                conn, business_key=request.business_key, status="open", limit=50
            )
            if e.dedupe_key == key
        ]
        if current and current[0].detail == detail:
            return False
        exceptions.open_(
            conn,
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
        )
    return True


def write_status(connection: str, opportunity_sf_id: str, status: str) -> bool:
    """Write ``Integration_Status__c`` unless it already says so (no echo, no extra version)."""
    crm = stepkit.connections().connector(connection)
    current = crm.get("Opportunity", opportunity_sf_id).get("Integration_Status__c")
    if current == status:
        return False
    crm.update("Opportunity", opportunity_sf_id, {"Integration_Status__c": status})
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
    salesforce_id: str
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
                erp_id, created = _write_erp_customer(plan, customer)
                stepkit.link_xref("customer", customer.id, plan.erp, plan.erp_connection, erp_id)
    with stepkit.engine().begin() as conn:
        settings = flow_settings(stepkit.config_file())
        xref.link(
            conn,
            entity_type="customer",
            canonical_id=customer.id,
            system="salesforce",
            connection=settings.crm_connection,
            external_id=request.salesforce_id,
        )
        if plan.psa_system == "certinia":
            # Certinia lives in the Salesforce org: its customer *is* the account.
            xref.link(
                conn,
                entity_type="customer",
                canonical_id=customer.id,
                system="certinia",
                connection=plan.psa_connection,
                external_id=request.salesforce_id,
            )
        # Kantata has no customer object: the workspace carries the customer by name.
        if customer.parent_id is not None:
            stepkit.link_edge(
                conn,
                ("customer", customer.parent_id),
                ("customer", customer.id),
                "parent_of",
                status="resolved",
            )
        if customer.id == plan.customer_id:
            stepkit.link_edge(
                conn,
                ("opportunity", plan.opportunity_id),
                ("customer", customer.id),
                "sold_to",
                status="resolved",
            )
    return {"customer_id": customer.id, "erp_id": erp_id, "created": created}


def _write_erp_customer(plan: Plan, customer: Customer) -> tuple[str, bool]:
    target = ErpCustomerTarget(
        erp=plan.erp,
        connection=plan.erp_connection,
        legal_entity=plan.legal_entity,
        subsidiary=plan.subsidiary,
    )
    return write_erp_customer(target, customer)


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
    project = _project(plan)
    connector: Any = stepkit.connections().connector(plan.psa_connection)
    milestones = [
        Milestone(
            id=m.key,
            name=m.name,
            amount=Money.of(Decimal(m.amount), plan.currency),
            project_id=plan.project_id,
            due_date=m.due_date,  # type: ignore[arg-type]  # ISO text, validated by pydantic
        )
        for m in plan.milestones
    ]
    if plan.psa_system == "kantata":
        body = workspace_from_canonical(
            project,
            rate_card_id=plan.rate_card_id
            if plan.rate_card_id and plan.rate_card_id.isdigit()
            else None,
            description=_description(plan),
        )
        result = connector.upsert("workspaces", plan.project_id, body)
        lookups = KantataLookups(records={"workspaces": {plan.project_id: result.id}})
        for i, phase in enumerate(plan.phases, start=1):
            connector.upsert(
                "stories",
                f"{plan.project_id}-P{i}",
                {"workspace_id": result.id, "title": phase, "story_type": "deliverable"},
            )
        for milestone in milestones:
            connector.upsert("stories", milestone.id, kantata_milestone(milestone, lookups=lookups))
    else:
        body = certinia_project(project)
        result = connector.upsert("pse__Proj__c", plan.project_id, body)
        for i, phase in enumerate(plan.phases, start=1):
            # Certinia's phases are project tasks (reference 2: pse__Project_Task__c).
            connector.upsert(
                "pse__Project_Task__c",
                f"{plan.project_id}-P{i}",
                {"Name": phase[:80], "pse__Project__c": result.id, "pse__Order__c": i},
            )
        for milestone in milestones:
            connector.upsert("pse__Milestone__c", milestone.id, certinia_milestone(milestone))
    stepkit.link_xref(
        "psa_project", plan.project_id, plan.psa_system, plan.psa_connection, result.id
    )
    with stepkit.engine().begin() as conn:
        stepkit.link_edge(
            conn,
            ("customer", plan.customer_id),
            ("psa_project", plan.project_id),
            "provisioned",
            status="provisioned",
        )
        stepkit.link_edge(
            conn,
            ("opportunity", plan.opportunity_id),
            ("psa_project", plan.project_id),
            "provisioned",
            status="provisioned",
        )
    return {"psa_id": result.id, "created": result.created}


def _set_psa_status(plan: Plan, psa_id: str, *, hold: bool, message: str | None) -> None:
    connector: Any = stepkit.connections().connector(plan.psa_connection)
    if plan.psa_system == "kantata":
        description = _description(plan)
        if hold:
            description = f"{HOLD_TAG} {message or ''} | {description}"
        status = STATUS_MESSAGES[ProjectStatus.ON_HOLD if hold else ProjectStatus.ACTIVE]
        connector.update(
            "workspaces", psa_id, {"status": status, "description": description[:2000]}
        )
        return
    fields: dict[str, Any] = {
        "pse__Stage__c": "On Hold" if hold else "In Progress",
        "pse__Closed_for_Time_Entry__c": hold,
        "pse__Closed_for_Expense_Entry__c": hold,
        "Integration_Status__c": "On Hold" if hold else "Provisioned",
        "Integration_Message__c": f"{HOLD_TAG} {message or ''}"[:255] if hold else None,
    }
    connector.update("pse__Proj__c", psa_id, fields)


def _psa_on_hold(plan: Plan, psa_id: str) -> bool:
    connector: Any = stepkit.connections().connector(plan.psa_connection)
    if plan.psa_system == "kantata":
        record = connector.get("workspaces", psa_id)
        status = record.get("status")
        message = status.get("message") if isinstance(status, dict) else status
        return bool(message == STATUS_MESSAGES[ProjectStatus.ON_HOLD])
    return bool(connector.get("pse__Proj__c", psa_id).get("pse__Stage__c") == "On Hold")
