"""What-if for lead-to-project: the provisioning plan of a won opportunity under a version.

Lead-to-project derives every value its steps write (customers, the PSA project and template,
the ERP entity, subsidiary, department, class, currency, budget, milestones) once, in its
plan (:func:`accord.flows.lead_to_project.plan.build_plan`, a pure function); its steps never
consult the rules again. So the plan *is* the outbound content, and the record's body here is
the plan, field by field. The reads validation needs (the account chain, milestone lines, the
PSA rate card) are made as the flow's validate step makes them, once for both versions.
"""

import json
from typing import Any

from accord.domain import BillingModel, Opportunity
from accord.flows.lead_to_project import reads
from accord.flows.lead_to_project.plan import build_plan
from accord.flows.shared.settings import flow_settings
from accord.governance.diff import flatten
from accord.governance.whatif.report import Outcome
from accord.governance.whatif.run import EvalContext
from accord.rules import Rules
from accord.store.journal import JournalEntry

__all__ = ["evaluate"]


def _salesforce_id(canonical: str) -> str | None:
    return canonical.removeprefix("SF-") if canonical.startswith("SF-") else None


def _accounts(ctx: EvalContext, crm_connection: str, customer_id: str) -> list[Any]:
    crm = ctx.connections.connector(crm_connection)
    account = _salesforce_id(customer_id)
    if account is None:
        found = crm.get_by_external_id("Account", customer_id)
        account = str(found["Id"]) if found else None
    return reads.account_chain(crm, account) if account else []


def evaluate(ctx: EvalContext, entry: JournalEntry, data: Any, rules: Rules) -> dict[str, Outcome]:  # noqa: ANN401
    """The opportunity's plan (or its problems) under ``rules``."""
    opportunity = Opportunity.model_validate(data)
    settings = flow_settings(ctx.config_file)
    psa = settings.psa(rules)
    crm = settings.crm_connection
    accounts = ctx.memo(
        ("accounts", crm, opportunity.customer_id),
        lambda: _accounts(ctx, crm, opportunity.customer_id),
    )
    opp_sf_id = _salesforce_id(opportunity.id) or ""
    lines: list[Any] = []
    if opportunity.billing_model is BillingModel.MILESTONE and opp_sf_id:
        lines = ctx.memo(
            ("lines", opp_sf_id),
            lambda: reads.opportunity_lines(ctx.connections.connector(crm), opp_sf_id),
        )
    card = None
    if opportunity.billing_model is BillingModel.TIME_AND_MATERIALS:
        currency = opportunity.amount.currency
        card = ctx.memo(
            ("card", psa, currency),
            lambda: reads.rate_card_id(ctx.connections.connector(psa[1]), psa[0], currency),
        )
    outcome = build_plan(
        opportunity,
        business_key=entry.business_key,
        rules=rules,
        accounts=accounts,
        lines=lines,
        rate_card_id=card,
        psa=psa,
    )
    record = f"opportunity {opportunity.id}"
    if outcome.plan is None:
        return {
            record: Outcome(
                valid=False,
                codes=("validation.failed",),
                queue=rules.route("validation.failed").queue.value,
                body=flatten({"problems": dict(sorted(outcome.problems.items()))}),
            )
        }
    plan: dict[str, Any] = outcome.plan.to_json()
    # The version is what differs by construction; the plan's content is what matters.
    plan.pop("rules_version", None)
    plan["customers"] = [
        {**c, "customer_json": json.loads(c["customer_json"])} for c in plan["customers"]
    ]
    return {
        record: Outcome(
            valid=True,
            target=f"{outcome.plan.erp}/{outcome.plan.erp_connection}",
            body=flatten(plan),
        )
    }
