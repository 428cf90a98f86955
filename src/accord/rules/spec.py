"""The rules file's typed specs: every section of ``rules/*.yaml`` as a frozen pydantic model.

What belongs here: the shape of the rules and the checks that a single file can make on
itself (milestone percents sum to 100, every region names a known legal entity and tax
region, every billing model has a revenue policy). What does not: reading files, hashing
and lookups (:mod:`accord.rules.loader`), and transform functions
(:mod:`accord.rules.transforms`).

Codes used as mapping keys (service packages, practices, regions, legal entities, tax
regions) are the firm's own codes, exactly as they appear on the CRM opportunity.
"""

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from accord.domain import BillingModel, CurrencyCode, ErpSystem

__all__ = [
    "BcDimensionsSpec",
    "BcIntercompanySpec",
    "BudgetBasis",
    "BudgetSpec",
    "CustomFieldSpec",
    "CustomFieldsSpec",
    "ExceptionRoutingSpec",
    "FieldOwnershipSpec",
    "IntercompanyMode",
    "IntercompanySpec",
    "LegalEntitySpec",
    "MigrationSpec",
    "MilestoneSpec",
    "NetSuiteIntercompanySpec",
    "ObjectOwnershipSpec",
    "OwnerQueue",
    "OwnerRole",
    "PracticeSpec",
    "ProjectTemplateSpec",
    "PsaSpec",
    "QueueSpec",
    "RecognitionMethod",
    "RegionSpec",
    "RevenuePolicySpec",
    "RouteSpec",
    "RulesSpec",
    "Severity",
    "TaxKind",
    "TaxRuleSpec",
    "TransformRef",
]

Code = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
"""A firm code used as a key: letters, digits, ``_``, ``.`` and ``-``."""
Name = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Percent = Annotated[Decimal, Field(ge=0, le=100)]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OwnerQueue(StrEnum):
    """The owner queues a business exception can be routed to (ARCHITECTURE section 6)."""

    SALES_OPS = "sales-ops"
    DELIVERY_OPS = "delivery-ops"
    FINANCE_OPS = "finance-ops"
    INTEGRATION = "integration"


class Severity(StrEnum):
    """How urgently an exception needs a person."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class OwnerRole(StrEnum):
    """The role of the system that owns a canonical field (same values as the connectors')."""

    CRM = "crm"
    PSA = "psa"
    ERP = "erp"


class BudgetBasis(StrEnum):
    """What a new project's budget is computed from."""

    CONTRACT_AMOUNT = "contract_amount"
    """The opportunity amount (fixed fee, milestone)."""
    RATE_CARD_ESTIMATE = "rate_card_estimate"
    """Estimated hours times the rate card (time and materials); capped by the amount."""
    RETAINER_FEE = "retainer_fee"
    """The recurring fee times the number of periods (retainer)."""


class RecognitionMethod(StrEnum):
    """How revenue is recognised for a billing model."""

    AS_DELIVERED = "as_delivered"
    PERCENT_COMPLETE = "percent_complete"
    MILESTONE_ACCEPTANCE = "milestone_acceptance"
    STRAIGHT_LINE = "straight_line"


class TaxKind(StrEnum):
    """The tax regime of a region."""

    SALES_TAX = "sales_tax"
    VAT = "vat"
    NONE = "none"


class TransformRef(_Spec):
    """A call of a registered transform (:mod:`accord.rules.transforms`) with its arguments."""

    name: Code
    args: dict[str, str | int] = Field(default_factory=dict)


class MilestoneSpec(_Spec):
    """A billing milestone of a template: a share of the contract amount."""

    name: Name
    percent: Annotated[Decimal, Field(gt=0, le=100)]
    offset_days: int = Field(ge=0, description="days after the project start")


class BudgetSpec(_Spec):
    """Default budget rules of a template."""

    basis: BudgetBasis
    contingency_percent: Percent = Decimal(0)
    """Held back from the delivery budget as contingency."""
    track_hours: bool = True
    """Whether the PSA budget also carries hours (from the rate card)."""


class ProjectTemplateSpec(_Spec):
    """What a service package provisions in the PSA and bills in the ERP."""

    name: Name
    billing_model: BillingModel
    kantata_workspace_template: Name
    """Name of the Kantata workspace template copied for a new project."""
    certinia_project_template: Name
    """Name of the Certinia ``pse__Proj__c`` template (``pse__Is_Template__c``) to clone."""
    duration_days: int = Field(gt=0)
    phases: tuple[Name, ...] = Field(min_length=1)
    milestones: tuple[MilestoneSpec, ...] = ()
    budget: BudgetSpec
    project_name: tuple[TransformRef, ...] = ()
    """Transforms applied, in order, to the opportunity name to name the project."""

    def psa_template(self, system: str) -> str:
        """The template a project of this package is provisioned from in PSA ``system``."""
        if system == "certinia":
            return self.certinia_project_template
        return self.kantata_workspace_template

    @property
    def psa_templates(self) -> tuple[str, ...]:
        """Every PSA template of this package (one per PSA)."""
        return (self.kantata_workspace_template, self.certinia_project_template)

    @model_validator(mode="after")
    def _check_milestones(self) -> Self:
        if self.billing_model is BillingModel.MILESTONE and not self.milestones:
            raise ValueError("milestone billing needs at least one milestone")
        if self.milestones:
            total = sum((m.percent for m in self.milestones), Decimal(0))
            if total != 100:
                raise ValueError(f"milestone percents sum to {total}, not 100")
            names = [m.name for m in self.milestones]
            if len(set(names)) != len(names):
                raise ValueError("milestone names must be unique")
        if len(set(self.phases)) != len(self.phases):
            raise ValueError("phase names must be unique")
        return self


class PracticeSpec(_Spec):
    """A practice (service line): its department and cost center in each ERP."""

    name: Name
    netsuite_department_id: Code
    bc_department_code: Code
    cost_center: Code


class RegionSpec(_Spec):
    """A sales and delivery region: its ERP class, tax region and home legal entity."""

    name: Name
    legal_entity: Code
    tax_region: Code
    netsuite_class_id: Code
    bc_area_code: Code


class MigrationSpec(_Spec):
    """A legal entity's ERP migration: the other ERP, run beside the system of record.

    Before the cut-over ``shadow`` is the new ERP (Accord diffs what it would book there
    against what the system of record booked); a cut-over swaps it with the entity's ``erp``
    and ``connection`` (the old ERP becomes the shadow, so a rollback swaps them back).
    """

    shadow: ErpSystem
    """The ERP beside the system of record (the entity's ``erp``)."""
    shadow_connection: Code
    """The ``accord.yaml`` connection that reaches it."""
    cutover_at: AwareDatetime | None = None
    """When the entity was last cut over (``None``: still on its original ERP)."""
    cutover_scheduled_at: AwareDatetime | None = None
    """A cut-over to perform at this time (``accord migration cutover --at``): the scheduler
    performs it, as a governed rules version, once the time has come; cleared by it."""


class LegalEntitySpec(_Spec):
    """One of the firm's contracting entities and the ERP (and connection) it lives on."""

    name: Name
    currency: CurrencyCode
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    erp: ErpSystem
    connection: Code
    """The ``accord.yaml`` connection that reaches this entity's ERP."""
    netsuite_subsidiary_id: Code | None = None
    bc_company: Name | None = None
    """Business Central company name or id (``None`` when the entity is on NetSuite)."""
    migration: MigrationSpec | None = None
    """An ERP migration under way (shadow, cut-over, rollback), if any."""
    d365_company: Code | None = None
    """Dynamics 365 Finance legal entity (``dataAreaId``); the code in lower case if unset."""
    bc_ic_partner_code: Code | None = None
    """The entity's intercompany partner code in the other Business Central companies
    (``None``: its legal-entity code)."""

    @property
    def erp_book(self) -> tuple[str, str]:
        """What the entity is in its ERP and its id there: ``("subsidiary", "2")`` ..."""
        if self.erp is ErpSystem.BUSINESS_CENTRAL:
            return "company", self.bc_company or ""
        if self.erp is ErpSystem.DYNAMICS_FINANCE:
            return "company", self.d365_company or ""
        return "subsidiary", self.netsuite_subsidiary_id or ""

    @model_validator(mode="after")
    def _check_erp_ids(self) -> Self:
        if self.erp is ErpSystem.NETSUITE and self.netsuite_subsidiary_id is None:
            raise ValueError("an entity on NetSuite needs netsuite_subsidiary_id")
        if self.erp is ErpSystem.BUSINESS_CENTRAL and self.bc_company is None:
            raise ValueError("an entity on Business Central needs bc_company")
        if self.migration is not None and self.migration.shadow_connection == self.connection:
            raise ValueError("a migration's shadow_connection must differ from connection")
        return self


class IntercompanyMode(StrEnum):
    """What cross-entity staffing books between the two legal entities."""

    RECHARGE = "recharge"
    """The resource's home entity recharges the project's entity its cost plus a markup."""
    NONE = "none"
    """Nothing: the project's entity books the time, the home entity keeps the cost."""


class NetSuiteIntercompanySpec(_Spec):
    """The accounts (internal ids) of the four lines of a NetSuite intercompany journal."""

    due_from_account: Code = "1250"
    """Home entity: receivable from the project's entity (eliminated on consolidation)."""
    revenue_account: Code = "4950"
    """Home entity: recharge income."""
    cost_account: Code = "5950"
    """Project's entity: recharged cost (the line names the project)."""
    due_to_account: Code = "2250"
    """Project's entity: payable to the home entity (eliminated on consolidation)."""


class BcIntercompanySpec(_Spec):
    """The G/L accounts of a Business Central intercompany general journal line."""

    revenue_account: Code = "6950"
    """Home company: the G/L account the recharge is credited to."""
    cost_account: Code = "8950"
    """Project's company: the partner's G/L account it is debited to (IC Partner G/L Acc.)."""


class IntercompanySpec(_Spec):
    """The firm's intercompany policy for a resource of one entity on a project of another.

    The time always posts to the project's entity at its rates; this policy says what the two
    entities book between them for the resource's cost (docs/flows/multi-entity.md).
    """

    mode: IntercompanyMode = IntercompanyMode.RECHARGE
    markup_pct: Annotated[Decimal, Field(ge=0, le=1000)] = Decimal(0)
    """Percent added to the resource's hourly cost (``"10"``: cost plus 10 %)."""
    netsuite: NetSuiteIntercompanySpec = NetSuiteIntercompanySpec()
    business_central: BcIntercompanySpec = BcIntercompanySpec()


class BcDimensionsSpec(_Spec):
    """Which Business Central dimensions carry practice and region."""

    department: Code = "DEPARTMENT"
    region: Code = "AREA"


class TaxRuleSpec(_Spec):
    """How a tax region is taxed and which ERP codes say so."""

    kind: TaxKind
    rate_percent: Percent
    netsuite_tax_code: Name | None = None
    bc_tax_group: Code | None = None
    reverse_charge: bool = False
    """B2B cross-border supplies where the customer self-accounts (EU VAT)."""


class RevenuePolicySpec(_Spec):
    """How one billing model is billed and recognised."""

    recognition: RecognitionMethod
    billing: Literal["time_entries", "schedule", "milestones", "recurring"]
    defer_until_billed: bool = False


class RouteSpec(_Spec):
    """Where exceptions with one failure code (or code prefix) go."""

    queue: OwnerQueue
    severity: Severity = Severity.MEDIUM


class ExceptionRoutingSpec(_Spec):
    """Failure code -> owner queue. Keys are codes (``erp.rejected``) or prefixes (``erp.*``)."""

    default: RouteSpec = RouteSpec(queue=OwnerQueue.INTEGRATION)
    routes: dict[Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.]+(\.\*)?$")], RouteSpec] = (
        Field(default_factory=dict)
    )


class QueueSpec(_Spec):
    """One owner queue's service level: how long an exception may wait before it escalates.

    An open exception older than ``sla_hours`` is assigned to ``escalation_owner`` (once), the
    escalation is audited, and an ``exception_escalated`` alert fires until it is closed.
    """

    sla_hours: float = Field(gt=0, le=24 * 365)
    escalation_owner: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    """Who takes an exception over once it is past the SLA (a person or a team handle)."""


class ObjectOwnershipSpec(_Spec):
    """Owners of one canonical object's fields (``None``: nobody owns the field)."""

    default: OwnerRole | None = None
    fields: dict[str, OwnerRole | None] = Field(default_factory=dict)


class FieldOwnershipSpec(_Spec):
    """Field ownership per canonical object (snake-case names, as in the connectors)."""

    objects: dict[str, ObjectOwnershipSpec] = Field(default_factory=dict)


class CustomFieldSpec(_Spec):
    """One firm-specific field and its API name in each system that carries it.

    ``owner`` says which system owns it (and so which way it flows); without one, the object's
    default owner in ``field_ownership`` (a project's: the PSA). A system left out does not
    carry the field.
    """

    label: Name | None = None
    owner: OwnerRole | None = None
    kantata: Name | None = None
    """A Kantata custom field's name (``custom_fields`` on workspaces)."""
    certinia: Name | None = None
    """A field of ``pse__Proj__c`` (a custom field's API name, ending ``__c``)."""
    netsuite: Name | None = None
    """A field of the ``job`` record (a custom entity field's id, ``custentity...``)."""
    business_central: Name | None = None
    """A property of the ``projects`` API page."""

    def field_of(self, system: str) -> str | None:
        """The field's name in ``system`` (``netsuite`` ...), or ``None``."""
        value = getattr(self, system, None) if system in _CUSTOM_SYSTEMS else None
        return value if isinstance(value, str) else None


_CUSTOM_SYSTEMS = frozenset({"kantata", "certinia", "netsuite", "business_central"})


class CustomFieldsSpec(_Spec):
    """Firm-specific fields kept in accord between the PSA and the ERP, per canonical object."""

    project: dict[Code, CustomFieldSpec] = Field(default_factory=dict)


class PsaSpec(_Spec):
    """Which PSA projects are provisioned in, through which connection."""

    system: Literal["kantata", "certinia"] = "kantata"
    connection: Code = "kantata"


class RulesSpec(_Spec):
    """The root of a rules file."""

    psa: PsaSpec = PsaSpec()
    service_packages: dict[Code, ProjectTemplateSpec] = Field(min_length=1)
    practices: dict[Code, PracticeSpec] = Field(min_length=1)
    regions: dict[Code, RegionSpec] = Field(min_length=1)
    legal_entities: dict[Code, LegalEntitySpec] = Field(min_length=1)
    business_central: BcDimensionsSpec = BcDimensionsSpec()
    tax: dict[Code, TaxRuleSpec] = Field(min_length=1)
    """Tax rules by tax region (the ``tax_region`` of regions and customers)."""
    revenue: dict[BillingModel, RevenuePolicySpec]
    exception_routing: ExceptionRoutingSpec = ExceptionRoutingSpec()
    queues: dict[OwnerQueue, QueueSpec] = Field(default_factory=dict)
    """Each owner queue's SLA and escalation owner; a queue not listed never escalates."""
    field_ownership: FieldOwnershipSpec = FieldOwnershipSpec()
    intercompany: IntercompanySpec = IntercompanySpec()
    """What cross-entity staffing books between the entities."""
    custom_fields: CustomFieldsSpec = CustomFieldsSpec()
    """Firm-specific fields the delivery flow keeps in step (docs/flows/delivery.md)."""

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        for code, region in self.regions.items():
            if region.legal_entity not in self.legal_entities:
                raise ValueError(
                    f"regions.{code}.legal_entity: unknown legal entity {region.legal_entity!r}"
                )
            if region.tax_region not in self.tax:
                raise ValueError(
                    f"regions.{code}.tax_region: no tax rule for {region.tax_region!r}"
                )
        missing = [m.value for m in BillingModel if m not in self.revenue]
        if missing:
            raise ValueError(f"revenue: no policy for billing model(s) {', '.join(missing)}")
        return self
