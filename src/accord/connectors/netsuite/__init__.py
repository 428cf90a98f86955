"""NetSuite (ERP) over SuiteTalk REST: record API v1, SuiteQL and OAuth 2.0 M2M.

Objects: ``customer``, ``job`` (project), ``timeBill``, ``expenseReport``, ``invoice``,
``salesOrder``, ``customerPayment``, plus read-only reference lists. Idempotency key: the
record's ``externalId`` (``PUT .../eid:X``). Change capture: SuiteQL polling on
``lastmodifieddate``. See ``docs/connectors.md``.
"""

from accord.connectors.netsuite.auth import NetSuiteAuth
from accord.connectors.netsuite.config import NetSuiteConfig
from accord.connectors.netsuite.connector import RESOURCES, NetSuiteConnector, NetSuiteResource
from accord.connectors.netsuite.errors import classify_user_error, parse_error

__all__ = [
    "RESOURCES",
    "NetSuiteAuth",
    "NetSuiteConfig",
    "NetSuiteConnector",
    "NetSuiteResource",
    "classify_user_error",
    "parse_error",
]
