"""Configuration of a NetSuite connection (SuiteTalk REST: OAuth 2.0 M2M or TBA).

NetSuite's REST web services take no user credentials, only the two mechanisms of reference
section 4.1: OAuth 2.0 client credentials (machine-to-machine, a JWT client assertion signed
with the key of a certificate uploaded in the M2M setup; Oracle's preferred one) and token-based
authentication (OAuth 1.0a, HMAC-SHA256). Which one a connection uses follows from the keys
given; :class:`NetSuiteConfig` refuses anything else, including a bare client secret.

What does *not* belong here: the token flow and request signing
(:mod:`accord.connectors.netsuite.auth`).
"""

from typing import Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import Field, SecretStr, field_validator, model_validator
from typing_extensions import override

from accord.connectors.config import ConnectorConfig

__all__ = [
    "DEFAULT_BILLING_ITEM",
    "DEFAULT_EXPENSE_CATEGORIES",
    "NetSuiteAuthMethod",
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

DEFAULT_PROJECT_STATUSES: dict[str, str] = {
    "planned": "4",
    "active": "2",
    "on_hold": "5",
    "completed": "1",
    "cancelled": "3",
}
"""Canonical project status -> the account's project status (``entityStatus``) id, when the
connection names none: Pending, In Progress, the sandbox account's On Hold [inferred], Closed
and Not Awarded. A real account lists its own under Setup > Accounting > Accounting Lists."""

SigningAlgorithm = Literal["PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
"""JWT algorithms NetSuite's M2M setup accepts for the client assertion (reference 4.1)."""
NetSuiteAuthMethod = Literal["m2m", "tba"]
"""OAuth 2.0 client credentials with a certificate, or token-based authentication."""

_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}


class NetSuiteConfig(ConnectorConfig):
    """A NetSuite account reached through SuiteTalk REST web services.

    Give ``certificate_id`` and ``private_key`` for OAuth 2.0 M2M (the key of the certificate
    uploaded in Setup > Integration > OAuth 2.0 Client Credentials (M2M) Setup), or
    ``client_secret``, ``token_id`` and ``token_secret`` for token-based authentication (the
    integration record's consumer secret and an access token of the integration role).
    ``base_url``, ``token_url`` and ``realm`` default from ``account_id``.
    """

    kind: Literal["netsuite"] = "netsuite"
    account_id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    """Account id, e.g. ``1234567`` or ``1234567-sb1`` (sandbox)."""
    base_url: str = ""
    """``https://<account>.suitetalk.api.netsuite.com/services/rest`` unless given."""
    token_url: str = ""
    """``<base_url>/auth/oauth2/v1/token`` unless given."""
    realm: str = ""
    """TBA realm: ``account_id`` in capitals with ``-`` as ``_`` (``1234567_SB1``) unless given."""
    client_id: str = Field(min_length=1)
    """The integration record's client id (consumer key): the JWT ``iss`` (M2M) or
    ``oauth_consumer_key`` (TBA)."""
    certificate_id: str | None = None
    """M2M: the certificate id the M2M setup shows for the uploaded certificate (JWT ``kid``)."""
    private_key: SecretStr | None = None
    """M2M: the PEM private key of that certificate (RSA for PS*, EC for ES*)."""
    signing_algorithm: SigningAlgorithm = "PS256"
    """M2M: algorithm of the client assertion."""
    scope: str = "rest_webservices"
    """M2M: requested scope."""
    client_secret: SecretStr | None = None
    """TBA: the integration record's client secret (consumer secret)."""
    token_id: str | None = None
    """TBA: the access token's id (token id)."""
    token_secret: SecretStr | None = None
    """TBA: the access token's secret."""
    account_timezone: str = "UTC"
    """Time zone SuiteQL timestamps are rendered in (the integration role's preference)."""
    expense_categories: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_EXPENSE_CATEGORIES)
    )
    """Canonical expense category (``travel`` ...) -> the account's expense category id."""
    milestone_item_id: str = Field(default="1", min_length=1)
    """Service item id of a milestone invoice line: the sandbox account's [inferred]. A real
    account bills milestones with its own service item."""
    billing_item: str = Field(default=DEFAULT_BILLING_ITEM, min_length=1)
    """Internal id of the service item billing-plan lines (sales order items) carry."""
    project_statuses: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PROJECT_STATUSES))
    """Canonical project status (``active`` ...) -> the account's project status id; every
    canonical status needs one (the delivery flow writes them)."""
    rate_per_s: float = Field(default=5.0, gt=0)
    concurrency: int = Field(default=4, ge=1)
    """Keep below the account's limit (5 on a shared tier, +10 per SuiteCloud Plus licence),
    which REST, SOAP and RESTlets share."""

    @classmethod
    @override
    def derive(cls, data: dict[str, Any]) -> dict[str, Any]:
        """``base_url``, ``token_url`` and ``realm`` from the account id."""
        account = str(data.get("account_id") or "")
        if not data.get("base_url") and account:
            host = account.lower().replace("_", "-")
            data["base_url"] = f"https://{host}.suitetalk.api.netsuite.com/services/rest"
        if not data.get("token_url") and data.get("base_url"):
            data["token_url"] = str(data["base_url"]).rstrip("/") + "/auth/oauth2/v1/token"
        if not data.get("realm") and account:
            data["realm"] = account.upper().replace("-", "_")
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
        m2m = (self.certificate_id, self.private_key)
        tba = (self.client_secret, self.token_id, self.token_secret)
        given_m2m, given_tba = any(v is not None for v in m2m), any(v is not None for v in tba)
        if given_m2m and given_tba:
            raise ValueError(
                "give either certificate_id+private_key (OAuth 2.0 M2M) or "
                "client_secret+token_id+token_secret (TBA), not both"
            )
        if given_m2m and None in m2m:
            raise ValueError("certificate_id and private_key go together (OAuth 2.0 M2M)")
        if given_tba and None in tba:
            raise ValueError("client_secret, token_id and token_secret go together (TBA)")
        if not (given_m2m or given_tba):
            raise ValueError(
                "give either certificate_id+private_key (OAuth 2.0 M2M) or "
                "client_secret+token_id+token_secret (TBA)"
            )
        if self.private_key is not None:
            self._check_key(self.private_key)
        return self

    def _check_key(self, private_key: SecretStr) -> None:
        # Checked at load time: a key that cannot sign would otherwise fail on the first call.
        try:
            key = load_pem_private_key(private_key.get_secret_value().encode(), password=None)
        except (ValueError, TypeError):
            raise ValueError("private_key is not an unencrypted PEM private key") from None
        algorithm = self.signing_algorithm
        if algorithm.startswith("PS") and not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"signing_algorithm {algorithm} needs an RSA private_key")
        if algorithm.startswith("ES") and not (
            isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == _CURVES[algorithm]
        ):
            raise ValueError(f"signing_algorithm {algorithm} needs a {_CURVES[algorithm]} key")

    @property
    def auth_method(self) -> NetSuiteAuthMethod:
        """``m2m`` (signed client assertion) or ``tba`` (OAuth 1.0a signatures)."""
        return "m2m" if self.private_key is not None else "tba"

    @property
    @override
    def authentication(self) -> str:
        if self.auth_method == "m2m":
            return f"OAuth 2.0 M2M ({self.signing_algorithm} certificate)"
        return "token-based (OAuth 1.0a HMAC-SHA256)"
