"""Business Central error bodies and what they mean for the caller.

Reference section 5.2: errors come as ``{"error": {"code": "Category_Reason", "message"}}``;
the message ends with a ``CorrelationId``, kept as the request id. The code decides where the
status alone would not (BC answers most refusals with 400):

===================================================  ==========================================
answer                                               error
===================================================  ==========================================
401 (after one re-authentication), 403               :class:`~accord.errors.AuthError`
404 ``BadRequest_NotFound``, ``Internal_RecordNot..``  :class:`~accord.errors.NotFoundError`
409 ``Request_EntityChanged`` (stale ``If-Match``)   :class:`~accord.errors.ConflictError`
400 ``Internal_EntityWithSameKeyExists``             :class:`~accord.errors.ConflictError`
400 ``Application_*`` (validation, closed period,    :class:`~accord.errors.BusinessRuleError`
invalid dimension, posted document)
400 other ``BadRequest*``, ``Internal_*``            :class:`~accord.errors.PermanentError`
429, 5xx, 504                                        :class:`~accord.errors.RetryableError`
===================================================  ==========================================
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx

from accord.connectors.http import redact_text, request_id_of, translate_http_error
from accord.errors import BusinessRuleError, ConflictError, ConnectorError, PermanentError

__all__ = ["BcErrorBody", "parse_error", "refusal_reason", "translate"]

_CORRELATION = re.compile(r"\s*CorrelationId:\s*(?P<id>[0-9a-fA-F-]+)\.?\s*$")
_CONFLICT_CODES = frozenset({"Request_EntityChanged", "Internal_EntityWithSameKeyExists"})


@dataclass(frozen=True, slots=True)
class BcErrorBody:
    """``error.code``, ``error.message`` without its correlation id, and that id."""

    code: str | None
    message: str | None
    correlation_id: str | None = None


def parse_error(response: httpx.Response) -> BcErrorBody:
    """Read ``{"error": {...}}`` (or an Entra ``error``/``error_description``) from a response."""
    try:
        body = response.json()
    except ValueError:
        return BcErrorBody(None, None)
    if not isinstance(body, dict):
        return BcErrorBody(None, None)
    error = body.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        message = str(error.get("message") or "")
        correlation = None
        match = _CORRELATION.search(message)
        if match is not None:
            correlation = match["id"]
            message = message[: match.start()]
        return BcErrorBody(str(code) if code else None, message.strip() or None, correlation)
    if isinstance(error, str):
        description = body.get("error_description")
        return BcErrorBody(error, str(description) if description else None)
    return BcErrorBody(None, None)


_RELATED = re.compile(r"cannot be found in the related table \((?P<table>[^)]+)\)", re.IGNORECASE)
_TABLE_REASONS = {
    "resource": "resource_unknown",
    "employee": "resource_unknown",
    "job": "project_inactive",
    "project": "project_inactive",
    "customer": "customer_invalid",
    "dimension value": "dimension_invalid",
}


_CODE_REASONS = {
    "Internal_EntityWithSameKeyExists": "duplicate",
    "BadRequest_NotFound": "not_found",
    "Internal_RecordNotFound": "not_found",
}
_TEXT_REASONS = (
    ("allowed posting dates", "period_closed"),
    ("posting date is not within", "period_closed"),
    ("blocked", "project_inactive"),
    ("dimension value", "dimension_invalid"),
    ("exchange rate", "rate_missing"),
)
"""Phrases of BC's validation texts (``Application_*``) -> reason, first match wins."""


def refusal_reason(code: str | None, message: str | None) -> str | None:
    """The canonical reason (:data:`accord.errors.REASONS`) of a Business Central refusal.

    BC answers validation failures as ``Application_*`` codes whose meaning is in the message
    (an AL ``Error()`` text); it is read here, once, so no caller parses BC's wording.
    """
    if code in _CODE_REASONS:
        return _CODE_REASONS[code]
    if not (code or "").startswith("Application_"):
        return None
    text = (message or "").lower()
    for phrase, reason in _TEXT_REASONS:
        if phrase in text:
            return reason
    found = _RELATED.search(message or "")
    table = found["table"].strip().lower() if found else ""
    return _TABLE_REASONS.get(table, "validation")


def translate(
    response: httpx.Response,
    *,
    connector: str,
    resource: str | None,
    external_id: str | None = None,
    now: Callable[[], datetime] | None = None,
) -> ConnectorError:
    """The error a failed Business Central response means (see the module table)."""
    parsed = parse_error(response)
    status = response.status_code
    detail = redact_text(parsed.message) if parsed.message else None
    request_id = request_id_of(response) or parsed.correlation_id
    code = parsed.code or ""
    cls: type[ConnectorError] | None = None
    if code in _CONFLICT_CODES:
        cls = ConflictError
    elif status == 400 and code.startswith("Application_"):
        cls = BusinessRuleError
    elif status == 400:
        cls = PermanentError
    if cls is not None:
        return cls(
            connector=connector,
            resource=resource,
            external_id=external_id,
            status_code=status,
            request_id=request_id,
            code=parsed.code,
            detail=detail,
            reason=refusal_reason(parsed.code, parsed.message),
        )
    error = translate_http_error(
        response,
        connector=connector,
        resource=resource,
        external_id=external_id,
        code=parsed.code,
        detail=detail,
        now=now,
    )
    if error.request_id is None:
        error.request_id = request_id
    return error
