"""Dynamics 365 Finance error bodies and what they mean for the caller.

Finance and operations answers OData errors as ``{"error": {"code": "", "message": ...,
"innererror": {"message", "type", "stacktrace"}}}``: the code is empty, and a refused write
says *what* in the inner message (the X++ Infolog: "Write failed for table row of type
'CustCustomerV3Entity'. Infolog: Warning: The value 'X' in field 'Y' is not found in the
related table 'Z'.") with ``AxODataWriteException`` as its type. So the translation reads the
inner type and text, once, here:

===================================================  ==========================================
answer                                               error
===================================================  ==========================================
401 (after one re-authentication), 403               :class:`~accord.errors.AuthError`
404                                                  :class:`~accord.errors.NotFoundError`
409, 412 (stale ``If-Match``)                        :class:`~accord.errors.ConflictError`
any status, ``AxODataWriteException`` or X++ error,  :class:`~accord.errors.ConflictError`
"The record already exists"                          (reason ``duplicate``)
any status, ``AxODataWriteException`` or X++ error   :class:`~accord.errors.BusinessRuleError`
(validation, closed period, stage, dimension)        (even a 500: retrying cannot help)
other 4xx                                            :class:`~accord.errors.PermanentError`
429 (service protection, ``Retry-After``), 5xx       :class:`~accord.errors.RetryableError`
===================================================  ==========================================

``code`` on the error is the inner type's short name (``AxODataWriteException``), since
F&O's own code is empty.
"""

import re
from dataclasses import dataclass

import httpx

from accord.connectors.http import ErrorTranslation, Verdict, json_or_none, redact_text
from accord.errors import BusinessRuleError, ConflictError, ConnectorError

__all__ = ["FinErrorBody", "parse_error", "read_verdict", "refusal_reason", "translate"]

_APPLICATION_ERRORS = ("AxODataWriteException", "ErrorException", "XppRuntimeException")
"""Inner types that carry an application (X++) refusal, not a transient failure."""
_INFOLOG = re.compile(r"Infolog:\s*(?P<text>.*)$", re.DOTALL)
_RELATED = re.compile(r"not found in the related table '(?P<table>[^']+)'", re.IGNORECASE)
_TABLE_REASONS = {
    "resources": "resource_unknown",
    "workers": "resource_unknown",
    "projects": "project_inactive",
    "project contracts": "customer_invalid",
    "customers": "customer_invalid",
}
_TEXT_REASONS = (
    ("record already exists", "duplicate"),
    ("fiscal period", "period_closed"),
    ("does not allow transactions", "project_inactive"),
    ("for the dimension", "dimension_invalid"),
    ("dimension value", "dimension_invalid"),
    ("exchange rate", "rate_missing"),
)
"""Phrases of F&O's Infolog texts -> reason, first match wins."""


@dataclass(frozen=True, slots=True)
class FinErrorBody:
    """``error.message``, and the inner error's type (short name) and text, if any."""

    message: str | None
    inner_type: str | None = None
    inner: str | None = None

    @property
    def application(self) -> bool:
        """The application (X++) refused: a validation, not a service failure."""
        return self.inner_type in _APPLICATION_ERRORS

    @property
    def text(self) -> str | None:
        """The most specific text: the Infolog's warnings, else the inner or outer message."""
        if self.inner:
            found = _INFOLOG.search(self.inner)
            return found["text"].strip() if found else self.inner
        return self.message


def parse_error(response: httpx.Response) -> FinErrorBody:
    """Read ``{"error": {...}}`` (or an Entra ``error``/``error_description``) from a response."""
    body = json_or_none(response)
    if not isinstance(body, dict):
        return FinErrorBody(None)
    error = body.get("error")
    if isinstance(error, dict):
        message = str(error.get("message") or "") or None
        inner = error.get("innererror")
        if isinstance(inner, dict):
            kind = str(inner.get("type") or "").rsplit(".", 1)[-1] or None
            return FinErrorBody(message, kind, str(inner.get("message") or "") or None)
        return FinErrorBody(message)
    if isinstance(error, str):
        description = body.get("error_description")
        return FinErrorBody(str(description) if description else error, error)
    return FinErrorBody(None)


def refusal_reason(text: str | None) -> str:
    """The canonical reason (:data:`accord.errors.REASONS`) of an application refusal.

    F&O's Infolog text is the only place that says what was refused; it is read here, once,
    so that no caller parses F&O's wording.
    """
    lowered = (text or "").lower()
    for phrase, reason in _TEXT_REASONS:
        if phrase in lowered:
            return reason
    found = _RELATED.search(text or "")
    table = found["table"].strip().lower() if found else ""
    return _TABLE_REASONS.get(table, "validation")


def read_verdict(response: httpx.Response, resource: str | None) -> Verdict:
    """What a failed finance and operations response's body says (see the module table)."""
    del resource  # the Infolog text says it all
    parsed = parse_error(response)
    detail = redact_text(parsed.text) if parsed.text else None
    # Only an application refusal says more than its status (a 404 is not_found by status).
    reason = refusal_reason(parsed.text) if parsed.application else None
    cls: type[ConnectorError] | None = None
    if parsed.application:
        cls = ConflictError if reason == "duplicate" else BusinessRuleError
    return Verdict(parsed.inner_type, detail, reason, cls)


translate = ErrorTranslation(read_verdict)
"""The error a failed finance and operations response means (see the module table)."""
