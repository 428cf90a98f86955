"""Accord's error tree: every error says what the caller should do.

::

    AccordError
    ├─ ConfigError                 # bad settings / connection config (never retried)
    ├─ ConnectorError              # anything from a remote system
    │  ├─ RetryableError           # 429, 5xx, timeouts, locks; carries retry_after
    │  │  └─ RateLimitExceeded     # a daily/periodic quota is spent (Salesforce 403)
    │  ├─ AuthError                # 401/403 after one re-authentication; pause, alert
    │  ├─ PermanentError           # 4xx that retrying will not fix
    │  │  ├─ BusinessRuleError     # validation, closed period, invalid dimension
    │  │  ├─ NotFoundError
    │  │  └─ ConflictError         # stale etag, duplicate
    │  └─ UnsupportedOperationError
    ├─ MappingError                # spec invalid / transform failed
    ├─ RuleViolation               # a business rule failed (usually collected, not raised)
    ├─ GovernanceError             # a rules change refused: self-approval, wrong state
    └─ WorkflowError               # orchestration failures surfaced to API/CLI

Retry policy derives from the class (:func:`is_retryable`); nobody parses messages. Context is
keyword-only and structured so that logs, exceptions and the API can show it without secrets.
What a refusal is about, beyond its class, is its :class:`Reason` (``exc.reason``): each
connector's ``errors`` module sets it from the vendor's code (or, where the vendor gives none,
its documented wording), so flows branch on a stable value and never on a vendor's text.
"""

from enum import StrEnum
from typing import Any, TypedDict, Unpack

__all__ = [
    "AccordError",
    "AuthError",
    "BusinessRuleError",
    "ConfigError",
    "ConflictError",
    "ConnectorError",
    "ErrorContext",
    "GovernanceError",
    "MappingError",
    "NotFoundError",
    "PermanentError",
    "RateLimitExceeded",
    "Reason",
    "RetryableError",
    "RuleViolation",
    "UnsupportedOperationError",
    "WorkflowError",
    "is_retryable",
]


class Reason(StrEnum):
    """What a remote refusal is about, the same for every vendor (``ConnectorError.reason``).

    Set by each connector's error translation; ``None`` when the vendor's answer says no more
    than its status. docs/connectors.md lists, per vendor, which codes and texts give which.
    """

    PERIOD_CLOSED = "period_closed"
    """The posting date falls in a closed (or locked) accounting period."""
    DIMENSION_INVALID = "dimension_invalid"
    """A department, class, location, subsidiary or dimension value is unknown or inactive."""
    ENTITY_NOT_SHARED = "entity_not_shared"
    """The referenced record exists but is not assigned to the transaction's subsidiary."""
    PROJECT_INACTIVE = "project_inactive"
    """The project is closed, blocked, or takes no time or expenses."""
    CUSTOMER_INACTIVE = "customer_inactive"
    """The customer is blocked, inactive or on credit hold."""
    RESOURCE_UNKNOWN = "resource_unknown"
    """The employee / resource is unknown or inactive in the target."""
    REFERENCE_INVALID = "reference_invalid"
    """Another referenced record (item, category, account ...) is unknown or inactive."""
    UNKNOWN_FIELD = "unknown_field"
    """The body names a field the target does not have."""
    REQUIRED_MISSING = "required_missing"
    """A required field is empty."""
    VALIDATION = "validation"
    """Any other refusal of the record's data."""
    DUPLICATE = "duplicate"
    """The record (its external id, number or key) exists already."""
    SEVERAL_MATCHES = "several_matches"
    """An external id matched more than one record."""
    STALE = "stale"
    """The record changed since it was read (etag)."""
    LOCKED = "locked"
    """The record is locked (row lock, workflow lock, approved or posted document)."""
    NOT_FOUND = "not_found"
    """The record does not exist."""
    PERMISSION = "permission"
    """The integration's role may not do this."""
    RATE_LIMITED = "rate_limited"
    """Too many requests (rate, concurrency or quota)."""
    UNAVAILABLE = "unavailable"
    """The system is down or timed out."""
    RATE_MISSING = "rate_missing"
    """No exchange rate for the currency pair and date."""


class ErrorContext(TypedDict, total=False):
    """The structured context every connector error takes (keyword-only)."""

    connector: str | None
    resource: str | None
    external_id: str | None
    status_code: int | None
    request_id: str | None
    code: str | None
    detail: str | None
    reason: str | None


class AccordError(Exception):
    """Root of every error Accord raises on purpose."""

    default_message = "Accord error"
    """Message used when none is given."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class ConfigError(AccordError):
    """Settings or connection configuration is invalid; fix it, do not retry."""

    default_message = "invalid configuration"


class ConnectorError(AccordError):
    """Anything a remote system answered or failed to answer.

    Attributes carry the structured context; the message never holds a secret or a payload.
    """

    default_message = "remote system error"

    def __init__(
        self,
        message: str | None = None,
        *,
        connector: str | None = None,
        resource: str | None = None,
        external_id: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        code: str | None = None,
        detail: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.connector = connector
        self.resource = resource
        self.external_id = external_id
        self.status_code = status_code
        self.request_id = request_id
        self.code = code
        """The remote system's own error code (e.g. ``USER_ERROR``), kept verbatim."""
        self.detail = detail
        """The remote system's own error text, kept verbatim for the people who fix it."""
        self.reason = reason
        """What the refusal is about, a :class:`Reason` value (None when the answer says no
        more than its status); flows branch on this, never on ``code`` or ``detail``."""
        parts = [message or self.default_message]
        if connector:
            parts.append(f"connector={connector}")
        if resource:
            parts.append(f"resource={resource}")
        if status_code is not None:
            parts.append(f"status={status_code}")
        if code:
            parts.append(f"code={code}")
        super().__init__(" ".join(parts))

    def context(self) -> dict[str, Any]:
        """The structured fields, for logs, exceptions and problem details."""
        return {
            "error": type(self).__name__,
            "connector": self.connector,
            "resource": self.resource,
            "external_id": self.external_id,
            "status_code": self.status_code,
            "request_id": self.request_id,
            "code": self.code,
            "detail": self.detail,
            "reason": self.reason,
        }


class RetryableError(ConnectorError):
    """Transient: retry later, after ``retry_after`` seconds when the system said so."""

    default_message = "transient remote failure"

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        **kw: Unpack[ErrorContext],
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class RateLimitExceeded(RetryableError):  # noqa: N818 - the name the design uses
    """A quota over a long window (e.g. Salesforce's daily limit) is spent; back off long."""

    default_message = "request quota exceeded"


class AuthError(ConnectorError):
    """Credentials refused even after one re-authentication; pause the connection and alert."""

    default_message = "authentication failed"


class PermanentError(ConnectorError):
    """The request cannot succeed as it is; retrying will not help."""

    default_message = "request refused"


class BusinessRuleError(PermanentError):
    """The target refused on a business rule: validation, closed period, invalid dimension."""

    default_message = "refused by a business rule of the target system"


class NotFoundError(PermanentError):
    """The record does not exist in the target."""

    default_message = "record not found"


class ConflictError(PermanentError):
    """A write conflicted: stale etag, duplicate record, several external-id matches."""

    default_message = "conflicting write"


class UnsupportedOperationError(ConnectorError):
    """The connector or system does not offer this operation."""

    default_message = "operation not supported"


class MappingError(AccordError):
    """A mapping or rules spec is invalid, or a transform failed."""

    default_message = "mapping failed"


class GovernanceError(AccordError):
    """A change of the rules was refused: the caller must change what it asks, not retry."""

    default_message = "rules change refused"


class RuleViolation(AccordError):  # noqa: N818 - a value object named for what it is
    """A business rule failed; usually collected into a list rather than raised."""

    default_message = "business rule violated"

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class WorkflowError(AccordError):
    """An orchestration failure surfaced to the API or the CLI."""

    default_message = "workflow failed"


def is_retryable(exc: BaseException) -> bool:
    """Whether an error is worth retrying: retryable connector errors and raw timeouts."""
    if isinstance(exc, RetryableError):
        return True
    if isinstance(exc, AccordError):
        return False
    return isinstance(exc, TimeoutError | ConnectionError)
