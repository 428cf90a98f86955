"""The Entra ID (Azure AD) side of Business Central: tokens for an app, and what BC checks.

Token endpoint (reference 5.1): ``POST /{tenant}/oauth2/v2.0/token`` with
``grant_type=client_credentials``, ``client_id``, ``scope={resource}/.default`` and either the
app's ``client_secret`` or a certificate credential: ``client_assertion_type=...:jwt-bearer``
and a ``client_assertion`` JWT, checked as Microsoft's identity platform documents it
(https://learn.microsoft.com/entra/identity-platform/certificate-credentials): ``alg`` RS256 or
PS256, ``x5t`` (SHA-1) or ``x5t#S256`` (SHA-256) naming a certificate uploaded to the app
registration, a signature that verifies with it, ``aud`` = this token endpoint, ``iss`` =
``sub`` = the client id, a ``jti``, and ``nbf``/``exp`` around now.

The token's ``aud`` is the resource the scope named and its ``roles`` are the application
permissions the app holds on that resource with admin consent. Business Central accepts only a
token whose ``aud`` is ``https://api.businesscentral.dynamics.com`` and whose ``roles`` include
``API.ReadWrite.All`` (Microsoft, "Using Service-to-Service (S2S) Authentication":
https://learn.microsoft.com/dynamics365/business-central/dev-itpro/administration/automation-apis-using-s2s-authentication);
otherwise it answers 401 ``Authentication_InvalidCredentials`` (the "Web service call failed
because user could not be authenticated or authorized" text of a token without roles is from
Microsoft's forum thread "Common api / authentication errors",
https://community.dynamics.com/forums/thread/details/?threadid=1ff28d95-f00a-46a3-8445-92fff86e5f63).
The sandbox's app holds ``API.ReadWrite.All`` (its admin has consented);
:attr:`EntraApp.roles` takes it away for tests.

Tokens are HS256 JWTs signed with a key derived from the tenant and seed, so that they survive
an emulator restart with ``--state``. Entra's error JSON is not in ``shared/reference``; the
``AADSTS`` codes are from Entra's public error catalogue (700027 as observed in Microsoft Q&A
answers) and the texts are [inferred] unless noted.
"""

import base64
import hashlib
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.responses import JSONResponse

__all__ = [
    "ASSERTION_TYPE",
    "BC_API_ROLE",
    "BC_RESOURCE",
    "BC_SCOPE",
    "TOKEN_LIFETIME_S",
    "EntraApp",
    "EntraDirectory",
    "entra_error",
    "token_request_refusal",
    "token_response",
    "unknown_application",
]

BC_RESOURCE = "https://api.businesscentral.dynamics.com"
"""Business Central's resource (application id URI): the ``aud`` of its tokens."""
BC_SCOPE = f"{BC_RESOURCE}/.default"
"""The scope a client-credentials request for Business Central asks for."""
GRAPH_RESOURCE = "https://graph.microsoft.com"
"""Another resource the tenant knows (a token for it is no use to Business Central)."""
BC_API_ROLE = "API.ReadWrite.All"
"""The application permission Business Central's APIs require."""
TOKEN_LIFETIME_S = 3599
"""``expires_in`` of the reference's token response."""
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
"""The ``client_assertion_type`` of a certificate credential."""
_SKEW_S = 300
"""[inferred] Clock skew Entra tolerates on ``nbf`` and ``exp``."""


def entra_error(status: int, error: str, aadsts: int, description: str) -> JSONResponse:
    """Entra's OAuth error body [inferred shape].

    Fields: ``error``, ``error_description`` (the AADSTS code, then trace and correlation
    ids), ``error_codes``, ``timestamp``, ``trace_id``, ``correlation_id``, ``error_uri``.
    """
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    text = (
        f"AADSTS{aadsts}: {description} Trace ID: {trace_id} "
        f"Correlation ID: {correlation_id} Timestamp: {stamp}"
    )
    return JSONResponse(
        {
            "error": error,
            "error_description": text,
            "error_codes": [aadsts],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={aadsts}",
        },
        status_code=status,
    )


def token_request_refusal(
    fields: Mapping[str, str], tenant: str, expected: str
) -> JSONResponse | None:
    """Entra's refusal of a token request to another tenant or without a required parameter."""
    if tenant != expected:
        return entra_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
    for name in ("grant_type", "client_id", "scope"):
        if not fields.get(name):
            return entra_error(
                400,
                "invalid_request",
                900144,
                f"The request body must contain the following parameter: '{name}'.",
            )
    return None


def unknown_application(client_id: str, tenant: str) -> JSONResponse:
    """Entra's refusal of a client id the tenant has no application for."""
    return entra_error(
        400,
        "unauthorized_client",
        700016,
        f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
    )


def token_response(access_token: str, lifetime_s: int = TOKEN_LIFETIME_S) -> JSONResponse:
    """Entra's client-credentials answer: a bearer token valid for ``lifetime_s`` seconds."""
    return JSONResponse(
        {
            "token_type": "Bearer",
            "expires_in": lifetime_s,
            "ext_expires_in": lifetime_s,
            "access_token": access_token,
        }
    )


def _thumbprints(cert: x509.Certificate) -> tuple[str, str]:
    def b64url(algorithm: hashes.HashAlgorithm) -> str:
        return base64.urlsafe_b64encode(cert.fingerprint(algorithm)).decode().rstrip("=")

    return b64url(hashes.SHA1()), b64url(hashes.SHA256())  # noqa: S303 - an identifier


@dataclass
class EntraApp:
    """One app registration: its secret, uploaded certificates and consented permissions."""

    client_id: str
    client_secret: str
    certificates: dict[str, str] = field(default_factory=dict)
    """Uploaded certificates (PEM) by their ``x5t#S256`` thumbprint."""
    roles: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {BC_RESOURCE: (BC_API_ROLE,), GRAPH_RESOURCE: ()}
    )
    """Application permissions with admin consent, by resource."""

    def upload_certificate(self, pem: str) -> str:
        """Add a certificate ("Certificates & secrets"); returns its SHA-256 thumbprint.

        Raises:
            ValueError: Not a PEM certificate with an RSA key.
        """
        cert = x509.load_pem_x509_certificate(pem.encode())
        if not isinstance(cert.public_key(), rsa.RSAPublicKey):
            raise ValueError("Entra certificate credentials take RSA keys")  # noqa: TRY004 - a bad value
        thumbprint = _thumbprints(cert)[1]
        self.certificates[thumbprint] = pem
        return thumbprint

    def certificate(self, header: Mapping[str, Any]) -> x509.Certificate | None:
        """The uploaded certificate an assertion's ``x5t#S256`` or ``x5t`` header names."""
        for pem in self.certificates.values():
            cert = x509.load_pem_x509_certificate(pem.encode())
            sha1, sha256 = _thumbprints(cert)
            if header.get("x5t#S256") == sha256 or header.get("x5t") == sha1:
                return cert
        return None


class EntraDirectory:
    """The tenant's token endpoint and the check Business Central makes of its tokens.

    Args:
        tenant: The tenant id.
        app: The one app registration the sandbox serves.
        signing_key: Signs the tokens (HS256).
        token_url: This token endpoint's URL (a certificate assertion's ``aud``), read late.
        now: Seconds since the epoch (injected for tests).
    """

    def __init__(
        self,
        *,
        tenant: str,
        app: EntraApp,
        signing_key: bytes,
        token_url: Callable[[], str],
        now: Callable[[], float] = time.time,
    ) -> None:
        self.tenant = tenant
        self.app = app
        self._key = signing_key
        self.token_url = token_url
        self.now = now

    @classmethod
    def key_for(cls, tenant: str, seed: int) -> bytes:
        """A signing key stable across restarts of one sandbox."""
        return hashlib.sha256(f"accord-sandbox entra {tenant} {seed}".encode()).digest()

    # ----------------------------------------------------------------- token endpoint
    def token(self, tenant: str, fields: Mapping[str, str]) -> JSONResponse:
        """Answer ``POST /{tenant}/oauth2/v2.0/token``: a token or Entra's refusal."""
        refusal = token_request_refusal(fields, tenant, self.tenant)
        if refusal is not None:
            return refusal
        if fields["grant_type"] != "client_credentials":
            return entra_error(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{fields['grant_type']}'.",
            )
        if fields["client_id"] != self.app.client_id:
            return unknown_application(fields["client_id"], tenant)
        refusal = (
            self._check_assertion(fields)
            if "client_assertion" in fields
            else self._check_secret(fields.get("client_secret"))
        )
        if refusal is not None:
            return refusal
        resource = fields["scope"].removesuffix("/.default")
        if not fields["scope"].endswith("/.default") or resource not in self.app.roles:
            return entra_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {fields['scope']} is not valid. Client credential "
                "flows must have a scope value with /.default suffixed to the resource identifier.",
            )
        return token_response(self.issue(resource))

    def _check_secret(self, secret: str | None) -> JSONResponse | None:
        if secret == self.app.client_secret:
            return None
        return entra_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is "
            f"the client secret value, not the client secret ID, for a secret added to app "
            f"'{self.app.client_id}'.",
        )

    def _check_assertion(self, fields: Mapping[str, str]) -> JSONResponse | None:  # noqa: PLR0911
        assertion = fields["client_assertion"]
        if fields.get("client_assertion_type") != ASSERTION_TYPE:
            return entra_error(
                400,
                "invalid_request",
                50027,
                "The client_assertion_type must be "
                "'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.",
            )
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            return entra_error(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
        cert = self.app.certificate(header)
        if cert is None or header.get("alg") not in {"RS256", "PS256"}:
            return entra_error(
                401,
                "invalid_client",
                700027,
                "The certificate with identifier used to sign the client assertion is not "
                "registered on application.",
            )
        try:
            claims = jwt.decode(
                assertion,
                cert.public_key(),  # type: ignore[arg-type]  # RSA, checked at upload
                algorithms=[str(header["alg"])],
                options={
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require": ["aud", "iss", "sub", "exp", "jti"],
                },
            )
        except jwt.InvalidSignatureError:
            return entra_error(
                401, "invalid_client", 700027, "Client assertion failed signature validation."
            )
        except jwt.PyJWTError:
            return entra_error(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
        if claims["aud"] != self.token_url():
            return entra_error(
                401,
                "invalid_client",
                700021,
                "Client assertion audience claim does not match Realm issuer.",
            )
        if claims["iss"] != self.app.client_id or claims["sub"] != self.app.client_id:
            return entra_error(
                401,
                "invalid_client",
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.",
            )
        now = self.now()
        nbf = claims.get("nbf", claims.get("iat", now))
        if not isinstance(claims["exp"], int | float) or not isinstance(nbf, int | float):
            return entra_error(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
        if claims["exp"] <= now - _SKEW_S or nbf > now + _SKEW_S:
            return entra_error(
                401,
                "invalid_client",
                700024,
                "Client assertion is not within its valid time range.",
            )
        return None

    def issue(self, resource: str) -> str:
        """An app-only access token for ``resource``."""
        now = int(self.now())
        claims = {
            "aud": resource,
            "iss": f"https://sts.windows.net/{self.tenant}/",
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME_S,
            "appid": self.app.client_id,
            "tid": self.tenant,
            "roles": list(self.app.roles.get(resource, ())),
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    # ----------------------------------------------------------------- Business Central's check
    def api_refusal(self, authorization: str | None) -> str | None:
        """Why Business Central refuses this ``Authorization`` header; ``None`` if it accepts."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return "The server has rejected the client credentials."
        try:
            claims = jwt.decode(
                token.strip(),
                self._key,
                algorithms=["HS256"],
                options={
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError:
            return "The server has rejected the client credentials."
        if (
            claims.get("tid") != self.tenant
            or claims.get("aud") != BC_RESOURCE
            or int(claims.get("exp", 0)) <= self.now()
        ):
            return "The server has rejected the client credentials."
        if BC_API_ROLE not in (claims.get("roles") or []):
            return "Web service call failed because user could not be authenticated or authorized."
        return None

    # ----------------------------------------------------------------- state
    def dump(self) -> dict[str, Any]:
        """Uploaded certificates and consented roles."""
        return {
            "certificates": list(self.app.certificates.values()),
            "roles": {k: list(v) for k, v in self.app.roles.items()},
        }

    def load(self, data: Mapping[str, Any]) -> None:
        """Restore :meth:`dump`."""
        for pem in data.get("certificates") or []:
            self.app.upload_certificate(pem)
        if data.get("roles"):
            self.app.roles = {k: tuple(v) for k, v in data["roles"].items()}
