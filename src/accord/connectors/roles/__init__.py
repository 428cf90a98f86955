"""Roles: what flows ask of a CRM, a PSA and an ERP, in canonical terms.

Each system plays its role through a typed protocol; its connector returns the
implementation (``Connector.as_erp`` ...). Flows and APIs speak only to roles: a vendor's
field names, bodies, error wording and ids never leave its package.
"""

from accord.connectors.roles.crm import AccountReceivables, Crm, ReceivableStatus
from accord.connectors.roles.erp import (
    AsyncPoster,
    BilledInvoice,
    CallGate,
    EntryPosting,
    Erp,
    ErpProject,
    MilestoneInvoice,
    OpenItem,
    PostingBatch,
    PostingKind,
    PostingOutcome,
    Receivables,
)
from accord.connectors.roles.feeds import ChangeFeed, Mapped, collection_feed
from accord.connectors.roles.psa import ApprovalKind, Psa
from accord.connectors.roles.xref import KnownIds

__all__ = [
    "AccountReceivables",
    "ApprovalKind",
    "AsyncPoster",
    "BilledInvoice",
    "CallGate",
    "ChangeFeed",
    "Crm",
    "EntryPosting",
    "Erp",
    "ErpProject",
    "KnownIds",
    "Mapped",
    "MilestoneInvoice",
    "OpenItem",
    "PostingBatch",
    "PostingKind",
    "PostingOutcome",
    "Psa",
    "ReceivableStatus",
    "Receivables",
    "collection_feed",
]
