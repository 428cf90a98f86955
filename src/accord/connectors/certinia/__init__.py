"""Certinia PSA (the ``pse__`` managed package) over the Salesforce REST API.

Objects: ``pse__Proj__c``, ``pse__Milestone__c``, ``pse__Timecard_Header__c``,
``pse__Expense__c``, ``pse__Assignment__c``, ``pse__Billing_Event__c``, resource ``Contact``
records, ``pse__Region__c`` and ``pse__Practice__c``. Idempotency key: ``Accord_Id__c``
(``PATCH /sobjects/X/Accord_Id__c/v``). Change capture: SOQL polling on ``SystemModstamp``
(approved timecards and expenses by default). Auth and transport are the Salesforce
connector's. See ``docs/connectors.md``.
"""

from accord.connectors.certinia.config import CertiniaConfig
from accord.connectors.certinia.connector import DAYS, OBJECTS, CertiniaConnector

__all__ = ["DAYS", "OBJECTS", "CertiniaConfig", "CertiniaConnector"]
