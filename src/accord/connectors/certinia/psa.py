"""Certinia in the PSA role (:class:`~accord.connectors.roles.Psa`).

Cash and billing (approved timecards and expenses, approved milestones, billing events):
:mod:`accord.connectors.certinia._psa_billing`.
"""

from accord.connectors.certinia._psa_billing import CertiniaBilling
from accord.connectors.certinia.connector import CertiniaConnector
from accord.connectors.roles import Psa
from accord.connectors.roles.base import RoleBase

__all__ = ["CertiniaPsa"]


class CertiniaPsa(CertiniaBilling, RoleBase[CertiniaConnector], Psa):
    """A Certinia connection (the ``pse__`` objects of a Salesforce org) as a PSA."""
