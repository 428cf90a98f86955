"""Configuration of a Kantata OX connection (API v1, OAuth 2.0 bearer tokens).

Kantata documents one way for an application to get tokens: the OAuth 2.0 authorization code
grant ("Obtaining tokens for users": https://developer.kantata.com/kantata/specification/section/obtaining-tokens-for-users).
A person with the integration's Kantata account signs in once at ``/oauth/authorize`` and
approves the application registered under Settings > API; Accord exchanges the code at
``/oauth/token`` (``accord connections authorize NAME``) and keeps the tokens, encrypted, in its
database. Kantata's tokens do not expire ("Security":
https://developer.kantata.com/kantata/specification/section/security); should a token response
carry ``expires_in`` and a ``refresh_token``, Accord refreshes it. The application's page also
shows the registering user's own OAuth token ("Show your OAuth Token":
https://knowledge.kantata.com/hc/en-us/articles/360057953073), which ``access_token`` takes
instead of the consent step.

What does *not* belong here: the token flows (:mod:`accord.connectors.kantata.auth`).
"""

from typing import Any, Literal, Self

from pydantic import Field, SecretStr, model_validator
from typing_extensions import override

from accord.connectors.config import ConnectorConfig

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_OAUTH_HOST", "KantataConfig"]

DEFAULT_BASE_URL = "https://api.mavenlink.com/api/v1"
"""Kantata OX API v1 (reference section 3.1)."""
DEFAULT_OAUTH_HOST = "https://app.mavenlink.com"
"""Host of ``/oauth/authorize`` and ``/oauth/token`` (the example of "Obtaining tokens for
users")."""


class KantataConfig(ConnectorConfig):
    """A Kantata OX account reached through API v1 with an OAuth 2.0 application.

    Give ``client_id``, ``client_secret`` and ``redirect_uri`` (the application's, as registered)
    and run ``accord connections authorize NAME`` once; or give ``access_token`` (the token the
    application's page shows). ``authorize_url`` and ``token_url`` are on
    ``app.mavenlink.com`` for the real API, and on the host of ``base_url`` otherwise (the
    sandbox). ``service_name`` is the ``external_references`` service name Accord writes its
    idempotency keys under; several Accord installations sharing one Kantata account must use
    different names.
    """

    kind: Literal["kantata"] = "kantata"
    base_url: str = DEFAULT_BASE_URL
    """Root of API v1, ending in ``/api/v1``."""
    authorize_url: str = ""
    """Where the consent step sends the person's browser; derived unless given."""
    token_url: str = ""
    """OAuth 2.0 token endpoint; derived unless given."""
    client_id: str | None = Field(default=None, min_length=1)
    """Client id of the application registered under Settings > API."""
    client_secret: SecretStr | None = None
    """Its secret."""
    redirect_uri: str | None = Field(default=None, pattern=r"^https?://")
    """A callback URI registered with the application (``http://127.0.0.1:PORT/...`` lets
    ``accord connections authorize`` receive the code itself)."""
    access_token: SecretStr | None = None
    """The application's own OAuth token (its page's "Show your OAuth Token"), instead of the
    consent step."""
    service_name: str = Field(default="accord", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    """``external_references.service_name`` of the references Accord owns."""
    rate_per_s: float = Field(default=5.0, gt=0)
    """Kantata publishes no limit; stay polite."""

    @classmethod
    @override
    def derive(cls, data: dict[str, Any]) -> dict[str, Any]:
        """The OAuth endpoints from ``base_url`` (Kantata's own host for the default API)."""
        base = str(data.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        root = DEFAULT_OAUTH_HOST if base == DEFAULT_BASE_URL else base.removesuffix("/api/v1")
        data.setdefault("authorize_url", "")
        data.setdefault("token_url", "")
        data["authorize_url"] = data["authorize_url"] or f"{root}/oauth/authorize"
        data["token_url"] = data["token_url"] or f"{root}/oauth/token"
        return data

    @model_validator(mode="after")
    def _one_credential(self) -> Self:
        application = (self.client_id, self.client_secret, self.redirect_uri)
        given = any(v is not None for v in application)
        if self.access_token is not None and given:
            raise ValueError(
                "give either access_token or client_id+client_secret+redirect_uri, not both"
            )
        if self.access_token is None and None in application:
            raise ValueError(
                "give client_id, client_secret and redirect_uri (then run "
                "`accord connections authorize`), or access_token"
            )
        return self

    @property
    @override
    def authentication(self) -> str:
        if self.access_token is not None:
            return "OAuth 2.0 application token"
        return "OAuth 2.0 authorization code (accord connections authorize)"
