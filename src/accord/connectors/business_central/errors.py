"""Business Central error bodies and what they mean for the caller.

Reference section 5.2: errors come as ``{"error": {"code": "Category_Reason", "message"}}``;
the message ends with a ``CorrelationId``, kept as the request id. The code decides where the
status alone would not (BC answers most refusals with 400); within ``Application_*`` (an AL
validation error) the message decides, through :data:`TEXT_RULES`, each with its source.

===================================================  ==========================================
answer                                               error (reason)
===================================================  ==========================================
401 (after one re-authentication), 403               :class:`~accord.errors.AuthError`
404 ``BadRequest_NotFound``, ``Internal_RecordNot..``  :class:`~accord.errors.NotFoundError`
409 ``Request_EntityChanged`` (stale ``If-Match``)   :class:`~accord.errors.ConflictError` (stale)
400 ``Internal_EntityWithSameKeyExists``             :class:`~accord.errors.ConflictError` (dup.)
400 ``Application_*`` (validation, closed period,    :class:`~accord.errors.BusinessRuleError`
invalid dimension, posted document)                  (reason from :data:`TEXT_RULES`)
400 other ``BadRequest*``, ``Internal_*``            :class:`~accord.errors.PermanentError`
429, 5xx, 504                                        :class:`~accord.errors.RetryableError`
===================================================  ==========================================
"""

import re
from dataclasses import dataclass

import httpx

from accord.connectors.http import ErrorTranslation, Verdict, json_or_none, redact_text
from accord.connectors.reasons import TextRule, rule_for
from accord.errors import (
    BusinessRuleError,
    ConflictError,
    ConnectorError,
    PermanentError,
    Reason,
)

__all__ = [
    "CODE_REASONS",
    "TABLE_REASONS",
    "TEXT_RULES",
    "BcErrorBody",
    "parse_error",
    "read_verdict",
    "reason_of",
    "translate",
]

_CORRELATION = re.compile(r"\s*CorrelationId:\s*(?P<id>[0-9a-fA-F-]+)\.?\s*$")
_CONFLICT_CODES = frozenset({"Request_EntityChanged", "Internal_EntityWithSameKeyExists"})
CODE_REASONS: dict[str, Reason] = {
    "Request_EntityChanged": Reason.STALE,  # reference 5.2 [inferred there]
    "Internal_EntityWithSameKeyExists": Reason.DUPLICATE,  # reference 5.2 [inferred there]
    "Internal_CompanyNotFound": Reason.NOT_FOUND,  # reference 5.1 (observed)
    "BadRequest_NotFound": Reason.NOT_FOUND,  # reference 5.2 [inferred there]
    "Internal_RecordNotFound": Reason.NOT_FOUND,  # reference 5.2 [inferred there]
}
"""Codes that say what the refusal is about by themselves."""
TABLE_REASONS: dict[str, Reason] = {
    "dimension value": Reason.DIMENSION_INVALID,
    "dimensionvalue": Reason.DIMENSION_INVALID,
    "resource": Reason.RESOURCE_UNKNOWN,
    "employee": Reason.RESOURCE_UNKNOWN,
    "job": Reason.PROJECT_INACTIVE,
    "project": Reason.PROJECT_INACTIVE,
    "customer": Reason.CUSTOMER_INACTIVE,
}
"""The related table a "cannot be found in the related table (T)" names -> its reason; any
other table (item, G/L account) is a reference."""
_RELATED = re.compile(
    r"contains a value \((?P<value>[^)]*)\) that cannot be found in the related table "
    r"\((?P<table>[^)]+)\)",
    re.IGNORECASE,
)
_EMULATOR = "emulator (accord_sandbox.business_central.rules)"
TEXT_RULES: tuple[TextRule, ...] = (
    TextRule(
        Reason.PERIOD_CLOSED,
        re.compile(r"not within your range of allowed posting dates", re.IGNORECASE),
        "reference 5.4 (General Ledger Setup / User Setup allowed posting dates)",
        inferred=True,
    ),
    TextRule(
        Reason.REFERENCE_INVALID,
        _RELATED,
        f"{_EMULATOR}; BC's table-relation validation text",
        inferred=True,
    ),
    TextRule(
        Reason.RATE_MISSING,
        re.compile(r"There is no Currency Exchange Rate within the filter", re.IGNORECASE),
        f'{_EMULATOR}; BC\'s "There is no <table> within the filter" text',
        inferred=True,
    ),
    TextRule(
        Reason.DIMENSION_INVALID,
        re.compile(r"dimension value \S+ has not been set up for dimension", re.IGNORECASE),
        _EMULATOR,
        inferred=True,
    ),
    TextRule(
        Reason.PROJECT_INACTIVE,
        re.compile(r"Project \S+ is blocked", re.IGNORECASE),
        _EMULATOR,
        inferred=True,
    ),
    TextRule(
        Reason.CUSTOMER_INACTIVE,
        re.compile(r"Customer \S+ is blocked", re.IGNORECASE),
        _EMULATOR,
        inferred=True,
    ),
    TextRule(
        Reason.LOCKED,
        re.compile(r"is posted and cannot be|has already been posted", re.IGNORECASE),
        _EMULATOR,
        inferred=True,
    ),
    TextRule(
        Reason.REQUIRED_MISSING,
        re.compile(r"must have a value|You must specify", re.IGNORECASE),
        f"{_EMULATOR}; BC's TestField text",
        inferred=True,
    ),
)
"""``Application_*`` messages and what they mean, first match wins (see docs/connectors.md)."""


@dataclass(frozen=True, slots=True)
class BcErrorBody:
    """``error.code``, ``error.message`` without its correlation id, and that id."""

    code: str | None
    message: str | None
    correlation_id: str | None = None


def parse_error(response: httpx.Response) -> BcErrorBody:
    """Read ``{"error": {...}}`` (or an Entra ``error``/``error_description``) from a response."""
    body = json_or_none(response)
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


def reason_of(code: str | None, message: str | None) -> Reason | None:
    """What an error with this ``error.code`` and message is about (see the module table)."""
    if code in CODE_REASONS:
        return CODE_REASONS[code]
    hit = rule_for(TEXT_RULES, message)
    if hit is None:
        return Reason.VALIDATION if (code or "").startswith("Application_") else None
    rule, found = hit
    if rule.pattern is _RELATED:
        return TABLE_REASONS.get(found["table"].strip().lower(), Reason.REFERENCE_INVALID)
    return rule.reason


def read_verdict(response: httpx.Response, resource: str | None) -> Verdict:
    """What a failed Business Central response's body says (see the module table)."""
    del resource  # BC's codes and texts say it all
    parsed = parse_error(response)
    status = response.status_code
    detail = redact_text(parsed.message) if parsed.message else None
    code = parsed.code or ""
    reason = reason_of(parsed.code, parsed.message)
    cls: type[ConnectorError] | None = None
    if code in _CONFLICT_CODES:
        cls = ConflictError
    elif status == 400 and code.startswith("Application_"):
        cls = BusinessRuleError
    elif status == 400:
        cls = PermanentError
    return Verdict(parsed.code, detail, reason, cls, parsed.correlation_id)


translate = ErrorTranslation(read_verdict)
"""The error a failed Business Central response means (see the module table)."""
