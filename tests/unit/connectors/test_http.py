import json
from datetime import UTC, datetime

import httpx
import pytest

from accord.connectors.http import (
    REDACTED,
    build_client,
    redact_headers,
    redact_url,
    retry_after_seconds,
    translate_http_error,
    translate_transport_error,
)
from accord.errors import (
    AuthError,
    BusinessRuleError,
    ConflictError,
    NotFoundError,
    PermanentError,
    RetryableError,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("GET", "https://x/y"))


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, PermanentError),
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (409, ConflictError),
        (412, ConflictError),
        (422, BusinessRuleError),
        (429, RetryableError),
        (500, RetryableError),
        (503, RetryableError),
        (408, RetryableError),
    ],
)
def test_translate_by_status(status: int, cls: type[Exception]) -> None:
    err = translate_http_error(response(status), connector="c", resource="r", code="X")
    assert type(err) is cls
    assert err.status_code == status
    assert err.connector == "c"
    assert err.resource == "r"
    assert err.code == "X"


def test_retry_after_seconds_and_date() -> None:
    assert retry_after_seconds(response(429, {"Retry-After": "7"})) == 7.0
    dated = response(429, {"Retry-After": "Wed, 01 Jan 2025 00:00:30 GMT"})
    assert retry_after_seconds(dated, now=lambda: NOW) == 30.0
    assert retry_after_seconds(response(429, {"Retry-After": "soon"})) is None
    assert retry_after_seconds(response(429)) is None
    err = translate_http_error(response(429, {"Retry-After": "3"}), connector="c", resource=None)
    assert isinstance(err, RetryableError)
    assert err.retry_after == 3.0


def test_request_id_kept() -> None:
    err = translate_http_error(response(500, {"x-request-id": "abc"}), connector="c", resource=None)
    assert err.request_id == "abc"


def test_transport_errors_are_retryable() -> None:
    err = translate_transport_error(httpx.ReadTimeout("slow"), connector="c", resource="r")
    assert isinstance(err, RetryableError)
    assert err.code == "ReadTimeout"
    assert err.status_code is None


def test_redaction_hides_credentials() -> None:
    headers = redact_headers({"Authorization": "Bearer abc.def.123", "Accept": "json"})
    assert headers == {"Authorization": REDACTED, "Accept": "json"}
    url = redact_url("https://u:p@h/x?access_token=abc123&q=1")
    assert "abc123" not in url
    assert "p@" not in url
    assert "q=1" in url


def test_secret_never_in_error_detail() -> None:
    detail = json.dumps({"error": "bad", "client_secret": "hunter2"})
    err = translate_http_error(response(400), connector="c", resource=None, detail=detail)
    assert "hunter2" not in (err.detail or "")
    assert "hunter2" not in str(err)


def test_build_client_never_follows_redirects() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(302, headers={"Location": "https://evil/steal"})

    client = build_client(
        base_url="https://api.test", timeout_s=5, transport=httpx.MockTransport(handler)
    )
    with client:
        assert client.get("/x", headers={"Authorization": "Bearer t0ken123"}).status_code == 302
    assert calls == ["https://api.test/x"]
