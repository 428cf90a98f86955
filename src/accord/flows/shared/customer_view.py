"""A customer's ERP-carried fields as comparable text: what the ERP holds, what the CRM says.

A *view* is flat text per canonical field an ERP's customer may carry (``name``,
``parent_id``, ``bill_to``, ``tax_region``), so that the ERP's record and the CRM's customer
compare with ``==``. Parents are named by the ERP's own id, because that is what the ERP
record holds. Shared by customer master (drift after a write,
:mod:`accord.flows.customer_master.views`) and reconciliation (customer terms,
:mod:`accord.flows.reconciliation.terms`), which each keep the fields they compare.
"""

from accord.connectors.roles import ErpCustomer, address_text
from accord.domain import Address, Customer

__all__ = ["crm_view", "held_view"]


def _address(address: Address) -> str:
    return address_text(
        address.line1,
        address.line2,
        address.city,
        address.state,
        address.postal_code,
        address.country,
    )


def held_view(customer: ErpCustomer) -> dict[str, str]:
    """What an ERP's customer holds, per field (blank where it holds nothing)."""
    return {
        "name": customer.name,
        "parent_id": customer.parent_erp_id or "",
        "bill_to": address_text(*customer.bill_to) if customer.bill_to is not None else "",
        "tax_region": customer.tax_region or "",
    }


def crm_view(customer: Customer, parent_erp_id: str | None) -> dict[str, str]:
    """What the CRM's customer says, with its parent named by the ERP's id."""
    return {
        "name": customer.name,
        "parent_id": parent_erp_id or "",
        "bill_to": _address(customer.bill_to),
        "tax_region": customer.tax_region or "",
    }
