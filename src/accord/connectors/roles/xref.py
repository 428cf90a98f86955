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

__all__ = ["KnownIds"]


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
