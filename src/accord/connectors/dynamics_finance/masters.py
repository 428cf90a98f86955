"""Dynamics 365 Finance's master data and billing plans in the ERP role.

The half of :class:`~accord.connectors.dynamics_finance.erp.DynamicsFinanceErp` that
provisioning, contract change, customer master and the system API use (postings and periods
are in ``erp.py``, cash and invoices in ``_erp_billing.py``). Data entities have natural
keys, so every write is an upsert by a key Accord derives from the canonical id
(:func:`~accord.connectors.dynamics_finance.mapping.fo_key`) in the legal entity's company:

- Customers: ``CustomersV3`` by ``CustomerAccount``. Customers are company-specific in F&O,
  so a customer available to a further legal entity is the same account created in that
  company. ``CustomersV3`` carries no parent (hierarchies are a separate feature) and no tax
  region Accord maps, so name and billing address are compared.
- Projects: a time-and-material or fixed-price project needs a **project contract**
  (``ProjectContractHeaders``, funded by the customer), so a project is its contract (keyed
  by the project's key) and its ``Projects`` record (``ProjectID`` = the key). F&O's project
  types know no milestone or retainer, so the billing model travels in the project group
  (``project_groups``, an environment's own setup) and the type (``project_types``).
  Billing terms are not written: the contract entity has no field for them.
- Billing plans: milestones are **on-account transactions** (``ProjectOnAccountTransactions``,
  ``IsMilestone = Yes``) keyed by ``TransactionId`` = the line's key; lines a rewritten plan
  no longer has are deleted unless invoiced (F&O keeps invoiced ones).
- Canonical reads of the system API address the connection's default company.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from accord.connectors.dynamics_finance.connector import DynamicsFinanceConnector, odata_string
from accord.connectors.dynamics_finance.mapping import (
    date_day,
    date_field,
    dimension_display_value,
    fo_key,
    stage_status,
    status_stage,
)
from accord.connectors.roles import (
    BillingPlan,
    BillingPlanResult,
    ChangeFeed,
    CustomerBooking,
    ErpCustomer,
    ErpCustomerChange,
    ErpProject,
    ErpProjectPlan,
    IdLookup,
)
from accord.connectors.roles.feeds import collection_feed
from accord.connectors.types import RawRecord
from accord.domain import Address, BillingModel, Customer, Project
from accord.errors import MappingError, NotFoundError
from accord.rules import Rules

__all__ = [
    "CARRIED",
    "CUSTOMERS",
    "FILTER_CHUNK",
    "ON_ACCOUNT",
    "DynamicsFinanceMasterData",
    "any_of",
    "chunks",
    "customer_view",
    "known_id",
]

CARRIED: Final = ("name", "bill_to")
"""Canonical customer fields an F&O customer carries (as Accord maps it)."""
CUSTOMERS: Final = "CustomersV3"
CONTRACTS: Final = "ProjectContractHeaders"
PROJECTS: Final = "Projects"
ON_ACCOUNT: Final = "ProjectOnAccountTransactions"
_HELD: Final = frozenset({"Invoice", "All"})
"""``OnHoldStatus`` values that refuse new sales."""
_FIELDS: Final = {
    "name": ("OrganizationName",),
    "bill_to": (
        "AddressStreet",
        "AddressCity",
        "AddressZipCode",
        "AddressState",
        "AddressCountryRegionId",
    ),
}
"""Canonical customer field -> the ``CustomersV3`` fields that carry it."""
FILTER_CHUNK: Final = 15
"""Terms per ``$filter`` of ``or`` terms (F&O has no ``in``)."""


def chunks(values: Sequence[str], size: int = FILTER_CHUNK) -> Iterable[Sequence[str]]:
    """``values`` in slices of ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def any_of(field: str, values: Iterable[str]) -> str:
    """An OData ``or`` of ``field eq '<value>'`` terms."""
    return " or ".join(f"{field} eq {odata_string(v)}" for v in values)


def _street(address: Address) -> str:
    # F&O keeps the street lines in one field, separated by line feeds.
    return "\n".join(part for part in (address.line1, address.line2) if part)


def customer_view(record: RawRecord, countries: Mapping[str, str]) -> ErpCustomer:
    """A ``CustomersV3`` record as the role's :class:`ErpCustomer` (countries: F&O -> ISO)."""
    street = str(record.get("AddressStreet") or "").split("\n", 1)
    country = str(record.get("AddressCountryRegionId") or "")
    parts = (
        street[0],
        street[1] if len(street) > 1 else None,
        record.get("AddressCity"),
        record.get("AddressState"),
        record.get("AddressZipCode"),
        countries.get(country, country),
    )
    return ErpCustomer(
        erp_id=str(record.get("CustomerAccount") or ""),
        name=str(record.get("OrganizationName") or ""),
        bill_to=tuple(str(p) if p not in (None, "") else None for p in parts),
        credit_hold=record.get("OnHoldStatus") in _HELD,
        carried=CARRIED,
    )


def known_id(known: IdLookup | None, model: str, erp_id: str) -> str | None:
    """The canonical id ``known`` gives an ERP id of ``model``, if any."""
    if known is None or not erp_id:
        return None
    return known({model: {erp_id}}).get((model, erp_id))


class DynamicsFinanceMasterData:
    """Customers, projects, billing plans and canonical reads (see the module docstring)."""

    _connector: DynamicsFinanceConnector
    _rules: Rules

    def _company(self, legal_entity: str | None) -> DynamicsFinanceConnector:
        """The legal entity's company (the default company for ``None``)."""
        if not legal_entity:
            return self._connector
        try:
            return self._connector.for_company(legal_entity)
        except ValueError as exc:
            message = (
                f"legal entity {legal_entity} has no company on connection "
                f"{self._connector.name!r} (configure it under 'companies')"
            )
            raise MappingError(message) from exc

    def _countries(self) -> dict[str, str]:
        """F&O country/region id -> ISO alpha-2, from the connection's settings."""
        return {fo: iso for iso, fo in self._connector.config.country_regions.items()}

    def _legal_entity(self, area: str) -> str:
        return self._connector.config.entity_of(area) or area.upper()

    # ----------------------------------------------------------------- customers
    @property
    def customer_fields(self) -> tuple[str, ...]:
        """Canonical customer fields an F&O customer carries."""
        return CARRIED

    def _customer_body(self, booking: CustomerBooking) -> dict[str, Any]:
        customer = booking.customer
        config = self._connector.config
        country = config.country_regions.get(customer.bill_to.country)
        if country is None:
            message = (
                f"country {customer.bill_to.country} has no F&O country/region id "
                "(connection setting 'country_regions')"
            )
            raise MappingError(message)
        address = customer.bill_to
        body: dict[str, Any] = {
            "OrganizationName": customer.name[:100],
            "CustomerGroupId": config.customer_group,
            "SalesCurrencyCode": customer.currency,
            "AddressStreet": _street(address)[:250],
            "AddressCity": address.city[:60],
            "AddressZipCode": (address.postal_code or "")[:10],
            "AddressState": (address.state or "")[:10],
            "AddressCountryRegionId": country,
        }
        dropped = {name for field in booking.omit for name in _FIELDS.get(field, ())}
        return {k: v for k, v in body.items() if k not in dropped}

    def upsert_customer(self, booking: CustomerBooking) -> tuple[str, bool]:
        """Upsert by ``CustomerAccount`` in the legal entity's company."""
        body = self._customer_body(booking)
        account = fo_key(booking.customer.id)
        result = self._company(booking.legal_entity).upsert(CUSTOMERS, account, body)
        # Projects, contracts and invoices name the customer by its account.
        return account, result.created

    def customer(self, erp_id: str, *, legal_entity: str | None = None) -> ErpCustomer:
        """The customer ``erp_id`` (its account) in the legal entity's company."""
        found = self._company(legal_entity).get_by_external_id(CUSTOMERS, erp_id)
        if found is None:
            raise NotFoundError(
                connector=self._connector.name, resource=CUSTOMERS, external_id=erp_id
            )
        return customer_view(found, self._countries())

    def customer_changes(self) -> ChangeFeed[ErpCustomerChange]:
        """Changed ``CustomersV3`` of the default company (each carries the whole view)."""
        countries = self._countries()
        return collection_feed(
            self._connector,
            CUSTOMERS,
            lambda row: ErpCustomerChange(
                erp_id=str(row.get("CustomerAccount") or ""),
                customer=customer_view(row, countries),
            ),
        )

    # ----------------------------------------------------------------- projects, billing
    def _project_bodies(self, plan: ErpProjectPlan) -> tuple[dict[str, Any], dict[str, Any]]:
        """The project contract's body and the project's."""
        project = plan.project
        if not plan.customer_erp_id:
            raise MappingError(f"project {project.id} has no customer account in F&O")
        config = self._connector.config
        self._company(project.legal_entity)  # an entity without a company does not map
        for kind, mapped in (("type", config.project_types), ("group", config.project_groups)):
            if project.billing_model not in mapped:
                message = (
                    f"billing model {project.billing_model.value} has no F&O project {kind} "
                    f"(connection setting 'project_{kind}s')"
                )
                raise MappingError(message)
        dimensions = dimension_display_value(plan.dimensions, config)
        contract = {
            "Name": project.name[:60],
            "CustomerAccountNumber": plan.customer_erp_id,
            "SalesCurrencyCode": project.currency,
            "DefaultLedgerDimensionDisplayValue": dimensions,
        }
        body = {
            "ProjectName": project.name[:60],
            "ProjectContractID": fo_key(project.id),
            "ProjectType": config.project_types[project.billing_model],
            "ProjectGroup": config.project_groups[project.billing_model],
            "ProjectStage": status_stage(project.status, config),
            "ProjectedStartDate": date_field(project.start_date),
            "ProjectedEndDate": (
                date_field(project.end_date) if project.end_date else "1900-01-01T12:00:00Z"
            ),
            "DefaultDimensionDisplayValue": dimensions,
        }
        return contract, body

    def upsert_project(self, plan: ErpProjectPlan) -> str:
        """Upsert the project's contract, then the project (module docstring)."""
        contract, body = self._project_bodies(plan)
        company = self._company(plan.project.legal_entity)
        key = fo_key(plan.project.id)
        company.upsert(CONTRACTS, key, contract)
        company.upsert(PROJECTS, key, body)
        return key

    @staticmethod
    def _line_bodies(plan: BillingPlan) -> list[dict[str, Any]]:
        project = plan.project
        return [
            {
                "ProjectID": plan.erp_project_id,
                "Description": line.description[:60],
                "TransactionDate": date_field(line.due_date or project.start_date),
                "Quantity": float(line.quantity),
                # Exact to the cent: the wire's JSON number loses nothing.
                "SalesPrice": float(line.unit_rate),
                "CurrencyId": project.currency,
                "IsMilestone": "Yes",
            }
            for line in plan.lines
        ]

    def write_billing_plan(self, plan: BillingPlan) -> BillingPlanResult:
        """Milestone on-account transactions by ``TransactionId`` (module docstring)."""
        company = self._company(plan.project.legal_entity)
        out: dict[str, str] = {}
        for line, body in zip(plan.lines, self._line_bodies(plan), strict=True):
            written = company.upsert(ON_ACCOUNT, fo_key(line.key), body)
            out[line.key] = written.id
        keep = {line.key for line in plan.lines}
        for key in plan.previous_keys:
            if key in keep:
                continue
            found = company.get_by_external_id(ON_ACCOUNT, fo_key(key))
            if found is not None and found.get("BillingStatus") != "Invoiced":
                company.delete(ON_ACCOUNT, company.describe(ON_ACCOUNT, found).id)
        return BillingPlanResult(schedule_id=plan.erp_project_id, lines=out)

    def master_body(
        self, operation: CustomerBooking | ErpProjectPlan | BillingPlan
    ) -> dict[str, Any]:
        """``CustomersV3``, contract and project, or on-account bodies; no call is made."""
        if isinstance(operation, CustomerBooking):
            return self._customer_body(operation)
        if isinstance(operation, ErpProjectPlan):
            contract, body = self._project_bodies(operation)
            return {"contract": contract, "project": body}
        self._company(operation.project.legal_entity)
        return {"lines": self._line_bodies(operation)}

    def invoiced_milestones(self, legal_entity: str, milestone_ids: Sequence[str]) -> list[str]:
        """Milestones whose on-account transaction is invoiced, or that Accord invoiced.

        Accord's milestone invoices are free text invoices whose ``CustomersOrderReference``
        is the milestone id (``_erp_billing``).
        """
        company = self._company(legal_entity)
        keys = {fo_key(m): m for m in milestone_ids}
        invoiced: set[str] = set()
        for chunk in chunks(list(keys)):
            rows = company.query(
                ON_ACCOUNT,
                f"({any_of('TransactionId', chunk)}) and BillingStatus eq "
                "Microsoft.Dynamics.DataEntities.ProjOnAccTransBillingStatus'Invoiced'",
            )
            invoiced |= {keys[str(r.get("TransactionId") or "").upper()] for r in rows}
        for chunk in chunks(list(milestone_ids)):
            rows = company.query(
                "FreeTextInvoiceHeaders",
                f"({any_of('CustomersOrderReference', chunk)}) and IsPosted eq "
                "Microsoft.Dynamics.DataEntities.NoYes'Yes'",
            )
            invoiced |= {str(r.get("CustomersOrderReference")) for r in rows}
        return [m for m in milestone_ids if m in invoiced]

    # ----------------------------------------------------------------- canonical reads
    def _get(self, resource: str, record_id: str) -> RawRecord:
        try:
            return self._connector.get(resource, record_id)
        except ValueError as exc:
            # An id that is no key predicate names no record.
            raise NotFoundError(connector=self._connector.name, resource=resource) from exc

    def read_customer(self, record_id: str, *, known: IdLookup | None = None) -> Customer:
        """A ``CustomersV3`` record by its key predicate, canonical.

        Its id is the one Accord knows for the account, else the account itself.
        """
        record = self._get(CUSTOMERS, record_id)
        account = str(record.get("CustomerAccount") or "")
        legal_entity = self._legal_entity(str(record.get("dataAreaId") or ""))
        view = customer_view(record, self._countries())
        line1, line2, city, state, postal, country = view.bill_to or (None,) * 6
        spec = self._rules.spec
        tax_region = next(
            (r.tax_region for r in spec.regions.values() if r.legal_entity == legal_entity), None
        )
        if tax_region is None:
            raise MappingError(f"no region of the rules is in legal entity {legal_entity}")
        try:
            return Customer(
                id=known_id(known, "Customer", account) or account,
                name=view.name,
                legal_entity=legal_entity,
                bill_to=Address(
                    line1=line1 or "",
                    line2=line2,
                    city=city or "",
                    state=state,
                    postal_code=postal,
                    country=country or "",
                ),
                tax_region=tax_region,
                currency=str(record.get("SalesCurrencyCode") or ""),
                active=record.get("OnHoldStatus") != "All",
            )
        except ValueError as exc:
            raise MappingError(f"customer {account} does not map: {exc}") from exc

    def read_project(self, record_id: str, *, known: IdLookup | None = None) -> Project:
        """A ``Projects`` record by its key predicate, canonical (through the ERP role view)."""
        record = self._get(PROJECTS, record_id)
        project_id = str(record.get("ProjectID") or "")
        view = self.project_view(record)
        account = str(record.get("CustomerAccount") or "")
        config = self._connector.config
        status = stage_status(str(record.get("ProjectStage") or ""), config)
        if view.practice is None or view.region is None or view.start_date is None:
            raise MappingError(
                f"project {project_id} lacks a start date or dimension values the rules know"
            )
        try:
            return Project(
                id=known_id(known, "Project", project_id) or project_id,
                name=str(record.get("ProjectName") or project_id),
                customer_id=known_id(known, "Customer", account) or account,
                legal_entity=view.legal_entity,
                practice=view.practice,
                region=view.region,
                billing_model=view.billing_model,
                status=status,
                currency=view.currency,
                start_date=view.start_date,
                end_date=view.end_date,
            )
        except ValueError as exc:
            raise MappingError(f"project {project_id} does not map: {exc}") from exc

    def project_view(self, record: RawRecord) -> ErpProject:
        """A ``Projects`` record as the role's :class:`ErpProject`.

        Practice and region come back from the default dimensions through the rules'
        Business Central codes (a firm moving off Business Central keeps its values); the
        billing model from the project group, else the type.
        """
        config = self._connector.config
        area = str(record.get("dataAreaId") or "").lower()
        legal_entity = self._legal_entity(area)
        values = dict(
            zip(
                config.dimension_format,
                str(record.get("DefaultDimensionDisplayValue") or "").split(
                    config.dimension_delimiter
                ),
                strict=False,
            )
        )
        department = values.get(config.dimensions.get("department", ""))
        region = values.get(config.dimensions.get("class", ""))
        spec = self._rules.spec
        entity = spec.legal_entities.get(legal_entity)
        stage = str(record.get("ProjectStage") or "")
        group = {g: m for m, g in config.project_groups.items()}.get(
            str(record.get("ProjectGroup") or "")
        )
        by_type = (
            BillingModel.FIXED_FEE
            if record.get("ProjectType") == "FixedPrice"
            else BillingModel.TIME_AND_MATERIALS
        )
        return ErpProject(
            erp_id=str(record.get("ProjectID") or ""),
            legal_entity=legal_entity,
            active=stage in config.posting_stages,
            status=stage,
            start_date=date_day(record.get("ProjectedStartDate")),
            end_date=date_day(record.get("ProjectedEndDate")),
            billing_model=group or by_type,
            practice=next(
                (
                    c
                    for c, p in spec.practices.items()
                    if department and p.bc_department_code == department
                ),
                None,
            ),
            region=next(
                (c for c, r in spec.regions.items() if region and r.bc_area_code == region), None
            ),
            currency=str(record.get("SalesCurrencyCode") or (entity.currency if entity else "")),
        )
