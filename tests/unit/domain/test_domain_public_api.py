"""Pins the public surface of ``accord.domain``: changing it must be deliberate."""

import inspect

import accord.domain

EXPECTED_ALL = [
    "CURRENCY_MINOR_UNITS",
    "EVENT_CLASSES",
    "EVENT_TYPES",
    "SCHEMA_MODELS",
    "AccountingPeriod",
    "AccountingPeriodStatus",
    "Address",
    "Assignment",
    "AssignmentStatus",
    "AssignmentUpsertedEvent",
    "BillingModel",
    "CanonicalModel",
    "CloudEvent",
    "Contract",
    "ContractAmendedEvent",
    "ContractAmendment",
    "ContractStatus",
    "CountryCode",
    "CurrencyCode",
    "CurrencyMismatchError",
    "Customer",
    "CustomerUpsertedEvent",
    "DecimalValue",
    "DomainError",
    "Email",
    "ErpSystem",
    "EventDataTypeError",
    "Expense",
    "ExpenseApprovedEvent",
    "ExpenseCategory",
    "ExpenseStatus",
    "ExternalRef",
    "Hours",
    "Identifier",
    "Invoice",
    "InvoiceLine",
    "InvoiceLineKind",
    "InvoicePaidEvent",
    "InvoicePostedEvent",
    "InvoiceStatus",
    "LegalEntity",
    "Milestone",
    "MilestoneCompletedEvent",
    "MilestoneStatus",
    "Money",
    "NonNegativeDecimal",
    "Opportunity",
    "OpportunityLine",
    "OpportunityStage",
    "OpportunityUpdatedEvent",
    "OpportunityWonEvent",
    "Payment",
    "PaymentApplication",
    "PaymentMethod",
    "PaymentReceivedEvent",
    "PeriodCode",
    "Project",
    "ProjectActivatedEvent",
    "ProjectFieldsChange",
    "ProjectFieldsChangedEvent",
    "ProjectStatus",
    "ProjectStatusChange",
    "ProjectStatusChangedEvent",
    "ProjectTask",
    "Rate",
    "RateCard",
    "Resource",
    "SchemaCompatibilityError",
    "System",
    "TaskStatus",
    "TaskUpsertedEvent",
    "TimeEntry",
    "Timesheet",
    "TimesheetApprovedEvent",
    "TimesheetStatus",
    "UnknownEventTypeError",
    "UriReference",
    "UtcDatetime",
    "Vendor",
    "VendorBill",
    "VendorBillLine",
    "VendorBillPostedEvent",
    "VendorBillStatus",
    "VendorExpenseApprovedEvent",
    "business_key",
    "export_schemas",
    "incompatibilities",
    "make_event",
    "minor_unit",
    "money_sum",
    "parse_event",
    "parse_event_data",
    "schema_document",
    "schema_filename",
]


def test_all_is_pinned():
    assert accord.domain.__all__ == EXPECTED_ALL


def test_every_public_name_exists_and_nothing_else_leaks():
    for name in accord.domain.__all__:
        assert hasattr(accord.domain, name), name
    public = {
        name
        for name, value in vars(accord.domain).items()
        if not name.startswith("_") and not isinstance(value, type(accord))
    }
    assert public == set(EXPECTED_ALL)


def test_public_classes_and_functions_have_docstrings():
    for name in accord.domain.__all__:
        value = getattr(accord.domain, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), name
