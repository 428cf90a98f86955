"""Kantata error bodies and what they mean for the caller.

Reference section 3.3: errors come as ``{"errors": [{"type", "message", "field"}]}``. The
class follows the status (Kantata uses statuses faithfully); the first error's ``type`` is kept
as the code and every message (with its field) as the detail, verbatim, for the people who fix
it.

=============================  ===============================================
answer                         error
=============================  ===============================================
401 (after one re-auth), 403   :class:`~accord.errors.AuthError`
404                            :class:`~accord.errors.NotFoundError`
409                            :class:`~accord.errors.ConflictError`
422 ``validation``             :class:`~accord.errors.BusinessRuleError`
429, 5xx, 504 without a body   :class:`~accord.errors.RetryableError` (``retry_after``)
other 4xx                      :class:`~accord.errors.PermanentError`
=============================  ===============================================
"""

from dataclasses import dataclass

import httpx

from accord.connectors.http import ErrorTranslation, Verdict, json_or_none, redact_text
from accord.errors import Reason

__all__ = [
    "FIELD_REASONS",
    "KantataErrorBody",
    "parse_error",
    "read_verdict",
    "reason_of",
    "translate",
]


@dataclass(frozen=True, slots=True)
class KantataErrorBody:
    """The useful part of an error body: the first error's type and every message."""

    code: str | None
    detail: str | None
    fields: tuple[str, ...] = ()


def parse_error(response: httpx.Response) -> KantataErrorBody:
    """Read ``errors`` (or an OAuth2 ``error``) from a response, tolerating any other body."""
    body = json_or_none(response)
    if not isinstance(body, dict):
        return KantataErrorBody(None, None)
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        entries = [e for e in errors if isinstance(e, dict)]
        messages: list[str] = []
        fields: list[str] = []
        for entry in entries:
            message = str(entry.get("message") or "")
            field = entry.get("field")
            if field:
                fields.append(str(field))
                message = f"{message} ({field})" if message else str(field)
            if message:
                messages.append(message)
        code = entries[0].get("type") if entries else None
        return KantataErrorBody(
            code=str(code) if code else None,
            detail="; ".join(messages) or None,
            fields=tuple(fields),
        )
    if body.get("error"):
        description = body.get("error_description")
        return KantataErrorBody(str(body["error"]), str(description) if description else None)
    return KantataErrorBody(None, None)


def read_verdict(response: httpx.Response, resource: str | None) -> Verdict:
    """What a failed Kantata response's body says: classified by status (the module table)."""
    del resource  # the fields a 422 names say it all
    parsed = parse_error(response)
    detail = redact_text(parsed.detail) if parsed.detail else None
    return Verdict(parsed.code, detail, reason_of(response.status_code, parsed))


translate = ErrorTranslation(read_verdict)
"""The error a failed Kantata response means (see the module table)."""


def reason_of(status: int, parsed: KantataErrorBody) -> Reason | None:
    """What a Kantata refusal is about: the status, and for a 422 the fields it names.

    Kantata gives no error codes beyond ``type`` (reference 3.3, [inferred] there): a 422
    naming a reference field (``workspace_id``, ``user_id``, ``story_id``) is an unknown or
    closed reference; a blank-value message is a missing field; any other 422 is validation.
    """
    if status != 422:
        return None  # the status's own reason (see translate_http_error)
    for name in parsed.fields:
        if name in FIELD_REASONS:
            return FIELD_REASONS[name]
    if parsed.detail and "can't be blank" in parsed.detail:
        return Reason.REQUIRED_MISSING  # reference 3.3 example "Date performed can't be blank"
    return Reason.VALIDATION


FIELD_REASONS: dict[str, Reason] = {
    "workspace_id": Reason.PROJECT_INACTIVE,
    "workspace_ids": Reason.PROJECT_INACTIVE,
    "user_id": Reason.RESOURCE_UNKNOWN,
    "story_id": Reason.REFERENCE_INVALID,
}
"""The field a 422 names -> what it is about ([inferred]: the emulator's fields)."""
