"""Salesforce (CRM) over the REST API: SOQL, sObject CRUD and OAuth 2.0 server-to-server flows.

Objects: ``Account``, ``Contact``, ``Opportunity``, ``OpportunityLineItem``, ``Product2``,
``Contract``. Idempotency key: the ``Accord_Id__c`` External ID field
(``PATCH /sobjects/X/Accord_Id__c/v``). Change capture: SOQL polling on ``SystemModstamp``.
The REST core (:class:`SalesforceRestConnector`) is shared with the Certinia connector. See
``docs/connectors.md``.
"""

from accord.connectors.salesforce.auth import SalesforceAuth
from accord.connectors.salesforce.config import SalesforceConfig, SalesforceOrgConfig
from accord.connectors.salesforce.connector import OBJECTS, SalesforceConnector
from accord.connectors.salesforce.errors import parse_error
from accord.connectors.salesforce.rest import (
    ApiUsage,
    SalesforceRestConnector,
    SObjectSpec,
    parse_limit_info,
)

__all__ = [
    "OBJECTS",
    "ApiUsage",
    "SObjectSpec",
    "SalesforceAuth",
    "SalesforceConfig",
    "SalesforceConnector",
    "SalesforceOrgConfig",
    "SalesforceRestConnector",
    "parse_error",
    "parse_limit_info",
]
