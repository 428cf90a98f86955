"""OAuth 2.0 for the Kantata emulator: the authorization code grant, as Kantata documents it.

Kantata's developer documentation ("Obtaining tokens for users",
https://developer.kantata.com/kantata/specification/section/obtaining-tokens-for-users, and
reference section 3.1) describes one grant for applications:

1. the user's browser goes to ``/oauth/authorize`` with ``client_id``, ``response_type=code``
   and a ``redirect_uri`` that matches the one registered for the application; the user agrees
   (or refuses: ``redirect_uri?error=access_denied&error_description=...``);
2. Kantata redirects to ``redirect_uri?code=...`` (a short-term code);
3. the application POSTs ``client_id``, ``client_secret``, ``grant_type=authorization_code``,
   ``code`` and ``redirect_uri`` to ``/oauth/token`` and gets ``access_token`` and
   ``token_type``.

"Kantata OX OAuth access tokens do not expire" and stop working when the user revokes the
application ("Security": https://developer.kantata.com/kantata/specification/section/security).
The application's page also shows the registering user's own OAuth token ("Show your OAuth
Token": https://knowledge.kantata.com/hc/en-us/articles/360057953073):
:attr:`TokenIssuer.application_token`.

So the emulator grants ``authorization_code`` and refuses every other grant, ``client_credentials``
included (400 ``unsupported_grant_type``, RFC 6749 section 5.2). ``token_ttl_s`` makes tokens
expire and come with a ``refresh_token`` (``grant_type=refresh_token``, RFC 6749 section 6; the
refresh token rotates): [inferred], a Doorkeeper setting Kantata does not document, there to
prove that a client copes if Kantata turns expiry on. Codes live 10 minutes and work once
([inferred], Doorkeeper's default). The sandbox user approves at once unless
:attr:`TokenIssuer.consent` says otherwise: the sandbox's convenience, standing in for the
person who signs in.
"""

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from accord_sandbox.credentials import KANTATA_REDIRECT_URI
from accord_sandbox.kantata.forms import KantataError

__all__ = ["CODE_TTL_S", "OAuthError", "TokenIssuer"]

CODE_TTL_S = 600
"""[inferred] How long an authorization code can be exchanged (Doorkeeper's default)."""


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


@dataclass
class _Grant:
    user_id: str
    expires_at: float | None = None
    refresh_token: str | None = None


class TokenIssuer:
    """Issues and checks tokens for one registered application.

    Args:
        client_id: The application's client id.
        client_secret: Its secret.
        seed: Makes the minted values reproducible per sandbox.
        now: Seconds since the epoch (injected so tests can expire codes and tokens).
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        seed: int,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.seed = seed
        self.now = now
        self.redirect_uris: set[str] = {KANTATA_REDIRECT_URI}
        """The application's registered callback URIs."""
        self.consent: Literal["approve", "deny"] = "approve"
        """What the sandbox user answers on the consent page."""
        self.token_ttl_s: float | None = None
        """``None``: tokens do not expire (Kantata's documented behaviour); else their life."""
        self.tokens: dict[str, _Grant] = {}
        """Access token -> the user it acts as (and its expiry)."""
        self.refresh_tokens: dict[str, str] = {}
        """Refresh token -> the user it renews tokens for."""
        self.codes: dict[str, tuple[str, str, float]] = {}
        """Unused authorization code -> (redirect_uri, user id, expiry)."""
        self.counter = 0
        self.application_token = ""
        """The registering user's own OAuth token (its application page)."""

    def _mint(self, kind: str) -> str:
        # Deterministic per seed so that recorded demo traffic is reproducible.
        self.counter += 1
        return hashlib.sha256(f"kantata:{kind}:{self.seed}:{self.counter}".encode()).hexdigest()

    def register_owner(self, user_id: str) -> str:
        """Issue the application's own token for the user who registered it."""
        self.application_token = hashlib.sha256(
            f"kantata:application:{self.seed}:{self.client_id}".encode()
        ).hexdigest()
        self.tokens[self.application_token] = _Grant(user_id)
        return self.application_token

    def _check_client(self, client_id: str | None, client_secret: str | None) -> None:
        if client_id != self.client_id or not hmac.compare_digest(
            (client_secret or "").encode(), self.client_secret.encode()
        ):
            raise OAuthError(401, "invalid_client", "Client authentication failed")

    def authorize(self, params: dict[str, str], user_id: str) -> dict[str, str]:
        """The query the consent page redirects with: ``code`` (and ``state``), or an error.

        Raises:
            OAuthError: 400 for an unknown client, response type or redirect URI (shown to the
                user rather than redirected, as RFC 6749 section 4.1.2.1 requires).
        """
        if params.get("client_id") != self.client_id:
            raise OAuthError(400, "invalid_client", "Unknown client_id")
        if params.get("redirect_uri") not in self.redirect_uris:
            raise OAuthError(400, "invalid_redirect_uri", "The redirect uri included is not valid.")
        if params.get("response_type") != "code":
            raise OAuthError(400, "unsupported_response_type", "response_type must be code")
        state = {"state": params["state"]} if "state" in params else {}
        if self.consent == "deny":
            # Wording from "Obtaining tokens for users".
            return {
                "error": "access_denied",
                "error_description": "The resource owner or authorization server denied the "
                "request.",
                **state,
            }
        code = self._mint("code")
        self.codes[code] = (params["redirect_uri"], user_id, self.now() + CODE_TTL_S)
        return {"code": code, **state}

    def exchange(self, form: dict[str, Any]) -> dict[str, Any]:
        """The token response for a ``/oauth/token`` request.

        Raises:
            OAuthError: 401 for wrong client credentials, 400 for a bad or unsupported grant.
        """
        self._check_client(form.get("client_id"), form.get("client_secret"))
        grant = form.get("grant_type")
        if grant == "authorization_code":
            found = self.codes.pop(str(form.get("code") or ""), None)
            if found is None or found[0] != form.get("redirect_uri") or found[2] <= self.now():
                raise OAuthError(400, "invalid_grant", "The authorization code is invalid")
            return self._issue(found[1])
        if grant == "refresh_token" and self.token_ttl_s is not None:
            user_id = self.refresh_tokens.pop(str(form.get("refresh_token") or ""), None)
            if user_id is None:
                raise OAuthError(400, "invalid_grant", "The refresh token is invalid")
            return self._issue(user_id)
        # client_credentials, password, ...: not grants Kantata documents for applications.
        raise OAuthError(400, "unsupported_grant_type", "Unsupported grant_type")

    def _issue(self, user_id: str) -> dict[str, Any]:
        token = self._mint("token")
        if self.token_ttl_s is None:
            # Kantata's tokens do not expire: no expires_in, no refresh_token.
            self.tokens[token] = _Grant(user_id)
            return {"access_token": token, "token_type": "bearer"}
        refresh = self._mint("refresh")
        self.tokens[token] = _Grant(user_id, self.now() + self.token_ttl_s, refresh)
        self.refresh_tokens[refresh] = user_id
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": int(self.token_ttl_s),
            "refresh_token": refresh,
        }

    def revoke(self) -> None:
        """The user revokes the application: every token and refresh token stops working."""
        self.tokens = {t: g for t, g in self.tokens.items() if t == self.application_token}
        self.refresh_tokens.clear()

    def user_for(self, authorization: str | None) -> str:
        """The user a bearer header acts as.

        Raises:
            KantataError: 401 with ``WWW-Authenticate: Bearer`` for a missing, unknown, revoked
                or expired token.
        """
        scheme, _, token = (authorization or "").partition(" ")
        grant = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if grant is None or (grant.expires_at is not None and grant.expires_at <= self.now()):
            raise KantataError(
                401,
                [{"type": "authentication", "message": "Unauthorized: invalid or missing token"}],
                headers={"WWW-Authenticate": 'Bearer realm="Kantata OX"'},
            )
        return grant.user_id

    def dump(self) -> dict[str, Any]:
        """A JSON-able snapshot."""
        return {
            "tokens": {
                t: [g.user_id, g.expires_at, g.refresh_token] for t, g in self.tokens.items()
            },
            "refresh_tokens": dict(self.refresh_tokens),
            "codes": {c: list(v) for c, v in self.codes.items()},
            "counter": self.counter,
            "token_ttl_s": self.token_ttl_s,
            "application_token": self.application_token,
        }

    def load(self, data: dict[str, Any]) -> None:
        """Restore from :meth:`dump` (older snapshots kept ``token -> user id``)."""
        self.tokens = {
            t: _Grant(*v) if isinstance(v, list) else _Grant(str(v))
            for t, v in data.get("tokens", {}).items()
        }
        self.refresh_tokens = dict(data.get("refresh_tokens", {}))
        self.codes = {
            c: (str(v[0]), str(v[1]), float(v[2]))
            for c, v in data.get("codes", {}).items()
            if isinstance(v, list)
        }
        self.counter = int(data.get("counter", 0))
        self.token_ttl_s = data.get("token_ttl_s")
        self.application_token = str(data.get("application_token", self.application_token))


def sandbox_consent(authorize_url: str, *, timeout_s: float = 10.0) -> str:
    """The sandbox user's browser: open the consent page, return where it redirects.

    The emulator approves at once (:attr:`TokenIssuer.consent`), so the page is a redirect;
    the demo and the tests use this in place of a person.

    Raises:
        RuntimeError: The page did not redirect (an unknown client or redirect URI).
    """
    import httpx  # noqa: PLC0415 - only the demo and tests drive the consent page

    response = httpx.get(authorize_url, follow_redirects=False, timeout=timeout_s)
    location = response.headers.get("location")
    if response.status_code not in {302, 303} or not location:
        raise RuntimeError(f"the consent page answered {response.status_code}, not a redirect")
    return str(location)
