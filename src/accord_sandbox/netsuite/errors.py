"""NetSuite's error shape (reference section 4.3) and the one exception routes raise.

Every failure inside the NetSuite emulator is a :class:`NetSuiteError`; the app turns it into
``{"type","title","status","o:errorDetails":[...]}``. The detail texts that several modules share
live here so that one wording is used everywhere. Nothing here knows about routes or records.
"""

from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse

__all__ = [
    "ACCESS_PREFIX",
    "CLOSED_PERIOD_DETAIL",
    "CLOSED_POSTING_PERIOD_DETAIL",
    "DUPLICATE_DETAIL",
    "ERROR_MEDIA_TYPE",
    "INVALID_LOGIN_DETAIL",
    "MULTI_SUBSIDIARY_DISABLED_DETAIL",
    "NONEXISTENT_DETAIL",
    "NetSuiteError",
    "error_body",
    "error_json",
    "invalid_field_value",
    "no_exchange_rate_detail",
    "unknown_field_detail",
]

ERROR_MEDIA_TYPE = "application/vnd.oracle.resource+json; type=error"
"""[inferred] media type of NetSuite REST error bodies; the reference only shows the JSON."""

ACCESS_PREFIX = "Error while accessing a resource. "
"""Prefix of record-API user errors, as in every example of reference section 4.3."""

INVALID_LOGIN_DETAIL = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at "
    "Setup > Users/Roles > User Management > View Login Audit Trail."
)
"""Verbatim 401 detail from reference section 4.1."""

DUPLICATE_DETAIL = ACCESS_PREFIX + "This entity already exists."
"""Verbatim detail of a POST whose externalId already exists (reference section 4.2)."""

# [inferred] The reference gives no verbatim closed-period text; these are its suggestions.
CLOSED_PERIOD_DETAIL = (
    ACCESS_PREFIX
    + "The transaction date you specified is not within the date range of your accounting period."
)
"""Default detail when a posting's date falls in a closed period (configurable per emulator)."""
CLOSED_POSTING_PERIOD_DETAIL = ACCESS_PREFIX + "You cannot post to a closed period."
"""Default detail when ``postingPeriod`` names a closed period (configurable per emulator)."""

# [inferred] Not in the reference; this is the text real accounts answer for an unknown id.
NONEXISTENT_DETAIL = "The record instance does not exist. Provide a valid record instance ID."
"""Detail of the 404 ``NONEXISTENT_ID`` error."""


MULTI_SUBSIDIARY_DISABLED_DETAIL = (
    "The feature 'Multi-Subsidiary Customer' required to access this page is not enabled in "
    "this account."
)
"""[inferred] detail (code ``FEATURE_DISABLED``) of a customer-subsidiary relationship written
while the feature is off: the pattern of NetSuite's answers for disabled features."""


def no_exchange_rate_detail(source: str, target: str, day: str) -> str:
    """[inferred] detail of a foreign-currency transaction with no rate for its date."""
    return (
        f"{ACCESS_PREFIX}No exchange rate is available from currency {source} to currency "
        f"{target} for {day}."
    )


def unknown_field_detail(name: str) -> str:
    """[inferred] Detail of a property the record does not have (``PropertyNameValidation: Error``).

    The header is documented (REST API Browser, Record API v1); its error text is not.
    """
    return f'{ACCESS_PREFIX}The field "{name}" does not exist on this record or sublist.'


def invalid_field_value(value: object, field: str) -> str:
    """The detail NetSuite gives for a bad, inactive or unassigned reference (section 4.3)."""
    return (
        f"{ACCESS_PREFIX}You have entered an Invalid Field Value {value} "
        f"for the following field: {field}"
    )


class NetSuiteError(Exception):
    """An error answered in NetSuite's shape; carries one ``o:errorDetails`` entry."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        path: str | None = None,
        title: str | None = None,
        query_param: str | None = None,
        header: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.path = path
        self.title = title
        self.query_param = query_param
        self.header = header

    @classmethod
    def user(cls, detail: str, *, path: str | None = None) -> "NetSuiteError":
        """400 ``USER_ERROR``: validation and business-rule refusals."""
        return cls(400, "USER_ERROR", detail, path=path)

    @classmethod
    def invalid_ref(cls, value: object, field: str, *, path: str | None = None) -> "NetSuiteError":
        """400 ``USER_ERROR`` "Invalid Field Value X for the following field: F"."""
        return cls(400, "USER_ERROR", invalid_field_value(value, field), path=path or field)

    @classmethod
    def not_found(cls) -> "NetSuiteError":
        """404 ``NONEXISTENT_ID`` ([inferred] code and text; see :data:`NONEXISTENT_DETAIL`)."""
        return cls(404, "NONEXISTENT_ID", NONEXISTENT_DETAIL)

    @classmethod
    def bad_param(cls, detail: str, *, query_param: str | None = None) -> "NetSuiteError":
        """400 ``INVALID_PARAMETER`` (an observed code) for malformed URLs and parameters."""
        return cls(400, "INVALID_PARAMETER", detail, query_param=query_param)

    def as_response(self) -> JSONResponse:
        """This error as an HTTP response."""
        entry: dict[str, Any] = {"detail": self.detail, "o:errorCode": self.code}
        if self.path is not None:
            entry["o:errorPath"] = self.path
        if self.query_param is not None:
            entry["o:errorQueryParam"] = self.query_param
        if self.header is not None:
            entry["o:errorHeader"] = self.header
        return error_json(self.status, [entry], title=self.title)


def _type_url(status: int) -> str:
    """The RFC 2616 section URL NetSuite puts in ``type``.

    429 is not in RFC 2616, and the reference's 429 example has no fragment.
    """
    base = "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html"
    if 400 <= status <= 417:
        return f"{base}#sec10.4.{status - 399}"
    if 500 <= status <= 505:
        return f"{base}#sec10.5.{status - 499}"
    return base


def error_body(
    status: int, details: list[dict[str, Any]], *, title: str | None = None
) -> dict[str, Any]:
    """``{"type","title","status","o:errorDetails"}`` for ``status``."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return {
        "type": _type_url(status),
        "title": title or phrase,
        "status": status,
        "o:errorDetails": details,
    }


def error_json(
    status: int,
    details: list[dict[str, Any]],
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSON response holding :func:`error_body`."""
    return JSONResponse(
        error_body(status, details, title=title),
        status,
        headers=headers,
        media_type=ERROR_MEDIA_TYPE,
    )
