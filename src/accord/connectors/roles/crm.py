"""The CRM role: what flows ask of a CRM, in canonical terms.

A CRM (Salesforce ...) owns the customer relationship and the commercial deal. Flows speak to
it only through :class:`Crm`; a vendor's objects, fields, ids and error wording stay in its
package, which returns an implementation from ``Connector.as_crm``.
"""

from typing import Protocol, runtime_checkable

__all__ = ["Crm"]


@runtime_checkable
class Crm(Protocol):
    """A CRM in canonical terms (see the module docstring)."""

    @property
    def connection(self) -> str:
        """The connection's name (from ``accord.yaml``)."""
        ...
