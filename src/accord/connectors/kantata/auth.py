"""Kantata OX authentication: the authorization code grant's stored tokens, or a fixed token.

See :mod:`accord.connectors.kantata.config` for what Kantata documents. The consent step's
tokens come from the connection's :class:`~accord.connectors.authorization.TokenStore`; the
request to ``/oauth/token`` carries ``client_id``, ``client_secret``, ``grant_type``, ``code``
and ``redirect_uri`` as form fields ("Obtaining tokens for users", step 3).
"""

import httpx

from accord.connectors.auth import BearerTokenAuth
from accord.connectors.authorization import (
    AuthorizationCodeAuth,
    AuthorizationCodeFlow,
    TokenStore,
)
from accord.connectors.kantata.config import KantataConfig
from accord.connectors.types import Clock, utc_now

__all__ = ["build_kantata_auth", "kantata_authorization"]


def kantata_authorization(
    config: KantataConfig, *, clock: Clock = utc_now
) -> AuthorizationCodeFlow | None:
    """The connection's consent step, or ``None`` when it uses a fixed ``access_token``."""
    if config.client_id is None or config.client_secret is None or config.redirect_uri is None:
        return None
    return AuthorizationCodeFlow(
        authorize_url=config.authorize_url,
        token_url=config.token_url,
        client_id=config.client_id,
        client_secret=config.client_secret,
        redirect_uri=config.redirect_uri,
        connector=config.name,
        clock=clock,
    )


def build_kantata_auth(
    config: KantataConfig, store: TokenStore | None, *, clock: Clock = utc_now
) -> httpx.Auth:
    """Stored tokens of the consent step, or the fixed ``access_token``."""
    flow = kantata_authorization(config, clock=clock)
    if flow is not None:
        return AuthorizationCodeAuth(flow, store)
    if config.access_token is None:  # the config validator prevents it
        raise ValueError("a Kantata connection needs an application or an access_token")
    return BearerTokenAuth(config.access_token)
