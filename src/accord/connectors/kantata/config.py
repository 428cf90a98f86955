"""Configuration of a Kantata OX connection (API v1, OAuth2 bearer tokens).

What does *not* belong here: the token flow (the framework's
:class:`~accord.connectors.auth.ClientCredentialsAuth`, built by the connector).
"""

from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from accord.connectors.config import ConnectorConfig

__all__ = ["DEFAULT_BASE_URL", "KantataConfig"]

DEFAULT_BASE_URL = "https://api.mavenlink.com/api/v1"
"""Kantata OX API v1 (reference section 3.1)."""


class KantataConfig(ConnectorConfig):
    """A Kantata OX account reached through API v1 with an OAuth2 application's credentials.

    ``token_url`` defaults to ``/oauth/token`` on the host of ``base_url`` (the sandbox's and
    Doorkeeper's convention). ``service_name`` is the ``external_references`` service name
    Accord writes its idempotency keys under; several Accord installations sharing one
    Kantata account must use different names.
    """

    kind: Literal["kantata"] = "kantata"
    base_url: str = DEFAULT_BASE_URL
    """Root of API v1, ending in ``/api/v1``."""
    token_url: str = ""
    """OAuth2 token endpoint; derived from ``base_url`` unless given."""
    client_id: str = Field(min_length=1)
    """Client id of the application registered by an account admin."""
    client_secret: SecretStr
    """Its secret."""
    service_name: str = Field(default="accord", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    """``external_references.service_name`` of the references Accord owns."""
    rate_per_s: float = Field(default=5.0, gt=0)
    """Kantata publishes no limit; stay polite."""

    @model_validator(mode="before")
    @classmethod
    def _derive_token_url(cls, data: Any) -> Any:  # noqa: ANN401 - raw input of a before-validator
        if not isinstance(data, dict) or data.get("token_url"):
            return data
        data = dict(data)
        base = str(data.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        root = base.removesuffix("/api/v1")
        data["token_url"] = f"{root}/oauth/token"
        return data
