"""Contracts and customers: what the owning system says = what the others hold.

Pure: the checks (:mod:`.checks`) read the systems and hand their values here.

**Contracts** (kind ``contract``), per project Accord provisioned from a deal. The CRM owns
the deal: its amount and dates, through the rules (the service package's template: a
``contract_amount`` budget adds the template's contingency, an end date defaults to the start
plus the template's duration), say what the others must hold:

- ``psa_budget_differs``: the PSA's budget is neither that budget nor (where the PSA keeps the
  contract's value in the same field) the deal's amount;
- ``psa_dates_differ``: the PSA project's start or end;
- ``erp_dates_differ``: the ERP project's start or end;
- ``plan_total_differs``: the ERP billing plan of a fixed-fee, milestone or retainer project
  does not bill the deal's amount (time and materials has no plan).

**Customers** (kind ``customer``): the fields the CRM owns (the rules' ``field_ownership``)
among those the ERP's customer carries (name, parent, billing address, tax region) must be the
CRM's; one ``fields_differ`` item per customer and ERP connection lists each field.

What does not belong here: reading the systems, and time and expense (:mod:`.work`).
"""

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from accord.connectors.roles import ErpCustomer, ErpProject, HeldTerms
from accord.domain import BillingModel, Opportunity
from accord.errors import RuleViolation
from accord.flows.shared.customer_view import crm_view, held_view
from accord.rules import Rules
from accord.rules.spec import BudgetBasis
from accord.store.reconciliation import Drift

__all__ = [
    "CONTRACT",
    "CUSTOMER",
    "CUSTOMER_FIELDS",
    "Expected",
    "compare_contract",
    "compare_customer",
    "crm_view",
    "erp_view",
    "expected_terms",
]

CONTRACT: Final = "contract"
CUSTOMER: Final = "customer"
CUSTOMER_FIELDS: Final = ("name", "parent_id", "bill_to", "tax_region")
"""Customer fields an ERP's customer may carry (:attr:`ErpCustomer.carried`)."""
_PLANNED: Final = frozenset({BillingModel.FIXED_FEE, BillingModel.MILESTONE, BillingModel.RETAINER})
_CENT: Final = Decimal("0.01")


@dataclass(frozen=True)
class Expected:
    """A provisioned project's terms as the CRM's deal and the rules say."""

    project_id: str
    opportunity_id: str
    amount: Decimal
    currency: str
    budget: Decimal
    start_date: dt.date
    end_date: dt.date
    billing_model: BillingModel


def expected_terms(project_id: str, deal: Opportunity, rules: Rules) -> Expected | None:
    """What the deal says the project's terms are; ``None`` for a deal the rules cannot place."""
    if deal.start_date is None:
        return None
    try:
        template = rules.template_for(deal.service_package)
    except RuleViolation:
        return None
    amount = deal.amount.amount
    budget = amount
    if template.budget.basis is BudgetBasis.CONTRACT_AMOUNT:
        budget = (amount * (1 + template.budget.contingency_percent / 100)).quantize(_CENT)
    end = deal.end_date or deal.start_date + dt.timedelta(days=template.duration_days)
    return Expected(
        project_id=project_id,
        opportunity_id=deal.id,
        amount=amount,
        currency=deal.amount.currency,
        budget=budget,
        start_date=deal.start_date,
        end_date=end,
        billing_model=deal.billing_model,
    )


def _dates(start: dt.date | None, end: dt.date | None) -> dict[str, str | None]:
    return {"start": start.isoformat() if start else None, "end": end.isoformat() if end else None}


def _drift(kind: str, code: str, ident: str, **values: Any) -> Drift:  # noqa: ANN401 - Drift's fields
    return Drift(kind=kind, code=code, fingerprint=f"{kind}:{code}:{ident}", **values)


def compare_contract(
    expected: Expected,
    *,
    psa: tuple[str, HeldTerms] | None,
    erp: tuple[str, ErpProject] | None,
    plan_total: Decimal | None,
) -> list[Drift]:
    """The contract drift of one project (see the module docstring).

    Args:
        expected: What the deal says.
        psa: The PSA connection and the project's terms there (``None``: not read).
        erp: The ERP connection and the project there (``None``: not read).
        plan_total: What the ERP's billing plan bills in all (``None``: no plan read).
    """
    out: list[Drift] = []
    base: dict[str, Any] = {
        "project_id": expected.project_id,
        "business_key": expected.opportunity_id,
        "currency": expected.currency,
    }
    deal = {
        "amount": str(expected.amount),
        "budget": str(expected.budget),
        **_dates(expected.start_date, expected.end_date),
    }
    if psa is not None:
        connection, terms = psa
        values = {"connection": connection, "system": "psa", "record_id": terms.project}
        budget_ok = _cents(terms.budget) == _cents(expected.budget) or (
            terms.contract_value is not None
            and _cents(terms.contract_value) == _cents(expected.amount)
        )
        if not budget_ok:
            out.append(
                _drift(
                    CONTRACT,
                    "psa_budget_differs",
                    f"{expected.project_id}:{connection}",
                    expected=expected.budget,
                    found=terms.budget,
                    detail={"deal": deal, "psa": {"budget": str(terms.budget)}},
                    **values,
                    **base,
                )
            )
        held = _dates(terms.start_date, terms.end_date)
        if held != _dates(expected.start_date, expected.end_date):
            out.append(
                _drift(
                    CONTRACT,
                    "psa_dates_differ",
                    f"{expected.project_id}:{connection}",
                    detail={"deal": deal, "psa": held},
                    **values,
                    **base,
                )
            )
    if erp is not None:
        connection, project = erp
        values = {"connection": connection, "system": "erp", "record_id": project.erp_id}
        held = _dates(project.start_date, project.end_date)
        if held != _dates(expected.start_date, expected.end_date):
            out.append(
                _drift(
                    CONTRACT,
                    "erp_dates_differ",
                    f"{expected.project_id}:{connection}",
                    detail={"deal": deal, "erp": held},
                    **values,
                    **base,
                )
            )
        if expected.billing_model in _PLANNED and _cents(plan_total) != _cents(expected.amount):
            out.append(
                _drift(
                    CONTRACT,
                    "plan_total_differs",
                    f"{expected.project_id}:{connection}",
                    expected=expected.amount,
                    found=plan_total,
                    detail={"deal": deal, "plan_total": str(plan_total)},
                    **values,
                    **base,
                )
            )
    return out


def _cents(value: Decimal | None) -> Decimal:
    return (value or Decimal(0)).quantize(_CENT)


# ----------------------------------------------------------------- customers
def erp_view(customer: ErpCustomer) -> dict[str, str]:
    """What an ERP's customer holds of the fields it carries, as comparable text."""
    held = held_view(customer)
    return {f: held[f] for f in customer.carried if f in held}


def compare_customer(
    customer_id: str,
    *,
    connection: str,
    erp_id: str,
    held: Mapping[str, str],
    expected: Mapping[str, str],
    fields: Sequence[str],
) -> Drift | None:
    """The customer's drift in one ERP connection over ``fields`` (the CRM owns them)."""
    differ = {
        f: {"erp": held.get(f, ""), "crm": expected.get(f, "")}
        for f in fields
        if f in held and held.get(f, "") != expected.get(f, "")
    }
    if not differ:
        return None
    return _drift(
        CUSTOMER,
        "fields_differ",
        f"{customer_id}:{connection}",
        business_key=customer_id,
        system="erp",
        connection=connection,
        record_id=erp_id,
        detail={"customer_id": customer_id, "fields": differ, "owner": "crm"},
    )
