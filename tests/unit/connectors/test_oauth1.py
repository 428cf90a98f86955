"""OAuth 1.0a signing (NetSuite TBA) against RFC 5849's own worked example."""

import base64
import hashlib
import hmac
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from accord.connectors.oauth1 import OAuth1Auth, percent_encode, signature_base_string
from accord.connectors.testing import FakeClock

# RFC 5849 section 3.4.1.1: the request and the base string it must give.
RFC_URL = "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b"
RFC_PROTOCOL = [
    ("oauth_consumer_key", "9djdj82h48djs9d2"),
    ("oauth_token", "kkk9d7dh3k39sjv7"),
    ("oauth_signature_method", "HMAC-SHA1"),
    ("oauth_timestamp", "137131201"),
    ("oauth_nonce", "7d8f3e4a"),
]
RFC_BASE = (
    "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D"
    "%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce"
    "%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26"
    "oauth_token%3Dkkk9d7dh3k39sjv7"
)


def test_base_string_matches_rfc_5849_example() -> None:
    body = [("c2", ""), ("a3", "2 q")]  # the form body "c2&a3=2+q"
    assert signature_base_string("post", httpx.URL(RFC_URL), [*RFC_PROTOCOL, *body]) == RFC_BASE


def test_base_uri_rules() -> None:
    base = signature_base_string("GET", httpx.URL("HTTPS://Example.COM:443/a%20b?x=1"), [])
    assert base.startswith("GET&https%3A%2F%2Fexample.com%2Fa%2520b&")
    kept = signature_base_string("GET", httpx.URL("http://example.com:8080/p"), [])
    assert kept.startswith("GET&http%3A%2F%2Fexample.com%3A8080%2Fp&")


def test_percent_encoding_is_rfc_3986_unreserved_only() -> None:
    assert percent_encode("a-b._~ +/*é") == "a-b._~%20%2B%2F%2A%C3%A9"


def test_header_signature_is_hmac_sha256_of_the_base_string() -> None:
    clock = FakeClock()
    auth = OAuth1Auth(
        realm="1234567_SB1",
        consumer_key="ck",
        consumer_secret=SecretStr("cs&1"),
        token_id="tk",
        token_secret=SecretStr("ts"),
        clock=clock.now,
        nonce=lambda: "n0nce",
    )
    request = httpx.Request("GET", "https://x.test/services/rest/record/v1/customer?q=a b&limit=5")
    header = auth.header(request)
    fields = dict(
        part.split("=", 1) for part in header.removeprefix("OAuth ").replace('"', "").split(", ")
    )
    protocol = [(k, v) for k, v in fields.items() if k not in {"realm", "oauth_signature"}]
    base = signature_base_string("GET", request.url, protocol)
    key = f"{quote('cs&1', safe='')}&ts".encode()
    expected = base64.b64encode(hmac.new(key, base.encode(), hashlib.sha256).digest()).decode()
    assert fields["realm"] == "1234567_SB1"
    assert fields["oauth_nonce"] == "n0nce"
    assert fields["oauth_timestamp"] == str(int(clock.now().timestamp()))
    assert fields["oauth_signature"] == percent_encode(expected)
