"""Salesforce in the CRM role (:class:`~accord.connectors.roles.Crm`).

Cash and billing (receivable status on the account):
:mod:`accord.connectors.salesforce._crm_billing`.
"""

from typing_extensions import override

from accord.connectors.roles import Crm
from accord.connectors.salesforce._crm_billing import SalesforceBilling
from accord.connectors.salesforce.connector import SalesforceConnector
from accord.rules import Rules

__all__ = ["SalesforceCrm"]


class SalesforceCrm(SalesforceBilling, Crm):
    """A Salesforce connection as a CRM."""

    def __init__(self, connector: SalesforceConnector, rules: Rules) -> None:
        self._connector = connector
        self._rules = rules

    @property
    @override
    def connection(self) -> str:
        return self._connector.name
