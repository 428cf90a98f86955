"""Configuration of a Salesforce org connection (REST API, OAuth 2.0), shared with Certinia.

Certinia PSA is a managed package on the same org API, so :class:`SalesforceOrgConfig` holds
everything both connectors need and each declares only its ``kind``. What does *not* belong
here: the token flow (:mod:`accord.connectors.salesforce.auth`).
"""

import re
from typing import Any, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from typing_extensions import override

from accord.connectors.config import ConnectorConfig

__all__ = ["SalesforceConfig", "SalesforceOrgConfig"]

_VERSION = re.compile(r"^v\d{2,3}\.0$")
_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")


class SalesforceOrgConfig(ConnectorConfig):
    """A Salesforce org reached through the REST API with an OAuth 2.0 server-to-server flow.

    Give ``client_secret`` for the client credentials flow (a connected app with a run-as
    integration user), or ``username`` and ``private_key`` (by ``${file:...}`` reference) for
    the JWT bearer flow. ``login_url`` is where tokens come from (``login.salesforce.com``,
    ``test.salesforce.com`` or the org's My Domain); API calls go to the ``instance_url`` the
    token response names, ``base_url`` (default ``login_url``) being used only until then.
    """

    login_url: str = "https://login.salesforce.com"
    """Token host: ``login.salesforce.com``, ``test.salesforce.com`` or the org's My Domain."""
    base_url: str = ""
    """API host used until a token names its ``instance_url``; defaults to ``login_url``."""
    api_version: str = "v60.0"
    """REST API version, ``vNN.0``; v46.0 or later answers upsert updates with ``200``."""
    client_id: str = Field(min_length=1)
    """Consumer key of the connected app (the JWT ``iss``)."""
    client_secret: SecretStr | None = None
    """Consumer secret: selects the client credentials flow."""
    username: str | None = None
    """Integration user (the JWT ``sub``): selects the JWT bearer flow with ``private_key``."""
    private_key: SecretStr | None = None
    """PEM RSA key whose certificate is uploaded to the connected app (JWT bearer)."""
    jwt_audience: str = "https://login.salesforce.com"
    """JWT ``aud``: ``https://login.salesforce.com``, or ``https://test.salesforce.com`` for
    sandboxes."""
    use_instance_url: bool = True
    """Send API calls to the token's ``instance_url`` (turn off only behind a fixed proxy)."""
    call_options_client: str = "accord"
    """``Sforce-Call-Options: client=...``: Change Data Capture reports it as ``changeOrigin``,
    which is how Accord recognises (and ignores) the echo of its own writes."""
    external_id_field: str = "Accord_Id__c"
    """The External ID field Accord upserts by (one name on every object it writes)."""
    read_filters: dict[str, str] = Field(default_factory=dict)
    """Per object, a SOQL condition replacing the connector's default change-capture filter
    (``""`` removes it). Written by operators in ``accord.yaml``, never by callers."""
    extra_fields: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    """Per object, fields to read besides the connector's own (the org's custom fields)."""
    rate_per_s: float = Field(default=5.0, gt=0)
    concurrency: int = Field(default=4, ge=1)
    """Salesforce allows 25 concurrent long-running (20 s+) requests per org; stay well below
    it, since other integrations share the org."""

    @classmethod
    @override
    def derive(cls, data: dict[str, Any]) -> dict[str, Any]:
        """``base_url`` is the login URL unless given."""
        if not data.get("base_url"):
            data["base_url"] = data.get("login_url") or "https://login.salesforce.com"
        return data

    @field_validator("login_url")
    @classmethod
    def _login_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not _VERSION.match(value):
            raise ValueError("must look like v60.0")
        return value

    @field_validator("extra_fields")
    @classmethod
    def _field_names(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        # These names end up in SOQL text: accept API names and relationship paths only.
        for names in value.values():
            for name in names:
                if not _FIELD.match(name):
                    raise ValueError("field names are API names such as Custom__c or Parent.Name")
        return value

    @model_validator(mode="after")
    def _one_flow(self) -> Self:
        jwt = self.username is not None or self.private_key is not None
        if jwt and (self.username is None or self.private_key is None):
            raise ValueError("username and private_key go together (JWT bearer flow)")
        if jwt == (self.client_secret is not None):
            raise ValueError("give either client_secret or username+private_key")
        return self

    @property
    def token_url(self) -> str:
        """The OAuth 2.0 token endpoint on ``login_url``."""
        return f"{self.login_url}/services/oauth2/token"

    @property
    def uses_jwt(self) -> bool:
        """Whether tokens come from the JWT bearer flow (else client credentials)."""
        return self.private_key is not None

    @property
    @override
    def authentication(self) -> str:
        return "OAuth 2.0 JWT bearer" if self.uses_jwt else "OAuth 2.0 client credentials"

    @property
    def api_number(self) -> float:
        """``api_version`` as a number (``60.0``)."""
        return float(self.api_version[1:])


class SalesforceConfig(SalesforceOrgConfig):
    """A Salesforce (CRM) connection: accounts, contacts, opportunities."""

    kind: Literal["salesforce"] = "salesforce"
