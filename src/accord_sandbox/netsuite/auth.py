"""OAuth 2.0 client credentials (M2M) for the NetSuite emulator: the token endpoint and bearers.

Real NetSuite (reference section 4.1) takes ``grant_type=client_credentials`` with a JWT
``client_assertion`` (``iss`` = client id, ``scope`` = ``rest_webservices``, ``exp`` at most one
hour after ``iat``, signed PS256/ES256...). The emulator checks those claims but **does not verify
the signature**: it has no certificate store, and a local sandbox gains nothing from one. As a
sandbox convenience it also accepts a plain ``client_id`` / ``client_secret`` (form fields or HTTP
Basic); real NetSuite does not. TBA (OAuth 1.0a) is not emulated.
"""

import base64
import binascii
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from accord_sandbox.netsuite.errors import INVALID_LOGIN_DETAIL, NetSuiteError

__all__ = ["ASSERTION_TYPE", "TOKEN_PATH", "TOKEN_TTL_S", "TokenIssuer"]

TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"  # noqa: S105 - a path, not a secret
"""The token endpoint path (reference section 4.1)."""
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
"""The only ``client_assertion_type`` NetSuite takes."""
TOKEN_TTL_S = 3600
"""Access tokens live about an hour (reference section 4.1)."""
_ALGORITHMS = frozenset({"PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})


def _login_failed() -> NetSuiteError:
    # [inferred] code INVALID_LOGIN; the 401 status and the detail text are from the reference.
    return NetSuiteError(401, "INVALID_LOGIN", INVALID_LOGIN_DETAIL)


def _segment(part: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError):
        raise _login_failed() from None
    if not isinstance(value, dict):
        raise _login_failed()
    return value


class TokenIssuer:
    """Issues and checks bearer tokens for one client id.

    Args:
        client_id: the integration's client id (the JWT ``iss``).
        client_secret: accepted only by the sandbox's plain-secret shortcut.
        now: seconds since the epoch (injected so tests can expire tokens).
    """

    def __init__(
        self, client_id: str, client_secret: str, *, now: Callable[[], float] = time.time
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.now = now
        self._tokens: dict[str, float] = {}

    def _check_assertion(self, assertion: str) -> None:
        parts = assertion.split(".")
        if len(parts) != 3:
            raise _login_failed()
        header, claims = _segment(parts[0]), _segment(parts[1])
        if header.get("alg") not in _ALGORITHMS:
            raise _login_failed()
        # Signature not verified on purpose (module docstring); iss (or sub) names the client.
        if self.client_id not in (claims.get("iss"), claims.get("sub")):
            raise _login_failed()
        scope = claims.get("scope")
        scopes = scope.split() if isinstance(scope, str) else scope
        if not isinstance(scopes, list) or "rest_webservices" not in scopes:
            raise _login_failed()
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int | float) or not isinstance(exp, int | float):
            raise _login_failed()
        if exp - iat > TOKEN_TTL_S or exp <= self.now():
            raise _login_failed()
        aud = claims.get("aud")
        # The emulator's host differs from the real one; only the path of aud is compared.
        if aud is not None and not str(aud).rstrip("/").endswith(TOKEN_PATH):
            raise _login_failed()

    def issue(self, form: Mapping[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        """Answer the token request ``form`` (plus HTTP Basic credentials, if any).

        Raises:
            NetSuiteError: 400 for an unsupported grant, 401 for bad credentials.
        """
        if form.get("grant_type") != "client_credentials":
            raise NetSuiteError.bad_param(
                "Unsupported grant_type: use client_credentials.", query_param="grant_type"
            )
        if "client_assertion" in form:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                raise _login_failed()
            self._check_assertion(form["client_assertion"])
        else:
            client_id, secret = basic or (form.get("client_id"), form.get("client_secret"))
            if not (
                secrets.compare_digest(str(client_id), self.client_id)
                and secrets.compare_digest(str(secret), self.client_secret)
            ):
                raise _login_failed()
        now = self.now()
        self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
        token = secrets.token_urlsafe(32)
        self._tokens[token] = now + TOKEN_TTL_S
        # expires_in is a string in the reference's example; the field set is [inferred].
        return {"access_token": token, "expires_in": str(TOKEN_TTL_S), "token_type": "Bearer"}

    def check(self, authorization: str | None) -> None:
        """Refuse a request whose ``Authorization: Bearer`` token is missing, unknown or expired.

        Raises:
            NetSuiteError: 401 with the reference's invalid-login detail.
        """
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            raise _login_failed()
        expires = self._tokens.get(token.strip())
        if expires is None or expires <= self.now():
            raise _login_failed()
