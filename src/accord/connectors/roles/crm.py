"""The CRM role: what flows ask of a CRM, in canonical terms.

A CRM (Salesforce ...) owns the customer relationship and the commercial deal. Flows speak to
it only through :class:`Crm`; a vendor's objects, fields and error wording stay in its package,
which returns an implementation from ``Connector.as_crm``.

Refusals are :class:`~accord.errors.PermanentError` whose ``reason`` is one of
:data:`accord.errors.REASONS`; transient failures are :class:`~accord.errors.RetryableError`.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

__all__ = ["AccountReceivables", "Crm", "ReceivableStatus"]


# --- cash and billing ------------------------------------------------------------------------
class ReceivableStatus(StrEnum):
    """How a customer's receivables stand, as the CRM shows it to sales."""

    CURRENT = "current"
    """Nothing is past due (or nothing was invoiced yet)."""
    OVERDUE = "overdue"
    """Something open is past its due date."""
    PAID = "paid"
    """Invoices were posted and nothing is due."""


@dataclass(frozen=True)
class AccountReceivables:
    """A customer's receivables, recomputed from its ERP, for its CRM account.

    Attributes:
        status: How they stand.
        balance: What is still due on posted invoices (in the customer's currency).
        last_invoice_number: The latest posted invoice's number, if any.
        payment_date: The day a payment was just received, if one was: the account's last
            payment date only ever moves forward.
    """

    status: ReceivableStatus
    balance: Decimal
    last_invoice_number: str | None = None
    payment_date: dt.date | None = None


@runtime_checkable
class Crm(Protocol):
    """A CRM in canonical terms (see the module docstring)."""

    @property
    def connection(self) -> str:
        """The connection's name (from ``accord.yaml``)."""
        ...

    # --- cash and billing: receivable status on the account -------------------------------
    def record_receivables(self, account: str, receivables: AccountReceivables) -> None:
        """Write a customer's receivables to its CRM account ``account`` (the CRM's id).

        Absolute values, so writing them again changes nothing; the last payment date only
        moves forward (an older ``payment_date`` leaves it as it is).
        """
        ...
