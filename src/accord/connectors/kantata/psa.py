"""Kantata in the PSA role (:class:`~accord.connectors.roles.Psa`).

Cash and billing (approvals from the event feed, completed milestones, invoice status):
:mod:`accord.connectors.kantata._psa_billing`.
"""

from typing_extensions import override

from accord.connectors.kantata._psa_billing import KantataBilling
from accord.connectors.kantata.connector import KantataConnector
from accord.connectors.roles import Psa
from accord.rules import Rules

__all__ = ["KantataPsa"]


class KantataPsa(KantataBilling, Psa):
    """A Kantata connection as a PSA."""

    def __init__(self, connector: KantataConnector, rules: Rules) -> None:
        self._connector = connector
        self._rules = rules

    @property
    @override
    def connection(self) -> str:
        return self._connector.name
