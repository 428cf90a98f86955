"""What every role implementation built on one connector shares: its connection and system.

What does *not* belong here: any role's methods (they are each vendor package's).
"""

from typing import ClassVar, Generic, Protocol, TypeVar

__all__ = ["BoundRole"]


class _Named(Protocol):
    @property
    def name(self) -> str:
        """The connection's name."""
        ...


C = TypeVar("C", bound=_Named)


class BoundRole(Generic[C]):
    """A role played by one connector; subclasses set :attr:`system_name`.

    Args:
        connector: The connector the role's calls go through.
    """

    system_name: ClassVar[str]
    """The system's name in external references and the cross-reference."""

    def __init__(self, connector: C) -> None:
        self._connector = connector

    @property
    def connection(self) -> str:
        """The connection's name (from ``accord.yaml``)."""
        return self._connector.name

    @property
    def system(self) -> str:
        """The system's name in external references and the cross-reference."""
        return self.system_name
