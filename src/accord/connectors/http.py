"""HTTP plumbing shared by every connector: the client, error translation and redaction.

Connectors build their ``httpx.Client`` with :func:`build_client`, turn failed responses into
the error tree with :func:`translate_http_error` (after extracting their own error code and
text), turn transport failures into :class:`~accord.errors.RetryableError` with
:func:`translate_transport_error`, and never put a header, a token or a body in a log line or
an error message without :func:`redact_headers` / :func:`redact_text`.

What does *not* belong here: any one system's error body shape or status quirks.
"""

import email.utils
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from accord.errors import (
    AuthError,
    BusinessRuleError,
    ConflictError,
    ConnectorError,
    NotFoundError,
    PermanentError,
    Reason,
    RetryableError,
)

__all__ = [
    "REDACTED",
    "SENSITIVE_HEADERS",
    "ErrorTranslation",
    "Verdict",
    "build_client",
    "by_status",
    "classified_error",
    "json_or_none",
    "redact_headers",
    "redact_text",
    "redact_url",
    "request_id_of",
    "retry_after_seconds",
    "translate_http_error",
    "translate_transport_error",
]

logger = logging.getLogger(__name__)

REDACTED = "[REDACTED]"
"""What a secret is replaced with."""

SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key"}
)
"""Header names (lower case) whose values are never shown."""

_SECRET_PATTERNS = (
    # "Bearer eyJ...", "Basic c2FuZGJveDpz...": a scheme followed by a token-looking word
    # (it must hold a digit, so that prose such as "basic validation" is left alone).
    re.compile(r"(?i)\b(bearer|basic)\s+(?=[\w.~+/=-]*\d)[\w.~+/=-]{8,}"),
    # OAuth 1.0a header parameters: oauth_token="...", oauth_signature="..."
    re.compile(r"(?i)\b(oauth_[a-z_]+=)\"[^\"]*\""),
    # form or query parameters and JSON members that carry credentials
    re.compile(
        r"(?i)(?<![\w:])(\"?(?:access_token|refresh_token|id_token|client_secret|"
        r"client_assertion|assertion|password|token|secret|api_key|apikey|signature|sig)"
        r"\"?\s*[=:]\s*\"?)[^&\s\",}]+"
    ),
)

_REQUEST_ID_HEADERS = ("x-request-id", "x-ms-request-id", "request-id", "x-correlation-id")


def build_client(
    *,
    base_url: str,
    timeout_s: float,
    transport: httpx.BaseTransport | None = None,
    auth: httpx.Auth | None = None,
    headers: Mapping[str, str] | None = None,
    event_hooks: Mapping[str, list[Callable[..., object]]] | None = None,
) -> httpx.Client:
    """The ``httpx.Client`` of one connection.

    Redirects are not followed (an API that redirects is misconfigured, and following would
    resend the Authorization header). A debug hook logs method, redacted URL and status.

    Args:
        base_url: Root URL; request paths are relative to it.
        timeout_s: One timeout for connect, read, write and pool.
        transport: Injected transport (``httpx.MockTransport``, a test client's transport);
            ``None`` means the real network.
        auth: The connection's ``httpx.Auth`` flow, if any.
        headers: Default headers sent on every request.
        event_hooks: Extra ``request`` / ``response`` hooks, run after the logging hook.
    """
    hooks: dict[str, list[Callable[..., object]]] = {
        "request": [],
        "response": [_log_response],
    }
    for name, extra in (event_hooks or {}).items():
        hooks.setdefault(name, []).extend(extra)
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(timeout_s),
        transport=transport,
        auth=auth,
        headers=dict(headers or {}),
        event_hooks=hooks,
        follow_redirects=False,
    )


def _log_response(response: httpx.Response) -> None:
    request = response.request
    logger.debug("%s %s -> %d", request.method, redact_url(str(request.url)), response.status_code)


def redact_headers(headers: Mapping[str, str] | httpx.Headers) -> dict[str, str]:
    """A copy of ``headers`` that is safe to log: credential-bearing values are replaced."""
    return {
        key: REDACTED if key.lower() in SENSITIVE_HEADERS else redact_text(value)
        for key, value in headers.items()
    }


def redact_text(text: str) -> str:
    """``text`` with bearer tokens, basic credentials and secret parameters replaced."""
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _SECRET_PATTERNS[1].sub(lambda m: f'{m.group(1)}"{REDACTED}"', text)
    return _SECRET_PATTERNS[2].sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def redact_url(url: str) -> str:
    """``url`` without user info and with credential query parameters replaced."""
    parsed = httpx.URL(url)
    if parsed.userinfo:
        parsed = parsed.copy_with(username=None, password=None)
    return redact_text(str(parsed))


def request_id_of(response: httpx.Response) -> str | None:
    """The system's request or correlation id, from the usual headers, if any."""
    for name in _REQUEST_ID_HEADERS:
        value: str | None = response.headers.get(name)
        if value:
            return value
    return None


def retry_after_seconds(
    response: httpx.Response, *, now: Callable[[], datetime] | None = None
) -> float | None:
    """Seconds to wait according to ``Retry-After`` (delta seconds or an HTTP date), or None.

    Args:
        response: The throttled or unavailable response.
        now: Current UTC time, used for the HTTP-date form (injected for tests).
    """
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = (now or (lambda: datetime.now(UTC)))()
    return max((when - current).total_seconds(), 0.0)


_STATUS_REASONS: dict[int, Reason] = {
    403: Reason.PERMISSION,
    404: Reason.NOT_FOUND,
    410: Reason.NOT_FOUND,
    412: Reason.STALE,
    422: Reason.VALIDATION,
    429: Reason.RATE_LIMITED,
}
"""What a bare status says when the system's body says nothing more (RFC 9110)."""


def translate_http_error(
    response: httpx.Response,
    *,
    connector: str,
    resource: str | None,
    external_id: str | None = None,
    code: str | None = None,
    detail: str | None = None,
    now: Callable[[], datetime] | None = None,
    reason: str | None = None,
) -> ConnectorError:
    """The error a failed response means, by status, for the generic cases.

    A connector first extracts its system's own ``code`` and ``detail`` from the body and
    handles its system-specific cases (a NetSuite ``USER_ERROR`` that is a closed period, a
    Salesforce 403 that is a spent quota); everything else comes here:

    ===========  ==============================================
    status       error
    ===========  ==============================================
    401, 403     :class:`AuthError` (the auth flow re-authenticated once already)
    404, 410     :class:`NotFoundError`
    409, 412     :class:`ConflictError`
    422          :class:`BusinessRuleError`
    408, 425,    :class:`RetryableError` with ``retry_after`` from ``Retry-After``
    429, 5xx
    other 4xx    :class:`PermanentError`
    ===========  ==============================================

    The returned error is not raised, so that the caller raises it (``raise ... from``).
    ``detail`` is the system's own text, kept for people; it never contains request headers.
    ``reason`` (a :class:`~accord.errors.Reason`) is the caller's when it knows one, else the
    status's own (429: rate limited, 5xx: unavailable, 404: not found, 412: stale ...).
    """
    status = response.status_code
    reason = reason or _STATUS_REASONS.get(status)
    cls: type[ConnectorError]
    if status in {408, 425, 429} or status >= 500:
        return RetryableError(
            retry_after=retry_after_seconds(response, now=now),
            connector=connector,
            resource=resource,
            external_id=external_id,
            status_code=status,
            request_id=request_id_of(response),
            code=code,
            detail=redact_text(detail) if detail else None,
            reason=reason or Reason.UNAVAILABLE,
        )
    if status in {401, 403}:
        cls = AuthError
    elif status in {404, 410}:
        cls = NotFoundError
    elif status in {409, 412}:
        cls = ConflictError
    elif status == 422:
        cls = BusinessRuleError
    else:
        cls = PermanentError
    return classified_error(
        response,
        cls,
        connector=connector,
        resource=resource,
        external_id=external_id,
        code=code,
        detail=redact_text(detail) if detail else None,
        reason=reason,
    )


def classified_error(
    response: httpx.Response,
    cls: type[ConnectorError] | None,
    *,
    connector: str,
    resource: str | None,
    external_id: str | None,
    code: str | None,
    detail: str | None,
    reason: str | None,
    now: Callable[[], datetime] | None = None,
    request_id: str | None = None,
) -> ConnectorError:
    """The error a failed response means once its system's error body has been read.

    A system's translation reads its body (``code``, redacted ``detail``, ``reason``) and
    decides ``cls`` where the status alone would mislead (a NetSuite ``400 USER_ERROR`` that
    is a closed period); ``None`` classifies by status (:func:`translate_http_error`).
    ``request_id`` is an id the body carries, used when the headers carry none. The error is
    returned, not raised.
    """
    if cls is None:
        error = translate_http_error(
            response,
            connector=connector,
            resource=resource,
            external_id=external_id,
            code=code,
            detail=detail,
            now=now,
            reason=reason,
        )
        if error.request_id is None:
            error.request_id = request_id
        return error
    error = cls(
        connector=connector,
        resource=resource,
        external_id=external_id,
        status_code=response.status_code,
        request_id=request_id_of(response) or request_id,
        code=code,
        detail=detail,
        reason=reason,
    )
    if isinstance(error, RetryableError):
        error.retry_after = retry_after_seconds(response, now=now)
    return error


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a system's error body says about a failed response (see :class:`ErrorTranslation`).

    Attributes:
        code: The system's own error code.
        detail: The system's own text, redacted (:func:`redact_text`).
        reason: What the refusal is about (a :class:`~accord.errors.Reason`), if the body says.
        cls: The error class the body decides where the status alone would mislead; ``None``
            classifies by status (:func:`translate_http_error`).
        request_id: An id the body carries (used when the headers carry none).
    """

    code: str | None = None
    detail: str | None = None
    reason: str | None = None
    cls: type[ConnectorError] | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorTranslation:
    """A system's error translation: a failed response -> the error it means (not raised).

    ``read(response, resource)`` is the system's own half: it reads the error body into a
    :class:`Verdict`; turning that into an error (:func:`classified_error`) is the same for
    every system.
    """

    read: Callable[[httpx.Response, str | None], Verdict]

    def __call__(
        self,
        response: httpx.Response,
        *,
        connector: str,
        resource: str | None,
        external_id: str | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> ConnectorError:
        """The error ``response`` means for ``connector``'s ``resource``."""
        verdict = self.read(response, resource)
        return classified_error(
            response,
            verdict.cls,
            connector=connector,
            resource=resource,
            external_id=external_id,
            code=verdict.code,
            detail=verdict.detail,
            reason=verdict.reason,
            now=now,
            request_id=verdict.request_id,
        )


def by_status(response: httpx.Response, resource: str | None) -> Verdict:
    """No body reading: the error is the status's (:func:`translate_http_error`)."""
    del response, resource
    return Verdict()


def json_or_none(response: httpx.Response) -> Any | None:  # noqa: ANN401 - a raw JSON body
    """A response's JSON body (an error's, a token's ...), or ``None`` when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def translate_transport_error(
    exc: httpx.TransportError, *, connector: str, resource: str | None
) -> RetryableError:
    """A timeout, refused connection or broken stream: always worth retrying later.

    A timed-out *write* may have been applied; that is why every write is idempotent.
    """
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "transport failure"
    return RetryableError(
        f"request {kind}",
        connector=connector,
        resource=resource,
        code=type(exc).__name__,
        reason=Reason.UNAVAILABLE,
    )
