"""The synthetic firm: a system-neutral description that every emulator seeds itself from.

The generator (:mod:`accord_sandbox.scenario`) builds a :class:`Firm` deterministically from a
seed; each emulator's ``seed_firm`` loads the part it owns (Salesforce: accounts, contacts,
opportunities, products, Certinia regions/practices/resources and vendor accounts; Kantata:
users and vendors; NetSuite and Business Central: subsidiaries/companies, departments,
classes, accounting periods, vendors).
Nothing here does I/O.
"""

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AccountingPeriodSpec",
    "ConsultantSpec",
    "CustomerSpec",
    "Firm",
    "FxRateSpec",
    "LegalEntitySpec",
    "MilestoneTemplate",
    "OpportunitySpec",
    "PracticeSpec",
    "RegionSpec",
    "ServicePackageSpec",
    "TimeEntrySpec",
    "TimesheetSpec",
    "VendorSpec",
]

BillingModel = Literal["time_and_materials", "fixed_fee", "milestone", "retainer"]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LegalEntitySpec(_Spec):
    """One of the firm's contracting entities (a NetSuite subsidiary / a BC company)."""

    code: str = Field(description="US01, UK01, DE01")
    name: str
    currency: str
    country: str
    erp: Literal["netsuite", "business_central"]
    netsuite_subsidiary_id: str = Field(description="internal id of the NetSuite subsidiary")
    bc_company_id: str = Field(description="GUID of the Business Central company")


class PracticeSpec(_Spec):
    """A practice (service line): maps to an ERP department."""

    code: str
    name: str
    netsuite_department_id: str
    bc_department_code: str


class RegionSpec(_Spec):
    """A sales/delivery region: maps to an ERP class and a tax region."""

    code: str
    name: str
    tax_region: str
    netsuite_class_id: str
    bc_area_code: str


class ConsultantSpec(_Spec):
    """A billable person with a role and rates."""

    id: str
    first_name: str
    last_name: str
    email: str
    role: str
    practice: str
    region: str
    legal_entity: str
    cost_rate: Decimal
    bill_rate: Decimal
    currency: str


class MilestoneTemplate(_Spec):
    """A milestone in a project template: share of the contract amount, in percent."""

    name: str
    percent: Decimal
    offset_days: int


class ServicePackageSpec(_Spec):
    """A sellable service package and the project template it provisions."""

    code: str
    name: str
    billing_model: BillingModel
    template: str
    phases: tuple[str, ...]
    milestones: tuple[MilestoneTemplate, ...] = ()
    duration_days: int


class CustomerSpec(_Spec):
    """A customer account; ``parent_id`` builds the hierarchy."""

    id: str = Field(description="stable key, e.g. CUST-0001")
    name: str
    parent_id: str | None = None
    legal_entity: str
    currency: str
    tax_region: str
    street: str
    city: str
    postal_code: str
    state: str | None = None
    country: str
    industry: str


class OpportunitySpec(_Spec):
    """An opportunity on a customer; ``Closed Won`` ones are ready to provision."""

    id: str = Field(description="stable key, e.g. OPP-0001")
    name: str
    customer_id: str
    stage: str
    amount: Decimal
    currency: str
    close_date: date
    service_package: str
    billing_model: BillingModel
    legal_entity: str
    practice: str
    region: str
    start_date: date
    end_date: date
    owner_email: str


class TimeEntrySpec(_Spec):
    """One day's hours in a timesheet."""

    id: str
    date: date
    hours: Decimal
    billable: bool
    notes: str = ""


class TimesheetSpec(_Spec):
    """An approved weekly timesheet of one consultant on one engagement (quarter-end burst)."""

    id: str
    consultant_id: str
    opportunity_id: str = Field(description="the engagement whose project the time is booked to")
    week_start: date
    entries: tuple[TimeEntrySpec, ...]


class AccountingPeriodSpec(_Spec):
    """A monthly accounting period of one legal entity."""

    legal_entity: str
    period: str = Field(pattern=r"^\d{4}-\d{2}$")
    status: Literal["open", "closed"]


class FxRateSpec(_Spec):
    """An exchange rate the ERPs hold: from ``effective`` on, 1 ``currency`` = ``rate`` ``base``.

    NetSuite keeps one rate table per base currency (its currency rate records), Business
    Central one per company against its local currency; each emulator seeds the rows whose base
    is one of its books' currencies.
    """

    base: str
    currency: str
    effective: date
    rate: Decimal


class VendorSpec(_Spec):
    """A subcontractor or supplier, set up in its legal entity's ERP and in the PSAs."""

    id: str = Field(description="the firm's vendor key, e.g. VEND-US01-1")
    name: str
    legal_entity: str
    currency: str
    email: str


class Firm(_Spec):
    """Everything the emulators are seeded with, for one scenario and seed."""

    scenario: Literal["small", "firm", "quarter-end", "quarter-end-large"]
    seed: int
    legal_entities: tuple[LegalEntitySpec, ...]
    practices: tuple[PracticeSpec, ...]
    regions: tuple[RegionSpec, ...]
    service_packages: tuple[ServicePackageSpec, ...]
    consultants: tuple[ConsultantSpec, ...]
    customers: tuple[CustomerSpec, ...]
    opportunities: tuple[OpportunitySpec, ...]
    accounting_periods: tuple[AccountingPeriodSpec, ...]
    timesheets: tuple[TimesheetSpec, ...] = ()
    fx_rates: tuple[FxRateSpec, ...] = ()
    """Monthly exchange rates between the firm's currencies (first day of each month)."""
    vendors: tuple[VendorSpec, ...] = ()

    def currencies(self) -> list[str]:
        """Every currency an entity, customer or consultant of the firm uses, sorted."""
        return sorted(
            {e.currency for e in self.legal_entities}
            | {c.currency for c in self.customers}
            | {c.currency for c in self.consultants}
        )
