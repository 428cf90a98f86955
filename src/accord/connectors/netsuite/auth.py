"""NetSuite OAuth 2.0 client credentials (M2M): a JWT client assertion, or the sandbox secret.

Reference section 4.1: ``POST <account>/services/rest/auth/oauth2/v1/token`` with
``grant_type=client_credentials``, ``client_assertion_type=...:jwt-bearer`` and a
``client_assertion`` signed with the M2M certificate's key (``kid`` = certificate id; claims
``iss`` = client id, ``scope`` = ``["rest_webservices"]``, ``aud`` = the token URL, ``exp`` at
most an hour after ``iat``). The answer's ``expires_in`` is a string (``"3600"``).
"""

from datetime import timedelta

import httpx
from typing_extensions import override

from accord.connectors.auth import OAuth2TokenAuth, sign_jwt
from accord.connectors.netsuite.config import NetSuiteConfig
from accord.connectors.types import Clock, utc_now

__all__ = ["ASSERTION_TTL", "ASSERTION_TYPE", "NetSuiteAuth"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
"""The ``client_assertion_type`` NetSuite requires."""
ASSERTION_TTL = timedelta(minutes=5)
"""Lifetime of one client assertion (NetSuite allows up to 60 minutes; short is safer)."""


class NetSuiteAuth(OAuth2TokenAuth):
    """Bearer tokens for one NetSuite connection, fetched with M2M client credentials.

    Args:
        config: The connection; ``private_key`` selects the signed assertion, otherwise the
            sandbox's plain ``client_id`` / ``client_secret`` form is sent.
        clock: Current UTC time (token expiry and the assertion's ``iat``).
    """

    def __init__(self, config: NetSuiteConfig, *, clock: Clock = utc_now) -> None:
        super().__init__(connector=config.name, clock=clock)
        self.config = config

    @override
    def token_request(self) -> httpx.Request:
        """The token request: a signed assertion, or the sandbox's id and secret."""
        config = self.config
        form = {"grant_type": "client_credentials"}
        if config.private_key is not None:
            now = self._clock()
            claims = {
                "iss": config.client_id,
                "scope": config.scope.split(),
                "aud": config.token_url,
                "iat": int(now.timestamp()),
                "exp": int((now + ASSERTION_TTL).timestamp()),
            }
            form["client_assertion_type"] = ASSERTION_TYPE
            form["client_assertion"] = sign_jwt(
                claims,
                private_key=config.private_key,
                algorithm=config.signing_algorithm,
                key_id=config.certificate_id,
            )
        elif config.client_secret is not None:
            form["client_id"] = config.client_id
            form["client_secret"] = config.client_secret.get_secret_value()
        return httpx.Request(
            "POST", config.token_url, data=form, headers={"Accept": "application/json"}
        )
