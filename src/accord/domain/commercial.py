"""The commercial side: opportunities, contracts (engagements), rate cards and milestones.

CRM owns the opportunity; the contract is the engagement agreed on it, amended over time
with versions. Milestones belong to a contract and are delivered in a project.
"""

import datetime as dt
from typing import ClassVar, Self

from pydantic import Field, PositiveInt, model_validator

from accord.domain.base import CanonicalModel, ExternalRef
from accord.domain.enums import BillingModel, ContractStatus, MilestoneStatus, OpportunityStage
from accord.domain.money import CurrencyCode, Money, money_sum
from accord.domain.types import Email, Identifier, NonNegativeDecimal, UtcDatetime

__all__ = [
    "Contract",
    "ContractAmendment",
    "Milestone",
    "Opportunity",
    "OpportunityLine",
    "Rate",
    "RateCard",
]


def _check_dates(start: dt.date | None, end: dt.date | None) -> None:
    if start is not None and end is not None and end < start:
        raise ValueError(f"end date {end} is before start date {start}")


class OpportunityLine(CanonicalModel):
    """A product or service line on an opportunity."""

    __schema_version__: ClassVar[str] = "1.0"

    id: Identifier
    product: Identifier = Field(description="Product or service package code.")
    description: str | None = None
    quantity: NonNegativeDecimal
    unit_price: Money
    amount: Money = Field(description="Line total after discount.")

    @model_validator(mode="after")
    def _one_currency(self) -> Self:
        if self.amount.currency != self.unit_price.currency:
            raise ValueError("line amount and unit price must be in the same currency")
        return self


class Opportunity(CanonicalModel):
    """A sales opportunity; when won it starts lead-to-project."""

    __schema_version__: ClassVar[str] = "1.0"

    id: Identifier
    name: Identifier
    customer_id: Identifier
    stage: OpportunityStage
    won: bool = Field(description="True exactly when stage is closed_won.")
    amount: Money
    service_package: Identifier
    billing_model: BillingModel
    close_date: dt.date
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    practice: Identifier
    region: Identifier
    legal_entity: Identifier = Field(description="Code of the contracting LegalEntity.")
    owner_email: Email | None = None
    lines: tuple[OpportunityLine, ...] = ()
    refs: tuple[ExternalRef, ...] = ()
    updated_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.won != (self.stage is OpportunityStage.CLOSED_WON):
            raise ValueError("won must be true exactly when stage is closed_won")
        _check_dates(self.start_date, self.end_date)
        # Salesforce rolls Amount up from the lines; a mismatch means a mapping bug.
        if self.lines:
            line_total = money_sum((line.amount for line in self.lines), self.amount.currency)
            if line_total != self.amount:
                raise ValueError("opportunity amount must equal the sum of its line amounts")
        return self


class Rate(CanonicalModel):
    """An hourly bill rate for one role."""

    __schema_version__: ClassVar[str] = "1.0"

    role: Identifier
    rate: Money


class RateCard(CanonicalModel):
    """Hourly bill rates by role for one engagement, all in one currency."""

    __schema_version__: ClassVar[str] = "1.0"

    id: Identifier | None = None
    currency: CurrencyCode
    rates: tuple[Rate, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        roles = [rate.role for rate in self.rates]
        if len(set(roles)) != len(roles):
            raise ValueError("a rate card lists each role once")
        if any(rate.rate.currency != self.currency for rate in self.rates):
            raise ValueError("every rate must be in the rate card's currency")
        if any(rate.rate.amount < 0 for rate in self.rates):
            raise ValueError("rates cannot be negative")
        return self

    def rate_for(self, role: str) -> Money | None:
        """Return the rate of ``role``, or ``None`` if the card has none."""
        return next((rate.rate for rate in self.rates if rate.role == role), None)


class Milestone(CanonicalModel):
    """A billing milestone of a contract, delivered (completed) in a project."""

    __schema_version__: ClassVar[str] = "1.0"

    id: Identifier
    name: Identifier
    amount: Money = Field(description="Amount billed when the milestone is completed.")
    contract_id: Identifier | None = None
    project_id: Identifier | None = None
    due_date: dt.date | None = None
    status: MilestoneStatus = MilestoneStatus.PLANNED
    completed_at: UtcDatetime | None = None
    refs: tuple[ExternalRef, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.amount.amount < 0:
            raise ValueError("milestone amount cannot be negative")
        if (
            self.status in {MilestoneStatus.COMPLETED, MilestoneStatus.INVOICED}
            and self.completed_at is None
        ):
            raise ValueError(f"a {self.status} milestone needs completed_at")
        return self


class ContractAmendment(CanonicalModel):
    """One amendment of a contract; amendment ``n`` produced contract version ``n``."""

    __schema_version__: ClassVar[str] = "1.0"

    version: int = Field(ge=2, description="Contract version this amendment produced.")
    effective_date: dt.date
    amended_at: UtcDatetime
    reason: Identifier
    value_change: Money | None = Field(
        default=None, description="Change of the contract value (negative for a reduction)."
    )


class Contract(CanonicalModel):
    """An engagement agreed with a customer: billing model, rates, milestones, amendments.

    Rules by billing model: time-and-materials needs a rate card; fixed fee needs a total
    value; milestone billing needs milestones summing exactly to the total value; a retainer
    needs a retainer fee. All amounts are in the contract currency.
    """

    __schema_version__: ClassVar[str] = "1.0"

    id: Identifier
    name: Identifier | None = None
    customer_id: Identifier
    opportunity_id: Identifier | None = None
    legal_entity: Identifier
    billing_model: BillingModel
    currency: CurrencyCode
    total_value: Money | None = Field(default=None, description="Contract value or cap.")
    retainer_fee: Money | None = Field(default=None, description="Fee per retainer period.")
    rate_card: RateCard | None = None
    milestones: tuple[Milestone, ...] = ()
    start_date: dt.date
    end_date: dt.date | None = None
    status: ContractStatus = ContractStatus.ACTIVE
    version: PositiveInt = Field(default=1, description="1 + number of amendments.")
    amendments: tuple[ContractAmendment, ...] = ()
    refs: tuple[ExternalRef, ...] = ()
    updated_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_dates(self.start_date, self.end_date)
        self._check_currencies()
        self._check_billing_model()
        if [a.version for a in self.amendments] != list(range(2, self.version + 1)):
            raise ValueError(
                "amendments must be versions 2..version in order, one per version "
                f"(version is {self.version})"
            )
        if any(m.contract_id not in {None, self.id} for m in self.milestones):
            raise ValueError("a milestone of this contract names another contract")
        return self

    def _check_currencies(self) -> None:
        amounts = [self.total_value, self.retainer_fee]
        amounts += [m.amount for m in self.milestones]
        amounts += [a.value_change for a in self.amendments]
        currencies = {m.currency for m in amounts if m is not None}
        if self.rate_card is not None:
            currencies.add(self.rate_card.currency)
        if currencies - {self.currency}:
            raise ValueError(f"all contract amounts must be in {self.currency}")

    def _check_billing_model(self) -> None:
        model = self.billing_model
        if model is BillingModel.TIME_AND_MATERIALS and self.rate_card is None:
            raise ValueError("a time_and_materials contract needs a rate card")
        if model in {BillingModel.FIXED_FEE, BillingModel.MILESTONE} and self.total_value is None:
            raise ValueError(f"a {model} contract needs a total_value")
        if model is BillingModel.RETAINER and self.retainer_fee is None:
            raise ValueError("a retainer contract needs a retainer_fee")
        if model is BillingModel.MILESTONE:
            if not self.milestones:
                raise ValueError("a milestone contract needs milestones")
            live = [m.amount for m in self.milestones if m.status is not MilestoneStatus.CANCELLED]
            if money_sum(live, self.currency) != self.total_value:
                raise ValueError("milestone amounts must add up to the contract total_value")
