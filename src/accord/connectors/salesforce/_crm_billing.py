"""Salesforce in the CRM role, cash and billing half: receivables on the account.

The account's receivable fields are custom fields of ``Account`` [inferred]: ``AR_Status__c``
(``Current`` / ``Overdue`` / ``Paid``), ``AR_Balance__c``, ``Last_Invoice_Number__c`` and
``Last_Payment_Date__c``. They are written as absolute values (never increments), so a write
repeated or reordered converges; the last payment date only moves forward, so the account is
read first when a payment date is given.
"""

from typing import Any, Final

from accord.connectors.roles import AccountReceivables, ReceivableStatus
from accord.connectors.salesforce.connector import SalesforceConnector

__all__ = ["SalesforceBilling"]

_ACCOUNT: Final = "Account"
_STATUS: Final = {
    ReceivableStatus.CURRENT: "Current",
    ReceivableStatus.OVERDUE: "Overdue",
    ReceivableStatus.PAID: "Paid",
}


class SalesforceBilling:
    """The cash-and-billing methods of :class:`~accord.connectors.salesforce.crm.SalesforceCrm`."""

    _connector: SalesforceConnector

    def record_receivables(self, account: str, receivables: AccountReceivables) -> None:
        """Update the account's receivable fields (see the module docstring)."""
        fields: dict[str, Any] = {
            "AR_Status__c": _STATUS[receivables.status],
            # A JSON number at the wire; the sum itself is exact.
            "AR_Balance__c": float(receivables.balance),
        }
        if receivables.last_invoice_number:
            fields["Last_Invoice_Number__c"] = receivables.last_invoice_number
        if receivables.payment_date is not None:
            paid = receivables.payment_date.isoformat()
            current = self._connector.get(_ACCOUNT, account).get("Last_Payment_Date__c")
            if not current or str(current) < paid:
                fields["Last_Payment_Date__c"] = paid
        self._connector.update(_ACCOUNT, account, fields)
