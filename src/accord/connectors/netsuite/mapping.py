"""NetSuite records <-> canonical models, as plain typed functions.

Inbound functions take a record as the record API returns it (``get``, sublists inlined) and
return a canonical model; outbound ones take a canonical model and return the native body of an
``upsert`` (the external id travels in the URL, not in the body). References between records
are internal ids in NetSuite and canonical ids in Accord; :class:`NetSuiteLookups` carries both
directions (built by the flow layer from xref and the seeded reference lists).

Native numbers are JSON numbers: amounts leave as ``float`` of an exact ``Decimal`` (two
decimals survive that) and come back through ``Decimal(str(x))``, never through float arithmetic.

What NetSuite owns or receives: customer (both ways), job <-> Project (both ways), timeBill <->
TimeEntry, expenseReport <-> Expense (one report line per expense), invoice -> Invoice and
customerPayment -> Payment (ERP-owned: inbound only).
"""

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from accord.connectors.types import RawRecord
from accord.domain.base import Address, ExternalRef
from accord.domain.delivery import Expense, Project, TimeEntry
from accord.domain.enums import (
    BillingModel,
    ExpenseCategory,
    ExpenseStatus,
    InvoiceLineKind,
    InvoiceStatus,
    ProjectStatus,
    System,
)
from accord.domain.finance import Invoice, InvoiceLine, Payment, PaymentApplication
from accord.domain.money import Money
from accord.domain.parties import Customer
from accord.errors import MappingError

__all__ = [
    "CUSTOMER_FIELDS",
    "NetSuiteLookups",
    "customer_from_canonical",
    "customer_to_canonical",
    "expense_report_from_canonical",
    "expense_report_to_canonical",
    "invoice_to_canonical",
    "payment_to_canonical",
    "project_from_canonical",
    "project_to_canonical",
    "time_bill_from_canonical",
    "time_bill_to_canonical",
]

_M = TypeVar("_M", bound=BaseModel)

TAX_REGION_FIELD = "custentity_accord_tax_region"
"""Custom entity field holding the customer's tax region (NetSuite has no standard one)."""
CUSTOMER_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("companyName",),
    "parent_id": ("parent",),
    "legal_entity": ("subsidiary", "isPerson"),
    "currency": ("currency",),
    "tax_region": (TAX_REGION_FIELD,),
    "bill_to": ("addressBook",),
    "active": ("isInactive",),
}
"""Canonical customer field -> the fields of a ``customer`` body that carry it (for writing
only the fields a system owns)."""
SOURCE_ID_FIELD = "custcol_accord_source_id"
"""[inferred] Custom line column: canonical id of what an invoice line bills (entry, milestone)."""
SOURCE_KIND_FIELD = "custcol_accord_source_kind"
"""[inferred] Custom line column: what an invoice line bills (an ``InvoiceLineKind`` value)."""

_JOB_STATUS = {
    ProjectStatus.PLANNED: "4",  # Pending
    ProjectStatus.ACTIVE: "2",  # In Progress
    ProjectStatus.ON_HOLD: "4",
    ProjectStatus.COMPLETED: "1",  # Closed
    ProjectStatus.CANCELLED: "3",  # Not Awarded
}
_JOB_STATUS_IN = {
    "1": ProjectStatus.COMPLETED,
    "2": ProjectStatus.ACTIVE,
    "3": ProjectStatus.CANCELLED,
    "4": ProjectStatus.PLANNED,
}
_BILLING_TYPE = {
    BillingModel.TIME_AND_MATERIALS: "TM",
    BillingModel.FIXED_FEE: "FBI",
    BillingModel.MILESTONE: "FBM",
    BillingModel.RETAINER: "FBI",
}
_BILLING_TYPE_IN = {
    "TM": BillingModel.TIME_AND_MATERIALS,
    "FBI": BillingModel.FIXED_FEE,
    "FBM": BillingModel.MILESTONE,
    "CB": BillingModel.TIME_AND_MATERIALS,
}
_APPROVAL_IN = {
    "1": ExpenseStatus.SUBMITTED,
    "2": ExpenseStatus.APPROVED,
    "3": ExpenseStatus.REJECTED,
}
_APPROVED = "2"


@dataclass(frozen=True)
class NetSuiteLookups:
    """Canonical codes and ids on one side, NetSuite internal ids on the other.

    Attributes:
        subsidiaries: Legal-entity code -> subsidiary id.
        currencies: ISO 4217 code -> currency id.
        departments: Practice code -> department id.
        classes: Region code -> class id.
        expense_categories: Canonical expense category -> expense category id.
        line_kinds: Service item id -> what an invoice line with that item bills.
        records: Record type (``customer``, ``job``, ``employee``, ``invoice``) -> canonical
            id -> internal id; from xref.
    """

    subsidiaries: Mapping[str, str]
    currencies: Mapping[str, str]
    departments: Mapping[str, str] = field(default_factory=dict)
    classes: Mapping[str, str] = field(default_factory=dict)
    expense_categories: Mapping[str, str] = field(default_factory=dict)
    line_kinds: Mapping[str, InvoiceLineKind] = field(default_factory=dict)
    records: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def internal(self, table: str, key: str, *, what: str) -> str:
        """The NetSuite id of canonical ``key`` in lookup ``table`` (an attribute or a type)."""
        mapping = self._table(table)
        if key not in mapping:
            raise MappingError(f"no NetSuite {what} for {key!r}")
        return mapping[key]

    def canonical(self, table: str, internal_id: str, *, what: str) -> str:
        """The canonical key whose NetSuite id is ``internal_id``."""
        for key, value in self._table(table).items():
            if value == internal_id:
                return key
        raise MappingError(f"NetSuite {what} {internal_id!r} is not known to Accord")

    def _table(self, table: str) -> Mapping[str, str]:
        value = getattr(self, table, None) if table in _ATTRIBUTE_TABLES else None
        if isinstance(value, Mapping):
            return value
        return self.records.get(table, {})


_ATTRIBUTE_TABLES = frozenset(
    {"subsidiaries", "currencies", "departments", "classes", "expense_categories"}
)


# --------------------------------------------------------------------------- small readers
def _ref(record: Mapping[str, Any], name: str) -> str | None:
    value = record.get(name)
    if isinstance(value, Mapping):
        ref_id = value.get("id")
        return str(ref_id) if ref_id is not None else None
    return str(value) if value is not None else None


def _ref_name(record: Mapping[str, Any], name: str) -> str | None:
    value = record.get(name)
    if isinstance(value, Mapping) and value.get("refName") is not None:
        return str(value["refName"])
    return None


def _decimal(value: object, what: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise MappingError(f"{what} is not a number") from None
    if not number.is_finite():
        raise MappingError(f"{what} is not a finite number")
    return number


def _date(value: object, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise MappingError(f"{what} is not a date") from None


def _stamp(value: object) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _lines(record: Mapping[str, Any], sublist: str) -> list[Mapping[str, Any]]:
    value = record.get(sublist)
    items = value.get("items") if isinstance(value, Mapping) else None
    return [line for line in items or [] if isinstance(line, Mapping)]


def _identity(record: RawRecord, record_type: str) -> tuple[str, tuple[ExternalRef, ...]]:
    internal = str(record.get("id") or "")
    if not internal:
        raise MappingError(f"{record_type} record without an id")
    canonical = record.get("externalId") or f"NS-{record_type}-{internal}"
    return str(canonical), (ExternalRef(system=System.NETSUITE, id=internal),)


def _currency(record: Mapping[str, Any], lookups: NetSuiteLookups) -> str:
    currency_id = _ref(record, "currency")
    if currency_id is not None:
        return lookups.canonical("currencies", currency_id, what="currency")
    name = _ref_name(record, "currency")
    if name is None:
        raise MappingError("record has no currency")
    return name


def _build(build: type[_M], **values: Any) -> _M:  # noqa: ANN401 - model fields
    try:
        return build(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        raise MappingError(f"{build.__name__}: {problems}") from None


def _number(value: Decimal) -> float:
    return float(value)


# --------------------------------------------------------------------------- customer
def customer_to_canonical(record: RawRecord, *, lookups: NetSuiteLookups) -> Customer:
    """A ``customer`` record as a canonical :class:`Customer`."""
    canonical_id, refs = _identity(record, "customer")
    subsidiary = _ref(record, "subsidiary")
    if subsidiary is None:
        raise MappingError("customer has no subsidiary")
    parent = _ref(record, "parent")
    billing = next(
        (a for a in _lines(record, "addressBook") if a.get("defaultBilling")),
        None,
    )
    address = billing.get("addressBookAddress") if billing else None
    if not isinstance(address, Mapping):
        raise MappingError("customer has no default billing address")
    return _build(
        Customer,
        id=canonical_id,
        name=record.get("companyName") or record.get("entityId"),
        parent_id=lookups.canonical("customer", parent, what="parent customer") if parent else None,
        legal_entity=lookups.canonical("subsidiaries", subsidiary, what="subsidiary"),
        bill_to=_build(
            Address,
            line1=address.get("addr1"),
            line2=address.get("addr2") or None,
            city=address.get("city"),
            state=address.get("state") or None,
            postal_code=address.get("zip") or None,
            country=address.get("country"),
        ),
        tax_region=record.get(TAX_REGION_FIELD),
        currency=_currency(record, lookups),
        active=not record.get("isInactive", False),
        refs=refs,
        updated_at=_stamp(record.get("lastModifiedDate")),
    )


def customer_from_canonical(customer: Customer, *, lookups: NetSuiteLookups) -> dict[str, Any]:
    """The ``customer`` upsert body for a canonical customer."""
    address = customer.bill_to
    body: dict[str, Any] = {
        "companyName": customer.name,
        "isPerson": False,
        "subsidiary": {
            "id": lookups.internal("subsidiaries", customer.legal_entity, what="subsidiary")
        },
        "currency": {"id": lookups.internal("currencies", customer.currency, what="currency")},
        "isInactive": not customer.active,
        TAX_REGION_FIELD: customer.tax_region,
        "addressBook": {
            "items": [
                {
                    "defaultBilling": True,
                    "defaultShipping": False,
                    "addressBookAddress": {
                        "addr1": address.line1,
                        "addr2": address.line2,
                        "city": address.city,
                        "state": address.state,
                        "zip": address.postal_code,
                        "country": address.country,
                    },
                }
            ]
        },
    }
    if customer.parent_id is not None:
        body["parent"] = {
            "id": lookups.internal("customer", customer.parent_id, what="parent customer")
        }
    return body


# --------------------------------------------------------------------------- project
def project_to_canonical(record: RawRecord, *, lookups: NetSuiteLookups) -> Project:
    """A ``job`` record as a canonical :class:`Project`."""
    canonical_id, refs = _identity(record, "job")
    parent = _ref(record, "parent")
    subsidiary = _ref(record, "subsidiary")
    department = _ref(record, "department")
    klass = _ref(record, "class")
    if parent is None or subsidiary is None or department is None or klass is None:
        raise MappingError("job lacks its customer, subsidiary, department or class")
    billing = _ref(record, "jobBillingType") or "TM"
    manager = _ref(record, "projectManager")
    end = record.get("projectedEndDate") or record.get("endDate")
    return _build(
        Project,
        id=canonical_id,
        name=record.get("companyName"),
        customer_id=lookups.canonical("customer", parent, what="customer"),
        legal_entity=lookups.canonical("subsidiaries", subsidiary, what="subsidiary"),
        practice=lookups.canonical("departments", department, what="department"),
        region=lookups.canonical("classes", klass, what="class"),
        billing_model=_BILLING_TYPE_IN.get(billing, BillingModel.TIME_AND_MATERIALS),
        status=_JOB_STATUS_IN.get(_ref(record, "entityStatus") or "2", ProjectStatus.ACTIVE),
        currency=_currency(record, lookups),
        start_date=_date(record.get("startDate"), "startDate"),
        end_date=_date(end, "projectedEndDate") if end else None,
        project_manager_id=(
            lookups.canonical("employee", manager, what="employee") if manager else None
        ),
        refs=refs,
        updated_at=_stamp(record.get("lastModifiedDate")),
    )


def project_from_canonical(project: Project, *, lookups: NetSuiteLookups) -> dict[str, Any]:
    """The ``job`` upsert body for a canonical project."""
    body: dict[str, Any] = {
        "companyName": project.name,
        "parent": {"id": lookups.internal("customer", project.customer_id, what="customer")},
        "subsidiary": {
            "id": lookups.internal("subsidiaries", project.legal_entity, what="subsidiary")
        },
        "currency": {"id": lookups.internal("currencies", project.currency, what="currency")},
        "department": {"id": lookups.internal("departments", project.practice, what="department")},
        "class": {"id": lookups.internal("classes", project.region, what="class")},
        "startDate": project.start_date.isoformat(),
        "entityStatus": {"id": _JOB_STATUS[project.status]},
        "jobBillingType": {"id": _BILLING_TYPE[project.billing_model]},
        "allowTime": True,
        "allowExpenses": True,
    }
    if project.end_date is not None:
        body["projectedEndDate"] = project.end_date.isoformat()
    if project.project_manager_id is not None:
        body["projectManager"] = {
            "id": lookups.internal("employee", project.project_manager_id, what="employee")
        }
    return body


# --------------------------------------------------------------------------- time
def time_bill_to_canonical(record: RawRecord, *, lookups: NetSuiteLookups) -> TimeEntry:
    """A ``timeBill`` record as a canonical :class:`TimeEntry` (rate currency from the job)."""
    canonical_id, refs = _identity(record, "timeBill")
    job = _ref(record, "customer")
    employee = _ref(record, "employee")
    if job is None or employee is None:
        raise MappingError("timeBill lacks its project or employee")
    return _build(
        TimeEntry,
        id=canonical_id,
        project_id=lookups.canonical("job", job, what="project"),
        resource_id=lookups.canonical("employee", employee, what="employee"),
        date=_date(record.get("tranDate"), "tranDate"),
        hours=_decimal(record.get("hours"), "hours").quantize(Decimal("0.01")),
        billable=bool(record.get("isBillable", False)),
        notes=str(record.get("memo") or ""),
        refs=refs,
    )


def time_bill_from_canonical(
    entry: TimeEntry,
    *,
    lookups: NetSuiteLookups,
    item_id: str | None = None,
    department: str | None = None,
    class_: str | None = None,
) -> dict[str, Any]:
    """The ``timeBill`` upsert body for an approved canonical time entry.

    ``department`` and ``class_`` are internal ids the rules chose; without them NetSuite
    takes the employee's.
    """
    body: dict[str, Any] = {
        "employee": {"id": lookups.internal("employee", entry.resource_id, what="employee")},
        "customer": {"id": lookups.internal("job", entry.project_id, what="project")},
        "tranDate": entry.date.isoformat(),
        "hours": _number(entry.hours),
        "isBillable": entry.billable,
        "approvalStatus": {"id": _APPROVED},
        "memo": entry.notes,
    }
    if entry.bill_rate is not None:
        body["rate"] = _number(entry.bill_rate.amount)
    if item_id is not None:
        body["item"] = {"id": item_id}
    if department is not None:
        body["department"] = {"id": department}
    if class_ is not None:
        body["class"] = {"id": class_}
    return body


# --------------------------------------------------------------------------- expenses
def expense_report_to_canonical(record: RawRecord, *, lookups: NetSuiteLookups) -> list[Expense]:
    """An ``expenseReport`` as canonical expenses, one per ``expense`` line."""
    canonical_id, refs = _identity(record, "expenseReport")
    employee = _ref(record, "entity")
    resource_id = lookups.canonical("employee", employee, what="employee") if employee else None
    status = _APPROVAL_IN.get(_ref(record, "approvalStatus") or _APPROVED, ExpenseStatus.APPROVED)
    categories = {v: k for k, v in lookups.expense_categories.items()}
    out: list[Expense] = []
    for index, line in enumerate(_lines(record, "expense")):
        job = _ref(line, "customer")
        if job is None:
            raise MappingError(f"expense line {index} has no project")
        category_id = _ref(line, "category")
        category = categories.get(category_id or "", ExpenseCategory.OTHER.value)
        currency = _currency(line, lookups) if line.get("currency") else _currency(record, lookups)
        out.append(
            _build(
                Expense,
                id=f"{canonical_id}-{index + 1}",
                project_id=lookups.canonical("job", job, what="project"),
                resource_id=resource_id,
                date=_date(line.get("expenseDate") or record.get("tranDate"), "expenseDate"),
                category=ExpenseCategory(category),
                amount=Money.of(_decimal(line.get("amount"), "amount"), currency),
                billable=bool(line.get("isBillable", False)),
                status=status,
                description=str(line.get("memo") or ""),
                refs=refs,
            )
        )
    return out


def expense_report_from_canonical(
    expenses: Sequence[Expense],
    *,
    employee_id: str,
    legal_entity: str,
    lookups: NetSuiteLookups,
) -> dict[str, Any]:
    """The ``expenseReport`` upsert body for one employee's approved expenses.

    Raises:
        MappingError: No expenses, or they are not all the employee's.
    """
    if not expenses:
        raise MappingError("an expense report needs at least one expense")
    if any(e.resource_id not in (None, employee_id) for e in expenses):
        raise MappingError("every expense of a report must be the same employee's")
    lines = [
        {
            "expenseDate": e.date.isoformat(),
            "category": {
                "id": lookups.internal(
                    "expense_categories", e.category.value, what="expense category"
                )
            },
            "amount": _number(e.amount.amount),
            "currency": {"id": lookups.internal("currencies", e.amount.currency, what="currency")},
            "customer": {"id": lookups.internal("job", e.project_id, what="project")},
            "isBillable": e.billable,
            "memo": e.description,
        }
        for e in expenses
    ]
    return {
        "entity": {"id": lookups.internal("employee", employee_id, what="employee")},
        "subsidiary": {"id": lookups.internal("subsidiaries", legal_entity, what="subsidiary")},
        "tranDate": max(e.date for e in expenses).isoformat(),
        "approvalStatus": {"id": _APPROVED},
        "expense": {"items": lines},
    }


# --------------------------------------------------------------------------- invoices, payments
def invoice_to_canonical(record: RawRecord, *, lookups: NetSuiteLookups) -> Invoice:
    """An ``invoice`` as a canonical :class:`Invoice` (read-only status mapped to ours)."""
    canonical_id, refs = _identity(record, "invoice")
    entity = _ref(record, "entity")
    subsidiary = _ref(record, "subsidiary")
    if entity is None or subsidiary is None:
        raise MappingError("invoice lacks its customer or subsidiary")
    currency = _currency(record, lookups)
    lines: list[InvoiceLine] = []
    project_ids: set[str] = set()
    for index, line in enumerate(_lines(record, "item")):
        job = _ref(line, "job")
        project_id = lookups.canonical("job", job, what="project") if job else None
        if project_id:
            project_ids.add(project_id)
        item = _ref(line, "item") or ""
        quantity = _decimal(line.get("quantity", 1), f"item[{index}].quantity")
        amount = _decimal(line.get("amount"), f"item[{index}].amount")
        rate = line.get("rate")
        # [inferred] custom transaction columns Accord fills on the lines it writes (and a
        # firm's billing may fill): what a line bills, traceable back to its record.
        source_kind = line.get(SOURCE_KIND_FIELD)
        kind = lookups.line_kinds.get(item, InvoiceLineKind.OTHER)
        if source_kind in {k.value for k in InvoiceLineKind}:
            kind = InvoiceLineKind(source_kind)
        lines.append(
            _build(
                InvoiceLine,
                kind=kind,
                source_id=line.get(SOURCE_ID_FIELD) or None,
                description=line.get("description") or _ref_name(line, "item") or "item",
                quantity=quantity,
                unit_price=Money.of(
                    _decimal(rate, "rate") if rate is not None else amount / (quantity or 1),
                    currency,
                ),
                amount=Money.of(amount, currency),
                project_id=project_id,
            )
        )
    total = _decimal(record.get("total", 0), "total")
    subtotal = _decimal(record.get("subTotal", total), "subTotal")
    remaining = _decimal(record.get("amountRemaining", total), "amountRemaining")
    status_name = (_ref_name(record, "status") or "").lower()
    if status_name == "paid in full" or (total > 0 and remaining == 0):
        status = InvoiceStatus.PAID
    elif remaining < total:
        status = InvoiceStatus.PARTIALLY_PAID
    else:
        status = InvoiceStatus.POSTED
    created = _stamp(record.get("createdDate")) or _stamp(record.get("lastModifiedDate"))
    issue = _date(record.get("tranDate"), "tranDate")
    return _build(
        Invoice,
        id=canonical_id,
        number=record.get("tranId") or None,
        customer_id=lookups.canonical("customer", entity, what="customer"),
        legal_entity=lookups.canonical("subsidiaries", subsidiary, what="subsidiary"),
        project_id=next(iter(project_ids)) if len(project_ids) == 1 else None,
        status=status,
        currency=currency,
        issue_date=issue,
        due_date=_date(record["dueDate"], "dueDate") if record.get("dueDate") else issue,
        lines=tuple(lines),
        subtotal=Money.of(subtotal, currency),
        tax_total=Money.of(total - subtotal, currency),
        total=Money.of(total, currency),
        amount_due=Money.of(remaining, currency),
        posted_at=created,
        refs=refs,
    )


def payment_to_canonical(record: RawRecord, *, lookups: NetSuiteLookups) -> Payment:
    """A ``customerPayment`` as a canonical :class:`Payment` with its applied invoices."""
    canonical_id, refs = _identity(record, "customerPayment")
    customer = _ref(record, "customer")
    subsidiary = _ref(record, "subsidiary")
    if customer is None or subsidiary is None:
        raise MappingError("customerPayment lacks its customer or subsidiary")
    currency = _currency(record, lookups)
    applications = [
        _build(
            PaymentApplication,
            invoice_id=lookups.canonical("invoice", _ref(line, "doc") or "", what="invoice"),
            amount=Money.of(_decimal(line.get("amount"), "apply.amount"), currency),
        )
        for line in _lines(record, "apply")
        if line.get("apply", True)
    ]
    return _build(
        Payment,
        id=canonical_id,
        customer_id=lookups.canonical("customer", customer, what="customer"),
        legal_entity=lookups.canonical("subsidiaries", subsidiary, what="subsidiary"),
        amount=Money.of(_decimal(record.get("payment"), "payment"), currency),
        received_on=_date(record.get("tranDate"), "tranDate"),
        reference=record.get("checkNum") or record.get("tranId") or None,
        applications=tuple(applications),
        recorded_at=_stamp(record.get("createdDate")),
        refs=refs,
    )
