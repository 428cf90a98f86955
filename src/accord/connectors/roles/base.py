"""What every role implementation starts from: its connection's connector and the rules.

A vendor's role class (``KantataPsa``, ``SalesforceCrm`` ...) subclasses :class:`RoleBase`
with its connector type and the role protocol; its methods reach the system through
``self._connector`` and place legal entities, practices and regions through ``self._rules``.
"""

from typing import ClassVar, Generic, Protocol, TypeVar

from accord.rules import Rules

__all__ = ["RoleBase"]


class _Named(Protocol):
    @property
    def name(self) -> str: ...


C = TypeVar("C", bound=_Named)


class RoleBase(Generic[C]):
    """A connection in a role (see the module docstring); subclasses set :attr:`system_name`."""

    system_name: ClassVar[str] = ""
    """The system's name in external references and the cross-reference."""

    def __init__(self, connector: C, rules: Rules) -> None:
        self._connector = connector
        self._rules = rules

    @property
    def connection(self) -> str:
        """The connection's name (from ``accord.yaml``)."""
        return self._connector.name

    @property
    def system(self) -> str:
        """The system's name in external references and the cross-reference."""
        return self.system_name
