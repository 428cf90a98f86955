"""Certinia in the PSA role (:class:`~accord.connectors.roles.Psa`).

Cash and billing (approved timecards and expenses, approved milestones, billing events):
:mod:`accord.connectors.certinia._psa_billing`.
"""

from typing_extensions import override

from accord.connectors.certinia._psa_billing import CertiniaBilling
from accord.connectors.certinia.connector import CertiniaConnector
from accord.connectors.roles import Psa
from accord.rules import Rules

__all__ = ["CertiniaPsa"]


class CertiniaPsa(CertiniaBilling, Psa):
    """A Certinia connection (the ``pse__`` objects of a Salesforce org) as a PSA."""

    def __init__(self, connector: CertiniaConnector, rules: Rules) -> None:
        self._connector = connector
        self._rules = rules

    @property
    @override
    def connection(self) -> str:
        return self._connector.name
