"""OAuth 1.0a request signing (RFC 5849) as ``httpx.Auth``: NetSuite token-based authentication.

Every request carries ``Authorization: OAuth realm="...", oauth_consumer_key=..., oauth_token=...,
oauth_signature_method="HMAC-SHA256", oauth_timestamp=..., oauth_nonce=..., oauth_version="1.0",
oauth_signature=...`` (reference section 4.1). The signature is an HMAC-SHA256 over the
*signature base string* of RFC 5849 section 3.4.1: the method, the base URI (scheme and host in
lower case, default ports dropped, no query) and the normalized parameters (the ``oauth_*``
protocol parameters except ``realm`` and the signature, the query parameters and any
``application/x-www-form-urlencoded`` body parameters, each name and value percent-encoded per
section 3.6, sorted, joined with ``=`` and ``&``), each of the three percent-encoded again and
joined with ``&``. The key is the encoded consumer secret and token secret joined with ``&``
(section 3.4.2).

Query parameters are read from the URL exactly as sent, decoded once and re-encoded per section
3.6, which is the step the reference notes clients often get wrong (double encoding).

What does *not* belong here: OAuth 2.0 bearer tokens (:mod:`accord.connectors.auth`).
"""

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Generator, Iterable
from urllib.parse import parse_qsl, quote

import httpx
from pydantic import SecretStr
from typing_extensions import override

from accord.connectors.types import Clock, utc_now

__all__ = ["OAuth1Auth", "percent_encode", "signature_base_string"]

_FORM = "application/x-www-form-urlencoded"


def percent_encode(value: str) -> str:
    """RFC 5849 section 3.6: UTF-8, every octet but ``ALPHA DIGIT - . _ ~`` as ``%XX``."""
    return quote(value.encode("utf-8"), safe="-._~")


def _base_uri(url: httpx.URL) -> str:
    scheme, host = url.scheme.lower(), (url.host or "").lower()
    default = {"http": 80, "https": 443}.get(scheme)
    port = f":{url.port}" if url.port is not None and url.port != default else ""
    if ":" in host:  # an IPv6 literal keeps its brackets in the URI
        host = f"[{host}]"
    return f"{scheme}://{host}{port}{url.raw_path.split(b'?', 1)[0].decode('ascii')}"


def signature_base_string(
    method: str, url: httpx.URL, parameters: Iterable[tuple[str, str]]
) -> str:
    """The signature base string of RFC 5849 section 3.4.1.

    Args:
        method: The HTTP method.
        url: The request URL; its query parameters are included.
        parameters: The protocol parameters and any form-encoded body parameters (decoded).
    """
    query = parse_qsl(url.query.decode("ascii"), keep_blank_values=True)
    pairs = sorted((percent_encode(k), percent_encode(v)) for k, v in [*query, *parameters])
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join(
        (percent_encode(method.upper()), percent_encode(_base_uri(url)), percent_encode(normalized))
    )


class OAuth1Auth(httpx.Auth):
    """Signs every request with OAuth 1.0a HMAC-SHA256 (NetSuite token-based authentication).

    Args:
        realm: The account's realm (NetSuite: the account id in capitals, ``-`` as ``_``).
        consumer_key: The integration record's consumer key.
        consumer_secret: Its consumer secret.
        token_id: The access token's id.
        token_secret: The access token's secret.
        clock: Current UTC time (``oauth_timestamp``).
        nonce: Makes ``oauth_nonce`` (injected for reproducible tests).
    """

    requires_request_body = True

    def __init__(
        self,
        *,
        realm: str,
        consumer_key: str,
        consumer_secret: SecretStr,
        token_id: str,
        token_secret: SecretStr,
        clock: Clock = utc_now,
        nonce: Callable[[], str] | None = None,
    ) -> None:
        self.realm = realm
        self.consumer_key = consumer_key
        self._consumer_secret = consumer_secret
        self.token_id = token_id
        self._token_secret = token_secret
        self._clock = clock
        self._nonce = nonce

    def _new_nonce(self) -> str:
        return secrets.token_hex(16) if self._nonce is None else self._nonce()

    def header(self, request: httpx.Request) -> str:
        """The ``Authorization`` header value for ``request``."""
        protocol = {
            "oauth_consumer_key": self.consumer_key,
            "oauth_token": self.token_id,
            "oauth_signature_method": "HMAC-SHA256",
            "oauth_timestamp": str(int(self._clock().timestamp())),
            "oauth_nonce": self._new_nonce(),
            "oauth_version": "1.0",
        }
        body: list[tuple[str, str]] = []
        if request.headers.get("Content-Type", "").split(";")[0].strip() == _FORM:
            body = parse_qsl(request.content.decode("utf-8"), keep_blank_values=True)
        base = signature_base_string(request.method, request.url, [*protocol.items(), *body])
        key = "&".join(
            percent_encode(s.get_secret_value())
            for s in (self._consumer_secret, self._token_secret)
        )
        digest = hmac.new(key.encode("utf-8"), base.encode("utf-8"), hashlib.sha256).digest()
        protocol["oauth_signature"] = base64.b64encode(digest).decode("ascii")
        fields = [f'realm="{percent_encode(self.realm)}"'] + [
            f'{k}="{percent_encode(v)}"' for k, v in protocol.items()
        ]
        return "OAuth " + ", ".join(fields)

    @override
    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign and send once: a refused signature is not fixed by sending it again."""
        request.headers["Authorization"] = self.header(request)
        yield request
