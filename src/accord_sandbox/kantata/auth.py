"""OAuth2 for the Kantata emulator: authorization codes, token exchange, bearer checks.

The reference (section 3.1) says every request carries ``Authorization: Bearer <token>``, an
OAuth2 token issued to an app registered with a client id and secret. Kantata's developer page
("Obtaining tokens for users") sends users to ``/oauth/authorize`` with ``client_id``,
``response_type=code`` and ``redirect_uri``; the code is then exchanged at ``/oauth/token``
([inferred] path, the Doorkeeper convention of that page). The sandbox approves every
authorization at once, and also accepts ``grant_type=client_credentials`` ([inferred], not a
Kantata feature) so that headless scripts and tests need no browser.
"""

import hashlib
import hmac
from typing import Any

from accord_sandbox.kantata.forms import KantataError

__all__ = ["OAuthError", "TokenIssuer"]


class OAuthError(Exception):
    """A refused token request (RFC 6749 section 5.2 error code plus HTTP status)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, Any]:
        """RFC 6749 keys plus Kantata's ``errors`` list ([inferred]: both client kinds read it)."""
        return {
            "error": self.error,
            "error_description": self.description,
            "errors": [{"type": "authentication", "message": self.description}],
        }


class TokenIssuer:
    """Issues and checks tokens for one registered app (``client_id``/``client_secret``)."""

    def __init__(self, client_id: str, client_secret: str, seed: int) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.seed = seed
        self.tokens: dict[str, str] = {}
        """Access token -> id of the user it acts as."""
        self.codes: dict[str, str] = {}
        """Unused authorization code -> the redirect_uri it was issued for."""
        self.counter = 0

    def _mint(self, kind: str) -> str:
        # Deterministic per seed so that recorded demo traffic is reproducible.
        self.counter += 1
        return hashlib.sha256(f"kantata:{kind}:{self.seed}:{self.counter}".encode()).hexdigest()

    def _check_client(self, client_id: str | None, client_secret: str | None) -> None:
        if client_id != self.client_id or not hmac.compare_digest(
            (client_secret or "").encode(), self.client_secret.encode()
        ):
            raise OAuthError(401, "invalid_client", "Client authentication failed")

    def authorize(self, params: dict[str, str]) -> str:
        """A one-time code for ``/oauth/authorize`` (the sandbox user always agrees)."""
        if params.get("client_id") != self.client_id:
            raise OAuthError(400, "invalid_client", "Unknown client_id")
        if params.get("response_type") != "code":
            raise OAuthError(400, "unsupported_response_type", "response_type must be code")
        if not params.get("redirect_uri"):
            raise OAuthError(400, "invalid_request", "redirect_uri is required")
        code = self._mint("code")
        self.codes[code] = params["redirect_uri"]
        return code

    def exchange(self, form: dict[str, Any], user_id: str) -> dict[str, str]:
        """The token response for a ``/oauth/token`` request acting as ``user_id``.

        Raises:
            OAuthError: 401 for wrong client credentials, 400 for a bad grant.
        """
        self._check_client(form.get("client_id"), form.get("client_secret"))
        grant = form.get("grant_type")
        if grant == "authorization_code":
            code = str(form.get("code") or "")
            redirect = self.codes.pop(code, None)
            if redirect is None or redirect != form.get("redirect_uri"):
                raise OAuthError(400, "invalid_grant", "The authorization code is invalid")
        elif grant != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", "Unsupported grant_type")
        token = self._mint("token")
        self.tokens[token] = user_id
        # [inferred] response body: Kantata tokens do not expire, so no expires_in/refresh.
        return {"access_token": token, "token_type": "bearer"}

    def user_for(self, authorization: str | None) -> str:
        """The user a bearer header acts as.

        Raises:
            KantataError: 401 with ``WWW-Authenticate: Bearer`` for a missing or unknown token.
        """
        scheme, _, token = (authorization or "").partition(" ")
        user_id = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if user_id is None:
            raise KantataError(
                401,
                [{"type": "authentication", "message": "Unauthorized: invalid or missing token"}],
                headers={"WWW-Authenticate": 'Bearer realm="Kantata OX"'},
            )
        return user_id

    def dump(self) -> dict[str, Any]:
        """A JSON-able snapshot."""
        return {"tokens": dict(self.tokens), "codes": dict(self.codes), "counter": self.counter}

    def load(self, data: dict[str, Any]) -> None:
        """Restore from :meth:`dump`."""
        self.tokens = dict(data.get("tokens", {}))
        self.codes = dict(data.get("codes", {}))
        self.counter = int(data.get("counter", 0))
