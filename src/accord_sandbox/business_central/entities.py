"""Business Central API v2.0 entity sets the emulator serves: properties, types, keys, defaults.

Definitions only (no routes, no storage, no I/O). Field lists follow section 5.4 of
``shared/reference/saas-apis.md``; where the reference gives no list, or marks it
[inferred], the comment on the entity set says so. Properties added for Accord's billing
flow that the standard API does not expose are listed in :data:`EXTENSION_FIELDS`.
"""

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

__all__ = [
    "BLANK_DATE",
    "BLANK_GUID",
    "COMPANIES",
    "ENTITY_SETS",
    "EXTENSION_FIELDS",
    "EntitySet",
    "Prop",
    "Scalar",
    "make_etag",
    "normalize_number",
]

Scalar = str | int | float | bool | None
PropType = Literal["string", "decimal", "integer", "boolean", "date", "datetime", "guid"]

BLANK_DATE = "0001-01-01"
"""How BC returns an empty date (its ``0D``)."""
BLANK_GUID = "00000000-0000-0000-0000-000000000000"
"""How BC returns an empty GUID reference."""
_BLANK_DATETIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class Prop:
    """One property of an entity type."""

    name: str
    type: PropType = "string"
    read_only: bool = False
    choices: tuple[str, ...] = ()
    default: Scalar = None

    def blank(self) -> Scalar:
        """The value BC shows when the property was never set."""
        if self.default is not None:
            return self.default
        blanks: dict[str, Scalar] = {
            "string": "",
            "decimal": 0,
            "integer": 0,
            "boolean": False,
            "date": BLANK_DATE,
            "datetime": _BLANK_DATETIME,
            "guid": BLANK_GUID,
        }
        return blanks[self.type]


@dataclass(frozen=True)
class EntitySet:
    """One entity set under ``companies({id})/`` and how the emulator treats it."""

    name: str
    type_name: str
    props: tuple[Prop, ...]
    writable: bool = True
    unique: str | None = None
    """Property whose value must be unique per company (BC's primary key, e.g. ``No.``)."""
    number_series: str | None = None
    """Prefix for numbers assigned when the client sends none."""
    parent: str | None = None
    parent_key: str | None = None
    expand: Mapping[str, str] = field(default_factory=dict)
    """Navigation property -> entity set it expands to."""
    indexed: tuple[str, ...] = ("number",)

    def prop(self, name: str) -> Prop | None:
        """The property called ``name``, if the type has one."""
        return next((p for p in self.props if p.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        """Every property name, in the order BC serialises them."""
        return tuple(p.name for p in self.props)


def make_etag(rowversion: int) -> str:
    """A weak etag shaped like BC's: ``W/"JzE5O..."``, base64 of ``'19;<row version>;00;'``."""
    digits = str(10**18 + rowversion)
    raw = f"'{len(digits)};{digits};00;'".encode()
    return 'W/"' + base64.b64encode(raw).decode() + '"'


def normalize_number(value: int | float | Decimal) -> int | float:
    """JSON number as BC prints it: integral decimals without a fraction, others rounded."""
    dec = Decimal(str(value))
    if dec == dec.to_integral_value():
        return int(dec)
    return float(round(dec, 5))


def _ro(name: str, type_: PropType = "string") -> Prop:
    return Prop(name, type_, read_only=True)


_ID = _ro("id", "guid")
_MODIFIED = _ro("lastModifiedDateTime", "datetime")

_CUSTOMER_BLOCKED = (" ", "Ship", "Invoice", "All")

_DOCUMENT_TOTALS = (
    _ro("totalAmountExcludingTax", "decimal"),
    _ro("totalTaxAmount", "decimal"),
    _ro("totalAmountIncludingTax", "decimal"),
)
"""A sales or purchase invoice's computed totals."""

_LINE_TYPES = ("Comment", "Account", "Item", "Resource", "Value", "Charge", "Fixed Asset")


def _line_head(default_type: str) -> tuple[Prop, ...]:
    """The leading properties of a sales or purchase invoice line (``default_type`` line type)."""
    return (
        _ID,
        _ro("documentId", "guid"),
        _ro("sequence", "integer"),
        Prop("lineType", choices=_LINE_TYPES, default=default_type),
        Prop("lineObjectNumber"),
        Prop("itemId", "guid"),
        Prop("accountId", "guid"),
        Prop("description"),
    )


_LINE_AMOUNTS = (
    _ro("amountExcludingTax", "decimal"),
    _ro("totalTaxAmount", "decimal"),
    _ro("amountIncludingTax", "decimal"),
    _ro("netAmount", "decimal"),
)
"""An invoice line's computed amounts (no tax engine: tax is always 0)."""

_JOURNAL_LINE_HEAD = (
    _ID,
    _ro("journalId", "guid"),
    _ro("journalDisplayName"),
    Prop("lineNumber", "integer"),
)
"""The leading properties of a journal line (general or customer payment journal)."""

CUSTOMERS = EntitySet(
    name="customers",
    type_name="customer",
    props=(
        _ID,
        Prop("number"),
        Prop("displayName"),
        Prop("type", choices=("Company", "Person"), default="Company"),
        Prop("addressLine1"),
        Prop("addressLine2"),
        Prop("city"),
        Prop("state"),
        Prop("country"),
        Prop("postalCode"),
        Prop("phoneNumber"),
        Prop("email"),
        Prop("website"),
        Prop("taxLiable", "boolean"),
        Prop("taxRegistrationNumber"),
        Prop("currencyId", "guid"),
        Prop("currencyCode"),
        Prop("paymentTermsId", "guid"),
        Prop("blocked", choices=_CUSTOMER_BLOCKED, default=" "),
        _ro("balanceDue", "decimal"),
        _MODIFIED,
    ),
    unique="number",
    number_series="C",
)

# The standard `projects` entity exposes only id, number, displayName and
# lastModifiedDateTime (reference 5.4). Everything after displayName is an Accord sandbox
# extension: a real tenant needs a custom API page (api/{publisher}/{group}/{version}).
PROJECTS = EntitySet(
    name="projects",
    type_name="project",
    props=(
        _ID,
        Prop("number"),
        Prop("displayName"),
        Prop("customerId", "guid"),
        Prop("customerNumber"),
        Prop("currencyCode"),
        Prop("startDate", "date"),
        Prop("endDate", "date"),
        Prop("status", choices=("Planning", "Quote", "Open", "Completed"), default="Open"),
        Prop("blocked", choices=(" ", "Posting", "All"), default=" "),
        Prop("departmentCode"),
        Prop("areaCode"),
        Prop(
            "billingModel",
            choices=("Time and Materials", "Fixed Fee", "Milestone", "Retainer"),
            default="Time and Materials",
        ),
        # The firm's own project fields (rules/default.yaml ``custom_fields``), on the same
        # custom page [inferred].
        Prop("deliveryHealth", choices=("", "Green", "Amber", "Red"), default=""),
        Prop("customerPurchaseOrder"),
        _MODIFIED,
    ),
    unique="number",
    number_series="J",
)

# BC's Job Task (table 1001) on the custom API page [inferred]: the standard API has no tasks
# (reference 5.4). ``estimatedHours`` stands for the task's budgeted hours; ``actualHours`` is the
# usage the project ledger holds for the task (resource entries), ``percentComplete`` the one
# over the other (both computed at read time).
PROJECT_TASKS = EntitySet(
    name="projectTasks",
    type_name="projectTask",
    props=(
        _ID,
        Prop("projectNumber"),
        Prop("taskNumber"),
        Prop("description"),
        Prop(
            "taskType",
            choices=("Posting", "Heading", "Total", "Begin-Total", "End-Total"),
            default="Posting",
        ),
        Prop("startDate", "date"),
        Prop("endDate", "date"),
        Prop("estimatedHours", "decimal"),
        _ro("actualHours", "decimal"),
        _ro("percentComplete", "decimal"),
        _MODIFIED,
    ),
    indexed=("projectNumber", "taskNumber"),
)

# Standard v2.0 ``vendors`` (learn.microsoft.com api-reference/v2.0/resources/dynamics_vendor).
VENDORS = EntitySet(
    name="vendors",
    type_name="vendor",
    props=(
        _ID,
        Prop("number"),
        Prop("displayName"),
        Prop("addressLine1"),
        Prop("city"),
        Prop("country"),
        Prop("phoneNumber"),
        Prop("email"),
        Prop("currencyCode"),
        Prop("taxRegistrationNumber"),
        Prop("blocked", choices=(" ", "Payment", "All"), default=" "),
        _ro("balance", "decimal"),
        _MODIFIED,
    ),
    unique="number",
    number_series="V",
)

# Standard v2.0 ``purchaseInvoices`` (dynamics_purchaseinvoice); ``vendorInvoiceNumber`` is
# the vendor's document number, which BC refuses to post twice for one vendor. Posted like
# sales invoices (``Microsoft.NAV.post``); the status values are the documented enum.
PURCHASE_INVOICES = EntitySet(
    name="purchaseInvoices",
    type_name="purchaseInvoice",
    props=(
        _ID,
        _ro("number"),
        Prop("invoiceDate", "date"),
        Prop("postingDate", "date"),
        Prop("dueDate", "date"),
        Prop("vendorInvoiceNumber"),
        Prop("vendorId", "guid"),
        Prop("vendorNumber"),
        _ro("vendorName"),
        Prop("currencyCode"),
        Prop("pricesIncludeTax", "boolean"),
        *_DOCUMENT_TOTALS,
        Prop(
            "status",
            read_only=True,
            choices=("Draft", "In Review", "Open", "Paid", "Canceled", "Corrective"),
            default="Draft",
        ),
        _MODIFIED,
    ),
    expand={"purchaseInvoiceLines": "purchaseInvoiceLines", "vendor": "vendors"},
    indexed=("number", "vendorInvoiceNumber"),
)

# Standard ``purchaseInvoiceLines``; ``projectNumber`` / ``projectTaskNumber`` (the line's
# "Job No." and "Job Task No.", which charge the cost to a project) are the extension's.
PURCHASE_INVOICE_LINES = EntitySet(
    name="purchaseInvoiceLines",
    type_name="purchaseInvoiceLine",
    props=(
        *_line_head("Account"),
        Prop("directUnitCost", "decimal"),
        Prop("quantity", "decimal"),
        *_LINE_AMOUNTS,
        Prop("projectNumber"),
        Prop("projectTaskNumber"),
    ),
    parent="purchaseInvoices",
    parent_key="documentId",
    indexed=(),
)

# Not in the standard v2.0 API: reference 5.4 says job tasks and planning lines need "a custom
# API page". This is that page as the sandbox serves it [inferred]: a project's billing plan
# (BC's Job Planning Line, line type Billable), one line per milestone / fee / retainer, and its
# resource budget (line type Budget, ``type`` Resource, ``number`` the resource's number: a
# person planned on the project or one of its tasks, for ``quantity`` hours).
# ``documentNumber`` (BC's "Document No.", Code[20]) is the client's idempotency key.
PROJECT_PLANNING_LINES = EntitySet(
    name="projectPlanningLines",
    type_name="projectPlanningLine",
    props=(
        _ID,
        Prop("documentNumber"),
        Prop("projectNumber"),
        Prop("projectTaskNumber"),
        _ro("lineNumber", "integer"),
        Prop(
            "lineType",
            choices=("Budget", "Billable", "Both Budget and Billable"),
            default="Billable",
        ),
        Prop("type", choices=("Resource", "Item", "G/L Account", "Text"), default="Text"),
        Prop("number"),
        Prop("planningDate", "date"),
        Prop("description"),
        Prop("quantity", "decimal"),
        Prop("unitPrice", "decimal"),
        Prop("lineAmount", "decimal"),
        Prop("currencyCode"),
        _MODIFIED,
    ),
    unique="documentNumber",
    indexed=("documentNumber", "projectNumber"),
)

SALES_INVOICES = EntitySet(
    name="salesInvoices",
    type_name="salesInvoice",
    props=(
        _ID,
        _ro("number"),
        Prop("externalDocumentNumber"),
        Prop("invoiceDate", "date"),
        Prop("postingDate", "date"),
        Prop("dueDate", "date"),
        Prop("customerPurchaseOrderReference"),
        Prop("customerId", "guid"),
        Prop("customerNumber"),
        _ro("customerName"),
        Prop("billToCustomerId", "guid"),
        Prop("billToCustomerNumber"),
        _ro("billToName"),
        Prop("currencyCode"),
        Prop("paymentTermsId", "guid"),
        Prop("pricesIncludeTax", "boolean"),
        *_DOCUMENT_TOTALS,
        _ro("remainingAmount", "decimal"),
        # Enum values per reference 5.4, itself [inferred].
        Prop(
            "status",
            read_only=True,
            choices=("Draft", "Open", "Paid", "Canceled", "Corrective"),
            default="Draft",
        ),
        _MODIFIED,
    ),
    expand={"salesInvoiceLines": "salesInvoiceLines", "customer": "customers"},
    indexed=("number", "externalDocumentNumber"),
)

# Line fields per reference 5.4 (lineType .. taxCode, list marked [inferred]); amounts are
# computed. There is no tax engine: tax is always 0 [inferred simplification].
SALES_INVOICE_LINES = EntitySet(
    name="salesInvoiceLines",
    type_name="salesInvoiceLine",
    props=(
        *_line_head("Item"),
        Prop("quantity", "decimal"),
        Prop("unitPrice", "decimal"),
        Prop("discountPercent", "decimal"),
        Prop("taxCode"),
        *_LINE_AMOUNTS,
    ),
    parent="salesInvoices",
    parent_key="documentId",
    indexed=(),
)

JOURNALS = EntitySet(
    name="journals",
    type_name="journal",
    props=(
        _ID,
        Prop("code"),
        Prop("displayName"),
        _ro("templateDisplayName"),
        Prop("balancingAccountId", "guid"),
        Prop("balancingAccountNumber"),
        _MODIFIED,
    ),
    unique="code",
    expand={"journalLines": "journalLines"},
    indexed=("code",),
)

_ACCOUNT_TYPES = (
    "G/L Account",
    "Customer",
    "Vendor",
    "Bank Account",
    "Fixed Asset",
    "IC Partner",
    "Employee",
)

# General journal lines per reference 5.4. BC v2.0 has no project (job) journal API, so the
# properties from projectNumber on are an Accord sandbox extension [inferred] carrying what a
# job journal line needs to post time or expense to a project.
JOURNAL_LINES = EntitySet(
    name="journalLines",
    type_name="journalLine",
    props=(
        *_JOURNAL_LINE_HEAD,
        Prop("accountType", choices=_ACCOUNT_TYPES, default="G/L Account"),
        Prop("accountId", "guid"),
        Prop("accountNumber"),
        Prop("postingDate", "date"),
        Prop("documentNumber"),
        Prop("externalDocumentNumber"),
        Prop("amount", "decimal"),
        Prop("description"),
        Prop("comment"),
        Prop("projectNumber"),
        Prop("projectTaskNumber"),
        Prop("resourceNumber"),
        Prop("workTypeCode"),
        Prop("quantity", "decimal"),
        Prop("unitCost", "decimal"),
        Prop("unitPrice", "decimal"),
        Prop("balanceAccountType", choices=("", *_ACCOUNT_TYPES), default=""),
        Prop("balancingAccountNumber"),
        Prop("icPartnerGLAccountNumber"),
        _MODIFIED,
    ),
    parent="journals",
    parent_key="journalId",
    indexed=("documentNumber", "externalDocumentNumber"),
)

# The reference only names these two entity sets (5.4, "Related"); the property lists are
# [inferred] from the published v2.0 resource pages.
CUSTOMER_PAYMENT_JOURNALS = EntitySet(
    name="customerPaymentJournals",
    type_name="customerPaymentJournal",
    props=(
        _ID,
        Prop("code"),
        Prop("displayName"),
        Prop("balancingAccountId", "guid"),
        Prop("balancingAccountNumber"),
        _MODIFIED,
    ),
    unique="code",
    expand={"customerPayments": "customerPayments"},
    indexed=("code",),
)

CUSTOMER_PAYMENTS = EntitySet(
    name="customerPayments",
    type_name="customerPayment",
    props=(
        *_JOURNAL_LINE_HEAD,
        Prop("customerId", "guid"),
        Prop("customerNumber"),
        Prop("contactId", "guid"),
        Prop("postingDate", "date"),
        Prop("documentNumber"),
        Prop("externalDocumentNumber"),
        Prop("amount", "decimal"),
        Prop("appliesToInvoiceId", "guid"),
        Prop("appliesToInvoiceNumber"),
        Prop("description"),
        Prop("comment"),
        _MODIFIED,
    ),
    parent="customerPaymentJournals",
    parent_key="journalId",
    indexed=("documentNumber", "externalDocumentNumber"),
)

DIMENSIONS = EntitySet(
    name="dimensions",
    type_name="dimension",
    props=(_ID, Prop("code"), Prop("displayName"), _MODIFIED),
    writable=False,
    expand={"dimensionValues": "dimensionValues"},
    indexed=("code",),
)

DIMENSION_VALUES = EntitySet(
    name="dimensionValues",
    type_name="dimensionValue",
    props=(_ID, Prop("code"), _ro("dimensionId", "guid"), Prop("displayName"), _MODIFIED),
    writable=False,
    parent="dimensions",
    parent_key="dimensionId",
    indexed=("code",),
)

# `closed` and `dateLocked` are computed at read time from the periods the control API sets.
ACCOUNTING_PERIODS = EntitySet(
    name="accountingPeriods",
    type_name="accountingPeriod",
    props=(
        _ID,
        Prop("startingDate", "date"),
        Prop("name"),
        Prop("newFiscalYear", "boolean"),
        Prop("closed", "boolean"),
        Prop("dateLocked", "boolean"),
        _MODIFIED,
    ),
    writable=False,
    indexed=(),
)

CURRENCIES = EntitySet(
    name="currencies",
    type_name="currency",
    props=(
        _ID,
        Prop("code"),
        Prop("displayName"),
        Prop("symbol"),
        Prop("amountDecimalPlaces"),
        Prop("amountRoundingPrecision", "decimal"),
        _MODIFIED,
    ),
    writable=False,
    indexed=("code",),
)

# Standard v2.0 `currencyExchangeRates` (learn.microsoft.com, api-reference/v2.0/resources/
# dynamics_currencyexchangerate): `exchangeRateAmount` of the currency equal
# `relationalExchangeRateAmount` of the relational currency (blank: the company's local
# currency) from `startingDate`. Read-only here: the firm's rates are seeded.
CURRENCY_EXCHANGE_RATES = EntitySet(
    name="currencyExchangeRates",
    type_name="currencyExchangeRate",
    props=(
        _ID,
        Prop("currencyCode"),
        Prop("startingDate", "date"),
        Prop("exchangeRateAmount", "decimal"),
        Prop("relationalCurrencyCode"),
        Prop("relationalExchangeRateAmount", "decimal"),
        _MODIFIED,
    ),
    writable=False,
    indexed=("currencyCode",),
)

# Standard v2.0 `generalLedgerEntries` (read-only G/L Entry, amounts in the company's local
# currency). The sandbox writes them for posted G/L and intercompany journal lines only.
GENERAL_LEDGER_ENTRIES = EntitySet(
    name="generalLedgerEntries",
    type_name="generalLedgerEntry",
    props=(
        _ID,
        _ro("entryNumber", "integer"),
        _ro("postingDate", "date"),
        _ro("documentNumber"),
        _ro("documentType"),
        _ro("accountNumber"),
        _ro("description"),
        _ro("debitAmount", "decimal"),
        _ro("creditAmount", "decimal"),
        _MODIFIED,
    ),
    writable=False,
    indexed=("documentNumber",),
)

EMPLOYEES = EntitySet(
    name="employees",
    type_name="employee",
    props=(
        _ID,
        Prop("number"),
        Prop("displayName"),
        Prop("givenName"),
        Prop("middleName"),
        Prop("surname"),
        Prop("jobTitle"),
        Prop("email"),
        Prop("status", choices=("Active", "Inactive"), default="Active"),
        _MODIFIED,
    ),
    unique="number",
    number_series="E",
)

# Not in the reference at all [inferred]: BC's Resource card, exposed so project journal
# lines can name the consultant who worked.
RESOURCES = EntitySet(
    name="resources",
    type_name="resource",
    props=(
        _ID,
        Prop("number"),
        Prop("displayName"),
        Prop("type", choices=("Person", "Machine"), default="Person"),
        Prop("baseUnitOfMeasureCode", default="HOUR"),
        Prop("unitCost", "decimal"),
        Prop("unitPrice", "decimal"),
        Prop("blocked", "boolean"),
        _MODIFIED,
    ),
    unique="number",
    number_series="R",
)

# Fields from reference 5.4 (employeeId, date, quantity, status, jobId, all [inferred]) plus
# the number twins BC exposes next to every id.
TIME_REGISTRATION_ENTRIES = EntitySet(
    name="timeRegistrationEntries",
    type_name="timeRegistrationEntry",
    props=(
        _ID,
        Prop("employeeId", "guid"),
        _ro("employeeNumber"),
        Prop("jobId", "guid"),
        _ro("jobNumber"),
        Prop("jobTaskNumber"),
        Prop("absence"),
        _ro("lineNumber", "integer"),
        Prop("date", "date"),
        Prop("quantity", "decimal"),
        Prop("status", choices=("Open", "Submitted", "Rejected", "Approved"), default="Open"),
        Prop("unitOfMeasureCode", default="HOUR"),
        _MODIFIED,
    ),
    indexed=(),
)

# What a posted project journal line leaves behind: BC's Job Ledger Entry (table 169). The
# standard v2.0 API has no such entity set (reference 5.4 lists none for projects), so this is
# the read-only custom API page Accord's AL extension publishes [inferred name and properties,
# after the table's fields]. Posted entries are what BC holds: "is this entry already posted?"
# is answered here, by document number, never by the staging journal (lines leave it on post).
PROJECT_LEDGER_ENTRIES = EntitySet(
    name="projectLedgerEntries",
    type_name="projectLedgerEntry",
    props=(
        _ID,
        _ro("entryNumber", "integer"),
        _ro("entryType"),
        _ro("projectNumber"),
        _ro("projectTaskNumber"),
        _ro("postingDate", "date"),
        _ro("documentNumber"),
        _ro("externalDocumentNumber"),
        _ro("type"),
        _ro("number"),
        _ro("description"),
        _ro("quantity", "decimal"),
        _ro("unitCost", "decimal"),
        _ro("totalCost", "decimal"),
        _ro("unitPrice", "decimal"),
        _ro("totalPrice", "decimal"),
        # Job Ledger Entry's Currency Code and "Total Price (LCY)".
        _ro("currencyCode"),
        _ro("totalPriceLCY", "decimal"),
        _ro("journalBatchName"),
        _MODIFIED,
    ),
    writable=False,
    indexed=("documentNumber", "projectNumber"),
)

# Not company-scoped; served at api/v2.0/companies. Property list [inferred] from the v2.0
# company resource (the reference names only the endpoint).
COMPANIES = EntitySet(
    name="companies",
    type_name="company",
    props=(
        _ID,
        _ro("systemVersion"),
        _ro("timestamp", "integer"),
        _ro("name"),
        _ro("displayName"),
        _ro("businessProfileId"),
        _ro("systemCreatedAt", "datetime"),
        _ro("systemCreatedBy", "guid"),
        _ro("systemModifiedAt", "datetime"),
        _ro("systemModifiedBy", "guid"),
    ),
    writable=False,
    indexed=(),
)

# Standard v2.0 `items` (learn.microsoft.com, api-reference/v2.0/resources/dynamics_item); the
# sandbox serves it read-only, seeded, so sales invoice lines can name a real item.
ITEMS = EntitySet(
    name="items",
    type_name="item",
    props=(
        _ID,
        Prop("number"),
        Prop("displayName"),
        Prop("type", choices=("Inventory", "Service", "Non-Inventory"), default="Service"),
        Prop("blocked", "boolean"),
        Prop("baseUnitOfMeasureCode", default="HOUR"),
        Prop("unitPrice", "decimal"),
        Prop("unitCost", "decimal"),
        _MODIFIED,
    ),
    writable=False,
    unique="number",
)

ENTITY_SETS: dict[str, EntitySet] = {
    s.name: s
    for s in (
        CUSTOMERS,
        PROJECTS,
        PROJECT_PLANNING_LINES,
        SALES_INVOICES,
        SALES_INVOICE_LINES,
        JOURNALS,
        JOURNAL_LINES,
        CUSTOMER_PAYMENT_JOURNALS,
        CUSTOMER_PAYMENTS,
        DIMENSIONS,
        DIMENSION_VALUES,
        ACCOUNTING_PERIODS,
        CURRENCIES,
        CURRENCY_EXCHANGE_RATES,
        GENERAL_LEDGER_ENTRIES,
        EMPLOYEES,
        RESOURCES,
        ITEMS,
        TIME_REGISTRATION_ENTRIES,
        PROJECT_LEDGER_ENTRIES,
        PROJECT_TASKS,
        VENDORS,
        PURCHASE_INVOICES,
        PURCHASE_INVOICE_LINES,
    )
}
"""Every company-scoped entity set, by name."""

EXTENSION_FIELDS: dict[str, tuple[str, ...]] = {
    "projects": (
        "customerId",
        "customerNumber",
        "currencyCode",
        "startDate",
        "endDate",
        "status",
        "blocked",
        "departmentCode",
        "areaCode",
        "billingModel",
    ),
    "projectPlanningLines": ("type", "number"),
    "purchaseInvoiceLines": ("projectNumber", "projectTaskNumber"),
    "journalLines": (
        "projectNumber",
        "projectTaskNumber",
        "resourceNumber",
        "workTypeCode",
        "quantity",
        "unitCost",
        "unitPrice",
    ),
}
"""Properties the standard v2.0 API lacks; the sandbox adds them for Accord's flows.

(``deliveryHealth`` and ``customerPurchaseOrder`` on projects are the sandbox firm's own
fields, not Accord's: they are not listed.)"""
