"""Business Central records <-> canonical models, as plain typed functions.

Inbound functions take a record as :class:`~accord.connectors.business_central.
BusinessCentralConnector` returns it (sales invoices with ``salesInvoiceLines`` expanded);
outbound ones return the body of an ``upsert`` (the key travels separately). Numbers Accord
owns (customers, projects, journal documents) are derived from canonical ids with
:func:`bc_number`, so the same canonical record always addresses the same BC record.

BC sends amounts as JSON numbers: they come in through ``Decimal(str(x))`` and leave as
``float`` of an exact two-place ``Decimal``, never through float arithmetic.

What Business Central owns or receives: customer <-> Customer, project <-> Project (the
project extension fields: the standard entity has only number and name), salesInvoice ->
Invoice, customerPayment -> Payment (ERP-owned: inbound only), journal line <- TimeEntry.
"""

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel

from accord.connectors.mapping import build_model, required_date, required_decimal, stamp_or_none
from accord.connectors.roles.erp import PostingKind, PostingTerms
from accord.connectors.types import RawRecord
from accord.domain import (
    Address,
    BillingModel,
    Customer,
    Expense,
    ExternalRef,
    Invoice,
    InvoiceLine,
    InvoiceLineKind,
    InvoiceStatus,
    Money,
    Payment,
    PaymentApplication,
    Project,
    ProjectStatus,
    System,
    TimeEntry,
)
from accord.errors import MappingError

__all__ = [
    "CUSTOMER_FIELDS",
    "BusinessCentralLookups",
    "bc_number",
    "customer_from_canonical",
    "customer_to_canonical",
    "journal_line_from_expense",
    "journal_line_from_time_entry",
    "journal_line_terms",
    "payment_to_canonical",
    "project_from_canonical",
    "project_to_canonical",
    "sales_invoice_to_canonical",
]

_M = TypeVar("_M", bound=BaseModel)
_BLANK_DATE = "0001-01-01"
_CENT = Decimal("0.01")

_PROJECT_STATUS = {
    ProjectStatus.PLANNED: "Planning",
    ProjectStatus.ACTIVE: "Open",
    ProjectStatus.ON_HOLD: "Open",
    ProjectStatus.COMPLETED: "Completed",
    ProjectStatus.CANCELLED: "Completed",
}
_PROJECT_STATUS_IN = {
    "Planning": ProjectStatus.PLANNED,
    "Quote": ProjectStatus.PLANNED,
    "Open": ProjectStatus.ACTIVE,
    "Completed": ProjectStatus.COMPLETED,
}
_BILLING = {
    BillingModel.TIME_AND_MATERIALS: "Time and Materials",
    BillingModel.FIXED_FEE: "Fixed Fee",
    BillingModel.MILESTONE: "Milestone",
    BillingModel.RETAINER: "Retainer",
}
_BILLING_IN = {v: k for k, v in _BILLING.items()}

CUSTOMER_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("displayName",),
    "legal_entity": ("type",),
    "bill_to": ("addressLine1", "addressLine2", "city", "state", "postalCode", "country"),
    "currency": ("currencyCode",),
    "active": ("blocked",),
}
"""Canonical customer field -> the ``customers`` body fields that carry it. BC v2.0 has no
parent and no tax region on a customer (reference section 5.4)."""


def bc_number(canonical_id: str, *, prefix: str = "", length: int = 20) -> str:
    """The BC number (``Code[20]``) Accord owns for a canonical id: stable, upper case.

    Ids that fit are kept readable (``prefix`` + id); longer ones become ``prefix`` + a hash.
    """
    readable = f"{prefix}{canonical_id}".upper()
    if len(readable) <= length and readable.isascii() and " " not in readable:
        return readable
    digest = hashlib.sha256(canonical_id.encode()).hexdigest().upper()
    return f"{prefix.upper()}{digest[: length - len(prefix)]}"


@dataclass(frozen=True)
class BusinessCentralLookups:
    """What a company's records need beyond themselves.

    Attributes:
        legal_entity: Code of the legal entity this BC company books for (``DE01``).
        departments: Practice code -> DEPARTMENT dimension value code.
        areas: Region code -> AREA dimension value code.
        resources: Canonical resource id -> BC resource number.
        tax_regions: Country code -> tax region, for customers (BC v2.0 has none).
        default_tax_region: Tax region when the country has none in ``tax_regions``.
        records: Entity set -> canonical id -> BC number (customers, projects) or id
            (salesInvoices), from xref. Records with no entry map to ``bc:<number or id>``.
    """

    legal_entity: str
    departments: Mapping[str, str] = field(default_factory=dict)
    areas: Mapping[str, str] = field(default_factory=dict)
    resources: Mapping[str, str] = field(default_factory=dict)
    tax_regions: Mapping[str, str] = field(default_factory=dict)
    default_tax_region: str | None = None
    records: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def canonical(self, entity_set: str, value: object, *, what: str) -> str:
        """The canonical id of BC key ``value`` (``bc:<value>`` when Accord did not create it)."""
        if value is None or value == "":
            raise MappingError(f"Business Central {what} reference is missing")
        text = str(value)
        for key, known in self.records.get(entity_set, {}).items():
            if known == text:
                return key
        return f"bc:{text}"

    def number(self, entity_set: str, canonical_id: str) -> str:
        """The BC number of a canonical id: from xref, else derived (:func:`bc_number`)."""
        known = self.records.get(entity_set, {}).get(canonical_id)
        if known is not None:
            return known
        return (
            canonical_id.removeprefix("bc:")
            if canonical_id.startswith("bc:")
            else bc_number(canonical_id)
        )

    def code(self, table: Mapping[str, str], key: str, *, what: str) -> str:
        """A dimension code or resource number, or a :class:`MappingError` naming it."""
        if key not in table:
            raise MappingError(f"no Business Central {what} for {key!r}")
        return table[key]


# --------------------------------------------------------------------------- small helpers
def _number(amount: Decimal) -> float:
    """A JSON number for an exact amount (two places survive the float)."""
    return float(amount.quantize(_CENT))


def _opt_date(value: object) -> dt.date | None:
    return required_date(value, "date") if value and value != _BLANK_DATE else None


def _stamp(value: object) -> dt.datetime | None:
    return stamp_or_none(value, null_date="0001-")  # BC's "no time"


def _refs(record: RawRecord) -> tuple[ExternalRef, ...]:
    return (ExternalRef(system=System.BUSINESS_CENTRAL, id=str(record["id"])),)


def _currency(record: RawRecord, default: str | None) -> str:
    currency = record.get("currencyCode") or default
    if not isinstance(currency, str) or not currency:
        raise MappingError("record has no currency (and the company none)")
    return currency


# --------------------------------------------------------------------------- customers
def customer_to_canonical(
    record: RawRecord, *, lookups: BusinessCentralLookups, company_currency: str
) -> Customer:
    """A customer as a canonical :class:`Customer` (a blank currency is the company's)."""
    country = str(record.get("country") or "")
    tax_region = lookups.tax_regions.get(country) or lookups.default_tax_region
    if not tax_region:
        raise MappingError(f"no tax region for country {country!r}")
    return build_model(
        Customer,
        id=lookups.canonical("customers", record.get("number"), what="customer"),
        name=record.get("displayName"),
        legal_entity=lookups.legal_entity,
        bill_to=build_model(
            Address,
            line1=record.get("addressLine1"),
            line2=record.get("addressLine2") or None,
            city=record.get("city"),
            state=record.get("state") or None,
            postal_code=record.get("postalCode") or None,
            country=country,
        ),
        tax_region=tax_region,
        currency=_currency(record, company_currency),
        active=str(record.get("blocked") or " ").strip() == "",
        refs=_refs(record),
        updated_at=_stamp(record.get("lastModifiedDateTime")),
    )


def customer_from_canonical(customer: Customer) -> dict[str, Any]:
    """The ``customers`` upsert body (the ``number`` key travels separately)."""
    address = customer.bill_to
    return {
        "displayName": customer.name,
        "type": "Company",
        "addressLine1": address.line1,
        "addressLine2": address.line2 or "",
        "city": address.city,
        "state": address.state or "",
        "postalCode": address.postal_code or "",
        "country": address.country,
        "currencyCode": customer.currency,
        "blocked": " " if customer.active else "All",
    }


# --------------------------------------------------------------------------- projects
def project_to_canonical(
    record: RawRecord, *, lookups: BusinessCentralLookups, base: Project | None = None
) -> Project:
    """A project (with Accord's extension fields) as a canonical :class:`Project`.

    ``base`` supplies what BC does not hold (opportunity, manager, budget); without it the
    dimensions must be mapped back through ``lookups``.
    """
    practices = {v: k for k, v in lookups.departments.items()}
    regions = {v: k for k, v in lookups.areas.items()}
    department = str(record.get("departmentCode") or "")
    area = str(record.get("areaCode") or "")
    values: dict[str, Any] = base.model_dump() if base is not None else {}
    blocked = str(record.get("blocked") or " ").strip()
    status = _PROJECT_STATUS_IN.get(str(record.get("status")), ProjectStatus.ACTIVE)
    if blocked and status is ProjectStatus.ACTIVE:
        status = ProjectStatus.ON_HOLD
    values.update(
        id=values.get("id") or lookups.canonical("projects", record.get("number"), what="project"),
        name=record.get("displayName"),
        customer_id=lookups.canonical("customers", record.get("customerNumber"), what="customer"),
        legal_entity=lookups.legal_entity,
        practice=practices.get(department) or values.get("practice") or department,
        region=regions.get(area) or values.get("region") or area,
        billing_model=_BILLING_IN.get(
            str(record.get("billingModel")), BillingModel.TIME_AND_MATERIALS
        ),
        status=status,
        currency=_currency(record, values.get("currency")),
        start_date=_opt_date(record.get("startDate")) or values.get("start_date"),
        end_date=_opt_date(record.get("endDate")),
        refs=_refs(record),
        updated_at=_stamp(record.get("lastModifiedDateTime")),
    )
    return build_model(Project, **values)


def project_from_canonical(project: Project, *, lookups: BusinessCentralLookups) -> dict[str, Any]:
    """The ``projects`` upsert body: extension fields for customer, dates and dimensions.

    An on-hold project is blocked for posting, so no time reaches it until it resumes.
    """
    body: dict[str, Any] = {
        "displayName": project.name,
        "customerNumber": lookups.number("customers", project.customer_id),
        "currencyCode": project.currency,
        "startDate": project.start_date.isoformat(),
        "status": _PROJECT_STATUS[project.status],
        "blocked": "Posting" if project.status is ProjectStatus.ON_HOLD else " ",
        "departmentCode": lookups.code(lookups.departments, project.practice, what="department"),
        "areaCode": lookups.code(lookups.areas, project.region, what="area"),
        "billingModel": _BILLING[project.billing_model],
    }
    if project.end_date is not None:
        body["endDate"] = project.end_date.isoformat()
    return body


# --------------------------------------------------------------------------- time
def journal_line_from_time_entry(
    entry: TimeEntry, *, lookups: BusinessCentralLookups
) -> dict[str, Any]:
    """A project journal line posting an approved time entry (key: :func:`bc_number` of it).

    The document number is the entry's stable number, so verify-before-create finds a line
    whose create answer was lost. Non-billable time posts at a zero unit price.
    """
    body: dict[str, Any] = {
        "postingDate": entry.date.isoformat(),
        "projectNumber": lookups.number("projects", entry.project_id),
        "resourceNumber": lookups.code(lookups.resources, entry.resource_id, what="resource"),
        "quantity": _number(entry.hours),
        "description": (entry.notes or f"Time {entry.date.isoformat()}")[:100],
        "externalDocumentNumber": bc_number(entry.id, length=35),
    }
    if entry.billable and entry.bill_rate is not None:
        body["unitPrice"] = _number(entry.bill_rate.amount)
    else:
        body["unitPrice"] = 0
    return body


def journal_line_from_expense(expense: Expense, *, project_number: str, key: str) -> dict[str, Any]:
    """A project journal line posting an approved expense: one unit at its amount.

    A non-billable expense posts at a zero unit price (cost only).
    """
    amount = _number(expense.amount.amount)
    return {
        "postingDate": expense.date.isoformat(),
        "projectNumber": project_number,
        "quantity": 1,
        "unitCost": amount,
        "unitPrice": amount if expense.billable else 0,
        "description": expense.description[:100],
        "externalDocumentNumber": bc_number(key, length=35),
    }


def journal_line_terms(
    line: Mapping[str, Any], *, kind: PostingKind, currency: str
) -> PostingTerms:
    """A project journal line read back in canonical terms (a migration's field diff).

    The line carries no currency (it books in ``currency``, the project's [inferred]), no
    category and no dimensions (the project's default dimensions apply): those are ``None``,
    not compared. A time line's amount is quantity x unit price, an expense's quantity x unit
    cost; a zero unit price books it non-billable.
    """
    quantity = Decimal(str(line.get("quantity") or 0))
    price = Decimal(str(line.get("unitPrice") or 0))
    billable = price > 0
    if kind == "time":
        amount = Money.of(quantity * price, currency) if billable else None
    else:
        amount = Money.of(quantity * Decimal(str(line.get("unitCost") or 0)), currency)
    resource = line.get("resourceNumber")
    return PostingTerms(
        kind=kind,
        erp_project=str(line.get("projectNumber")),
        date=dt.date.fromisoformat(str(line.get("postingDate"))[:10]),
        resource_id=str(resource) if resource else None,
        hours=quantity if kind == "time" else None,
        amount=amount,
        billable=billable,
    )


# --------------------------------------------------------------------------- invoices, payments
def sales_invoice_to_canonical(
    record: RawRecord, *, lookups: BusinessCentralLookups, company_currency: str
) -> Invoice:
    """A sales invoice (lines expanded) as a canonical :class:`Invoice`."""
    currency = _currency(record, company_currency)
    lines: list[InvoiceLine] = []
    for index, line in enumerate(record.get("salesInvoiceLines") or ()):
        if line.get("lineType") == "Comment":
            continue
        quantity = required_decimal(line.get("quantity", 0), f"line {index} quantity")
        unit = required_decimal(line.get("unitPrice", 0), f"line {index} unitPrice")
        amount = required_decimal(line.get("amountExcludingTax", 0), f"line {index} amount")
        kind = InvoiceLineKind.TIME if line.get("lineType") == "Resource" else InvoiceLineKind.OTHER
        lines.append(
            build_model(
                InvoiceLine,
                kind=kind,
                description=line.get("description") or line.get("lineObjectNumber") or "line",
                quantity=quantity,
                unit_price=Money.of(unit, currency),
                amount=Money.of(amount, currency),
            )
        )
    subtotal = required_decimal(record.get("totalAmountExcludingTax", 0), "totalAmountExcludingTax")
    tax = required_decimal(record.get("totalTaxAmount", 0), "totalTaxAmount")
    total = required_decimal(record.get("totalAmountIncludingTax", 0), "totalAmountIncludingTax")
    bc_status = str(record.get("status"))
    remaining = required_decimal(record.get("remainingAmount", 0), "remainingAmount")
    if bc_status == "Draft":
        status, due = InvoiceStatus.DRAFT, total
    elif bc_status == "Canceled":
        status, due = InvoiceStatus.VOID, Decimal(0)
    elif bc_status == "Paid" or (total > 0 and remaining == 0):
        status, due = InvoiceStatus.PAID, Decimal(0)
    elif remaining < total:
        status, due = InvoiceStatus.PARTIALLY_PAID, remaining
    else:
        status, due = InvoiceStatus.POSTED, remaining
    issue = required_date(record.get("invoiceDate"), "invoiceDate")
    modified = _stamp(record.get("lastModifiedDateTime"))
    return build_model(
        Invoice,
        id=lookups.canonical("salesInvoices", record.get("id"), what="invoice"),
        number=record.get("number") or None,
        customer_id=lookups.canonical("customers", record.get("customerNumber"), what="customer"),
        legal_entity=lookups.legal_entity,
        status=status,
        currency=currency,
        issue_date=issue,
        due_date=max(_opt_date(record.get("dueDate")) or issue, issue),
        lines=tuple(lines)
        if sum((ln.amount.amount for ln in lines), Decimal(0)) == subtotal
        else (),
        subtotal=Money.of(subtotal, currency),
        tax_total=Money.of(tax, currency),
        total=Money.of(total, currency),
        amount_due=Money.of(due, currency),
        posted_at=modified if status is not InvoiceStatus.DRAFT else None,
        paid_at=modified if status is InvoiceStatus.PAID else None,
        refs=_refs(record),
    )


def payment_to_canonical(
    record: RawRecord, *, lookups: BusinessCentralLookups, currency: str
) -> Payment:
    """A customer payment line as a canonical :class:`Payment` (BC's sign is ignored).

    Args:
        record: The ``customerPayments`` line.
        lookups: Lookups of the company.
        currency: The customer's (or company's) currency: payment lines carry none.
    """
    amount = abs(required_decimal(record.get("amount"), "amount"))
    invoice = record.get("appliesToInvoiceId")
    applications: tuple[PaymentApplication, ...] = ()
    if invoice and not str(invoice).startswith("00000000-"):
        applications = (
            build_model(
                PaymentApplication,
                invoice_id=lookups.canonical("salesInvoices", invoice, what="invoice"),
                amount=Money.of(amount, currency),
            ),
        )
    return build_model(
        Payment,
        id=lookups.canonical(
            "customerPayments",
            record.get("externalDocumentNumber") or record.get("id"),
            what="payment",
        ),
        customer_id=lookups.canonical("customers", record.get("customerNumber"), what="customer"),
        legal_entity=lookups.legal_entity,
        amount=Money.of(amount, currency),
        received_on=required_date(record.get("postingDate"), "postingDate"),
        reference=record.get("externalDocumentNumber") or record.get("documentNumber") or None,
        applications=applications,
        recorded_at=_stamp(record.get("lastModifiedDateTime")),
        refs=_refs(record),
    )
