"""Capture of amendments: a provisioned opportunity whose terms changed -> ``contract.amended``.

Called by the opportunity mapper
(:func:`accord.flows.lead_to_project.capture.opportunity_version_events`) for a won
opportunity that already says ``Provisioned``. The opportunity's commercial terms
(amount, start and end dates, milestone schedule: its line items, else the template's
milestones on the new amount; for time and materials the PSA rate card's rates as read now)
are compared with the **latest version** of the contract (the last ``contract.amended`` in the
journal, else the plan lead-to-project applied):

- equal terms -> no event. This is what keeps Accord's own write-back (only
  ``Integration_Status__c`` and the ids changed) and any non-commercial edit from becoming an
  amendment;
- different terms -> one ``contract.amended`` whose data is the canonical :class:`Contract` at
  version ``latest + 1`` with one more :class:`ContractAmendment`. Capture gives it the id
  ``<record id>@<version stamp>``: stable per CRM version, so a re-read never makes a second
  version (the journal deduplicates it, and once journaled its terms are the latest).

Version numbers are assigned here, in capture, which runs one poll per pair at a time (DBOS
deduplicates the capture run), so two versions never get the same number.
"""

import dataclasses
import datetime as dt
import logging
from decimal import Decimal

from accord.connectors.roles import CrmOpportunity
from accord.domain import BillingModel, ContractAmendment, Money, Opportunity, RateCard
from accord.flows import stepkit
from accord.flows.capture import canonical_event
from accord.flows.shared.contracts import (
    EVENT_TYPE,
    baseline_plan,
    contract_from_plan,
    contract_id_for,
    rate_card_for,
    terms,
    versions,
)
from accord.flows.shared.plan import Plan, plan_milestones, project_id_for
from accord.flows.shared.settings import flow_settings, rules_for
from accord.store.journal import NewEvent

__all__ = ["amendment_events", "validation_dedupe_key"]

logger = logging.getLogger(__name__)

REASON = "crm-amendment"
"""The reason recorded on amendments captured from the CRM."""


def _new_plan(base: Plan, opportunity: Opportunity, crm_id: str) -> Plan | None:
    """The base plan with the opportunity's terms; ``None`` when its milestones do not add up."""
    start = opportunity.start_date or dt.date.fromisoformat(base.start_date)
    end = opportunity.end_date
    if end is None and base.end_date:
        # No explicit end: keep the term's length from the new start.
        length = dt.date.fromisoformat(base.end_date) - dt.date.fromisoformat(base.start_date)
        end = start + length
    plan = dataclasses.replace(
        base,
        amount=str(opportunity.amount.amount),
        start_date=start.isoformat(),
        end_date=end.isoformat() if end else None,
    )
    if opportunity.billing_model is not BillingModel.MILESTONE:
        return plan
    settings = flow_settings(stepkit.config_file())
    crm = stepkit.crm(settings.crm_connection)
    problems: dict[str, str] = {}
    milestones = plan_milestones(
        opportunity.model_copy(update={"start_date": start}),
        rules_for(settings),
        crm.opportunity_lines(crm_id),
        base.project_id,
        problems,
        lines_field=crm.opportunity_fields.get("lines", "lines"),
    )
    if problems:
        _report_invalid(opportunity, crm_id, problems)
        return None
    return dataclasses.replace(plan, milestones=milestones)


def _rate_card(base: Plan) -> RateCard | None:
    """The provisioned project's PSA rate card with its rates as the PSA has them now."""
    if base.rate_card_id is None:
        return None
    rates = stepkit.psa(base.psa_connection).rate_card_rates(base.rate_card_id, base.currency)
    return rate_card_for(base, rates)


def validation_dedupe_key(contract_id: str) -> str:
    """Dedupe key of the sales-ops exception of an amendment that cannot be made."""
    return f"contract_change:{contract_id}:validation"


def _report_invalid(opportunity: Opportunity, sf_id: str, problems: dict[str, str]) -> None:
    """File an amendment that cannot become a version (its lines do not add up) with sales ops.

    Nothing is written back to the opportunity: it stays ``Provisioned`` (a ``Needs
    attention`` status would send it back to lead-to-project). The next version that maps
    resolves the exception when it is applied.
    """
    contract_id = contract_id_for(opportunity.id)
    stepkit.open_routed(
        code="validation.amendment",
        flow="contract_change",
        run_id=None,
        business_key=f"contract:{contract_id}",
        title=f"Amendment of {opportunity.name} cannot be applied: fix the opportunity",
        detail={
            "opportunity": sf_id,
            "contract": contract_id,
            "problems": dict(sorted(problems.items())),
        },
        dedupe_key=validation_dedupe_key(contract_id),
    )
    logger.info("amendment of %s needs attention: %d problem(s)", opportunity.id, len(problems))


def amendment_events(version: CrmOpportunity) -> list[NewEvent]:
    """The ``contract.amended`` event a provisioned opportunity version means, if any."""
    opportunity = version.opportunity
    if opportunity is None:
        return []  # a provisioned deal made unmappable: nothing to amend with
    contract_id = contract_id_for(opportunity.id)
    with stepkit.engine().connect() as conn:
        base = baseline_plan(conn, project_id_for(opportunity.id))
        known = versions(conn, contract_id) if base is not None else []
    if base is None or base.billing_model != opportunity.billing_model.value:
        # Not provisioned by Accord, or the billing model changed: not an amendment.
        return []
    card = None
    if opportunity.billing_model is BillingModel.TIME_AND_MATERIALS:
        card = _rate_card(base)
        if card is None:
            logger.warning("amendment of %s ignored: its rate card has no rates", opportunity.id)
            return []
    latest = known[-1].contract if known else contract_from_plan(base, rate_card=card)
    plan = _new_plan(base, opportunity, version.crm_id)
    if plan is None:
        return []
    amended_at = opportunity.updated_at or dt.datetime.now(dt.UTC)
    candidate = contract_from_plan(plan, rate_card=card)
    if terms(candidate) == terms(latest):
        return []
    before = latest.total_value or latest.retainer_fee
    after = candidate.total_value or candidate.retainer_fee
    change = None
    if before is not None and after is not None:
        change = Money.of(after.amount - before.amount, after.currency)
    amendment = ContractAmendment(
        version=latest.version + 1,
        effective_date=amended_at.date(),
        amended_at=amended_at,
        reason=REASON,
        value_change=change if change and change.amount != Decimal(0) else None,
    )
    contract = contract_from_plan(
        plan,
        rate_card=card,
        version=latest.version + 1,
        amendments=(*latest.amendments, amendment),
        updated_at=amended_at,
    )
    return [canonical_event(EVENT_TYPE, contract, subject=contract_id)]
