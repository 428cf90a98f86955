"""Dynamics 365 Business Central API v2.0 emulator (Entra ID auth, OData, webhooks).

See ``docs/sandbox/business_central.md`` for the endpoints and
``shared/reference/saas-apis.md`` section 5 for the behaviour it follows.
"""

from accord_sandbox.business_central.emulator import DEFAULT_PAGE_SIZE, BusinessCentralEmulator
from accord_sandbox.business_central.entities import ENTITY_SETS, EXTENSION_FIELDS
from accord_sandbox.business_central.rules import CLOSED_PERIOD_MESSAGE

__all__ = [
    "CLOSED_PERIOD_MESSAGE",
    "DEFAULT_PAGE_SIZE",
    "ENTITY_SETS",
    "EXTENSION_FIELDS",
    "BusinessCentralEmulator",
]
