"""Accord's cross-reference as a role sees it: canonical ids <-> one connection's own ids.

A role that turns a system's record into a canonical object needs the canonical ids of what
the record names (its customer, project, person, invoice). Accord keeps them in its xref,
which connectors never reach: the flow hands the role a :class:`KnownIds` bound to the role's
own connection. The system's ids stay opaque strings to everyone but the role.

Entity types are Accord's xref vocabulary: ``customer``, ``psa_project``, ``erp_project``,
``resource`` (a person, keyed by the firm's consultant id), ``invoice``, ``payment``,
``erp_milestone`` (a milestone's line in the ERP billing plan), ``milestone_invoice``.
"""

from typing import Protocol, runtime_checkable

from accord.errors import ConflictError

__all__ = ["KnownIds", "remember_or_conflict"]


@runtime_checkable
class KnownIds(Protocol):
    """Accord's xref of one connection (see the module docstring)."""

    def canonical(self, entity_type: str, external_id: str) -> str | None:
        """The canonical id of the connection's record ``external_id``, or ``None``."""
        ...

    def external(self, entity_type: str, canonical_id: str) -> str | None:
        """The connection's id of a canonical object, or ``None``."""
        ...

    def remember(self, entity_type: str, canonical_id: str, external_id: str) -> bool:
        """Record that ``external_id`` is the canonical object ``canonical_id`` (idempotent).

        Returns:
            ``False`` when that contradicts a link Accord already holds (which is kept).
        """
        ...


def remember_or_conflict(
    ids: KnownIds,
    entity_type: str,
    canonical_id: str,
    external_id: str,
    *,
    connector: str,
    resource: str,
    key: str,
) -> None:
    """:meth:`KnownIds.remember` a link that must hold before Accord goes on (an invoice).

    Args:
        ids: The connection's cross-reference.
        entity_type: The xref entity type (``invoice``).
        canonical_id: The canonical object's id.
        external_id: The connection's record id.
        connector: The connection's name (for the error).
        resource: The connection's resource of the record (for the error).
        key: Accord's key of the record in the system (for the error).

    Raises:
        ConflictError: The object is linked to another record (reason ``duplicate``).
    """
    if not ids.remember(entity_type, canonical_id, external_id):
        message = f"{entity_type} {canonical_id} is linked to another {resource} record"
        raise ConflictError(
            message,
            connector=connector,
            resource=resource,
            external_id=key,
            detail=message,
            reason="duplicate",
        )
