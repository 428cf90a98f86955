"""Roles: what flows ask of a CRM, a PSA and an ERP, in canonical terms.

Each system plays its role through a typed protocol; its connector returns the
implementation (``Connector.as_erp`` ...). Flows and APIs speak only to roles: a vendor's
field names, bodies, error wording and ids never leave its package.
"""

from accord.connectors.roles.crm import Crm, CrmAccount, CrmOpportunity, DealLine, MergedAccount
from accord.connectors.roles.erp import (
    BillingPlan,
    BillingPlanLine,
    BillingPlanResult,
    BillingTerms,
    CustomerBooking,
    EntryPosting,
    Erp,
    ErpCustomer,
    ErpCustomerChange,
    ErpProject,
    ErpProjectPlan,
    KnownIds,
    PostingBatch,
    PostingKind,
    PostingOutcome,
    address_text,
)
from accord.connectors.roles.feeds import ChangeFeed
from accord.connectors.roles.psa import ProjectTerms, Psa, PsaProjectPlan

__all__ = [
    "BillingPlan",
    "BillingPlanLine",
    "BillingPlanResult",
    "BillingTerms",
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
    "KnownIds",
    "MergedAccount",
    "PostingBatch",
    "PostingKind",
    "PostingOutcome",
    "ProjectTerms",
    "Psa",
    "PsaProjectPlan",
    "address_text",
]
