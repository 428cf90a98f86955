"""OAuth2 token flows as ``httpx.Auth``: fetch, cache, refresh and re-authenticate once.

:class:`OAuth2TokenAuth` does the part every system shares: it obtains a token through the
subclass's token request, caches it until shortly before it expires (by the injected clock),
sends it as ``Authorization: Bearer``, and on a 401 fetches a new token and resends **once**.
A second 401 is returned to the connector, which raises :class:`~accord.errors.AuthError`.
A token endpoint that refuses the credentials raises :class:`~accord.errors.AuthError` at once.

Subclasses only build the token request: :class:`ClientCredentialsAuth` (client id with a secret
or a signed client assertion, optional scope, as Salesforce and Entra ID for Business Central
use it), and the NetSuite M2M ``client_assertion`` flow in :mod:`accord.connectors.netsuite.auth`.
:func:`sign_jwt` signs assertions (JWT bearer, NetSuite M2M, Entra certificates) with PyJWT;
:func:`token_error` turns a refused token request into the error to raise.

What does *not* belong here: OAuth 1.0a request signing (:mod:`accord.connectors.oauth1`), the
authorization code grant (:mod:`accord.connectors.authorization`), and any retry beyond the
single re-authentication.
"""

import base64
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
from pydantic import SecretStr
from typing_extensions import override

from accord.connectors.http import redact_text, translate_http_error
from accord.connectors.types import Clock, utc_now
from accord.errors import AuthError

__all__ = [
    "ASSERTION_TYPE",
    "AccessToken",
    "BearerTokenAuth",
    "ClientCredentialsAuth",
    "OAuth2TokenAuth",
    "sign_jwt",
    "still_fresh",
    "token_body",
    "token_error",
]

_DEFAULT_LIFETIME_S = 3600.0
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
"""The ``client_assertion_type`` of a JWT client assertion (RFC 7523 section 2.2)."""


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token and when it stops being valid.

    Attributes:
        value: The token itself; excluded from ``repr`` so it never lands in a log.
        obtained_at: When it was issued (by the auth's clock).
        expires_at: When the system stops accepting it.
        token_type: Usually ``Bearer``.
        extra: Other non-secret string members of the token response (Salesforce's
            ``instance_url``, for example).
    """

    value: str = field(repr=False)
    obtained_at: datetime
    expires_at: datetime
    token_type: str = "Bearer"  # noqa: S105 - a scheme name, not a secret
    extra: Mapping[str, str] = field(default_factory=dict)

    def fresh(self, now: datetime, margin_s: float) -> bool:
        """Whether to keep using it: not within ``margin_s`` (at most half its life) of expiry."""
        return still_fresh(self.obtained_at, self.expires_at, now, margin_s)


def still_fresh(
    obtained_at: datetime, expires_at: datetime, now: datetime, margin_s: float
) -> bool:
    """Whether a token is not yet within ``margin_s`` (at most half its life) of expiring."""
    lifetime = (expires_at - obtained_at).total_seconds()
    margin = min(margin_s, lifetime / 2)
    return now < expires_at - timedelta(seconds=margin)


class BearerTokenAuth(httpx.Auth):
    """A fixed bearer token (one a system issued ahead of time, such as an application's own).

    A 401 is returned to the connector as it is: there is nothing to re-fetch.
    """

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    @override
    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send with ``Authorization: Bearer``."""
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request


class OAuth2TokenAuth(httpx.Auth, ABC):
    """Bearer-token auth with caching, refresh before expiry and one re-authentication on 401.

    Thread-safe: one instance is shared by every request of a connection, and at most one
    thread fetches a token at a time while the others wait for it.

    Args:
        connector: Connection name, for errors.
        clock: Current UTC time (injected for tests).
        refresh_margin_s: Refresh this long before expiry (capped at half the token's life).
    """

    requires_response_body = True

    def __init__(
        self, *, connector: str, clock: Clock = utc_now, refresh_margin_s: float = 60.0
    ) -> None:
        self.connector = connector
        self._clock = clock
        self._margin_s = refresh_margin_s
        self._token: AccessToken | None = None
        self._lock = threading.Lock()
        self.fetch_count = 0
        """How many tokens were fetched; lets tests check caching without patching."""

    @abstractmethod
    def token_request(self) -> httpx.Request:
        """The request that obtains a new token (an absolute URL, form-encoded body)."""

    def parse_token(self, response: httpx.Response) -> AccessToken:
        """Read a standard OAuth2 token response (``access_token``, ``expires_in``).

        ``expires_in`` may be a number or a numeric string (NetSuite sends ``"3600"``).
        """
        body, value = token_body(response, connector=self.connector)
        try:
            lifetime = float(body.get("expires_in", _DEFAULT_LIFETIME_S))
        except (TypeError, ValueError):
            lifetime = _DEFAULT_LIFETIME_S
        now = self._clock()
        secret_keys = {"access_token", "refresh_token", "id_token", "signature"}
        extra = {
            k: v for k, v in body.items() if isinstance(v, str) and k.lower() not in secret_keys
        }
        return AccessToken(
            value=value,
            obtained_at=now,
            expires_at=now + timedelta(seconds=lifetime),
            token_type=str(body.get("token_type") or "Bearer"),
            extra=extra,
        )

    @property
    def token(self) -> AccessToken | None:
        """The cached token, if any (fresh or not)."""
        return self._token

    def invalidate(self) -> None:
        """Forget the cached token; the next request fetches a new one."""
        with self._lock:
            self._token = None

    def apply(self, request: httpx.Request, token: AccessToken) -> None:
        """Put the token on a request (override for systems that want another header)."""
        request.headers["Authorization"] = f"Bearer {token.value}"

    @override
    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send with a valid token; on 401 re-authenticate once and resend."""
        token = yield from self._ensure_token(stale=None)
        self.apply(request, token)
        response = yield request
        if response.status_code != httpx.codes.UNAUTHORIZED:
            return
        token = yield from self._ensure_token(stale=token)
        self.apply(request, token)
        yield request
        # A second 401 goes back to the connector, which raises AuthError with its context.

    def _ensure_token(
        self, *, stale: AccessToken | None
    ) -> Generator[httpx.Request, httpx.Response, AccessToken]:
        # The lock is held across the yield on purpose: the generator is driven by the one
        # thread that sent the request, and httpx closes it (releasing the lock) on errors.
        with self._lock:
            current = self._token
            # After a 401, any token other than the refused one is new (another thread got it).
            reusable = current is not None and current is not stale
            if (
                current is not None
                and reusable
                and (stale is not None or current.fresh(self._clock(), self._margin_s))
            ):
                return current
            response = yield self.token_request()
            self.fetch_count += 1
            if not response.is_success:
                raise token_error(response, connector=self.connector)
            self._token = self.parse_token(response)
            return self._token


def token_body(response: httpx.Response, *, connector: str) -> tuple[dict[str, Any], str]:
    """A successful token response's JSON body and its ``access_token``.

    Raises:
        AuthError: The body is not a JSON object with an ``access_token``.
    """
    try:
        body = response.json()
        return body, str(body["access_token"])
    except (ValueError, KeyError, TypeError) as exc:
        raise AuthError(
            "token response without access_token",
            connector=connector,
            status_code=response.status_code,
        ) from exc


def token_error(response: httpx.Response, *, connector: str) -> Exception:
    """The error a failed token request means: refused credentials (400/401/403) or not."""
    if response.status_code in {400, 401, 403}:
        code, detail = _oauth_error(response)
        return AuthError(
            "token request refused",
            connector=connector,
            status_code=response.status_code,
            code=code,
            detail=detail,
        )
    return translate_http_error(response, connector=connector, resource="oauth2/token")


class ClientCredentialsAuth(OAuth2TokenAuth):
    """OAuth2 client credentials grant (RFC 6749 section 4.4), with a secret or an assertion.

    Args:
        token_url: Absolute URL of the token endpoint.
        client_id: The client (application) id.
        client_secret: The client secret; ``None`` with ``client_assertion``.
        client_assertion: Makes a fresh signed JWT for each token request, sent as
            ``client_assertion`` with the RFC 7523 ``client_assertion_type`` instead of a secret
            (Entra ID certificate credentials).
        scope: Requested scope (Entra ID for Business Central:
            ``https://api.businesscentral.dynamics.com/.default``).
        client_auth: Send the secret in the form body or as HTTP Basic.
        extra_params: Further form parameters the system requires.
        connector: Connection name, for errors.
        clock: Current UTC time.
        refresh_margin_s: Refresh this long before expiry.
    """

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: SecretStr | None = None,
        client_assertion: Callable[[], str] | None = None,
        scope: str | None = None,
        client_auth: Literal["body", "basic"] = "body",
        extra_params: Mapping[str, str] | None = None,
        connector: str,
        clock: Clock = utc_now,
        refresh_margin_s: float = 60.0,
    ) -> None:
        super().__init__(connector=connector, clock=clock, refresh_margin_s=refresh_margin_s)
        if (client_secret is None) == (client_assertion is None):
            raise ValueError("give either client_secret or client_assertion")
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self._client_assertion = client_assertion
        self.scope = scope
        self.client_auth = client_auth
        self.extra_params = dict(extra_params or {})

    @override
    def token_request(self) -> httpx.Request:
        """``POST token_url`` with ``grant_type=client_credentials``."""
        form = {"grant_type": "client_credentials", **self.extra_params}
        headers = {"Accept": "application/json"}
        if self._client_assertion is not None:
            form |= {
                "client_id": self.client_id,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self._client_assertion(),
            }
            if self.scope:
                form["scope"] = self.scope
            return httpx.Request("POST", self.token_url, data=form, headers=headers)
        secret = self._client_secret.get_secret_value() if self._client_secret else ""
        if self.client_auth == "basic":
            raw = f"{self.client_id}:{secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        else:
            form |= {"client_id": self.client_id, "client_secret": secret}
        if self.scope:
            form["scope"] = self.scope
        return httpx.Request("POST", self.token_url, data=form, headers=headers)


def sign_jwt(
    claims: Mapping[str, object],
    *,
    private_key: SecretStr,
    algorithm: str,
    key_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> str:
    """Sign a JWT assertion (NetSuite M2M, Entra certificate credentials, Salesforce JWT bearer).

    Needs PyJWT with its ``crypto`` extra (RSA-PSS and ECDSA algorithms). ``key_id`` becomes the
    ``kid`` header; ``headers`` adds others (Entra's ``x5t`` thumbprints).

    Raises:
        AuthError: The key cannot sign with ``algorithm`` or PyJWT is not installed.
    """
    try:
        import jwt  # noqa: PLC0415 - optional dependency, only for certificate-based flows
    except ImportError as exc:
        raise AuthError("JWT signing needs the 'pyjwt[crypto]' package") from exc
    extra = dict(headers or {}) | ({"kid": key_id} if key_id else {})
    try:
        return jwt.encode(
            dict(claims), private_key.get_secret_value(), algorithm=algorithm, headers=extra or None
        )
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        # The library's message may quote the key; keep only a redacted class name.
        raise AuthError(f"cannot sign JWT ({redact_text(type(exc).__name__)})") from None


def _oauth_error(response: httpx.Response) -> tuple[str | None, str | None]:
    """``error`` and ``error_description`` of an OAuth2 error body (RFC 6749 section 5.2)."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    code = body.get("error")
    detail = body.get("error_description") or body.get("message")
    return (
        str(code) if code is not None else None,
        redact_text(str(detail)) if detail is not None else None,
    )
