"""Roles: what flows ask of a CRM, a PSA and an ERP, in canonical terms.

Each system plays its role through a typed protocol; its connector returns the
implementation (``Connector.as_erp`` ...). Flows and APIs speak only to roles: a vendor's
field names, bodies, error wording and ids never leave its package.
"""

from accord.connectors.roles.crm import Crm
from accord.connectors.roles.erp import (
    EntryPosting,
    Erp,
    ErpProject,
    PostingBatch,
    PostingKind,
    PostingOutcome,
)
from accord.connectors.roles.feeds import ChangeFeed
from accord.connectors.roles.psa import Psa

__all__ = [
    "ChangeFeed",
    "Crm",
    "EntryPosting",
    "Erp",
    "ErpProject",
    "PostingBatch",
    "PostingKind",
    "PostingOutcome",
    "Psa",
]
