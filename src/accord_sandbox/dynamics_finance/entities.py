"""Dynamics 365 Finance data entities the emulator serves: properties, types, keys, defaults.

Definitions only (no routes, no storage, no I/O). Each entity set is the *public collection
name* of a data entity under ``/data/`` (case-sensitive: entity ``CustomerV3`` is the set
``CustomersV3``). Company-specific entities carry ``dataAreaId`` as the first key field.

Sources, per entity, are in ``docs/connectors.md`` (Dynamics 365 Finance); the field lists of
the project entities follow Microsoft's Common Data Model pages of the
``ProjectManagementAndAccounting`` entities (``ProjJournalTableEntity``,
``ProjJournalTransEntity``, ``ExpenseJournalLineEntity``, ``ProjPostTransViewEntity``,
``ProjProjectContractHeaderEntity``). Public collection names other than ``CustomersV3``,
``Currencies``, ``LegalEntities``, ``SalesInvoiceHeadersV2``, ``FreeTextInvoiceHeaders`` and
``CustomerPaymentJournalHeaders``/``Lines`` are [inferred] (a live environment lists them in
``/data/$metadata``). ``ModifiedDateTime`` on the entities that have it, the client-assigned
``TransactionID`` of hour lines and the ``PostJournal`` / ``PostInvoice`` actions are what
Accord's small extension package adds to a real environment [inferred, see the docs].
"""

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Literal

__all__ = [
    "BLANK_DATE",
    "ENTITY_SETS",
    "JOURNAL_LINES",
    "NAMESPACE",
    "EntitySet",
    "Prop",
    "Scalar",
    "make_etag",
    "normalize_number",
]

Scalar = str | int | float | None
PropType = Literal["string", "decimal", "int", "enum", "datetime"]

NAMESPACE = "Microsoft.Dynamics.DataEntities"
"""Namespace of entity types, enums and actions in ``$metadata``."""
BLANK_DATE = "1900-01-01T12:00:00Z"
"""How finance and operations returns an empty date (its ``dateNull()``) [inferred]."""


@dataclass(frozen=True)
class Prop:
    """One property of an entity type."""

    name: str
    type: PropType = "string"
    read_only: bool = False
    choices: tuple[str, ...] = ()
    """Members of an enum property (serialised as their names)."""
    enum: str | None = None
    """Enum type name (``NoYes``), for ``@odata.type`` annotations and filter literals."""
    length: int | None = None
    """Maximum length of a string (the extended data type's size)."""
    default: Scalar = None

    def blank(self) -> Scalar:
        """The value shown when the property was never set."""
        if self.default is not None:
            return self.default
        if self.type == "enum":
            return self.choices[0]
        blanks: dict[str, Scalar] = {
            "string": "",
            "decimal": 0,
            "int": 0,
            "datetime": BLANK_DATE,
        }
        return blanks[self.type]


@dataclass(frozen=True)
class EntitySet:
    """One public entity set under ``/data/`` and how the emulator treats it."""

    name: str
    type_name: str
    """Public entity name (``CustomerV3``): ``@odata.type`` is ``#NAMESPACE.type_name``."""
    keys: tuple[str, ...]
    """Key fields after ``dataAreaId`` (company-specific sets) in key-predicate order."""
    props: tuple[Prop, ...]
    company: bool = True
    """Company-specific (``SaveDataPerCompany``): ``dataAreaId`` is part of the key."""
    writable: bool = True
    number_series: str | None = None
    """The last key field is assigned from this number sequence when the client sends none."""
    modified: bool = False
    """Has ``ModifiedDateTime`` (set by the service on every change)."""
    actions: tuple[str, ...] = ()
    """Bound actions (``/Set(key)/Microsoft.Dynamics.DataEntities.<action>``)."""
    parent: str | None = None
    """Header set whose key field ``parent_key`` the lines carry."""
    parent_key: tuple[str, str] | None = None
    """(line field, header field) linking a line to its header."""

    def prop(self, name: str) -> Prop | None:
        """The property called ``name``, if the type has one."""
        return self._by_name.get(name)

    @cached_property
    def _by_name(self) -> Mapping[str, Prop]:
        return {p.name: p for p in self.props}

    @property
    def names(self) -> tuple[str, ...]:
        """Every property name, in serialisation order."""
        return tuple(p.name for p in self.props)

    @property
    def key_fields(self) -> tuple[str, ...]:
        """The full entity key, ``dataAreaId`` first for company-specific sets."""
        return ("dataAreaId", *self.keys) if self.company else self.keys


def make_etag(rowversion: int) -> str:
    """A weak etag shaped like finance and operations': ``W/"JzEsNjg3MT..."``."""
    raw = f"'1,{68719476736 + rowversion}'".encode()
    return 'W/"' + base64.b64encode(raw).decode() + '"'


def normalize_number(value: int | float | Decimal) -> int | float:
    """A JSON number: integral decimals without a fraction, others rounded to 6 places."""
    dec = Decimal(str(value))
    if dec == dec.to_integral_value():
        return int(dec)
    return float(round(dec, 6))


def _s(name: str, length: int | None = None, *, read_only: bool = False) -> Prop:
    return Prop(name, "string", read_only=read_only, length=length)


def _d(name: str, *, read_only: bool = False) -> Prop:
    return Prop(name, "decimal", read_only=read_only)


def _t(name: str, *, read_only: bool = False) -> Prop:
    return Prop(name, "datetime", read_only=read_only)


def _e(name: str, enum: str, choices: tuple[str, ...], *, read_only: bool = False) -> Prop:
    return Prop(name, "enum", read_only=read_only, choices=choices, enum=enum)


_AREA = _s("dataAreaId", 4)
_MODIFIED = _t("ModifiedDateTime", read_only=True)
_YES_NO = ("No", "Yes")

CUSTOMERS = EntitySet(
    name="CustomersV3",
    type_name="CustomerV3",
    keys=("CustomerAccount",),
    props=(
        _AREA,
        _s("CustomerAccount", 20),
        _s("OrganizationName", 100),
        _e("PartyType", "DirPartyBaseType", ("Organization", "Person")),
        _s("CustomerGroupId", 10),
        _s("SalesCurrencyCode", 3),
        _s("AddressStreet", 250),
        _s("AddressCity", 60),
        _s("AddressZipCode", 10),
        _s("AddressState", 10),
        _s("AddressCountryRegionId", 10),
        _s("PrimaryContactEmail", 255),
        _s("PaymentTerms", 10),
        _d("CreditLimit"),
        _s("SalesTaxGroup", 10),
        _s("InvoiceAccount", 20),
        _s("DefaultDimensionDisplayValue", 500),
        _e("OnHoldStatus", "CustVendorBlocked", ("No", "Invoice", "All", "Payment")),
        _MODIFIED,
    ),
    modified=True,
)

PROJECT_CONTRACTS = EntitySet(
    name="ProjectContractHeaders",
    type_name="ProjectContractHeader",
    keys=("ProjectContractId",),
    props=(
        _AREA,
        _s("ProjectContractId", 20),
        _s("Name", 60),
        _s("CustomerAccountNumber", 20),
        _s("SalesCurrencyCode", 3),
        _s("TermsOfPayment", 10),
        _s("CustomersOrderReference", 60),
        _s("DefaultLedgerDimensionDisplayValue", 500),
        _MODIFIED,
    ),
    number_series="PC-",
    modified=True,
)

PROJECT_TYPES = ("TimeMaterial", "FixedPrice", "Investment", "Cost", "Internal", "Time")
PROJECT_STAGES = ("Created", "Estimated", "Scheduled", "InProcess", "Completed")

PROJECTS = EntitySet(
    name="Projects",
    type_name="Project",
    keys=("ProjectID",),
    props=(
        _AREA,
        _s("ProjectID", 20),
        _s("ProjectName", 60),
        _s("ProjectContractID", 20),
        _s("CustomerAccount", 20, read_only=True),
        _e("ProjectType", "ProjType", PROJECT_TYPES),
        _e("ProjectStage", "ProjStatus", PROJECT_STAGES),
        _s("ProjectGroup", 10),
        _t("ProjectedStartDate"),
        _t("ProjectedEndDate"),
        _s("SalesCurrencyCode", 3, read_only=True),
        _s("DefaultDimensionDisplayValue", 500),
        _s("ProjectManagerPersonnelNumber", 25),
        _MODIFIED,
    ),
    number_series="PRJ-",
    modified=True,
)

ON_ACCOUNT = EntitySet(
    name="ProjectOnAccountTransactions",
    type_name="ProjectOnAccountTransaction",
    keys=("TransactionId",),
    props=(
        _AREA,
        _s("TransactionId", 20),
        _s("ProjectID", 20),
        _s("Description", 60),
        _t("TransactionDate"),
        _d("Quantity"),
        _d("SalesPrice"),
        _d("Amount", read_only=True),
        _s("CurrencyId", 3),
        _e("IsMilestone", "NoYes", _YES_NO),
        _e("BillingStatus", "ProjOnAccTransBillingStatus", ("NotInvoiced", "Invoiced")),
        _MODIFIED,
    ),
    number_series="OA-",
    modified=True,
)

_JOURNAL_HEADER_PROPS = (
    _AREA,
    _s("JournalBatchNumber", 10),
    _s("JournalName", 10),
    _s("Description", 60),
    _e("Posted", "NoYes", _YES_NO, read_only=True),
    _e("DeleteLinesAfterPosting", "NoYes", _YES_NO),
    _t("PostedDateTime", read_only=True),
)


def _journal_header(name: str, type_name: str, number_series: str) -> EntitySet:
    """A journal header set: numbered batches of lines, posted by ``PostJournal``."""
    return EntitySet(
        name=name,
        type_name=type_name,
        keys=("JournalBatchNumber",),
        props=_JOURNAL_HEADER_PROPS,
        number_series=number_series,
        actions=("PostJournal",),
    )


def _journal_lines(
    name: str,
    type_name: str,
    header: EntitySet,
    batch_field: str,
    props: tuple[Prop, ...],
    *,
    modified: bool = False,
) -> EntitySet:
    """A journal's line set: keyed by (``batch_field``, ``LineNumber``) under ``header``."""
    return EntitySet(
        name=name,
        type_name=type_name,
        keys=(batch_field, "LineNumber"),
        props=(_AREA, _s(batch_field, 10), Prop("LineNumber", "decimal"), *props),
        parent=header.name,
        parent_key=(batch_field, "JournalBatchNumber"),
        modified=modified,
    )


HOUR_JOURNALS = _journal_header("ProjectHourJournalHeaders", "ProjectHourJournalHeader", "PJH-")

HOUR_LINES = _journal_lines(
    "ProjectHourJournalLines",
    "ProjectHourJournalLine",
    HOUR_JOURNALS,
    "JournalId",
    (
        _s("TransactionID", 20),
        _s("ProjectID", 20),
        _t("ProjectDate"),
        _d("Hours"),
        _s("Resource", 25),
        _s("ResourceCompanyId", 4),
        _s("Category", 30),
        _s("LineProperty", 10),
        _d("SalesPrice"),
        _d("CostPrice"),
        _s("CurrencyId", 3),
        _s("Description", 60),
        _s("DimensionDisplayValue", 500),
        _s("Voucher", 20, read_only=True),
    ),
)

EXPENSE_JOURNALS = _journal_header(
    "ProjectExpenseJournalHeaders", "ProjectExpenseJournalHeader", "PJE-"
)

EXPENSE_LINES = _journal_lines(
    "ProjectExpenseJournalLines",
    "ProjectExpenseJournalLine",
    EXPENSE_JOURNALS,
    "JournalBatchNumber",
    (
        _s("ProjId", 20),
        _t("ProjectDate"),
        _s("ProjectCategory", 30),
        _s("ProjectLineProperty", 10),
        _d("ProjectCostQuantity"),
        _d("DebitAmount"),
        _d("ProjectSalesPrice"),
        _s("CurrencyCode", 3),
        _s("Resource", 25),
        _s("Text", 60),
        _s("Document", 20),
        _s("DimensionDisplayValue", 500),
        _s("Voucher", 20, read_only=True),
    ),
)

POSTED = EntitySet(
    name="ProjectPostedTransactions",
    type_name="ProjectPostedTransaction",
    keys=("TransactionId",),
    props=(
        _AREA,
        _s("TransactionId", 20),
        _s("ProjectId", 20),
        _e("TransactionType", "ProjTransType", ("Hour", "Cost", "Revenue", "Item", "OnAccount")),
        _s("TransactionOrigin", 30),
        _t("TransactionDate"),
        _d("Quantity"),
        _d("TotalCostAmount"),
        _d("TotalSalesAmount"),
        _s("CurrencyId", 3),
        _s("CategoryId", 30),
        _s("LinePropertyID", 10),
        _s("ResourceName", 100),
        _s("Voucher", 20),
    ),
    writable=False,
)

SALES_INVOICES = EntitySet(
    name="SalesInvoiceHeadersV2",
    type_name="SalesInvoiceHeaderV2",
    keys=("InvoiceNumber",),
    props=(
        _AREA,
        _s("InvoiceNumber", 20),
        _t("InvoiceDate"),
        _t("DueDate"),
        _s("InvoiceCustomerAccountNumber", 20),
        _s("SalesOrderNumber", 20),
        _s("CustomersOrderReference", 60),
        _s("CurrencyCode", 3),
        _d("TotalInvoiceAmount"),
        _d("TotalTaxAmount"),
        _d("RemainingAmount"),
        _MODIFIED,
    ),
    writable=False,
    modified=True,
)

FREE_TEXT_INVOICES = EntitySet(
    name="FreeTextInvoiceHeaders",
    type_name="FreeTextInvoiceHeader",
    keys=("InvoiceIdentifier",),
    props=(
        _AREA,
        Prop("InvoiceIdentifier", "int", read_only=True),
        _s("CustomerAccount", 20),
        _t("InvoiceDate"),
        _s("CurrencyCode", 3),
        _s("CustomersOrderReference", 60),
        _s("ProjectID", 20),
        _e("IsPosted", "NoYes", _YES_NO, read_only=True),
        _s("InvoiceNumber", 20, read_only=True),
        _MODIFIED,
    ),
    modified=True,
    actions=("PostInvoice",),
)

FREE_TEXT_LINES = EntitySet(
    name="FreeTextInvoiceLines",
    type_name="FreeTextInvoiceLine",
    keys=("InvoiceIdentifier", "LineNumber"),
    props=(
        _AREA,
        Prop("InvoiceIdentifier", "int"),
        Prop("LineNumber", "decimal"),
        _s("Description", 60),
        _s("MainAccountDisplayValue", 500),
        _d("Quantity"),
        _d("UnitPrice"),
        _d("Amount", read_only=True),
    ),
    parent="FreeTextInvoiceHeaders",
    parent_key=("InvoiceIdentifier", "InvoiceIdentifier"),
)

PAYMENT_JOURNALS = _journal_header(
    "CustomerPaymentJournalHeaders", "CustomerPaymentJournalHeader", "CPJ-"
)

PAYMENT_LINES = _journal_lines(
    "CustomerPaymentJournalLines",
    "CustomerPaymentJournalLine",
    PAYMENT_JOURNALS,
    "JournalBatchNumber",
    (
        _s("AccountDisplayValue", 500),
        _t("TransactionDate"),
        _d("CreditAmount"),
        _d("DebitAmount"),
        _s("CurrencyCode", 3),
        _s("PaymentReference", 60),
        _s("MarkedInvoice", 20),
        _s("PaymentMethodName", 10),
        _s("Voucher", 20, read_only=True),
        _MODIFIED,
    ),
    modified=True,
)

RESOURCES = EntitySet(
    name="Resources",
    type_name="Resource",
    keys=("ResourceId",),
    props=(
        _AREA,
        _s("ResourceId", 25),
        _s("Name", 100),
        _s("PersonnelNumber", 25),
        _s("ResourceCategory", 30),
        _d("CostPrice"),
        _d("SalesPrice"),
    ),
    writable=False,
)

FISCAL_PERIODS = EntitySet(
    name="LedgerFiscalPeriods",
    type_name="LedgerFiscalPeriod",
    keys=("FiscalCalendar", "FiscalYear", "PeriodName"),
    props=(
        _AREA,
        _s("FiscalCalendar", 15),
        _s("FiscalYear", 10),
        _s("PeriodName", 60),
        _t("StartDate"),
        _t("EndDate"),
        _e("PeriodStatus", "FiscalPeriodStatus", ("Open", "OnHold", "Closed"), read_only=True),
    ),
    writable=False,
)

VENDORS = EntitySet(
    name="VendorsV2",
    type_name="VendorV2",
    keys=("VendorAccountNumber",),
    props=(
        _AREA,
        _s("VendorAccountNumber", 20),
        _s("VendorOrganizationName", 100),
        _s("VendorGroupId", 10),
        _s("CurrencyCode", 3),
        _s("PrimaryContactEmail", 255),
        _e(
            "OnHoldStatus",
            "CustVendorBlocked",
            ("No", "Invoice", "All", "Payment", "Requisition", "Never"),
        ),
    ),
)
"""Vendors (``VendVendorV2Entity``; the fields Accord reads; the group and e-mail [inferred])."""

DIMENSION_VALUES = EntitySet(
    name="FinancialDimensionValues",
    type_name="FinancialDimensionValue",
    keys=("DimensionName", "DimensionValue"),
    props=(
        _s("DimensionName", 60),
        _s("DimensionValue", 30),
        _s("Description", 60),
        _e("IsSuspended", "NoYes", _YES_NO),
    ),
    company=False,
    writable=False,
)

CURRENCIES = EntitySet(
    name="Currencies",
    type_name="Currency",
    keys=("CurrencyCode",),
    props=(
        _s("CurrencyCode", 3),
        _s("Name", 60),
        _s("Symbol", 5),
        _d("GeneralRoundingRule"),
    ),
    company=False,
    writable=False,
)

LEGAL_ENTITIES = EntitySet(
    name="LegalEntities",
    type_name="LegalEntity",
    keys=("LegalEntityId",),
    props=(
        _s("LegalEntityId", 4),
        _s("Name", 100),
        _s("AccountingCurrency", 3),
        _s("AddressCountryRegionId", 10),
    ),
    company=False,
    writable=False,
)

ENTITY_SETS: dict[str, EntitySet] = {
    s.name: s
    for s in (
        CUSTOMERS,
        PROJECT_CONTRACTS,
        PROJECTS,
        ON_ACCOUNT,
        HOUR_JOURNALS,
        HOUR_LINES,
        EXPENSE_JOURNALS,
        EXPENSE_LINES,
        POSTED,
        SALES_INVOICES,
        FREE_TEXT_INVOICES,
        FREE_TEXT_LINES,
        PAYMENT_JOURNALS,
        PAYMENT_LINES,
        RESOURCES,
        VENDORS,
        FISCAL_PERIODS,
        DIMENSION_VALUES,
        CURRENCIES,
        LEGAL_ENTITIES,
    )
}
"""Every entity set the emulator serves, by public collection name."""

JOURNAL_LINES: dict[str, EntitySet] = {
    HOUR_JOURNALS.name: HOUR_LINES,
    EXPENSE_JOURNALS.name: EXPENSE_LINES,
    PAYMENT_JOURNALS.name: PAYMENT_LINES,
}
"""Journal header set -> its line set."""
