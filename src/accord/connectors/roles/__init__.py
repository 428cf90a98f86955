"""Roles: what flows ask of a CRM, a PSA and an ERP, in canonical terms.

Each system plays its role through a typed protocol; its connector returns the
implementation (``Connector.as_erp`` ...). Flows and APIs speak only to roles: a vendor's
field names, bodies, error wording and ids never leave its package.
"""

from accord.connectors.roles.crm import (
    AccountReceivables,
    Crm,
    CrmAccount,
    CrmOpportunity,
    DealLine,
    MergedAccount,
    ReceivableStatus,
)
from accord.connectors.roles.erp import (
    AsyncPoster,
    BilledInvoice,
    BillingPlan,
    BillingPlanLine,
    BillingPlanResult,
    BillingTerms,
    CallGate,
    CustomerBooking,
    EntryPosting,
    Erp,
    ErpCustomer,
    ErpCustomerChange,
    ErpProject,
    ErpProjectPlan,
    IdLookup,
    IntercompanyCharge,
    MilestoneInvoice,
    OpenItem,
    PostingAmounts,
    PostingBatch,
    PostingKind,
    PostingOutcome,
    Receivables,
    address_text,
)
from accord.connectors.roles.feeds import ChangeFeed, Mapped, collection_feed
from accord.connectors.roles.psa import ApprovalKind, ProjectTerms, Psa, PsaProjectPlan
from accord.connectors.roles.xref import KnownIds

__all__ = [
    "AccountReceivables",
    "ApprovalKind",
    "AsyncPoster",
    "BilledInvoice",
    "BillingPlan",
    "BillingPlanLine",
    "BillingPlanResult",
    "BillingTerms",
    "CallGate",
    "ChangeFeed",
    "Crm",
    "CrmAccount",
    "CrmOpportunity",
    "CustomerBooking",
    "DealLine",
    "EntryPosting",
    "Erp",
    "ErpCustomer",
    "ErpCustomerChange",
    "ErpProject",
    "ErpProjectPlan",
    "IdLookup",
    "IntercompanyCharge",
    "KnownIds",
    "Mapped",
    "MergedAccount",
    "MilestoneInvoice",
    "OpenItem",
    "PostingAmounts",
    "PostingBatch",
    "PostingKind",
    "PostingOutcome",
    "ProjectTerms",
    "Psa",
    "PsaProjectPlan",
    "ReceivableStatus",
    "Receivables",
    "address_text",
    "collection_feed",
]
