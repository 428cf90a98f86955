"""Configuration of a NetSuite connection (SuiteTalk REST, OAuth 2.0 M2M).

What does *not* belong here: the token flow (:mod:`accord.connectors.netsuite.auth`).
"""

from typing import Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator

from accord.connectors.config import ConnectorConfig

__all__ = [
    "DEFAULT_BILLING_ITEM",
    "DEFAULT_EXPENSE_CATEGORIES",
    "NetSuiteConfig",
    "SigningAlgorithm",
]

DEFAULT_BILLING_ITEM = "1"
"""Service item of billing-plan (sales order) lines when the connection names none: the sandbox
account's "Professional Services" item [inferred]. A real account has its own: list them with
``accord connections discover NAME`` and set ``billing_item`` in ``accord.yaml``."""

DEFAULT_EXPENSE_CATEGORIES: dict[str, str] = {
    "travel": "1",
    "lodging": "2",
    "meals": "3",
    "mileage": "4",
    "software": "5",
    "supplies": "6",
    "other": "7",
}
"""Canonical expense category -> NetSuite ``expenseCategory`` internal id, when the connection
names none: the sandbox account's ids [inferred]. A real account has its own: list them with
``accord connections discover NAME`` and set ``expense_categories`` in ``accord.yaml``."""

SigningAlgorithm = Literal["PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
"""JWT algorithms NetSuite's M2M setup accepts for the client assertion."""


class NetSuiteConfig(ConnectorConfig):
    """A NetSuite account reached through SuiteTalk REST web services.

    Authentication is OAuth 2.0 client credentials (M2M): give ``certificate_id`` and
    ``private_key`` (the key of the certificate uploaded in the M2M setup) for real accounts.
    ``client_secret`` instead sends the plain client id and secret, which only the sandbox
    accepts. ``base_url`` and ``token_url`` default from ``account_id``.
    """

    kind: Literal["netsuite"] = "netsuite"
    account_id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    """Account id, e.g. ``1234567`` or ``1234567-sb1`` (sandbox)."""
    base_url: str = ""
    """``https://<account>.suitetalk.api.netsuite.com/services/rest`` unless given."""
    token_url: str = ""
    """``<base_url>/auth/oauth2/v1/token`` unless given."""
    client_id: str = Field(min_length=1)
    """Client id of the integration record (the JWT ``iss``)."""
    client_secret: SecretStr | None = None
    """Sandbox only: a plain client secret instead of a signed assertion."""
    certificate_id: str | None = None
    """Certificate id from the M2M setup (the JWT ``kid``)."""
    private_key: SecretStr | None = None
    """PEM private key of that certificate."""
    signing_algorithm: SigningAlgorithm = "PS256"
    """Algorithm of the client assertion."""
    scope: str = "rest_webservices"
    """Requested scope."""
    account_timezone: str = "UTC"
    """Time zone SuiteQL timestamps are rendered in (the integration role's preference)."""
    expense_categories: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_EXPENSE_CATEGORIES)
    )
    """Canonical expense category (``travel`` ...) -> the account's expense category id."""
    billing_item: str = Field(default=DEFAULT_BILLING_ITEM, min_length=1)
    """Internal id of the service item billing-plan lines (sales order items) carry."""
    rate_per_s: float = Field(default=5.0, gt=0)
    concurrency: int = Field(default=4, ge=1)
    """Keep below the account's limit (5 on a shared tier, +10 per SuiteCloud Plus licence),
    which REST, SOAP and RESTlets share."""

    @model_validator(mode="before")
    @classmethod
    def _derive_urls(cls, data: Any) -> Any:  # noqa: ANN401 - raw input of a before-validator
        if not isinstance(data, dict):
            return data
        data = dict(data)
        account = str(data.get("account_id") or "")
        if not data.get("base_url") and account:
            host = account.lower().replace("_", "-")
            data["base_url"] = f"https://{host}.suitetalk.api.netsuite.com/services/rest"
        if not data.get("token_url") and data.get("base_url"):
            data["token_url"] = str(data["base_url"]).rstrip("/") + "/auth/oauth2/v1/token"
        return data

    @field_validator("account_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone") from None
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> Self:
        certificate = self.certificate_id is not None or self.private_key is not None
        if certificate and (self.certificate_id is None or self.private_key is None):
            raise ValueError("certificate_id and private_key go together")
        if certificate == (self.client_secret is not None):
            raise ValueError("give either client_secret (sandbox) or certificate_id+private_key")
        return self

    @property
    def uses_certificate(self) -> bool:
        """Whether the token request carries a signed client assertion."""
        return self.private_key is not None
