"""Field ownership: which kind of system owns which canonical field, and outbound filtering.

ARCHITECTURE section 1: the **CRM** owns the customer relationship and the commercial deal;
the **PSA** owns project execution (structure, resourcing, time, expense, milestones); the
**ERP** owns financial truth (customers as billed, postings, invoices, payments). Accord never
lets a non-owner overwrite an owned field. :data:`DEFAULT_OWNERSHIP` encodes that on the
canonical field names of :mod:`accord.domain`; deployments override it with an
:class:`OwnershipSpec` (loaded from YAML by the rules layer).

:func:`filter_outbound` is applied to a canonical field dict just before it is mapped into a
target system's write: it drops every field the target owns (the owner's copy is the truth) and,
when the source is known, every owned field the source does not own (a copy must not overwrite
the original elsewhere).

What does *not* belong here: mapping canonical names to a system's native field names.
"""

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ALWAYS_SHARED",
    "DEFAULT_OWNERSHIP",
    "ObjectOwnership",
    "OwnershipSpec",
    "SystemRole",
    "filter_outbound",
    "role_of",
]


class SystemRole(StrEnum):
    """The role a system plays for the firm."""

    CRM = "crm"
    PSA = "psa"
    ERP = "erp"


_ROLE_BY_SYSTEM: dict[str, SystemRole] = {
    "salesforce": SystemRole.CRM,
    "certinia": SystemRole.PSA,
    "kantata": SystemRole.PSA,
    "netsuite": SystemRole.ERP,
    "business_central": SystemRole.ERP,
    "dynamics_finance": SystemRole.ERP,
}

ALWAYS_SHARED = frozenset({"id", "refs", "updated_at"})
"""Canonical fields no system owns: identity and bookkeeping travel with every write."""


def role_of(system: str) -> SystemRole:
    """The role of a system (``netsuite`` -> ``erp``); accepts a role name unchanged.

    Raises:
        ValueError: The system is unknown.
    """
    if system in _ROLE_BY_SYSTEM:
        return _ROLE_BY_SYSTEM[system]
    try:
        return SystemRole(system)
    except ValueError:
        raise ValueError(f"unknown system {system!r}") from None


class ObjectOwnership(BaseModel):
    """Owners of one canonical object's fields.

    Attributes:
        default: Owner of every field not listed in ``fields`` (``None``: nobody).
        fields: Per-field owners; ``None`` marks a field nobody owns.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: SystemRole | None = None
    fields: dict[str, SystemRole | None] = Field(default_factory=dict)


class OwnershipSpec(BaseModel):
    """Field ownership for every canonical object, keyed by snake-case object name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    objects: dict[str, ObjectOwnership] = Field(default_factory=dict)

    def owner(self, obj: str, field: str) -> SystemRole | None:
        """Who owns ``obj.field``; ``None`` when nobody does (or the object is not listed)."""
        if field in ALWAYS_SHARED:
            return None
        spec = self.objects.get(obj)
        if spec is None:
            return None
        if field in spec.fields:
            return spec.fields[field]
        return spec.default


_CRM, _PSA, _ERP = SystemRole.CRM, SystemRole.PSA, SystemRole.ERP

DEFAULT_OWNERSHIP = OwnershipSpec(
    objects={
        # Customer: relationship fields from the CRM; the customer as billed from the ERP.
        "customer": ObjectOwnership(default=_CRM, fields={"currency": _ERP, "legal_entity": _ERP}),
        "legal_entity": ObjectOwnership(default=_ERP),
        "opportunity": ObjectOwnership(default=_CRM),
        "contract": ObjectOwnership(default=_CRM),
        # Project: execution from the PSA; the commercial frame it was sold in from the CRM.
        "project": ObjectOwnership(
            default=_PSA,
            fields={
                "customer_id": _CRM,
                "opportunity_id": _CRM,
                "contract_id": _CRM,
                "billing_model": _CRM,
                "legal_entity": _CRM,
                "currency": _CRM,
            },
        ),
        "resource": ObjectOwnership(default=_PSA, fields={"cost_rate": _ERP}),
        "assignment": ObjectOwnership(default=_PSA),
        "time_entry": ObjectOwnership(default=_PSA),
        "timesheet": ObjectOwnership(default=_PSA),
        "expense": ObjectOwnership(default=_PSA),
        "milestone": ObjectOwnership(default=_PSA, fields={"amount": _CRM, "contract_id": _CRM}),
        "invoice": ObjectOwnership(default=_ERP),
        "payment": ObjectOwnership(default=_ERP),
        "accounting_period": ObjectOwnership(default=_ERP),
    }
)
"""The seed's systems of record (ARCHITECTURE section 1), on canonical field names."""


def filter_outbound(
    obj: str,
    fields: Mapping[str, Any],
    *,
    target: SystemRole | str,
    source: SystemRole | str | None = None,
    spec: OwnershipSpec = DEFAULT_OWNERSHIP,
) -> dict[str, Any]:
    """The part of a canonical field dict that ``target`` may receive.

    A field is dropped when the target owns it (unless the source is the target itself), or
    when a source is given, the field is owned, and the source is not its owner. Unowned fields
    and :data:`ALWAYS_SHARED` ones always pass.

    Args:
        obj: Canonical object name (``customer``, ``project``, ``time_entry`` ...).
        fields: Canonical field values about to be written.
        target: The system (or role) being written to.
        source: The system (or role) the values come from, when known.
        spec: The ownership configuration.

    Returns:
        A new dict with only the fields the target may receive.

    Example:
        An ERP write-back to the PSA of a project never touches its execution fields::

            filter_outbound("project", {"status": "active", "id": "P1"},
                            target="kantata", source="netsuite")  # -> {"id": "P1"}
    """
    target_role = role_of(str(target))
    source_role = role_of(str(source)) if source is not None else None
    kept: dict[str, Any] = {}
    for name, value in fields.items():
        owner = spec.owner(obj, name)
        unowned_or_from_owner = owner is None or owner == source_role
        if unowned_or_from_owner or (source_role is None and owner != target_role):
            kept[name] = value
    return kept
