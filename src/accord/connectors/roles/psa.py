"""The PSA role: what flows ask of a PSA, in canonical terms.

A PSA (Kantata OX, Certinia ...) owns project execution: structure, resourcing, time,
expense and milestones. Flows speak to it only through :class:`Psa`; a vendor's objects,
bodies, ids and error wording stay in its package, which returns an implementation from
``Connector.as_psa``.
"""

from typing import Protocol, runtime_checkable

__all__ = ["Psa"]


@runtime_checkable
class Psa(Protocol):
    """A PSA in canonical terms (see the module docstring)."""

    @property
    def connection(self) -> str:
        """The connection's name (from ``accord.yaml``)."""
        ...
