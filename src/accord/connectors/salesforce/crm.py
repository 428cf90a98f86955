"""Salesforce in the CRM role (:class:`~accord.connectors.roles.Crm`).

Cash and billing (receivable status on the account):
:mod:`accord.connectors.salesforce._crm_billing`.
"""

from accord.connectors.roles import Crm
from accord.connectors.roles.base import RoleBase
from accord.connectors.salesforce._crm_billing import SalesforceBilling
from accord.connectors.salesforce.connector import SalesforceConnector

__all__ = ["SalesforceCrm"]


class SalesforceCrm(SalesforceBilling, RoleBase[SalesforceConnector], Crm):
    """A Salesforce connection as a CRM."""
