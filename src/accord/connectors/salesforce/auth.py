"""Salesforce OAuth 2.0 server-to-server flows as ``httpx.Auth``: client credentials, JWT bearer.

Reference section 1.1: ``POST {login_url}/services/oauth2/token`` (form-encoded) with either
``grant_type=client_credentials`` + consumer key and secret, or
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` + an RS256 ``assertion`` (claims
``iss`` = consumer key, ``sub`` = username, ``aud`` = login host, ``exp`` a few minutes ahead).
Neither returns a refresh token or ``expires_in``: the framework assumes an hour and the one
re-authentication on ``401 INVALID_SESSION_ID`` covers a shorter session timeout.

The answer's ``instance_url`` is the org's API host. Requests are built against the configured
``base_url`` and re-pointed to ``instance_url`` here, when the token is put on them, because
that is the one place that knows the current token (and a re-authentication may name another
instance after an org migration).
"""

from datetime import timedelta

import httpx
from typing_extensions import override

from accord.connectors.auth import AccessToken, OAuth2TokenAuth, sign_jwt
from accord.connectors.salesforce.config import SalesforceOrgConfig
from accord.connectors.types import Clock, utc_now
from accord.errors import AuthError

__all__ = ["ASSERTION_TTL", "JWT_BEARER_GRANT", "SalesforceAuth"]

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
"""The ``grant_type`` of the JWT bearer flow."""
ASSERTION_TTL = timedelta(minutes=3)
"""Lifetime of one JWT assertion (Salesforce wants ``exp`` within a few minutes)."""


class SalesforceAuth(OAuth2TokenAuth):
    """Bearer tokens for one org, from client credentials or a signed JWT assertion.

    Args:
        config: The connection; ``private_key`` selects the JWT bearer flow.
        clock: Current UTC time (token expiry and the assertion's ``exp``).
    """

    def __init__(self, config: SalesforceOrgConfig, *, clock: Clock = utc_now) -> None:
        super().__init__(connector=config.name, clock=clock)
        self.config = config

    @override
    def token_request(self) -> httpx.Request:
        """The token request of the configured flow."""
        config = self.config
        if config.private_key is not None:
            now = self._clock()
            claims = {
                "iss": config.client_id,
                "sub": config.username,
                "aud": config.jwt_audience,
                "exp": int((now + ASSERTION_TTL).timestamp()),
            }
            assertion = sign_jwt(claims, private_key=config.private_key, algorithm="RS256")
            form = {"grant_type": JWT_BEARER_GRANT, "assertion": assertion}
        else:
            secret = config.client_secret.get_secret_value() if config.client_secret else ""
            form = {
                "grant_type": "client_credentials",
                "client_id": config.client_id,
                "client_secret": secret,
            }
        return httpx.Request(
            "POST", config.token_url, data=form, headers={"Accept": "application/json"}
        )

    @override
    def parse_token(self, response: httpx.Response) -> AccessToken:
        """The standard token fields, with ``instance_url`` checked before anything trusts it."""
        token = super().parse_token(response)
        instance = token.extra.get("instance_url")
        if instance is not None:
            url = httpx.URL(instance)
            # A TLS login must not hand the bearer token to a plain-HTTP host.
            secure_login = httpx.URL(self.config.login_url).scheme == "https"
            if (
                url.scheme not in {"http", "https"}
                or not url.host
                or (secure_login and url.scheme != "https")
            ):
                raise AuthError(
                    "token response names an unusable instance_url",
                    connector=self.connector,
                    status_code=response.status_code,
                )
        return token

    @override
    def apply(self, request: httpx.Request, token: AccessToken) -> None:
        """Bearer header, and the request re-pointed to the token's ``instance_url``."""
        super().apply(request, token)
        instance = token.extra.get("instance_url")
        if not (self.config.use_instance_url and instance):
            return
        target = httpx.URL(instance)
        if (request.url.scheme, request.url.host, request.url.port) == (
            target.scheme,
            target.host,
            target.port,
        ):
            return
        request.url = request.url.copy_with(
            scheme=target.scheme, host=target.host, port=target.port
        )
        request.headers["Host"] = target.netloc.decode("ascii")
