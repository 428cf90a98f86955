"""Kantata in the PSA role (:class:`~accord.connectors.roles.Psa`).

Cash and billing (approvals from the event feed, completed milestones, invoice status):
:mod:`accord.connectors.kantata._psa_billing`.
"""

from accord.connectors.kantata._psa_billing import KantataBilling
from accord.connectors.kantata.connector import KantataConnector
from accord.connectors.roles import Psa
from accord.connectors.roles.base import RoleBase

__all__ = ["KantataPsa"]


class KantataPsa(KantataBilling, RoleBase[KantataConnector], Psa):
    """A Kantata connection as a PSA."""
