"""Entra ID client credentials for Business Central: a client secret or a certificate.

Reference section 5.1: ``POST {login}/{tenant}/oauth2/v2.0/token`` with
``grant_type=client_credentials`` and ``scope=https://api.businesscentral.dynamics.com/.default``.
With a certificate, the secret is replaced by a JWT client assertion as Microsoft's identity
platform documents it (https://learn.microsoft.com/entra/identity-platform/certificate-credentials):
header ``alg`` PS256 (RS256 in the older guidance), ``typ`` JWT, ``x5t#S256`` (and the older
``x5t``) = the base64url SHA-256 (SHA-1) thumbprint of the certificate's DER encoding; claims
``aud`` = the token endpoint, ``iss`` = ``sub`` = the client id, a unique ``jti``, ``nbf`` and
``iat`` = now and ``exp`` a few minutes later.
"""

import base64
import uuid
from collections.abc import Callable
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from pydantic import SecretStr

from accord.connectors.auth import ClientCredentialsAuth, sign_jwt
from accord.connectors.business_central.config import BusinessCentralConfig
from accord.connectors.types import Clock, utc_now

__all__ = ["ASSERTION_TTL", "build_bc_auth", "certificate_thumbprints"]

ASSERTION_TTL = timedelta(minutes=10)
"""Lifetime of one client assertion (Microsoft: 5 to 10 minutes after ``nbf``)."""


def certificate_thumbprints(pem: str) -> dict[str, str]:
    """The ``x5t`` (SHA-1) and ``x5t#S256`` (SHA-256) headers of a PEM certificate."""
    cert = x509.load_pem_x509_certificate(pem.encode())

    def b64url(algorithm: hashes.HashAlgorithm) -> str:
        return base64.urlsafe_b64encode(cert.fingerprint(algorithm)).decode().rstrip("=")

    # SHA-1 here is a certificate identifier Entra still accepts, not a security primitive.
    return {"x5t": b64url(hashes.SHA1()), "x5t#S256": b64url(hashes.SHA256())}  # noqa: S303


def _assertion(
    config: BusinessCentralConfig, certificate: str, key: SecretStr, clock: Clock
) -> Callable[[], str]:
    headers = certificate_thumbprints(certificate)

    def make() -> str:
        now = clock()
        claims = {
            "aud": config.token_url,
            "iss": config.client_id,
            "sub": config.client_id,
            "jti": str(uuid.uuid4()),
            "nbf": int(now.timestamp()),
            "iat": int(now.timestamp()),
            "exp": int((now + ASSERTION_TTL).timestamp()),
        }
        return sign_jwt(
            claims, private_key=key, algorithm=config.assertion_algorithm, headers=headers
        )

    return make


def build_bc_auth(
    config: BusinessCentralConfig, *, clock: Clock = utc_now
) -> ClientCredentialsAuth:
    """Client credentials with the connection's secret, or with its certificate's assertion."""
    if config.certificate is not None and config.private_key is not None:
        return ClientCredentialsAuth(
            token_url=config.token_url,
            client_id=config.client_id,
            client_assertion=_assertion(config, config.certificate, config.private_key, clock),
            scope=config.scope,
            connector=config.name,
            clock=clock,
        )
    return ClientCredentialsAuth(
        token_url=config.token_url,
        client_id=config.client_id,
        client_secret=config.client_secret,
        scope=config.scope,
        connector=config.name,
        clock=clock,
    )
