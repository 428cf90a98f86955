"""Salesforce error bodies and what they mean for the caller (Certinia shares them).

Reference section 1.2: errors come as a JSON array ``[{"message","errorCode","fields"}]``
(sObject collections say ``statusCode``); a ``300`` lists the records an external id matched.
The class is decided on ``errorCode`` first and the status second; ``code`` and ``detail``
keep the platform's own code and text (every entry, joined) for the people who fix it.

=====================================================  =========================================
answer                                                 error
=====================================================  =========================================
300 (external id matched several records)              :class:`ConflictError`
403 ``REQUEST_LIMIT_EXCEEDED`` (daily / concurrent)    :class:`RateLimitExceeded`
``UNABLE_TO_LOCK_ROW``, ``SERVER_UNAVAILABLE``, ...    :class:`RetryableError`
429, 5xx, 408                                          :class:`RetryableError` + ``retry_after``
401 ``INVALID_SESSION_ID`` (after one re-auth)         :class:`AuthError`
other 403 (``INSUFFICIENT_ACCESS...``)                 :class:`AuthError`
``DUPLICATE_VALUE``, ``DUPLICATES_DETECTED``, ...      :class:`ConflictError`
``NOT_FOUND``, ``ENTITY_IS_DELETED``, 404              :class:`NotFoundError`
``REQUIRED_FIELD_MISSING``, validation, picklist ...   :class:`BusinessRuleError`
other 400 (malformed query, bad JSON)                  :class:`PermanentError`
=====================================================  =========================================
"""

from dataclasses import dataclass

import httpx

from accord.connectors.http import (
    ErrorTranslation,
    Verdict,
    json_or_none,
    redact_text,
)
from accord.errors import (
    AuthError,
    BusinessRuleError,
    ConflictError,
    ConnectorError,
    NotFoundError,
    RateLimitExceeded,
    Reason,
    RetryableError,
)

__all__ = [
    "BUSINESS_RULE_CODES",
    "CODE_REASONS",
    "CONFLICT_CODES",
    "RETRYABLE_CODES",
    "SalesforceErrorBody",
    "parse_error",
    "read_verdict",
    "translate",
]

MULTIPLE_CHOICES = 300
"""Status of an upsert or lookup whose external id matched more than one record."""

BUSINESS_RULE_CODES = frozenset(
    {
        "REQUIRED_FIELD_MISSING",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "FIELD_INTEGRITY_EXCEPTION",
        "FIELD_FILTER_VALIDATION_EXCEPTION",
        "INVALID_FIELD",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "INVALID_EMAIL_ADDRESS",
        "INVALID_CROSS_REFERENCE_KEY",
        "MALFORMED_ID",
        "STRING_TOO_LONG",
        "NUMBER_OUTSIDE_VALID_RANGE",
        "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
        "ENTITY_IS_LOCKED",
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
    }
)
"""Codes of a record the org refuses on its data rules: fix the data, do not retry."""
CONFLICT_CODES = frozenset({"DUPLICATE_VALUE", "DUPLICATES_DETECTED", "DUPLICATE_EXTERNAL_ID"})
"""Codes of a write that collides with another record."""
NOT_FOUND_CODES = frozenset({"NOT_FOUND", "ENTITY_IS_DELETED"})
"""Codes of a record that does not (or no longer) exist."""
RETRYABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "QUERY_TIMEOUT"})
"""Codes of a transient refusal, whatever the status (a row lock answers 400)."""
LIMIT_CODE = "REQUEST_LIMIT_EXCEEDED"
"""With 403: the org's daily (or concurrent long-running) request limit is spent."""
CODE_REASONS: dict[str, Reason] = {
    # Reference 1.2 and 1.6 (the errorcodes page; its list of common codes is [inferred]).
    LIMIT_CODE: Reason.RATE_LIMITED,
    "REQUIRED_FIELD_MISSING": Reason.REQUIRED_MISSING,
    "INVALID_FIELD": Reason.UNKNOWN_FIELD,
    "INVALID_FIELD_FOR_INSERT_UPDATE": Reason.UNKNOWN_FIELD,
    "INVALID_CROSS_REFERENCE_KEY": Reason.REFERENCE_INVALID,
    "MALFORMED_ID": Reason.REFERENCE_INVALID,
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": Reason.VALIDATION,
    "FIELD_INTEGRITY_EXCEPTION": Reason.VALIDATION,
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": Reason.VALIDATION,
    "STRING_TOO_LONG": Reason.VALIDATION,
    "DUPLICATE_VALUE": Reason.DUPLICATE,
    "DUPLICATES_DETECTED": Reason.DUPLICATE,
    "DUPLICATE_EXTERNAL_ID": Reason.DUPLICATE,
    "NOT_FOUND": Reason.NOT_FOUND,
    "ENTITY_IS_DELETED": Reason.NOT_FOUND,
    "UNABLE_TO_LOCK_ROW": Reason.LOCKED,
    "ENTITY_IS_LOCKED": Reason.LOCKED,
    "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY": Reason.PERMISSION,
    "INSUFFICIENT_ACCESS_OR_READONLY": Reason.PERMISSION,
    "SERVER_UNAVAILABLE": Reason.UNAVAILABLE,
    "QUERY_TIMEOUT": Reason.UNAVAILABLE,
}
"""Salesforce's ``errorCode`` (``statusCode`` in collections) -> what it is about."""


@dataclass(frozen=True, slots=True)
class SalesforceErrorBody:
    """The useful part of an error body: the first code, every message, the fields named."""

    code: str | None
    detail: str | None
    fields: tuple[str, ...] = ()


def parse_error(response: httpx.Response) -> SalesforceErrorBody:
    """Read ``[{"message","errorCode","fields"}]`` (tolerating any other body)."""
    body = json_or_none(response)
    if response.status_code == MULTIPLE_CHOICES and isinstance(body, list):
        matches = [str(item) for item in body if isinstance(item, str)]
        return SalesforceErrorBody("MULTIPLE_CHOICES", ", ".join(matches) or None)
    entries = body if isinstance(body, list) else [body]
    errors = [e for e in entries if isinstance(e, dict)]
    if not errors:
        return SalesforceErrorBody(None, None)
    first = errors[0]
    code = first.get("errorCode") or first.get("statusCode") or first.get("error")
    texts = [str(e.get("message") or e.get("error_description")) for e in errors]
    fields = tuple(
        str(name) for e in errors if isinstance(e.get("fields"), list) for name in e["fields"]
    )
    return SalesforceErrorBody(
        code=str(code) if code else None,
        detail=" | ".join(t for t in texts if t and t != "None") or None,
        fields=fields,
    )


def read_verdict(response: httpx.Response, resource: str | None) -> Verdict:
    """What a failed Salesforce response's body says (see the module table)."""
    del resource  # Salesforce's codes say it all
    parsed = parse_error(response)
    status = response.status_code
    detail = redact_text(parsed.detail) if parsed.detail else None
    if detail and parsed.fields:
        detail = f"{detail} (fields: {', '.join(parsed.fields)})"
    several = status == MULTIPLE_CHOICES
    reason = Reason.SEVERAL_MATCHES if several else CODE_REASONS.get(parsed.code or "")
    cls: type[ConnectorError] | None = None
    if several:
        cls = ConflictError
    elif status == httpx.codes.FORBIDDEN and parsed.code == LIMIT_CODE:
        cls = RateLimitExceeded
    elif parsed.code in RETRYABLE_CODES:
        cls = RetryableError
    elif status in {401, 403}:
        cls = AuthError
    elif parsed.code in CONFLICT_CODES:
        cls = ConflictError
    elif parsed.code in NOT_FOUND_CODES:
        cls = NotFoundError
    elif parsed.code in BUSINESS_RULE_CODES:
        cls = BusinessRuleError
    return Verdict(parsed.code, detail, reason, cls)


translate = ErrorTranslation(read_verdict)
"""The error a failed Salesforce response means (see the module table)."""
