"""OAuth 2.0 authorization code grant (RFC 6749 section 4.1): one consent, then stored tokens.

Some systems (Kantata OX) give an integration no server-to-server grant: a person signs in once
and approves the application, and the tokens that come back are used from then on. Accord does
that consent step once per connection (``accord connections authorize NAME``) and keeps the
tokens in a :class:`TokenStore` (the database, encrypted: :mod:`accord.store.credentials`).

* :class:`AuthorizationCodeFlow` is one registered application: it builds the authorization
  URL (with a ``state`` that the redirect must bring back, RFC 6749 section 10.12), reads the
  code out of the redirect, and builds the code exchange and refresh requests (sections 4.1.3
  and 6).
* :class:`AuthorizationCodeAuth` is the ``httpx.Auth`` of a connection: it sends the stored
  access token and, when the token has an expiry and a refresh token, refreshes it before it
  expires or after a 401, saving the new tokens (a server may rotate the refresh token). A token
  without ``expires_in`` (Kantata's do not expire) is used until it is refused.
* :class:`TokenStore` is what the auth needs from storage; :class:`MemoryTokenStore` keeps tokens
  in memory for tests and embedding.

Several processes share one stored token: before refreshing, and after a refused refresh, the
auth re-reads the store, so that a token another process just refreshed is used rather than
refreshed again (with a rotating refresh token, the second refresh would be refused).

What does *not* belong here: client credentials and JWT assertions (:mod:`accord.connectors.auth`)
and where the person's browser goes (the CLI).
"""

import threading
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, Self
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from pydantic import SecretStr
from typing_extensions import override

from accord.connectors.auth import still_fresh, token_body, token_error
from accord.connectors.types import Clock, utc_now
from accord.errors import AuthError, ConfigError

__all__ = [
    "AuthorizationCodeAuth",
    "AuthorizationCodeFlow",
    "MemoryTokenStore",
    "TokenSet",
    "TokenStore",
    "not_authorized",
]


@dataclass(frozen=True, slots=True)
class TokenSet:
    """The tokens one consent produced (and later refreshes replaced).

    Attributes:
        access_token: Sent as ``Authorization: Bearer``; excluded from ``repr``.
        obtained_at: When it was issued.
        refresh_token: Obtains a new access token (RFC 6749 section 6), if the server gave one.
        expires_at: When the access token stops working; ``None`` when the server said nothing
            (the token lasts until revoked).
        token_type: Usually ``bearer``.
        scope: The granted scope, if the server named it.
    """

    access_token: str = field(repr=False)
    obtained_at: datetime
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    token_type: str = "Bearer"  # noqa: S105 - a scheme name, not a secret
    scope: str | None = None

    def fresh(self, now: datetime, margin_s: float) -> bool:
        """Whether to keep using it: no expiry, or not within ``margin_s`` of it."""
        if self.expires_at is None:
            return True
        return still_fresh(self.obtained_at, self.expires_at, now, margin_s)

    def to_json(self) -> dict[str, str | None]:
        """A JSON-able form (secrets included: store it encrypted)."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "obtained_at": self.obtained_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "token_type": self.token_type,
            "scope": self.scope,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Read :meth:`to_json` back.

        Raises:
            ValueError: A field is missing or malformed.
        """
        try:
            expires = data.get("expires_at")
            return cls(
                access_token=str(data["access_token"]),
                obtained_at=datetime.fromisoformat(str(data["obtained_at"])),
                refresh_token=data.get("refresh_token"),
                expires_at=datetime.fromisoformat(str(expires)) if expires else None,
                token_type=str(data.get("token_type") or "Bearer"),
                scope=data.get("scope"),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError("not a stored token set") from exc


class TokenStore(Protocol):
    """Where a connection's tokens live between processes and restarts."""

    def load(self, connection: str) -> TokenSet | None:
        """The connection's tokens, or ``None`` when it was never authorized."""
        ...

    def save(self, connection: str, tokens: TokenSet) -> None:
        """Replace the connection's tokens."""
        ...


class MemoryTokenStore:
    """A :class:`TokenStore` in a dict: for tests and for embedding Accord without a database."""

    def __init__(self, tokens: Mapping[str, TokenSet] | None = None) -> None:
        self._tokens = dict(tokens or {})
        self._lock = threading.Lock()

    def load(self, connection: str) -> TokenSet | None:
        """The connection's tokens, if any."""
        with self._lock:
            return self._tokens.get(connection)

    def save(self, connection: str, tokens: TokenSet) -> None:
        """Replace the connection's tokens."""
        with self._lock:
            self._tokens[connection] = tokens


def not_authorized(connector: str, reason: str = "is not authorized") -> AuthError:
    """The error of a connection whose consent step is missing or no longer valid."""
    return AuthError(
        f"connection {reason}: run `accord connections authorize {connector}`",
        connector=connector,
    )


class AuthorizationCodeFlow:
    """The authorization code grant of one registered application.

    Args:
        authorize_url: Where the person's browser is sent (``/oauth/authorize``).
        token_url: Where codes and refresh tokens are exchanged (``/oauth/token``).
        client_id: The application's client id.
        client_secret: Its secret (sent in the form body, as RFC 6749 section 2.3.1 allows).
        redirect_uri: The callback registered with the application; must match exactly.
        scope: Requested scope, if the system uses scopes.
        connector: Connection name, for errors.
        clock: Current UTC time (token expiry).
    """

    def __init__(
        self,
        *,
        authorize_url: str,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        redirect_uri: str,
        scope: str | None = None,
        connector: str,
        clock: Clock = utc_now,
    ) -> None:
        self.authorize_url = authorize_url
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.scope = scope
        self.connector = connector
        self.clock = clock

    def authorization_url(self, state: str) -> str:
        """The URL the person opens to approve the application (RFC 6749 section 4.1.1)."""
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "state": state,
        }
        if self.scope:
            query["scope"] = self.scope
        separator = "&" if "?" in self.authorize_url else "?"
        return f"{self.authorize_url}{separator}{urlencode(query)}"

    def code_from_redirect(self, redirect: str, *, state: str) -> str:
        """The code in the URL the browser was redirected to (RFC 6749 section 4.1.2).

        Raises:
            ConfigError: The redirect carries an error (``access_denied`` when the person
                refused), no code, or another ``state`` than the one sent.
        """
        params = dict(parse_qsl(urlsplit(redirect).query, keep_blank_values=True))
        if "error" in params:
            detail = params.get("error_description") or params["error"]
            raise ConfigError(f"authorization refused: {params['error']} ({detail})")
        if params.get("state") != state:
            # Section 10.12: a redirect without our state may be a forged one.
            raise ConfigError("the redirect does not carry the state that was sent; start again")
        code = params.get("code")
        if not code:
            raise ConfigError("the redirect carries no authorization code")
        return code

    def _form(self, **fields: str) -> httpx.Request:
        form = {
            **fields,
            "client_id": self.client_id,
            "client_secret": self._client_secret.get_secret_value(),
        }
        return httpx.Request(
            "POST", self.token_url, data=form, headers={"Accept": "application/json"}
        )

    def exchange_request(self, code: str) -> httpx.Request:
        """The token request for an authorization code (RFC 6749 section 4.1.3)."""
        return self._form(
            grant_type="authorization_code", code=code, redirect_uri=self.redirect_uri
        )

    def refresh_request(self, refresh_token: str) -> httpx.Request:
        """The token request for a refresh (RFC 6749 section 6)."""
        return self._form(grant_type="refresh_token", refresh_token=refresh_token)

    def parse(self, response: httpx.Response, previous: TokenSet | None = None) -> TokenSet:
        """The token set of a successful token response.

        A refresh answer without a ``refresh_token`` keeps the previous one (section 6: the
        server *may* issue a new one).

        Raises:
            AuthError: The response is a refusal or carries no ``access_token``.
        """
        if not response.is_success:
            raise token_error(response, connector=self.connector)
        body, access = token_body(response, connector=self.connector)
        now = self.clock()
        expires_at = None
        if body.get("expires_in") is not None:
            try:
                expires_at = now + timedelta(seconds=float(body["expires_in"]))
            except (TypeError, ValueError):
                expires_at = None
        refresh = body.get("refresh_token") or (previous.refresh_token if previous else None)
        return TokenSet(
            access_token=access,
            obtained_at=now,
            refresh_token=str(refresh) if refresh else None,
            expires_at=expires_at,
            token_type=str(body.get("token_type") or "Bearer"),
            scope=str(body["scope"]) if body.get("scope") else None,
        )

    def exchange(self, code: str, client: httpx.Client) -> TokenSet:
        """Exchange a code for tokens with ``client`` (its own auth is not used).

        Raises:
            AuthError: The system refused the code or the client's credentials.
        """
        return self.parse(client.send(self.exchange_request(code), auth=None))


class AuthorizationCodeAuth(httpx.Auth):
    """Sends a connection's stored access token; refreshes it when it can and must.

    Args:
        flow: The application the tokens were granted to (for refreshes).
        store: Where the tokens live; ``None`` means the connection cannot have any.
        refresh_margin_s: Refresh this long before expiry (capped at half the token's life).

    Thread-safe: one instance serves every request of a connection.
    """

    requires_response_body = True

    def __init__(
        self,
        flow: AuthorizationCodeFlow,
        store: TokenStore | None,
        *,
        refresh_margin_s: float = 60.0,
    ) -> None:
        self.flow = flow
        self.store = store
        self._margin_s = refresh_margin_s
        self._tokens: TokenSet | None = None
        self._lock = threading.Lock()
        self.refresh_count = 0
        """How many refreshes this instance made; lets tests check without patching."""

    @property
    def connector(self) -> str:
        """The connection name."""
        return self.flow.connector

    def _stored(self) -> TokenSet | None:
        return self.store.load(self.connector) if self.store is not None else None

    @staticmethod
    def _apply(request: httpx.Request, tokens: TokenSet) -> None:
        request.headers["Authorization"] = f"Bearer {tokens.access_token}"

    @override
    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send with the current token; after a 401 use a newer stored or refreshed one once."""
        tokens = yield from self._current()
        self._apply(request, tokens)
        response = yield request
        if response.status_code != httpx.codes.UNAUTHORIZED:
            return
        renewed = yield from self._renew(refused=tokens)
        if renewed is None:
            return  # the 401 goes back to the connector, which raises AuthError
        self._apply(request, renewed)
        yield request

    def _current(self) -> Generator[httpx.Request, httpx.Response, TokenSet]:
        # The lock is held across the yield on purpose (as in OAuth2TokenAuth): one refresh at
        # a time; httpx closes the generator, releasing it, on errors.
        with self._lock:
            tokens = self._tokens or self._stored()
            if tokens is None:
                raise not_authorized(self.connector)
            if not tokens.fresh(self.flow.clock(), self._margin_s) and tokens.refresh_token:
                tokens = yield from self._refresh(tokens)
            self._tokens = tokens
            return tokens

    def _renew(
        self, *, refused: TokenSet
    ) -> Generator[httpx.Request, httpx.Response, TokenSet | None]:
        with self._lock:
            current = self._tokens
            if current is not None and current.access_token != refused.access_token:
                return current  # another thread renewed it meanwhile
            stored = self._stored()
            if stored is not None and stored.access_token != refused.access_token:
                self._tokens = stored  # re-authorized, or refreshed by another process
                return stored
            if not refused.refresh_token:
                return None
            self._tokens = yield from self._refresh(refused)
            return self._tokens

    def _refresh(self, tokens: TokenSet) -> Generator[httpx.Request, httpx.Response, TokenSet]:
        stored = self._stored()
        if stored is not None and stored.access_token != tokens.access_token:
            if stored.fresh(self.flow.clock(), self._margin_s):
                return stored  # another process refreshed first
            tokens = stored
        if tokens.refresh_token is None:
            raise not_authorized(self.connector, "has an expired token and no refresh token")
        response = yield self.flow.refresh_request(tokens.refresh_token)
        self.refresh_count += 1
        if response.status_code in {400, 401}:
            # A rotated refresh token refused because another process used it first: theirs wins.
            latest = self._stored()
            if latest is not None and latest.refresh_token != tokens.refresh_token:
                return latest
            raise not_authorized(self.connector, "has a refresh token the system refused")
        renewed = self.flow.parse(response, previous=tokens)
        if self.store is not None:
            self.store.save(self.connector, renewed)
        return renewed

    def forget(self) -> None:
        """Drop the cached tokens; the next request reads the store again."""
        with self._lock:
            self._tokens = None
