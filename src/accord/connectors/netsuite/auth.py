"""NetSuite authentication: OAuth 2.0 client credentials (M2M) and token-based authentication.

Reference section 4.1 (Oracle: https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_162755359851.html):

* **M2M**: ``POST <account>/services/rest/auth/oauth2/v1/token`` with
  ``grant_type=client_credentials``, ``client_assertion_type=...:jwt-bearer`` and a
  ``client_assertion`` signed with the M2M certificate's key (header ``kid`` = certificate id,
  ``alg`` PS256/ES256...; claims ``iss`` = client id, ``scope`` = ``["rest_webservices"]``,
  ``aud`` = the token URL, ``exp`` at most an hour after ``iat``). The answer's ``expires_in`` is
  a string (``"3600"``). Requests then carry ``Authorization: Bearer``.
* **TBA**: every request is signed with OAuth 1.0a HMAC-SHA256 (:mod:`accord.connectors.oauth1`)
  with the realm, the integration's consumer key and secret and an access token id and secret.
"""

from datetime import timedelta

import httpx
from typing_extensions import override

from accord.connectors.auth import ASSERTION_TYPE, OAuth2TokenAuth, sign_jwt
from accord.connectors.netsuite.config import NetSuiteConfig
from accord.connectors.oauth1 import OAuth1Auth
from accord.connectors.types import Clock, utc_now

__all__ = ["ASSERTION_TTL", "ASSERTION_TYPE", "NetSuiteAuth", "build_netsuite_auth"]

ASSERTION_TTL = timedelta(minutes=5)
"""Lifetime of one client assertion (NetSuite allows up to 60 minutes; short is safer)."""


class NetSuiteAuth(OAuth2TokenAuth):
    """Bearer tokens for one NetSuite connection, fetched with an M2M client assertion.

    Args:
        config: The connection (``auth_method`` ``m2m``).
        clock: Current UTC time (token expiry and the assertion's ``iat``).

    Raises:
        ValueError: The connection uses TBA (see :func:`build_netsuite_auth`).
    """

    def __init__(self, config: NetSuiteConfig, *, clock: Clock = utc_now) -> None:
        if config.private_key is None:
            raise ValueError("NetSuiteAuth needs certificate_id and private_key")
        super().__init__(connector=config.name, clock=clock)
        self.config = config
        self._private_key = config.private_key

    @override
    def token_request(self) -> httpx.Request:
        """The token request with a freshly signed client assertion."""
        config = self.config
        now = self._clock()
        claims = {
            "iss": config.client_id,
            "scope": config.scope.split(),
            "aud": config.token_url,
            "iat": int(now.timestamp()),
            "exp": int((now + ASSERTION_TTL).timestamp()),
        }
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": sign_jwt(
                claims,
                private_key=self._private_key,
                algorithm=config.signing_algorithm,
                key_id=config.certificate_id,
            ),
        }
        return httpx.Request(
            "POST", config.token_url, data=form, headers={"Accept": "application/json"}
        )


def build_netsuite_auth(config: NetSuiteConfig, *, clock: Clock = utc_now) -> httpx.Auth:
    """The ``httpx.Auth`` of the connection's authentication method (M2M or TBA)."""
    if config.auth_method == "m2m":
        return NetSuiteAuth(config, clock=clock)
    secret, token_id, token_secret = config.client_secret, config.token_id, config.token_secret
    if secret is None or token_id is None or token_secret is None:  # the validator prevents it
        raise ValueError("TBA needs client_secret, token_id and token_secret")
    return OAuth1Auth(
        realm=config.realm,
        consumer_key=config.client_id,
        consumer_secret=secret,
        token_id=token_id,
        token_secret=token_secret,
        clock=clock,
    )
