"""Pure helpers of customer master: which fields travel, fingerprints, and ERP views.

A *view* is the part of a customer an ERP carries and the CRM owns, as flat text per canonical
field (``name``, ``parent_id``, ``bill_to``, ``tax_region``), so that the ERP's record, what
Accord last wrote and what the CRM says now compare with ``==``. Parents are compared by the
ERP's own id (NetSuite's internal id), because that is what the ERP record holds.

What does *not* belong here: reading or writing any system (:mod:`.steps`, :mod:`.drift`).
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from accord.connectors.netsuite.mapping import TAX_REGION_FIELD
from accord.domain import Address, Customer
from accord.rules import Rules

__all__ = [
    "CARRIED",
    "PROPAGATED",
    "address_text",
    "compared_fields",
    "crm_owned",
    "diff",
    "erp_view",
    "expected_view",
    "fingerprint",
    "omitted",
]

PROPAGATED = ("name", "parent_id", "bill_to", "tax_region", "currency")
"""Canonical customer fields customer master may propagate (when the CRM owns them)."""
CARRIED: dict[str, tuple[str, ...]] = {
    "netsuite": ("name", "parent_id", "bill_to", "tax_region"),
    # Business Central v2.0 customers have no parent and no tax region (reference 5.4).
    "business_central": ("name", "bill_to"),
}
"""Fields each ERP's customer carries that drift detection compares (currency is never
compared: changing it is refused once a customer has transactions)."""
_ERP_WRITTEN = frozenset({"name", "parent_id", "bill_to", "tax_region", "currency"}) | {
    "legal_entity",
    "active",
}


def crm_owned(rules: Rules) -> tuple[str, ...]:
    """The propagated fields the CRM owns under the rules' ``field_ownership``."""
    return tuple(f for f in PROPAGATED if str(rules.owner("customer", f) or "") == "crm")


def omitted(fields: Iterable[str]) -> frozenset[str]:
    """The canonical fields an update must not write: every ERP-written field not in ``fields``.

    ``active`` and ``legal_entity`` are always left alone: the account has no active flag, and
    the entity a customer is booked in is the ERP's.
    """
    return frozenset(_ERP_WRITTEN - set(fields))


def fingerprint(values: Mapping[str, Any]) -> str:
    """A short stable hash of some JSON values (fits a lineage status)."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def customer_values(customer: Customer, fields: Iterable[str]) -> dict[str, Any]:
    """The JSON values of some canonical fields of a customer."""
    dumped = customer.model_dump(mode="json")
    return {f: dumped.get(f) for f in fields}


def address_text(*parts: object) -> str:
    """One comparable line of an address's parts, in order (blanks and ``None`` are the same).

    The parts are line 1, line 2, city, state, postal code and country.
    """
    return " | ".join(str(p or "").strip() for p in parts)


def _address(address: Address) -> str:
    return address_text(
        address.line1,
        address.line2,
        address.city,
        address.state,
        address.postal_code,
        address.country,
    )


def _ns_billing(record: Mapping[str, Any]) -> str:
    book = record.get("addressBook")
    items = book.get("items") if isinstance(book, Mapping) else None
    for item in items or ():
        if isinstance(item, Mapping) and item.get("defaultBilling"):
            a = item.get("addressBookAddress")
            if isinstance(a, Mapping):
                return address_text(
                    a.get("addr1"),
                    a.get("addr2"),
                    a.get("city"),
                    a.get("state"),
                    a.get("zip"),
                    a.get("country"),
                )
    return ""


def _ref_id(value: object) -> str:
    if isinstance(value, Mapping):
        return str(value.get("id") or "")
    return str(value or "")


def erp_view(erp: str, record: Mapping[str, Any]) -> dict[str, str]:
    """What an ERP customer record says about the carried fields (see :data:`CARRIED`)."""
    if erp == "netsuite":
        return {
            "name": str(record.get("companyName") or ""),
            "parent_id": _ref_id(record.get("parent")),
            "bill_to": _ns_billing(record),
            "tax_region": str(record.get(TAX_REGION_FIELD) or ""),
        }
    return {
        "name": str(record.get("displayName") or ""),
        "bill_to": address_text(
            record.get("addressLine1"),
            record.get("addressLine2"),
            record.get("city"),
            record.get("state"),
            record.get("postalCode"),
            record.get("country"),
        ),
    }


def expected_view(erp: str, customer: Customer, parent_erp_id: str | None) -> dict[str, str]:
    """What the ERP record should say for a canonical customer (parent by its ERP id)."""
    view = {
        "name": customer.name,
        "parent_id": parent_erp_id or "",
        "bill_to": _address(customer.bill_to),
        "tax_region": customer.tax_region,
    }
    return {f: view[f] for f in CARRIED.get(erp, ())}


def compared_fields(erp: str, owned: Iterable[str]) -> tuple[str, ...]:
    """The fields drift detection compares: carried by the ERP and owned by the CRM."""
    owned_set = set(owned)
    return tuple(f for f in CARRIED.get(erp, ()) if f in owned_set)


def diff(
    actual: Mapping[str, str], expected: Mapping[str, str], fields: Iterable[str]
) -> dict[str, dict[str, str]]:
    """``{field: {"erp": actual, "crm": expected}}`` for each compared field that differs."""
    return {
        f: {"erp": actual.get(f, ""), "crm": expected.get(f, "")}
        for f in fields
        if actual.get(f, "") != expected.get(f, "")
    }
