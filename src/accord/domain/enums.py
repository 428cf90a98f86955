"""Enumerations of the canonical model (``StrEnum``, so values serialise as plain strings).

Adding a member is a backward-compatible change; removing or renaming one is not (the
schema compatibility check refuses it without a major version bump).
"""

from enum import StrEnum

__all__ = [
    "AccountingPeriodStatus",
    "AssignmentStatus",
    "BillingModel",
    "ContractStatus",
    "ErpSystem",
    "ExpenseCategory",
    "ExpenseStatus",
    "InvoiceLineKind",
    "InvoiceStatus",
    "MilestoneStatus",
    "OpportunityStage",
    "PaymentMethod",
    "ProjectStatus",
    "System",
    "TaskStatus",
    "TimesheetStatus",
    "VendorBillStatus",
]


class System(StrEnum):
    """A system Accord integrates; the ``system`` of an :class:`ExternalRef`."""

    SALESFORCE = "salesforce"
    CERTINIA = "certinia"
    KANTATA = "kantata"
    NETSUITE = "netsuite"
    BUSINESS_CENTRAL = "business_central"
    DYNAMICS_FINANCE = "dynamics_finance"


class ErpSystem(StrEnum):
    """The ERP a legal entity lives on (drives coexistence routing during a migration)."""

    NETSUITE = "netsuite"
    BUSINESS_CENTRAL = "business_central"
    DYNAMICS_FINANCE = "dynamics_finance"


class OpportunityStage(StrEnum):
    """Sales stage of an opportunity; ``closed_won`` is the trigger for lead-to-project."""

    PROSPECTING = "prospecting"
    QUALIFICATION = "qualification"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    CLOSED_WON = "closed_won"
    CLOSED_LOST = "closed_lost"


class BillingModel(StrEnum):
    """How an engagement is billed; drives the revenue policy and the billing flow."""

    TIME_AND_MATERIALS = "time_and_materials"
    FIXED_FEE = "fixed_fee"
    MILESTONE = "milestone"
    RETAINER = "retainer"


class ContractStatus(StrEnum):
    """Lifecycle of a contract (engagement)."""

    DRAFT = "draft"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class ProjectStatus(StrEnum):
    """Lifecycle of a delivery project in the PSA."""

    PLANNED = "planned"
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class TaskStatus(StrEnum):
    """Progress of a project task (a phase, a deliverable, a piece of work)."""

    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class AssignmentStatus(StrEnum):
    """State of a resource's assignment to a project."""

    TENTATIVE = "tentative"
    CONFIRMED = "confirmed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class TimesheetStatus(StrEnum):
    """Approval state of a timesheet submission."""

    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


class ExpenseStatus(StrEnum):
    """Approval state of an expense."""

    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


class ExpenseCategory(StrEnum):
    """Expense category; rules map it to an ERP expense account or item."""

    TRAVEL = "travel"
    LODGING = "lodging"
    MEALS = "meals"
    MILEAGE = "mileage"
    SOFTWARE = "software"
    SUPPLIES = "supplies"
    OTHER = "other"


class MilestoneStatus(StrEnum):
    """Lifecycle of a billing milestone."""

    PLANNED = "planned"
    COMPLETED = "completed"
    INVOICED = "invoiced"
    CANCELLED = "cancelled"


class InvoiceStatus(StrEnum):
    """Lifecycle of an invoice in the ERP."""

    DRAFT = "draft"
    POSTED = "posted"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    VOID = "void"


class VendorBillStatus(StrEnum):
    """Lifecycle of a vendor (supplier) bill in the ERP."""

    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"


class InvoiceLineKind(StrEnum):
    """What an invoice line bills."""

    TIME = "time"
    EXPENSE = "expense"
    MILESTONE = "milestone"
    FIXED_FEE = "fixed_fee"
    RETAINER = "retainer"
    OTHER = "other"


class PaymentMethod(StrEnum):
    """How a customer paid."""

    BANK_TRANSFER = "bank_transfer"
    CARD = "card"
    CHECK = "check"
    DIRECT_DEBIT = "direct_debit"
    OTHER = "other"


class AccountingPeriodStatus(StrEnum):
    """Whether an ERP accounting period still accepts postings."""

    OPEN = "open"
    CLOSED = "closed"
