"""NetSuite emulator authentication: OAuth 2.0 M2M client assertions and TBA signatures.

Reference section 4.1: REST web services accept no user credentials, only

* **OAuth 2.0 client credentials (M2M)**: ``POST /services/rest/auth/oauth2/v1/token`` with
  ``grant_type=client_credentials``, ``client_assertion_type=...:jwt-bearer`` and a
  ``client_assertion`` JWT. The emulator checks it as NetSuite's M2M setup describes it: the
  header's ``kid`` names a certificate uploaded in the M2M setup (and neither revoked nor
  expired), ``alg`` is PS256/PS384/PS512/ES256/ES384/ES512 and fits the certificate's key, the
  signature verifies against that certificate's public key, ``iss`` is the integration's client
  id, ``scope`` holds ``rest_webservices``, ``aud`` is this token endpoint's URL, and ``exp`` is
  in the future and at most 60 minutes after ``iat``. Certificates are uploaded with
  :meth:`TokenIssuer.upload_certificate` (RSA 3072/4096-bit or EC P-256/384/521 keys, validity
  capped at two years: Oracle's "OAuth 2.0 Client Credentials Setup",
  https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_162686838198.html, as
  integrators quote its certificate requirements). A plain client secret is refused.
* **Token-based authentication (OAuth 1.0a)**: ``Authorization: OAuth realm=...`` on each
  request, HMAC-SHA256 over RFC 5849's signature base string (query parameters included), with
  the integration's consumer key and secret and an access token's id and secret; the realm is
  the account id in capitals with ``-`` as ``_``.

Every refusal is the reference's 401 "Invalid login attempt" (code ``INVALID_LOGIN``
[inferred]). The timestamp window and nonce memory of TBA (5 minutes) are [inferred] from RFC
5849 section 3.3, which leaves them to the server.
"""

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from accord_sandbox.credentials import M2M_CERTIFICATE_ID, m2m_certificate_pem
from accord_sandbox.netsuite.errors import INVALID_LOGIN_DETAIL, NetSuiteError

__all__ = ["ASSERTION_TYPE", "TOKEN_PATH", "TOKEN_TTL_S", "CertificateError", "TokenIssuer"]

TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"  # noqa: S105 - a path, not a secret
"""The token endpoint path (reference section 4.1)."""
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
"""The only ``client_assertion_type`` NetSuite takes."""
TOKEN_TTL_S = 3600
"""Access tokens live about an hour (reference section 4.1)."""
TBA_WINDOW_S = 300
"""[inferred] How far ``oauth_timestamp`` may be from now, and how long nonces are remembered."""
_ALGORITHMS = {"PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
_MAX_VALIDITY = timedelta(days=730)


class CertificateError(ValueError):
    """An uploaded certificate that the M2M setup refuses."""


@dataclass(frozen=True)
class _Certificate:
    pem: str
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey
    not_after: datetime
    revoked: bool = False

    def fits(self, algorithm: str) -> bool:
        if algorithm.startswith("PS"):
            return isinstance(self.public_key, rsa.RSAPublicKey)
        return isinstance(
            self.public_key, ec.EllipticCurvePublicKey
        ) and self.public_key.curve.name == _CURVES.get(algorithm)


def _login_failed() -> NetSuiteError:
    # [inferred] code INVALID_LOGIN; the 401 status and the detail text are from the reference.
    return NetSuiteError(401, "INVALID_LOGIN", INVALID_LOGIN_DETAIL)


def _encode(value: str) -> str:
    # RFC 5849 section 3.6 (written apart from the connector's on purpose: two readings).
    return quote(value, safe="-._~")


class TokenIssuer:
    """The account's authentication: M2M certificates and tokens, TBA consumers and tokens.

    Args:
        client_id: The integration's client id (consumer key).
        client_secret: Its client secret (consumer secret; TBA only).
        account_id: The account id (the TBA realm derives from it).
        token_url: This emulator's token endpoint URL (the assertion's ``aud``), read late so
            that a base URL set after construction counts.
        now: Seconds since the epoch (injected so tests can expire tokens).
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        account_id: str,
        token_url: Callable[[], str],
        now: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.realm = account_id.upper().replace("-", "_")
        self.token_url = token_url
        self.now = now
        self.certificates: dict[str, _Certificate] = {}
        self.tba_tokens: dict[str, str] = {}
        """TBA access token id -> secret, issued to the integration."""
        self._tokens: dict[str, float] = {}
        self._nonces: dict[tuple[str, str], float] = {}

    # ----------------------------------------------------------------- setup
    def upload_certificate(self, pem: str, *, certificate_id: str | None = None) -> str:
        """Map a certificate to the integration (the M2M setup page); returns its id.

        Raises:
            CertificateError: Not a PEM X.509 certificate, or a key NetSuite does not take.
        """
        try:
            cert = x509.load_pem_x509_certificate(pem.encode())
        except ValueError:
            raise CertificateError("the certificate must be X.509 in PEM format") from None
        key = cert.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            if key.key_size not in (3072, 4096):
                raise CertificateError("an RSA key must be 3072 or 4096 bits long")
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if key.curve.name not in _CURVES.values():
                raise CertificateError("an EC key must be on P-256, P-384 or P-521")
        else:
            raise CertificateError("the key must be RSA or EC")
        start = cert.not_valid_before_utc
        not_after = min(cert.not_valid_after_utc, start + _MAX_VALIDITY)
        cid = certificate_id or secrets.token_urlsafe(32)
        self.certificates[cid] = _Certificate(pem=pem, public_key=key, not_after=not_after)
        return cid

    def revoke_certificate(self, certificate_id: str) -> None:
        """The M2M setup's Revoke button."""
        cert = self.certificates[certificate_id]
        self.certificates[certificate_id] = _Certificate(
            cert.pem, cert.public_key, cert.not_after, revoked=True
        )

    def issue_tba_token(
        self, token_id: str | None = None, secret: str | None = None
    ) -> tuple[str, str]:
        """An access token for TBA (Setup > Users/Roles > Access Tokens); returns id and secret."""
        token_id = token_id or secrets.token_hex(32)
        self.tba_tokens[token_id] = secret or secrets.token_hex(32)
        return token_id, self.tba_tokens[token_id]

    def install_sandbox_credentials(self, tba: tuple[str, str]) -> None:
        """The sandbox's published M2M certificate and TBA token (see ``credentials``)."""
        self.upload_certificate(m2m_certificate_pem(), certificate_id=M2M_CERTIFICATE_ID)
        self.issue_tba_token(*tba)

    # ----------------------------------------------------------------- M2M
    def _check_assertion(self, assertion: str) -> None:
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise _login_failed() from None
        algorithm, kid = header.get("alg"), header.get("kid")
        cert = self.certificates.get(str(kid))
        if algorithm not in _ALGORITHMS or cert is None or cert.revoked or not cert.fits(algorithm):
            raise _login_failed()
        if datetime.fromtimestamp(self.now(), UTC) >= cert.not_after:
            raise _login_failed()
        try:
            claims = jwt.decode(
                assertion,
                cert.public_key,
                algorithms=[algorithm],
                audience=self.token_url(),
                issuer=self.client_id,
                # Times are checked below against the injected clock, not PyJWT's.
                options={
                    "require": ["iss", "aud", "iat", "exp"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError:
            raise _login_failed() from None
        scope = claims.get("scope")
        scopes = scope.split() if isinstance(scope, str) else scope
        if not isinstance(scopes, list) or "rest_webservices" not in scopes:
            raise _login_failed()
        iat, exp = claims["iat"], claims["exp"]
        if not isinstance(iat, int | float) or not isinstance(exp, int | float):
            raise _login_failed()
        if exp - iat > TOKEN_TTL_S or exp <= self.now():
            raise _login_failed()

    def issue(self, form: Mapping[str, str]) -> dict[str, Any]:
        """Answer the token request ``form``.

        Raises:
            NetSuiteError: 400 for an unsupported grant, 401 for a missing or bad assertion.
        """
        if form.get("grant_type") != "client_credentials":
            raise NetSuiteError.bad_param(
                "Unsupported grant_type: use client_credentials.", query_param="grant_type"
            )
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
            raise _login_failed()  # a client secret alone is not an M2M credential
        self._check_assertion(form["client_assertion"])
        now = self.now()
        self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
        token = secrets.token_urlsafe(32)
        self._tokens[token] = now + TOKEN_TTL_S
        # expires_in is a string in the reference's example; the field set is [inferred].
        return {"access_token": token, "expires_in": str(TOKEN_TTL_S), "token_type": "Bearer"}

    # ----------------------------------------------------------------- every request
    def check(self, method: str, url: str, raw_path: str, authorization: str | None) -> None:
        """Refuse a request without a valid bearer token or TBA signature.

        Args:
            method: The HTTP method.
            url: ``scheme://host[:port]`` as the client addressed it.
            raw_path: The path as sent (still percent-encoded), with ``?query`` if any.
            authorization: The ``Authorization`` header.

        Raises:
            NetSuiteError: 401 with the reference's invalid-login detail.
        """
        scheme, _, credentials = (authorization or "").partition(" ")
        if scheme.lower() == "bearer":
            expires = self._tokens.get(credentials.strip())
            if expires is None or expires <= self.now():
                raise _login_failed()
            return
        if scheme == "OAuth":
            self._check_signature(method, url, raw_path, credentials)
            return
        raise _login_failed()

    def _check_signature(self, method: str, origin: str, raw_path: str, header: str) -> None:
        params: dict[str, str] = {}
        for part in header.split(","):
            name, _, value = part.strip().partition("=")
            params[name] = unquote(value.strip().strip('"'))
        token_secret = self.tba_tokens.get(params.get("oauth_token", ""))
        if (
            params.get("realm") != self.realm
            or params.get("oauth_consumer_key") != self.client_id
            or params.get("oauth_signature_method") != "HMAC-SHA256"
            or params.get("oauth_version", "1.0") != "1.0"
            or token_secret is None
        ):
            raise _login_failed()
        now = self.now()
        try:
            stamp = int(params.get("oauth_timestamp", ""))
        except ValueError:
            raise _login_failed() from None
        nonce = params.get("oauth_nonce", "")
        if not nonce or abs(now - stamp) > TBA_WINDOW_S:
            raise _login_failed()
        self._nonces = {k: t for k, t in self._nonces.items() if t > now - TBA_WINDOW_S}
        if (params["oauth_token"], nonce) in self._nonces:
            raise _login_failed()  # a replayed request
        path, _, query = raw_path.partition("?")
        pairs = [(k, v) for k, v in params.items() if k not in {"realm", "oauth_signature"}]
        pairs += parse_qsl(query, keep_blank_values=True)
        normalized = "&".join(
            f"{k}={v}" for k, v in sorted((_encode(k), _encode(v)) for k, v in pairs)
        )
        base = "&".join(_encode(part) for part in (method.upper(), origin + path, normalized))
        key = f"{_encode(self.client_secret)}&{_encode(token_secret)}"
        expected = base64.b64encode(
            hmac.new(key.encode(), base.encode(), hashlib.sha256).digest()
        ).decode()
        if not hmac.compare_digest(expected, params.get("oauth_signature", "")):
            raise _login_failed()
        self._nonces[(params["oauth_token"], nonce)] = now

    # ----------------------------------------------------------------- state
    def dump(self) -> dict[str, Any]:
        """Uploaded certificates and TBA tokens (bearer tokens do not survive a restart)."""
        return {
            "certificates": {
                cid: {"pem": c.pem, "revoked": c.revoked} for cid, c in self.certificates.items()
            },
            "tba_tokens": dict(self.tba_tokens),
        }

    def load(self, data: Mapping[str, Any]) -> None:
        """Restore :meth:`dump`."""
        for cid, cert in dict(data.get("certificates") or {}).items():
            self.upload_certificate(cert["pem"], certificate_id=cid)
            if cert.get("revoked"):
                self.revoke_certificate(cid)
        self.tba_tokens.update(data.get("tba_tokens") or {})
