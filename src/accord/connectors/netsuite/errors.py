"""NetSuite error bodies and what they mean for the caller.

Reference section 4.3: errors come as ``{"type","title","status","o:errorDetails":[{"detail",
"o:errorCode","o:errorPath"}]}``. Most refusals are ``400 USER_ERROR`` whatever the cause, so
the class is decided on the code first and the detail text second; the text is matched only
here, once, and kept verbatim on the error for the people who fix it.

=====================================================  =======================================
answer                                                 error
=====================================================  =======================================
429 ``CONCURRENCY_LIMIT_EXCEEDED``                     :class:`RetryableError` (no Retry-After)
400 ``USER_ERROR`` "This entity already exists."       :class:`ConflictError`
400 ``USER_ERROR`` closed / locked period              :class:`BusinessRuleError`
400 ``USER_ERROR`` "Invalid Field Value X ... field"   :class:`BusinessRuleError` (dimension)
400 other ``USER_ERROR``, ``INVALID_FLD_VALUE``, ...   :class:`BusinessRuleError`
400/403 ``INSUFFICIENT_PERMISSION`` / role text        :class:`AuthError`
400 ``INVALID_PARAMETER`` (bad query, bad URL)         :class:`PermanentError`
401 (after one re-authentication)                      :class:`AuthError`
404 ``NONEXISTENT_ID``                                 :class:`NotFoundError`
5xx, timeouts                                          :class:`RetryableError`
=====================================================  =======================================
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import httpx

from accord.connectors.http import redact_text, request_id_of, translate_http_error
from accord.errors import (
    AuthError,
    BusinessRuleError,
    ConflictError,
    ConnectorError,
    PermanentError,
)

__all__ = [
    "NetSuiteErrorBody",
    "UserErrorKind",
    "classify_user_error",
    "parse_error",
    "refusal_reason",
    "translate",
]

UserErrorKind = Literal[
    "duplicate", "closed_period", "invalid_reference", "permission", "locked", "validation"
]
"""What a ``USER_ERROR`` is about; exception routing picks the owner queue and actions by it."""

_BUSINESS_CODES = frozenset(
    {"USER_ERROR", "INVALID_FLD_VALUE", "INVALID_KEY_OR_REF", "INVALID_FIELD_VALUE"}
)
_PERMISSION_CODES = frozenset({"INSUFFICIENT_PERMISSION", "INVALID_LOGIN", "INVALID_ROLE"})
_USER_ERROR_PATTERNS: tuple[tuple[UserErrorKind, re.Pattern[str]], ...] = (
    ("duplicate", re.compile(r"already exists", re.IGNORECASE)),
    (
        "closed_period",
        re.compile(
            r"closed period|accounting period|posting period|outside of (the )?posting",
            re.IGNORECASE,
        ),
    ),
    ("invalid_reference", re.compile(r"invalid (field value|entity reference key)", re.IGNORECASE)),
    ("permission", re.compile(r"permission", re.IGNORECASE)),
    ("locked", re.compile(r"locked", re.IGNORECASE)),
)


@dataclass(frozen=True, slots=True)
class NetSuiteErrorBody:
    """The useful part of an error body: the first detail's code, all details, the first path."""

    code: str | None
    detail: str | None
    path: str | None


def parse_error(response: httpx.Response) -> NetSuiteErrorBody:
    """Read ``o:errorDetails`` from an error response (tolerating any other body)."""
    try:
        body = response.json()
    except ValueError:
        return NetSuiteErrorBody(None, None, None)
    details = body.get("o:errorDetails") if isinstance(body, dict) else None
    if not isinstance(details, list) or not details:
        title = body.get("title") if isinstance(body, dict) else None
        return NetSuiteErrorBody(None, str(title) if title else None, None)
    entries = [d for d in details if isinstance(d, dict)]
    first = entries[0] if entries else {}
    texts = [str(d["detail"]) for d in entries if d.get("detail")]
    code = first.get("o:errorCode")
    path = first.get("o:errorPath")
    return NetSuiteErrorBody(
        code=str(code) if code else None,
        detail=" | ".join(texts) if texts else None,
        path=str(path) if path else None,
    )


def classify_user_error(detail: str | None) -> UserErrorKind:
    """What a ``USER_ERROR`` detail is about (``validation`` when nothing more specific)."""
    for kind, pattern in _USER_ERROR_PATTERNS:
        if detail and pattern.search(detail):
            return kind
    return "validation"


_FIELD = re.compile(r"following field: (\w+)", re.IGNORECASE)
_FIELD_REASONS = {
    "department": "dimension_invalid",
    "class": "dimension_invalid",
    "location": "dimension_invalid",
    "subsidiary": "dimension_invalid",
    "employee": "resource_unknown",
    "customer": "customer_invalid",
    "entity": "customer_invalid",
    "job": "project_inactive",
    "currency": "validation",
}
"""The field an "Invalid Field Value ... for the following field: X" names -> reason."""


def refusal_reason(code: str | None, detail: str | None) -> str | None:
    """The canonical reason (:data:`accord.errors.REASONS`) of a NetSuite refusal, if known.

    NetSuite answers most refusals with ``USER_ERROR``; the detail text is read here, once, so
    that no caller outside this package parses NetSuite's wording.
    """
    if code == "NONEXISTENT_ID":
        return "not_found"
    if code not in _BUSINESS_CODES:
        return None
    text = (detail or "").lower()
    kind = classify_user_error(detail)
    reason = "validation"
    if kind == "duplicate":
        reason = "duplicate"
    elif kind == "closed_period" or "allowed posting dates" in text:
        reason = "period_closed"
    elif "blocked" in text:
        reason = "project_inactive"
    elif kind == "invalid_reference":
        found = _FIELD.search(detail or "")
        reason = _FIELD_REASONS.get(found.group(1).lower() if found else "", "validation")
    return reason


def translate(
    response: httpx.Response,
    *,
    connector: str,
    resource: str | None,
    external_id: str | None = None,
    now: Callable[[], datetime] | None = None,
) -> ConnectorError:
    """The error a failed NetSuite response means (see the module table)."""
    parsed = parse_error(response)
    status = response.status_code
    detail = redact_text(parsed.detail) if parsed.detail else None
    if parsed.path and detail:
        detail = f"{detail} (at {parsed.path})"
    cls: type[ConnectorError] | None = None
    if status in {400, 403} and parsed.code in _BUSINESS_CODES | _PERMISSION_CODES:
        kind = classify_user_error(parsed.detail)
        if parsed.code in _PERMISSION_CODES or kind == "permission":
            cls = AuthError
        elif kind == "duplicate":
            cls = ConflictError
        else:
            cls = BusinessRuleError
    elif status == 400:
        cls = PermanentError
    if cls is not None:
        return cls(
            connector=connector,
            resource=resource,
            external_id=external_id,
            status_code=status,
            request_id=request_id_of(response),
            code=parsed.code,
            detail=detail,
            reason=refusal_reason(parsed.code, parsed.detail),
        )
    return translate_http_error(
        response,
        connector=connector,
        resource=resource,
        external_id=external_id,
        code=parsed.code,
        detail=detail,
        now=now,
    )
