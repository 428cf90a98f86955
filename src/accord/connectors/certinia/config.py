"""Configuration of a Certinia PSA connection: a Salesforce org connection of kind ``certinia``.

Every setting is :class:`~accord.connectors.salesforce.config.SalesforceOrgConfig`'s (Certinia
is a managed package on the org's REST API); only the kind differs.
"""

from typing import Literal

from accord.connectors.salesforce.config import SalesforceOrgConfig

__all__ = ["CertiniaConfig"]


class CertiniaConfig(SalesforceOrgConfig):
    """A Certinia PSA connection: the ``pse__`` objects (and resource Contacts) of an org."""

    kind: Literal["certinia"] = "certinia"
