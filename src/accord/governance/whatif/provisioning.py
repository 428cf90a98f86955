"""What-if for lead-to-project: the provisioning plan of a won opportunity under a version.

Lead-to-project derives every value its steps write (customers, the PSA project and template,
the ERP entity, subsidiary, department, class, currency, budget, milestones) once, in its
plan (:func:`accord.flows.shared.plan.build_plan`, a pure function); its steps never
consult the rules again. So the plan *is* the outbound content, and the record's body here is
the plan, field by field. The reads validation needs (the account chain, milestone lines, the
PSA rate card) are made through the CRM and PSA roles as the flow's validate step makes them,
once for both versions.
"""

import json
from typing import Any

from accord.connectors.roles import Crm
from accord.domain import BillingModel, Opportunity
from accord.flows.shared.plan import build_plan
from accord.flows.shared.settings import flow_settings
from accord.governance.diff import flatten
from accord.governance.whatif.report import Outcome
from accord.governance.whatif.run import EvalContext
from accord.rules import Rules
from accord.store.journal import JournalEntry

__all__ = ["evaluate"]


def _accounts(crm: Crm, customer_id: str) -> tuple[Any, ...]:
    account = crm.crm_id(customer_id)
    if account is None:
        found = crm.find_account(customer_id)
        account = found.crm_id if found else None
    return crm.account_hierarchy(account) if account else ()


def evaluate(ctx: EvalContext, entry: JournalEntry, data: Any, rules: Rules) -> dict[str, Outcome]:  # noqa: ANN401
    """The opportunity's plan (or its problems) under ``rules``."""
    opportunity = Opportunity.model_validate(data)
    settings = flow_settings(ctx.config_file)
    psa = settings.psa(rules)
    crm_connection = settings.crm_connection
    crm = ctx.connections.connector(crm_connection).as_crm(rules)
    accounts = ctx.memo(
        ("accounts", crm_connection, opportunity.customer_id),
        lambda: _accounts(crm, opportunity.customer_id),
    )
    opp_crm_id = ctx.memo(("crm_id", opportunity.id), lambda: crm.crm_id(opportunity.id)) or ""
    lines: tuple[Any, ...] = ()
    if opportunity.billing_model is BillingModel.MILESTONE and opp_crm_id:
        lines = ctx.memo(("lines", opp_crm_id), lambda: crm.opportunity_lines(opp_crm_id))
    card = None
    if opportunity.billing_model is BillingModel.TIME_AND_MATERIALS:
        currency = opportunity.amount.currency
        card = ctx.memo(
            ("card", psa, currency),
            lambda: ctx.connections.connector(psa[1]).as_psa(rules).rate_card_id(currency),
        )
    outcome = build_plan(
        opportunity,
        business_key=entry.business_key,
        rules=rules,
        accounts=accounts,
        lines=lines,
        rate_card_id=card,
        psa=psa,
        crm_id=opp_crm_id
        or next((r.id for r in opportunity.refs if r.system == crm.system), opportunity.id),
        fields=crm.opportunity_fields,
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
