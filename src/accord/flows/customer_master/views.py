"""Pure helpers of customer master: which fields travel, fingerprints, and ERP views.

A *view* is the part of a customer an ERP carries and the CRM owns, as flat text per canonical
field (``name``, ``parent_id``, ``bill_to``, ``tax_region``), so that the ERP's record (as the
ERP role reads it, :class:`~accord.connectors.roles.ErpCustomer`), what Accord last wrote and
what the CRM says now compare with ``==``. Parents are compared by the ERP's own id, because
that is what the ERP record holds. Which fields an ERP's customer carries is the ERP role's
(:attr:`~accord.connectors.roles.Erp.customer_fields`).

What does *not* belong here: reading or writing any system (:mod:`.steps`, :mod:`.drift`).
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from accord.connectors.roles import ErpCustomer, address_text
from accord.domain import Customer
from accord.flows.shared.customer_view import crm_view, held_view
from accord.rules import Rules

__all__ = [
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


def erp_view(customer: ErpCustomer) -> dict[str, str]:
    """What an ERP customer says about the fields it carries."""
    held = held_view(customer)
    return {f: held[f] for f in customer.carried}


def expected_view(
    carried: Iterable[str], customer: Customer, parent_erp_id: str | None
) -> dict[str, str]:
    """What an ERP customer carrying ``carried`` should say for a canonical customer."""
    view = crm_view(customer, parent_erp_id)
    return {f: view[f] for f in carried}


def compared_fields(carried: Iterable[str], owned: Iterable[str]) -> tuple[str, ...]:
    """The fields drift detection compares: carried by the ERP and owned by the CRM.

    (An ERP role never lists currency: changing it is refused once a customer has
    transactions, so it is not compared.)
    """
    owned_set = set(owned)
    return tuple(f for f in carried if f in owned_set)


def diff(
    actual: Mapping[str, str], expected: Mapping[str, str], fields: Iterable[str]
) -> dict[str, dict[str, str]]:
    """``{field: {"erp": actual, "crm": expected}}`` for each compared field that differs."""
    return {
        f: {"erp": actual.get(f, ""), "crm": expected.get(f, "")}
        for f in fields
        if actual.get(f, "") != expected.get(f, "")
    }
