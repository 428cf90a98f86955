"""Configuration of a Business Central connection (API v2.0, Entra ID client credentials).

One connection is one environment of one tenant; companies (one per legal entity) are named in
``companies`` and picked per call with
:meth:`~accord.connectors.business_central.BusinessCentralConnector.for_company`.

The application authenticates to Entra ID with a client secret or with a certificate (a JWT
client assertion signed with the certificate's key:
https://learn.microsoft.com/entra/identity-platform/certificate-credentials); Microsoft
recommends certificates. Which one follows from the keys given.
"""

import re
from typing import Any, Literal, Self

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import Field, SecretStr, model_validator
from typing_extensions import override

from accord.connectors.config import ConnectorConfig

__all__ = ["BC_SCOPE", "BusinessCentralConfig"]

BC_SCOPE = "https://api.businesscentral.dynamics.com/.default"
"""The only scope a client-credentials token for Business Central asks for."""

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class BusinessCentralConfig(ConnectorConfig):
    """A Business Central environment reached through the standard API v2.0.

    ``base_url`` (``{api_host}/v2.0/{tenant}/{environment}/api/v2.0``) and ``token_url``
    (``{login_host}/{tenant}/oauth2/v2.0/token``) are derived unless given.
    """

    kind: Literal["business_central"] = "business_central"
    tenant: str = Field(min_length=1, pattern=r"^[A-Za-z0-9.-]+$")
    """Entra tenant id or domain."""
    environment: str = Field(default="production", pattern=r"^[A-Za-z0-9_-]+$")
    """Environment name (``production``, ``sandbox`` ...)."""
    company_id: str = Field(pattern=_GUID.pattern)
    """Company addressed when no other is chosen."""
    companies: dict[str, str] = Field(default_factory=dict)
    """Legal-entity code -> company id (``{"DE01": "7c49..."}``)."""
    api_host: str = "https://api.businesscentral.dynamics.com"
    """Host of the API (the sandbox's URL in tests)."""
    login_host: str = "https://login.microsoftonline.com"
    """Host of the Entra token endpoint."""
    base_url: str = ""
    """``{api_host}/v2.0/{tenant}/{environment}/api/v2.0`` unless given."""
    token_url: str = ""
    """``{login_host}/{tenant}/oauth2/v2.0/token`` unless given."""
    client_id: str = Field(min_length=1)
    """Application (client) id registered in Entra and in BC's Entra Applications page."""
    client_secret: SecretStr | None = None
    """Its client secret (the secret's *value*, not its id)."""
    certificate: str | None = None
    """PEM X.509 certificate uploaded to the app registration (with ``private_key``)."""
    private_key: SecretStr | None = None
    """PEM RSA private key of ``certificate``; signs the client assertion."""
    assertion_algorithm: Literal["PS256", "RS256"] = "PS256"
    """Signature of the client assertion: PS256 (Microsoft's current guidance) or RS256."""
    scope: str = BC_SCOPE
    """Requested scope."""
    time_journal: str = "PROJECTS"
    """Code of the journal batch project time is posted through."""
    payment_journal: str = "CASHRCPT"
    """Code of the customer payment journal batch."""
    extension_api: str = Field(default="", pattern=r"^([a-z0-9]+/[a-z0-9]+/v\d+\.\d+)?$")
    """Route of the Accord extension's API pages (``accord/psa/v1.0``, from the setup kit) on a
    real tenant; empty: the standard route serves them (the sandbox emulates it so)."""
    milestone_line_type: str = "Item"
    """``lineType`` of a milestone invoice's line (``Item``, ``Account``, ``Resource`` ...)."""
    milestone_line_object: str | None = None
    """``lineObjectNumber`` of that line (an item or G/L account number), when the company
    needs one; the sandbox does not."""
    vendor_cost_line_type: str = "Account"
    """``lineType`` of the purchase invoice lines Accord makes from vendor expenses."""
    vendor_cost_account: str | None = None
    """``lineObjectNumber`` of those lines (the G/L account of subcontracted and pass-through
    costs) when the company needs one; the sandbox does not."""
    rate_per_s: float = Field(default=10.0, gt=0)
    """BC allows 6,000 requests per 5 minutes per principal: 20/s; leave headroom."""
    concurrency: int = Field(default=5, ge=1, le=100)
    """BC allows 100 concurrent requests per principal."""

    @classmethod
    @override
    def derive(cls, data: dict[str, Any]) -> dict[str, Any]:
        """``base_url`` and ``token_url`` from the tenant, environment and hosts."""
        tenant = str(data.get("tenant") or "")
        environment = str(data.get("environment") or "production")
        api = str(data.get("api_host") or "https://api.businesscentral.dynamics.com").rstrip("/")
        login = str(data.get("login_host") or "https://login.microsoftonline.com").rstrip("/")
        if not data.get("base_url") and tenant:
            data["base_url"] = f"{api}/v2.0/{tenant}/{environment}/api/v2.0"
        if not data.get("token_url") and tenant:
            data["token_url"] = f"{login}/{tenant}/oauth2/v2.0/token"
        return data

    @model_validator(mode="after")
    def _one_credential(self) -> Self:
        with_certificate = self.certificate is not None or self.private_key is not None
        if with_certificate and (self.certificate is None or self.private_key is None):
            raise ValueError("certificate and private_key go together")
        if with_certificate == (self.client_secret is not None):
            raise ValueError("give either client_secret or certificate+private_key")
        if self.certificate is not None and self.private_key is not None:
            try:
                cert = x509.load_pem_x509_certificate(self.certificate.encode())
            except ValueError:
                raise ValueError("certificate is not a PEM X.509 certificate") from None
            try:
                key = load_pem_private_key(self.private_key.get_secret_value().encode(), None)
            except (ValueError, TypeError):
                raise ValueError("private_key is not an unencrypted PEM private key") from None
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError("Entra certificate credentials need an RSA key")
            if key.public_key() != cert.public_key():
                raise ValueError("private_key does not belong to certificate")
        return self

    @model_validator(mode="after")
    def _company_ids(self) -> Self:
        if any(_GUID.match(cid) is None for cid in self.companies.values()):
            raise ValueError("every company id must be a GUID")
        return self

    @property
    @override
    def authentication(self) -> str:
        if self.certificate is not None:
            return f"Entra ID client credentials ({self.assertion_algorithm} certificate)"
        return "Entra ID client credentials (client secret)"

    def company_for(self, company: str) -> str:
        """The company id of a legal-entity code or of a company id.

        Raises:
            ValueError: ``company`` is neither a configured code nor a GUID.
        """
        if company in self.companies:
            return self.companies[company].lower()
        if _GUID.match(company):
            return company.lower()
        raise ValueError(f"unknown company {company!r} (configure it under 'companies')")
