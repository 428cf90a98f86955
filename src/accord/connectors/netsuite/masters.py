"""NetSuite's master data and billing plans in the ERP role: customers, jobs, sales orders.

The half of :class:`~accord.connectors.netsuite.erp.NetSuiteErp` that provisioning, contract
change, customer master and the system API use (postings and periods are in ``erp.py``):

- Customers: ``PUT customer/eid:<canonical id>``, created in the legal entity's subsidiary
  (its primary subsidiary), the parent by its internal id; fields the ERP owns are left out of
  an update. An existing customer keeps its primary subsidiary and currency (NetSuite refuses
  to change them once it has transactions); a further legal entity is added with OneWorld's
  Multi-Subsidiary Customer: a ``customerSubsidiaryRelationship`` (entity, subsidiary),
  created unless the customer already has one for that subsidiary. With the feature off,
  NetSuite refuses it (reason ``entity_not_shared``). A customer is read with
  ``expandSubResources=true`` (its address book is a sublist). Drift compares name, parent,
  default billing address and the tax region (``custentity_accord_tax_region``).
- Projects: ``PUT job/eid:<project id>``; the billing terms go into the job's ``comments``
  (``Billing: <model> ...``), which is how a retainer (billed like a fixed fee, ``FBI``) is told
  apart when the job is read back.
- Billing plans: one ``salesOrder`` per project, ``PUT salesOrder/eid:SO-<project id>``, one
  item line per plan line carrying the connection's ``billing_item``. A PUT replaces the item
  sublist, so a rewritten plan is one call and lines no longer planned disappear with it.
- Invoiced milestones: a milestone invoice carries ``externalId`` ``MS-<milestone id>``.
"""

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from accord.connectors.cache import TtlCache
from accord.connectors.netsuite.config import NetSuiteConfig
from accord.connectors.netsuite.connector import NetSuiteConnector
from accord.connectors.netsuite.mapping import (
    CUSTOMER_FIELDS,
    TAX_REGION_FIELD,
    NetSuiteLookups,
    customer_from_canonical,
    customer_to_canonical,
    invoice_to_canonical,
    payment_to_canonical,
    project_from_canonical,
    project_to_canonical,
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
from accord.domain import Customer, Invoice, Payment, Project
from accord.errors import ConflictError, NotFoundError, Reason
from accord.rules import Rules

__all__ = ["REFERENCE_TTL_S", "NetSuiteMasterData", "customer_view", "sales_order_id"]

REFERENCE_TTL_S: Final = 300.0
"""How long reference lists (currencies, employees) are kept per account."""
CARRIED: Final = ("name", "parent_id", "bill_to", "tax_region")
"""Canonical customer fields a NetSuite customer carries."""
_KNOWN_TABLES: Final = (("customer", "Customer"), ("job", "Project"), ("invoice", "Invoice"))
_KEPT: Final = ("subsidiary", "currency")
"""Fields an existing customer keeps: its primary subsidiary and its primary currency."""
_SHARES: Final = "customerSubsidiaryRelationship"


_currencies = TtlCache()


def sales_order_id(project_id: str) -> str:
    """The ``externalId`` of a project's billing-plan sales order."""
    return f"SO-{project_id}"


def _ref(record: Mapping[str, Any], name: str) -> str | None:
    value = record.get(name)
    if isinstance(value, Mapping):
        ident = value.get("id")
        return str(ident) if ident not in (None, "") else None
    return str(value) if value not in (None, "") else None


def _number(value: Decimal) -> float:
    # The wire needs a JSON number; the value is exact to the cent, so float is lossless here.
    return float(value)


def _without(body: dict[str, Any], omit: frozenset[str]) -> dict[str, Any]:
    dropped = {name for canonical in omit for name in CUSTOMER_FIELDS.get(canonical, ())}
    return {k: v for k, v in body.items() if k not in dropped}


def customer_view(record: RawRecord) -> ErpCustomer:
    """A customer record (address book inlined) as the role's :class:`ErpCustomer`."""
    bill_to: tuple[str | None, ...] | None = None
    book = record.get("addressBook")
    items = book.get("items") if isinstance(book, Mapping) else None
    for item in items or ():
        address = item.get("addressBookAddress") if isinstance(item, Mapping) else None
        if isinstance(item, Mapping) and item.get("defaultBilling") and isinstance(address, dict):
            bill_to = tuple(
                address.get(k) for k in ("addr1", "addr2", "city", "state", "zip", "country")
            )
            break
    override = record.get("creditHoldOverride")
    tax = record.get(TAX_REGION_FIELD)
    return ErpCustomer(
        erp_id=str(record.get("id") or ""),
        name=str(record.get("companyName") or ""),
        parent_erp_id=_ref(record, "parent"),
        bill_to=bill_to,
        tax_region=str(tax) if tax else None,
        credit_hold=(_ref({"o": override}, "o") == "ON"),
        carried=CARRIED,
    )


class NetSuiteMasterData:
    """Customers, projects, billing plans and canonical reads (see the module docstring)."""

    _connector: NetSuiteConnector
    _rules: Rules
    where: str
    """``<connection>@<base url>``: the key of per-account caches."""

    @property
    def config(self) -> NetSuiteConfig:
        """The connection's configuration."""
        return self._connector.config

    def _currencies(self) -> dict[str, str]:
        """ISO code -> currency id (read once per account and five minutes)."""

        def load() -> dict[str, str]:
            page = self._connector.read_page("currency", limit=200)
            return {
                str(r.get("symbol") or r.get("name")): str(r.get("id"))
                for r in page.records
                if r.get("id") is not None
            }

        return _currencies.get_or_load(self.where, REFERENCE_TTL_S, load)

    def _subsidiary(self, legal_entity: str, dimensions: Mapping[str, str]) -> str:
        """The subsidiary the rules give a legal entity (the caller's pinned value first)."""
        if dimensions.get("subsidiary"):
            return dimensions["subsidiary"]
        entity = self._rules.spec.legal_entities.get(legal_entity)
        return (entity.netsuite_subsidiary_id if entity else None) or ""

    # ----------------------------------------------------------------- customers
    @property
    def customer_fields(self) -> tuple[str, ...]:
        """Canonical customer fields a NetSuite customer carries."""
        return CARRIED

    def _customer_body(self, booking: CustomerBooking) -> dict[str, Any]:
        """The customer as created in the booking's subsidiary (module docstring)."""
        customer = booking.customer
        subsidiary = self._subsidiary(booking.legal_entity, booking.dimensions)
        parent = booking.parent_erp_id
        lookups = NetSuiteLookups(
            subsidiaries={customer.legal_entity: subsidiary, booking.legal_entity: subsidiary},
            currencies=self._currencies(),
            records={"customer": {customer.parent_id: parent}}
            if parent and customer.parent_id
            else {},
        )
        body = customer_from_canonical(
            customer.model_copy(update={"legal_entity": booking.legal_entity}), lookups=lookups
        )
        if booking.clear_parent and customer.parent_id is None:
            body["parent"] = None
        return body

    def upsert_customer(self, booking: CustomerBooking) -> tuple[str, bool]:
        """``PUT customer/eid:<id>``, then shared with the booking's subsidiary if need be.

        See the module docstring: a new customer is created in the subsidiary; an existing
        one keeps its primary subsidiary and currency, and gets a customer-subsidiary
        relationship for the booking's subsidiary when it has none.
        """
        customer = booking.customer
        subsidiary = self._subsidiary(booking.legal_entity, booking.dimensions)
        body = self._customer_body(booking)
        existing = self._connector.get_by_external_id("customer", customer.id)
        if existing is not None:
            body = {k: v for k, v in body.items() if k not in _KEPT}
        record_id = self._connector.put(
            "customer", customer.id, _without(body, booking.omit), strict=True
        )
        if existing is not None and subsidiary and _ref(existing, "subsidiary") != subsidiary:
            currency = _ref(existing, "currency")
            self._share(record_id, subsidiary, currency)
        return record_id, existing is None

    def _share(self, customer_id: str, subsidiary: str, currency: str | None) -> None:
        """Make a customer available to a further subsidiary, unless it already is."""
        if not (customer_id.isdigit() and subsidiary.isdigit()):
            msg = f"not NetSuite internal ids: customer {customer_id!r}, subsidiary {subsidiary!r}"
            raise ValueError(msg)
        response = self._connector.send(
            "GET",
            f"/record/v1/{_SHARES}",
            resource=_SHARES,
            params={"q": f"entity EQUAL {customer_id} AND subsidiary EQUAL {subsidiary}"},
        )
        self._connector.raise_for_status(response, resource=_SHARES)
        if self._connector.json_object(response, resource=_SHARES).get("items"):
            return
        fields: dict[str, Any] = {"entity": {"id": customer_id}, "subsidiary": {"id": subsidiary}}
        if currency:
            fields["primaryCurrency"] = {"id": currency}
        try:
            self._connector.create(_SHARES, fields)
        except ConflictError as exc:
            # Shared meanwhile by another writer: what was asked for holds.
            if exc.reason != Reason.DUPLICATE:
                raise

    def _customer_record(self, erp_id: str) -> RawRecord:
        if not erp_id.isdigit():
            msg = f"not a NetSuite internal id: {erp_id!r}"
            raise ValueError(msg)
        response = self._connector.send(
            "GET",
            f"/record/v1/customer/{erp_id}",
            resource="customer",
            params={"expandSubResources": "true"},
        )
        self._connector.raise_for_status(response, resource="customer")
        return dict(self._connector.json_object(response, resource="customer"))

    def customer(self, erp_id: str, *, legal_entity: str | None = None) -> ErpCustomer:
        """The customer with its address book (NetSuite's customer is account-wide)."""
        del legal_entity
        return customer_view(self._customer_record(erp_id))

    def customer_changes(self) -> ChangeFeed[ErpCustomerChange]:
        """SuiteQL pages of ``customer``; rows have no address book, so no view is given."""
        return collection_feed(
            self._connector,
            "customer",
            lambda row: ErpCustomerChange(erp_id=str(row.get("id") or "")),
        )

    # ----------------------------------------------------------------- projects, billing
    def _project_body(self, plan: ErpProjectPlan) -> dict[str, Any]:
        project = plan.project
        dims = plan.dimensions
        lookups = NetSuiteLookups(
            subsidiaries={project.legal_entity: self._subsidiary(project.legal_entity, dims)},
            currencies=self._currencies(),
            departments={project.practice: dims.get("department", "")},
            classes={project.region: dims.get("class", "")},
            records={"customer": {project.customer_id: plan.customer_erp_id}}
            if plan.customer_erp_id
            else {},
        )
        body = project_from_canonical(project, lookups=lookups)
        if plan.terms is not None:
            terms = plan.terms
            body["comments"] = (
                f"Billing: {project.billing_model.value} ({terms.basis}); revenue "
                f"{terms.recognition}; amount {terms.amount.amount} {terms.amount.currency}"
            )
        return body

    def upsert_project(self, plan: ErpProjectPlan) -> str:
        """``PUT job/eid:<project id>`` (module docstring)."""
        body = self._project_body(plan)
        return str(self._connector.upsert("job", plan.project.id, body).id)

    def _order_body(self, plan: BillingPlan) -> dict[str, Any]:
        project = plan.project
        job = plan.erp_project_id
        items = []
        for line in plan.lines:
            due = f" (due {line.due_date.isoformat()})" if line.due_date else ""
            items.append(
                {
                    "item": {"id": self.config.billing_item},
                    "description": f"{line.key}: {line.description}{due}"[:4000],
                    "quantity": _number(line.quantity),
                    "rate": _number(line.unit_rate),
                    "amount": _number(line.amount),
                    "job": {"id": job},
                }
            )
        body: dict[str, Any] = {
            "entity": {"id": job},
            "subsidiary": {"id": self._subsidiary(project.legal_entity, plan.dimensions)},
            "currency": {"id": self._currencies()[project.currency]},
            "department": {"id": plan.dimensions.get("department")},
            "class": {"id": plan.dimensions.get("class")},
            "tranDate": project.start_date.isoformat(),
            "startDate": project.start_date.isoformat(),
            "otherRefNum": project.id,
            "memo": f"Billing plan of {project.name} ({project.billing_model.value})"[:999],
            "item": {"items": items},
        }
        if project.end_date:
            body["endDate"] = project.end_date.isoformat()
        return body

    def write_billing_plan(self, plan: BillingPlan) -> BillingPlanResult:
        """One sales order per project, its item sublist replaced (module docstring)."""
        project = plan.project
        body = self._order_body(plan)
        order = self._connector.upsert("salesOrder", sales_order_id(project.id), body)
        return BillingPlanResult(
            schedule_id=order.id,
            lines={line.key: f"{order.id}:{i}" for i, line in enumerate(plan.lines, start=1)},
        )

    def master_body(
        self, operation: CustomerBooking | ErpProjectPlan | BillingPlan
    ) -> dict[str, Any]:
        """The ``customer``, ``job`` or ``salesOrder`` body; only reference lists are read."""
        if isinstance(operation, CustomerBooking):
            return self._customer_body(operation)
        if isinstance(operation, ErpProjectPlan):
            return self._project_body(operation)
        body = self._order_body(operation)
        return {**body, "lines": body["item"]["items"]}

    def invoiced_milestones(self, legal_entity: str, milestone_ids: Sequence[str]) -> list[str]:
        """Milestones whose invoice ``MS-<milestone id>`` exists."""
        del legal_entity  # one account for every subsidiary
        return [
            milestone_id
            for milestone_id in milestone_ids
            if self._connector.get_by_external_id("invoice", f"MS-{milestone_id}") is not None
        ]

    # ----------------------------------------------------------------- canonical reads
    def _lookups(self, record: RawRecord, known: IdLookup | None) -> NetSuiteLookups:
        """Reference lists from the rules and the cross-reference's canonical ids."""
        spec = self._rules.spec
        refs = {
            "customer": _refs(record, ("entity", "customer", "parent"), {}),
            "job": _refs(record, (), {"item": "job"}),
            "invoice": _refs(record, (), {"apply": "doc"}),
        }
        found = (
            known({kind: refs[table] for table, kind in _KNOWN_TABLES}) if known is not None else {}
        )
        # Records Accord did not write are named like the mapping names them (NS-<type>-<id>).
        records = {
            table: {found.get((kind, ident), f"NS-{table}-{ident}"): ident for ident in refs[table]}
            for table, kind in _KNOWN_TABLES
        }
        return NetSuiteLookups(
            subsidiaries={
                code: entity.netsuite_subsidiary_id
                for code, entity in spec.legal_entities.items()
                if entity.netsuite_subsidiary_id
            },
            currencies=self._currencies(),
            departments={c: p.netsuite_department_id for c, p in spec.practices.items()},
            classes={c: r.netsuite_class_id for c, r in spec.regions.items()},
            records=records,
        )

    def _get(self, resource: str, record_id: str) -> RawRecord:
        if not record_id.isdigit():
            raise NotFoundError(
                "a NetSuite internal id is a number", connector=self._connector.name
            )
        if resource == "customer":
            return self._customer_record(record_id)
        return self._connector.get(resource, record_id)

    def read_customer(self, record_id: str, *, known: IdLookup | None = None) -> Customer:
        """A ``customer`` by internal id, canonical."""
        record = self._get("customer", record_id)
        return customer_to_canonical(record, lookups=self._lookups(record, known))

    def read_project(self, record_id: str, *, known: IdLookup | None = None) -> Project:
        """A ``job`` by internal id, canonical."""
        record = self._get("job", record_id)
        return project_to_canonical(record, lookups=self._lookups(record, known))

    def read_invoice(self, record_id: str, *, known: IdLookup | None = None) -> Invoice:
        """An ``invoice`` by internal id, canonical."""
        record = self._get("invoice", record_id)
        return invoice_to_canonical(record, lookups=self._lookups(record, known))

    def read_payment(self, record_id: str, *, known: IdLookup | None = None) -> Payment:
        """A ``customerPayment`` by internal id, canonical."""
        record = self._get("customerPayment", record_id)
        return payment_to_canonical(record, lookups=self._lookups(record, known))

    def invoice_ids(self, customer_erp_id: str, *, max_pages: int) -> list[str]:
        """Invoice ids whose ``entity`` is the customer: a keyset scan of the invoice list."""
        ids: list[str] = []
        cursor: str | None = None
        for _ in range(max_pages):
            page = self._connector.read_page("invoice", cursor=cursor, limit=1000)
            ids.extend(
                str(row["id"]) for row in page.records if str(row.get("entity")) == customer_erp_id
            )
            cursor = page.next_cursor
            if cursor is None:
                break
        return ids


def _refs(record: RawRecord, names: tuple[str, ...], sublists: Mapping[str, str]) -> set[str]:
    """Internal ids a record references (fields and sublist lines)."""
    found = {ref for name in names if (ref := _ref(record, name)) is not None}
    for sublist, name in sublists.items():
        block = record.get(sublist)
        for line in (block.get("items") if isinstance(block, Mapping) else None) or ():
            if isinstance(line, Mapping) and (ref := _ref(line, name)) is not None:
                found.add(ref)
    return found
