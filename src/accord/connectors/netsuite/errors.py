"""NetSuite error bodies and what they mean for the caller.

Reference section 4.3: errors come as ``{"type","title","status","o:errorDetails":[{"detail",
"o:errorCode","o:errorPath"}]}``. Most refusals are ``400 USER_ERROR`` whatever the cause, so
the class and the :class:`~accord.errors.Reason` are decided on the code first and the detail
text second; the texts are :data:`TEXT_RULES`, each with its source, matched only here and kept
verbatim on the error for the people who fix it.

=====================================================  =======================================
answer                                                 error (reason)
=====================================================  =======================================
429 ``CONCURRENCY_LIMIT_EXCEEDED``                     :class:`RetryableError` (rate_limited)
400 ``USER_ERROR`` "This entity already exists."       :class:`ConflictError` (duplicate)
400 ``USER_ERROR`` closed / locked period              :class:`BusinessRuleError` (period_closed)
400 ``USER_ERROR`` "Invalid Field Value X ... field F" :class:`BusinessRuleError` (by field F)
400 ``USER_ERROR`` "Invalid entity reference key 'X'"  :class:`BusinessRuleError` (not shared)
400 ``FEATURE_DISABLED`` Multi-Subsidiary Customer     :class:`BusinessRuleError` (not shared)
400 ``USER_ERROR`` "No exchange rate is available"     :class:`BusinessRuleError` (rate_missing)
400 other ``USER_ERROR``, ``INVALID_FLD_VALUE``, ...   :class:`BusinessRuleError`
400/403 ``INSUFFICIENT_PERMISSION`` / role text        :class:`AuthError` (permission)
400 ``INVALID_PARAMETER`` (bad query, bad URL)         :class:`PermanentError`
401 (after one re-authentication)                      :class:`AuthError`
404 ``NONEXISTENT_ID``                                 :class:`NotFoundError` (not_found)
5xx, timeouts                                          :class:`RetryableError` (unavailable)
=====================================================  =======================================
"""

import re
from dataclasses import dataclass
from typing import Literal

import httpx

from accord.connectors.http import ErrorTranslation, Verdict, json_or_none, redact_text
from accord.connectors.reasons import TextRule, rule_for
from accord.errors import (
    AuthError,
    BusinessRuleError,
    ConflictError,
    ConnectorError,
    PermanentError,
    Reason,
)

__all__ = [
    "CODE_REASONS",
    "FIELD_REASONS",
    "TEXT_RULES",
    "NetSuiteErrorBody",
    "UserErrorKind",
    "classify_user_error",
    "parse_error",
    "read_verdict",
    "reason_of",
    "translate",
]

UserErrorKind = Literal[
    "duplicate", "closed_period", "invalid_reference", "permission", "locked", "validation"
]
"""What a ``USER_ERROR`` is about (superseded by :class:`~accord.errors.Reason`, kept for
callers that still read it)."""

_BUSINESS_CODES = frozenset(
    {
        "USER_ERROR",
        "INVALID_FLD_VALUE",
        "INVALID_KEY_OR_REF",
        "INVALID_FIELD_VALUE",
        "FEATURE_DISABLED",
    }
)
_PERMISSION_CODES = frozenset({"INSUFFICIENT_PERMISSION", "INVALID_LOGIN", "INVALID_ROLE"})
_REF = "reference 4.3"
CODE_REASONS: dict[str, Reason] = {
    "CONCURRENCY_LIMIT_EXCEEDED": Reason.RATE_LIMITED,  # reference 4.3 (REST 429)
    "SSS_REQUEST_LIMIT_EXCEEDED": Reason.RATE_LIMITED,  # reference 4.3 (RESTlets)
    "INSUFFICIENT_PERMISSION": Reason.PERMISSION,  # reference 4.3
    "INVALID_LOGIN": Reason.PERMISSION,
    "INVALID_ROLE": Reason.PERMISSION,
    "NONEXISTENT_ID": Reason.NOT_FOUND,  # [inferred] code of the emulator's 404
    "INVALID_FLD_VALUE": Reason.VALIDATION,  # reference 4.3 ("Invalid date value.")
    "INVALID_KEY_OR_REF": Reason.REFERENCE_INVALID,  # [inferred] emulator's malformed reference
}
"""Codes that say what the refusal is about by themselves."""
FIELD_REASONS: dict[str, Reason] = {
    "department": Reason.DIMENSION_INVALID,
    "class": Reason.DIMENSION_INVALID,
    "location": Reason.DIMENSION_INVALID,
    "subsidiary": Reason.DIMENSION_INVALID,
    "employee": Reason.RESOURCE_UNKNOWN,
    "customer": Reason.PROJECT_INACTIVE,
    "job": Reason.PROJECT_INACTIVE,
    "parent": Reason.CUSTOMER_INACTIVE,
}
"""The field an "Invalid Field Value X for the following field: F" names -> its reason.

On time bills and expense lines ``customer`` holds the project (reference 4.5). ``entity``
depends on the record (the employee of an expense report, the customer of an invoice): see
:func:`reason_of`. Any other field (item, category, account, currency) is a reference."""
_INVALID_VALUE = re.compile(
    r"Invalid Field Value (?P<value>\S*) for the following field: (?P<field>\w+)"
)
TEXT_RULES: tuple[TextRule, ...] = (
    TextRule(
        Reason.DUPLICATE,
        re.compile(r"This entity already exists", re.IGNORECASE),
        "reference 4.2 (public debug notes)",
    ),
    TextRule(
        Reason.ENTITY_NOT_SHARED,
        re.compile(r"Invalid entity reference key '[^']*' for subsidiary", re.IGNORECASE),
        "reference 4.3 (splitforge.app: a quoted key was found but is not in the subsidiary)",
    ),
    TextRule(
        Reason.REFERENCE_INVALID,
        re.compile(r"Invalid entity reference key \S+ for subsidiary", re.IGNORECASE),
        "reference 4.3 (splitforge.app: an unquoted key was not found)",
    ),
    TextRule(
        Reason.ENTITY_NOT_SHARED,
        re.compile(r"feature 'Multi-Subsidiary Customer'", re.IGNORECASE),
        "Customer-Subsidiary Relationship needs the Multi-Subsidiary Customer feature "
        "(NetSuite help); the text is the emulator's",
        inferred=True,
    ),
    TextRule(
        Reason.RATE_MISSING,
        re.compile(r"No exchange rate is available", re.IGNORECASE),
        "currency rates (NetSuite help: Currency Exchange Rates); the text is the emulator's",
        inferred=True,
    ),
    TextRule(Reason.REFERENCE_INVALID, _INVALID_VALUE, f"{_REF} (REST example body)"),
    TextRule(
        Reason.PERIOD_CLOSED,
        re.compile(r"not within an open accounting period", re.IGNORECASE),
        "reference 4.3 (wp.jjknowledgebase.com/?p=53296)",
    ),
    TextRule(
        Reason.PERIOD_CLOSED,
        re.compile(
            r"not within the date range of your accounting period|closed period", re.IGNORECASE
        ),
        "reference 4.3 emulator suggestion",
        inferred=True,
    ),
    TextRule(
        Reason.PERMISSION,
        re.compile(r"does not have permission|do not have permission", re.IGNORECASE),
        _REF,
    ),
    TextRule(
        Reason.LOCKED,
        re.compile(r"has been locked by a user defined workflow", re.IGNORECASE),
        _REF,
    ),
    TextRule(Reason.REQUIRED_MISSING, re.compile(r"You must enter a value for"), _REF),
    TextRule(
        Reason.CUSTOMER_INACTIVE,
        re.compile(r"on credit hold", re.IGNORECASE),
        "emulator (accord_sandbox.netsuite.book); credit hold is a documented NetSuite setting",
        inferred=True,
    ),
    TextRule(
        Reason.UNKNOWN_FIELD,
        re.compile(r'The field "[^"]+" does not exist on this record', re.IGNORECASE),
        "X-NetSuite-PropertyNameValidation (REST API Browser); the text is the emulator's",
        inferred=True,
    ),
)
"""``USER_ERROR`` texts and what they mean, first match wins (see docs/connectors.md)."""
_KINDS: dict[Reason, UserErrorKind] = {
    Reason.DUPLICATE: "duplicate",
    Reason.PERIOD_CLOSED: "closed_period",
    Reason.ENTITY_NOT_SHARED: "invalid_reference",
    Reason.REFERENCE_INVALID: "invalid_reference",
    Reason.PERMISSION: "permission",
    Reason.LOCKED: "locked",
}


@dataclass(frozen=True, slots=True)
class NetSuiteErrorBody:
    """The useful part of an error body: the first detail's code, all details, the first path."""

    code: str | None
    detail: str | None
    path: str | None


def parse_error(response: httpx.Response) -> NetSuiteErrorBody:
    """Read ``o:errorDetails`` from an error response (tolerating any other body)."""
    body = json_or_none(response)
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


def reason_of(code: str | None, detail: str | None, resource: str | None = None) -> Reason | None:
    """What an error with this ``o:errorCode`` and detail is about (see the module table)."""
    if code in CODE_REASONS:
        return CODE_REASONS[code]
    hit = rule_for(TEXT_RULES, detail)
    if hit is None:
        return Reason.VALIDATION if code in _BUSINESS_CODES else None
    rule, found = hit
    if rule.pattern is not _INVALID_VALUE:
        return rule.reason
    field = found["field"]
    if field == "entity":
        return Reason.RESOURCE_UNKNOWN if resource == "expenseReport" else Reason.CUSTOMER_INACTIVE
    return FIELD_REASONS.get(field, Reason.REFERENCE_INVALID)


def classify_user_error(detail: str | None) -> UserErrorKind:
    """What a ``USER_ERROR`` detail is about (``validation`` when nothing more specific).

    The coarser, older view of :func:`reason_of`; new code reads ``error.reason``.
    """
    hit = rule_for(TEXT_RULES, detail)
    return _KINDS.get(hit[0].reason, "validation") if hit else "validation"


def read_verdict(response: httpx.Response, resource: str | None) -> Verdict:
    """What a failed NetSuite response's body says (see the module table)."""
    parsed = parse_error(response)
    status = response.status_code
    detail = redact_text(parsed.detail) if parsed.detail else None
    if parsed.path and detail:
        detail = f"{detail} (at {parsed.path})"
    reason = reason_of(parsed.code, parsed.detail, resource)
    cls: type[ConnectorError] | None = None
    if status in {400, 403} and parsed.code in _BUSINESS_CODES | _PERMISSION_CODES:
        if reason is Reason.PERMISSION:
            cls = AuthError
        elif reason is Reason.DUPLICATE:
            cls = ConflictError
        else:
            cls = BusinessRuleError
    elif status == 400:
        cls = PermanentError
    return Verdict(parsed.code, detail, reason, cls)


translate = ErrorTranslation(read_verdict)
"""The error a failed NetSuite response means (see the module table)."""
