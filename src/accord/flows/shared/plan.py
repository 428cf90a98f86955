"""Validation and the provisioning plan: pure functions, no I/O.

Shared by lead-to-project (which applies the plan) and contract change (whose versions are
plans with new terms).

:func:`build_plan` checks a won opportunity against the rules and what was read about it (its
account hierarchy, its lines, whether a rate card exists) and either lists **every** problem,
keyed by the CRM field a person must fix, or returns a :class:`Plan`: every value the
later steps write, derived once. Steps take the plan (as JSON) and never consult the rules
again, so a run keeps the rules version it validated with even if the file changes mid-run,
and the version (:attr:`Plan.rules_version`) is recorded in the run's output.

What does *not* belong here: reading the CRM or the PSA (the flows' steps), and writing.
"""

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from accord.connectors.roles import CrmAccount, DealLine
from accord.domain import BillingModel, Customer, Money, Opportunity, Project
from accord.domain.enums import ProjectStatus
from accord.rules import Rules
from accord.rules.spec import BudgetBasis

__all__ = [
    "CustomerPlan",
    "MilestonePlan",
    "Plan",
    "PlanRequest",
    "ValidationOutcome",
    "build_plan",
    "customers_from_accounts",
    "plan_milestones",
    "project_id_for",
]


def project_id_for(opportunity_id: str) -> str:
    """The canonical id (and PSA/ERP idempotency key) of an opportunity's project."""
    return f"PRJ-{opportunity_id}"


def opportunity_id_of(project_id: str) -> str | None:
    """The opportunity a project was provisioned from (:func:`project_id_for` reversed)."""
    return project_id.removeprefix("PRJ-") if project_id.startswith("PRJ-") else None


_LEGACY_KEYS = {"salesforce_id": "crm_id"}
"""Keys plans written before the CRM role had (runs' outputs keep old plans for good)."""


@dataclass(frozen=True)
class CustomerPlan:
    """One customer of the hierarchy, top-down order in :attr:`Plan.customers`."""

    canonical_id: str
    crm_id: str
    """The CRM's id of the account."""
    customer_json: str
    """The canonical :class:`~accord.domain.Customer` as JSON."""
    parent_id: str | None


@dataclass(frozen=True)
class MilestonePlan:
    """A billing milestone of the project."""

    key: str
    name: str
    amount: str
    due_date: str | None


@dataclass(frozen=True)
class Plan:
    """Everything the provisioning steps write, derived once from opportunity and rules."""

    rules_version: str
    opportunity_id: str
    opportunity_sf_id: str
    """The CRM's id of the opportunity (the name predates the CRM role; plans are kept)."""
    opportunity_name: str
    business_key: str
    customer_id: str
    customers: tuple[CustomerPlan, ...]
    project_id: str
    project_name: str
    billing_model: str
    currency: str
    amount: str
    budget: str
    start_date: str
    end_date: str | None
    legal_entity: str
    practice: str
    region: str
    erp: str
    erp_connection: str
    subsidiary: str
    department: str
    class_: str
    tax_region: str
    psa_system: str
    psa_connection: str
    template: str
    phases: tuple[str, ...]
    milestones: tuple[MilestonePlan, ...] = ()
    rate_card_id: str | None = None
    revenue_recognition: str = ""
    billing_basis: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def contract_value(self) -> Money:
        """The deal's amount, in the plan's currency."""
        return Money.of(Decimal(self.amount), self.currency)

    @property
    def budget_value(self) -> Money:
        """The project's budget, in the plan's currency."""
        return Money.of(Decimal(self.budget), self.currency)

    def to_json(self) -> dict[str, Any]:
        """The plan as plain JSON values (a step's input and the run's output)."""
        return asdict(self)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "Plan":
        """Rebuild a plan from :meth:`to_json`."""
        values = dict(raw)
        values["customers"] = tuple(
            CustomerPlan(**{_LEGACY_KEYS.get(k, k): v for k, v in c.items()})
            for c in values["customers"]
        )
        values["milestones"] = tuple(MilestonePlan(**m) for m in values["milestones"])
        values["phases"] = tuple(values["phases"])
        return cls(**values)


@dataclass(frozen=True)
class ValidationOutcome:
    """Either the plan or every problem (CRM field -> what is wrong)."""

    plan: Plan | None
    problems: dict[str, str]


def customers_from_accounts(
    accounts: Sequence[CrmAccount], problems: dict[str, str]
) -> list[tuple[Customer, str]]:
    """The customers of an account chain (top-down) with their CRM ids; problems collected.

    An account that does not map lists every field to fix, prefixed with its name.
    """
    out: list[tuple[Customer, str]] = []
    for account in accounts:
        if account.customer is None:
            for native, what in account.problems.items():
                problems[f"Account {account.name}: {native}"] = what
            continue
        out.append((account.customer, account.crm_id))
    return out


def plan_milestones(
    opportunity: Opportunity,
    rules: Rules,
    lines: Sequence[DealLine],
    project_id: str,
    problems: dict[str, str],
    *,
    lines_field: str = "lines",
) -> tuple[MilestonePlan, ...]:
    """Milestones from the opportunity's lines when it has any, else from the template.

    Lines are the deal's own milestone schedule and must add up to the amount exactly; the
    template's percents always sum to 100, and the rounding remainder goes to the last one.
    """
    amount = opportunity.amount.amount
    start = opportunity.start_date or opportunity.close_date
    if lines:
        total = Decimal(0)
        out: list[MilestonePlan] = []
        for i, line in enumerate(lines, start=1):
            total += line.amount
            out.append(
                MilestonePlan(
                    key=f"{project_id}-M{i}",
                    name=line.description or line.name or f"Milestone {i}",
                    amount=str(line.amount),
                    due_date=line.service_date.isoformat() if line.service_date else None,
                )
            )
        if total != amount:
            problems[lines_field] = (
                f"milestones sum to {total} {opportunity.amount.currency}, "
                f"not the amount {amount} {opportunity.amount.currency}"
            )
        return tuple(out)
    try:
        template = rules.template_for(opportunity.service_package)
    except Exception:  # noqa: BLE001 - reported once, by the package check
        return ()
    out = []
    remaining = amount
    for i, spec in enumerate(template.milestones, start=1):
        last = i == len(template.milestones)
        value = remaining if last else (amount * spec.percent / 100).quantize(Decimal("0.01"))
        remaining -= value
        out.append(
            MilestonePlan(
                key=f"{project_id}-M{i}",
                name=spec.name,
                amount=str(value),
                due_date=(start + dt.timedelta(days=spec.offset_days)).isoformat(),
            )
        )
    return tuple(out)


def build_plan(
    opportunity: Opportunity,
    *,
    business_key: str,
    rules: Rules,
    accounts: Sequence[CrmAccount],
    lines: Sequence[DealLine],
    rate_card_id: str | None,
    psa: tuple[str, str],
    crm_id: str,
    fields: Mapping[str, str],
) -> ValidationOutcome:
    """Validate a won opportunity and derive its provisioning plan.

    Args:
        opportunity: The won opportunity (mapped: required fields are present).
        business_key: The event's business key (exceptions are filed under it).
        rules: The rules in force.
        accounts: The account chain, ultimate parent first, the opportunity's account last.
        lines: The opportunity's lines (milestone schedule for milestone billing).
        rate_card_id: The PSA rate card in the deal currency, if one exists.
        psa: PSA system and connection.
        crm_id: The CRM's id of the opportunity.
        fields: Canonical opportunity field -> the CRM field a person fixes
            (``Crm.opportunity_fields``); problems are keyed by the latter.

    Returns:
        The plan, or every problem keyed by the CRM field to fix.
    """
    problems: dict[str, str] = {}

    def field_of(name: str) -> str:
        return fields.get(name, name)

    project_id = project_id_for(opportunity.id)
    template = None
    try:
        template = rules.template_for(opportunity.service_package)
    except Exception as exc:  # noqa: BLE001 - RuleViolation; message names the package
        problems[field_of("service_package")] = str(exc)
    if template is not None and template.billing_model is not opportunity.billing_model:
        problems[field_of("billing_model")] = (
            f"is {opportunity.billing_model.value}, but {opportunity.service_package} is billed "
            f"{template.billing_model.value}"
        )
    entity = rules.spec.legal_entities.get(opportunity.legal_entity)
    if entity is None:
        problems[field_of("legal_entity")] = f"unknown legal entity {opportunity.legal_entity!r}"
    if opportunity.practice not in rules.spec.practices:
        problems[field_of("practice")] = f"unknown practice {opportunity.practice!r}"
    region = rules.spec.regions.get(opportunity.region)
    if region is None:
        problems[field_of("region")] = f"unknown region {opportunity.region!r}"
    if opportunity.amount.amount <= 0:
        problems[field_of("amount")] = "must be positive"
    if opportunity.start_date is None:
        problems[field_of("start_date")] = "is required to provision a project"
    customers = customers_from_accounts(accounts, problems)
    if not accounts:
        problems[field_of("customer_id")] = "the account cannot be read"
    milestones: tuple[MilestonePlan, ...] = ()
    if opportunity.billing_model is BillingModel.MILESTONE:
        milestones = plan_milestones(
            opportunity, rules, lines, project_id, problems, lines_field=field_of("lines")
        )
    if opportunity.billing_model is BillingModel.TIME_AND_MATERIALS and rate_card_id is None:
        problems["Rate card"] = (
            f"no rate card in {opportunity.amount.currency} in the PSA for time and materials"
        )
    if problems or template is None or entity is None or region is None:
        return ValidationOutcome(plan=None, problems=problems)
    start = opportunity.start_date
    assert start is not None  # checked above
    placement = rules.placement(
        legal_entity=opportunity.legal_entity,
        practice=opportunity.practice,
        region=opportunity.region,
    )
    amount = opportunity.amount.amount
    basis = template.budget.basis
    budget = amount
    if basis is BudgetBasis.CONTRACT_AMOUNT:
        budget = (amount * (1 + template.budget.contingency_percent / 100)).quantize(
            Decimal("0.01")
        )
    end = opportunity.end_date or start + dt.timedelta(days=template.duration_days)
    policy = rules.revenue_policy(opportunity.billing_model)
    psa_system, psa_connection = psa
    plan = Plan(
        rules_version=rules.version,
        opportunity_id=opportunity.id,
        opportunity_sf_id=crm_id,
        opportunity_name=opportunity.name,
        business_key=business_key,
        customer_id=opportunity.customer_id,
        customers=tuple(
            CustomerPlan(
                canonical_id=c.id,
                crm_id=sf,
                customer_json=c.model_dump_json(),
                parent_id=c.parent_id,
            )
            for c, sf in customers
        ),
        project_id=project_id,
        project_name=rules.project_name(opportunity.service_package, opportunity.name),
        billing_model=opportunity.billing_model.value,
        currency=opportunity.amount.currency,
        amount=str(amount),
        budget=str(budget),
        start_date=start.isoformat(),
        end_date=end.isoformat(),
        legal_entity=opportunity.legal_entity,
        practice=opportunity.practice,
        region=opportunity.region,
        erp=placement.erp.value,
        erp_connection=placement.connection,
        subsidiary=placement.subsidiary,
        department=placement.department,
        class_=placement.class_,
        tax_region=placement.tax_region,
        psa_system=psa_system,
        psa_connection=psa_connection,
        template=template.psa_template(psa_system),
        phases=template.phases,
        milestones=milestones,
        rate_card_id=rate_card_id,
        revenue_recognition=str(policy.recognition),
        billing_basis=str(policy.billing),
    )
    return ValidationOutcome(plan=plan, problems={})


@dataclass(frozen=True)
class PlanRequest:
    """Input of the project steps: the plan (as JSON) and the run."""

    plan: dict[str, Any]
    run_id: str | None = None


def _project(plan: Plan, status: ProjectStatus = ProjectStatus.ACTIVE) -> Project:
    return Project(
        id=plan.project_id,
        name=plan.project_name,
        customer_id=plan.customer_id,
        opportunity_id=plan.opportunity_id,
        legal_entity=plan.legal_entity,
        practice=plan.practice,
        region=plan.region,
        billing_model=BillingModel(plan.billing_model),
        status=status,
        currency=plan.currency,
        budget=plan.budget_value,
        start_date=plan.start_date,  # type: ignore[arg-type]  # ISO text, validated by pydantic
        end_date=plan.end_date,  # type: ignore[arg-type]
        template=plan.template,
    )
