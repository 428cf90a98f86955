"""The Entra ID side of Dynamics 365 Finance: client-credentials tokens for the environment.

An app asks Entra for a token with ``scope={environment URL}/.default`` (the environment is
the resource: Microsoft identity platform's ``/.default`` rule for client credentials); the
token's ``aud`` is that URL. Finance and operations then accepts a token only for an app
registered on its **Microsoft Entra applications** page (System administration > Setup),
which maps the client id to a user whose roles and default company apply (Microsoft,
"Service endpoints overview", *Register your external application*). An app Entra knows but
the environment does not is refused with 401 [inferred status].

Tokens are HS256 JWTs signed with a key derived from the client secret and tenant, so that
they survive an emulator restart with ``--state``. Entra's error bodies come from the Business
Central emulator's :func:`~accord_sandbox.business_central.auth.entra_error` (one tenant, one
identity platform).
"""

import hashlib
import time
from dataclasses import dataclass

import jwt

__all__ = ["TOKEN_LIFETIME_S", "TokenIssuer"]

TOKEN_LIFETIME_S = 3599
"""``expires_in`` of Entra's client-credentials answer."""


@dataclass(frozen=True)
class TokenIssuer:
    """Issues and verifies tokens of one tenant for one environment (the resource)."""

    tenant: str
    resource: str
    """The environment URL without a trailing slash: the token's ``aud``."""
    client_id: str
    client_secret: str

    @property
    def scope(self) -> str:
        """The only scope a client-credentials request for this environment may ask for."""
        return f"{self.resource}/.default"

    def _key(self) -> bytes:
        return hashlib.sha256(f"{self.tenant}:{self.client_secret}".encode()).digest()

    def issue(self, client_id: str) -> str:
        """A bearer token for ``client_id`` (opaque to clients)."""
        now = int(time.time())
        claims = {
            "aud": self.resource,
            "appid": client_id,
            "tid": self.tenant,
            "iat": now,
            "exp": now + TOKEN_LIFETIME_S,
        }
        return jwt.encode(claims, self._key(), algorithm="HS256")

    def client_of(self, token: str) -> str | None:
        """The client id of a valid, unexpired token for this environment; else None."""
        try:
            claims = jwt.decode(token, self._key(), algorithms=["HS256"], audience=self.resource)
        except jwt.PyJWTError:
            return None
        if claims.get("tid") != self.tenant:
            return None
        app = claims.get("appid")
        return app if isinstance(app, str) else None
