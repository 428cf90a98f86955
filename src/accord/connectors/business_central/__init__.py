"""Dynamics 365 Business Central (ERP) over API v2.0 with Entra ID client credentials.

Objects: ``customers``, ``projects`` (with Accord's extension fields), ``salesInvoices`` (and
their lines, posted with ``Microsoft.NAV.post``), project ``journalLines``, ``customerPayments``
and read-only reference data. Idempotency: verify-before-create on ``number``,
``externalDocumentNumber`` or ``documentNumber``; updates guarded by ``If-Match``. Change
capture: webhook subscriptions plus ``lastModifiedDateTime`` polling. See
``docs/connectors.md``.
"""

from accord.connectors.business_central.config import BC_SCOPE, BusinessCentralConfig
from accord.connectors.business_central.connector import (
    MAX_PAGE_SIZE,
    RESOURCES,
    BcResource,
    BusinessCentralConnector,
)
from accord.connectors.business_central.errors import BcErrorBody, parse_error

__all__ = [
    "BC_SCOPE",
    "MAX_PAGE_SIZE",
    "RESOURCES",
    "BcErrorBody",
    "BcResource",
    "BusinessCentralConfig",
    "BusinessCentralConnector",
    "parse_error",
]
