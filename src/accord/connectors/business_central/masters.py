"""Business Central's master data and billing plans in the ERP role.

The half of :class:`~accord.connectors.business_central.erp.BusinessCentralErp` that
provisioning, contract change, customer master and the system API use (postings and periods
are in ``erp.py``). BC has one company per legal entity and no upsert, so every write is
verify-before-create by a number Accord derives from the canonical id
(:func:`~accord.connectors.business_central.mapping.bc_number`):

- Customers: ``customers`` by number in the legal entity's company; v2.0 customers carry no
  parent and no tax region (reference 5.4), so only name and billing address are compared.
- Projects: ``projects`` by number (the canonical project id), with Accord's extension fields
  for the customer, dates, dimensions and billing model.
- Billing plans: the standard API has no planning lines; reference 5.4 points to a custom API
  page, which the sandbox serves as ``projectPlanningLines`` (Job Planning Lines of line type
  ``Billable``). One line per plan line keyed by ``documentNumber`` (the number of the line's
  key); lines a rewritten plan no longer has are deleted.
- Invoiced milestones: a milestone's sales invoice carries the milestone id as its
  ``externalDocumentNumber``.
- Reads for the system API use the connection's default company, booked for the first legal
  entity the rules place on this connection.
"""

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Final

from accord.connectors.business_central.connector import BusinessCentralConnector
from accord.connectors.business_central.mapping import (
    CUSTOMER_FIELDS,
    BusinessCentralLookups,
    bc_number,
    customer_from_canonical,
    customer_to_canonical,
    payment_to_canonical,
    project_from_canonical,
    project_to_canonical,
    sales_invoice_to_canonical,
)
from accord.connectors.roles import (
    BillingPlan,
    BillingPlanResult,
    ChangeFeed,
    CustomerBooking,
    ErpCustomer,
    ErpCustomerChange,
    ErpProjectPlan,
    IdLookup,
)
from accord.connectors.roles.feeds import collection_feed
from accord.connectors.types import RawRecord
from accord.domain import Customer, ErpSystem, Invoice, Payment, Project
from accord.errors import MappingError, NotFoundError
from accord.rules import Rules

__all__ = ["CARRIED", "BusinessCentralMasterData", "customer_view"]

CARRIED: Final = ("name", "bill_to")
"""Canonical customer fields a BC v2.0 customer carries."""
_ADDRESS: Final = ("addressLine1", "addressLine2", "city", "state", "postalCode", "country")
_HELD: Final = frozenset({"Invoice", "All"})
"""``blocked`` values that refuse new sales."""


def _number(value: Decimal) -> float:
    # The wire needs a JSON number; the value is exact to the cent, so float is lossless here.
    return float(value)


def customer_view(record: RawRecord) -> ErpCustomer:
    """A ``customers`` entity as the role's :class:`ErpCustomer`."""
    return ErpCustomer(
        erp_id=str(record.get("number") or ""),
        name=str(record.get("displayName") or ""),
        bill_to=tuple(
            str(value) if value not in (None, "") else None
            for value in (record.get(name) for name in _ADDRESS)
        ),
        credit_hold=record.get("blocked") in _HELD,
        carried=CARRIED,
    )


class BusinessCentralMasterData:
    """Customers, projects, billing plans and canonical reads (see the module docstring)."""

    _connector: BusinessCentralConnector
    _rules: Rules

    def _company(self, legal_entity: str | None) -> BusinessCentralConnector:
        return self._connector.for_company(legal_entity) if legal_entity else self._connector

    # ----------------------------------------------------------------- customers
    @property
    def customer_fields(self) -> tuple[str, ...]:
        """Canonical customer fields a BC customer carries."""
        return CARRIED

    @staticmethod
    def _customer_body(booking: CustomerBooking) -> dict[str, Any]:
        body = customer_from_canonical(booking.customer)
        dropped = {name for field in booking.omit for name in CUSTOMER_FIELDS.get(field, ())}
        return {k: v for k, v in body.items() if k not in dropped}

    def upsert_customer(self, booking: CustomerBooking) -> tuple[str, bool]:
        """Verify-before-create by number in the legal entity's company."""
        number = bc_number(booking.customer.id)
        body = self._customer_body(booking)
        result = self._company(booking.legal_entity).upsert("customers", number, body)
        # BC's customer is addressed by number everywhere else (projects, invoices).
        return number, result.created

    def customer(self, erp_id: str, *, legal_entity: str | None = None) -> ErpCustomer:
        """The customer numbered ``erp_id`` in the legal entity's company."""
        found = self._company(legal_entity).get_by_external_id("customers", erp_id)
        if found is None:
            raise NotFoundError(
                connector=self._connector.name, resource="customers", external_id=erp_id
            )
        return customer_view(found)

    def customer_changes(self) -> ChangeFeed[ErpCustomerChange]:
        """Pages of the default company's ``customers`` (each entity carries the whole view)."""
        return collection_feed(
            self._connector,
            "customers",
            lambda row: ErpCustomerChange(
                erp_id=str(row.get("number") or ""), customer=customer_view(row)
            ),
        )

    # ----------------------------------------------------------------- projects, billing
    @staticmethod
    def _project_body(plan: ErpProjectPlan) -> dict[str, Any]:
        project = plan.project
        lookups = BusinessCentralLookups(
            legal_entity=project.legal_entity,
            departments={project.practice: plan.dimensions.get("department", "")},
            areas={project.region: plan.dimensions.get("class", "")},
            records={
                "customers": {
                    project.customer_id: plan.customer_erp_id or bc_number(project.customer_id)
                }
            },
        )
        return project_from_canonical(project, lookups=lookups)

    def upsert_project(self, plan: ErpProjectPlan) -> str:
        """Verify-before-create of the project by number (the canonical id)."""
        project = plan.project
        number = bc_number(project.id, prefix="")
        self._company(project.legal_entity).upsert("projects", number, self._project_body(plan))
        return number

    @staticmethod
    def _line_bodies(plan: BillingPlan) -> list[dict[str, Any]]:
        project = plan.project
        return [
            {
                "projectNumber": bc_number(project.id),
                "lineType": "Billable",
                "planningDate": (line.due_date or project.start_date).isoformat(),
                "description": f"{line.key}: {line.description}"[:100],
                "quantity": _number(line.quantity),
                "unitPrice": _number(line.unit_rate),
                "lineAmount": _number(line.amount),
                "currencyCode": project.currency,
            }
            for line in plan.lines
        ]

    def write_billing_plan(self, plan: BillingPlan) -> BillingPlanResult:
        """Planning lines by ``documentNumber``; lines no longer planned are deleted."""
        project = plan.project
        company = self._company(project.legal_entity)
        out: dict[str, str] = {}
        for line, body in zip(plan.lines, self._line_bodies(plan), strict=True):
            number = bc_number(line.key)
            company.upsert("projectPlanningLines", number, body)
            out[line.key] = number
        keep = {line.key for line in plan.lines}
        for key in plan.previous_keys:
            if key in keep:
                continue
            found = company.get_by_external_id("projectPlanningLines", bc_number(key))
            if found is not None:
                company.delete("projectPlanningLines", str(found["id"]))
        return BillingPlanResult(schedule_id=bc_number(project.id), lines=out)

    def master_body(
        self, operation: CustomerBooking | ErpProjectPlan | BillingPlan
    ) -> dict[str, Any]:
        """``customers``, ``projects`` or planning-line bodies; no call is made."""
        if isinstance(operation, CustomerBooking):
            return self._customer_body(operation)
        if isinstance(operation, ErpProjectPlan):
            return self._project_body(operation)
        return {"lines": self._line_bodies(operation)}

    def invoiced_milestones(self, legal_entity: str, milestone_ids: Sequence[str]) -> list[str]:
        """Milestones with a sales invoice whose external document number is their id."""
        company = self._company(legal_entity)
        return [
            milestone_id
            for milestone_id in milestone_ids
            if company.get_by_external_id("salesInvoices", milestone_id) is not None
        ]

    # ----------------------------------------------------------------- canonical reads
    def _context(self) -> tuple[BusinessCentralLookups, str]:
        """Lookups and currency of the default company, from the rules."""
        spec = self._rules.spec
        entity = next(
            (
                (code, le)
                for code, le in spec.legal_entities.items()
                if le.erp is ErpSystem.BUSINESS_CENTRAL and le.connection == self._connector.name
            ),
            None,
        )
        if entity is None:
            msg = f"no legal entity of the rules books in {self._connector.name!r}"
            raise MappingError(msg)
        code, le = entity
        tax = next((r.tax_region for r in spec.regions.values() if r.legal_entity == code), None)
        lookups = BusinessCentralLookups(
            legal_entity=code,
            departments={c: p.bc_department_code for c, p in spec.practices.items()},
            areas={c: r.bc_area_code for c, r in spec.regions.items()},
            tax_regions={le.country: tax} if tax else {},
            default_tax_region=tax,
        )
        return lookups, le.currency

    def _get(self, resource: str, record_id: str) -> RawRecord:
        try:
            return self._connector.get(resource, record_id)
        except ValueError as exc:
            # An id of the wrong shape (not a GUID) names no record.
            raise NotFoundError(connector=self._connector.name, resource=resource) from exc

    def read_customer(self, record_id: str, *, known: IdLookup | None = None) -> Customer:
        """A customer by its id (GUID), canonical."""
        del known  # BC references are numbers the mapping names itself
        record = self._get("customers", record_id)
        lookups, currency = self._context()
        return customer_to_canonical(record, lookups=lookups, company_currency=currency)

    def read_project(self, record_id: str, *, known: IdLookup | None = None) -> Project:
        """A project by its id (GUID), canonical."""
        del known
        record = self._get("projects", record_id)
        return project_to_canonical(record, lookups=self._context()[0])

    def read_invoice(self, record_id: str, *, known: IdLookup | None = None) -> Invoice:
        """A sales invoice by its id (GUID), canonical."""
        del known
        record = self._get("salesInvoices", record_id)
        lookups, currency = self._context()
        return sales_invoice_to_canonical(record, lookups=lookups, company_currency=currency)

    def read_payment(self, record_id: str, *, known: IdLookup | None = None) -> Payment:
        """A customer payment line by its id (GUID), canonical."""
        del known
        record = self._get("customerPayments", record_id)
        lookups, currency = self._context()
        return payment_to_canonical(record, lookups=lookups, currency=currency)

    def invoice_ids(self, customer_erp_id: str, *, max_pages: int) -> list[str]:
        """Sales invoice ids of a customer (by id or number): a scan of the default company."""
        ids: list[str] = []
        cursor: str | None = None
        for _ in range(max_pages):
            page = self._connector.read_page("salesInvoices", cursor=cursor, limit=1000)
            ids.extend(
                str(row["id"])
                for row in page.records
                if customer_erp_id in (str(row.get("customerId")), str(row.get("customerNumber")))
            )
            cursor = page.next_cursor
            if cursor is None:
                break
        return ids
