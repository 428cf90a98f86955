"""Request decoding for the Kantata emulator: JSON or Rails-style form bodies, query values.

Kantata accepts writes as JSON or as ``x-www-form-urlencoded`` nested the Rails way
(``time_entry[workspace_id]=1``, ``time_entries[][notes]=a``); both decode to the same dict here.
Also home of :class:`KantataError`, the one exception routes raise to answer in Kantata's error
shape. Nothing here knows about particular resources.
"""

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request

__all__ = [
    "KantataError",
    "format_timestamp",
    "parse_form",
    "parse_timestamp",
    "read_body",
]

_KEY_PART = re.compile(r"\[([^\]]*)\]")


class KantataError(Exception):
    """An API error answered as ``{"errors": [...]}`` with ``status`` (reference section 3.3)."""

    def __init__(
        self,
        status: int,
        errors: list[dict[str, str]],
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(errors[0]["message"] if errors else str(status))
        self.status = status
        self.errors = errors
        self.headers = headers

    @classmethod
    def not_found(cls) -> "KantataError":
        """404 for an unknown id or path ([inferred] body ``type: system``)."""
        return cls(404, [{"type": "system", "message": "Not Found"}])

    @classmethod
    def invalid(cls, message: str, field: str | None = None) -> "KantataError":
        """422 with one validation message."""
        entry = {"type": "validation", "message": message}
        if field:
            entry["field"] = field
        return cls(422, [entry])


def _assign(target: dict[str, Any], parts: list[str], value: str) -> None:
    """Put ``value`` at the Rails key path ``parts`` (``[]`` appends / starts a new hash)."""
    key, rest = parts[0], parts[1:]
    if not rest:
        target[key] = value
        return
    if rest[0] == "":
        items = target.setdefault(key, [])
        if not isinstance(items, list):
            raise KantataError.invalid(f"Parameter {key} mixes list and hash forms")
        if len(rest) == 1:
            items.append(value)
            return
        # Rails starts a new hash in ``a[][k]`` whenever ``k`` is already in the last one.
        if not items or not isinstance(items[-1], dict) or rest[1] in items[-1]:
            items.append({})
        _assign(items[-1], rest[1:], value)
        return
    child = target.setdefault(key, {})
    if not isinstance(child, dict):
        raise KantataError.invalid(f"Parameter {key} mixes scalar and hash forms")
    _assign(child, rest, value)


def parse_form(body: str) -> dict[str, Any]:
    """Decode a Rails-nested form body into nested dicts and lists."""
    out: dict[str, Any] = {}
    for raw_key, value in parse_qsl(body, keep_blank_values=True):
        head, _, tail = raw_key.partition("[")
        parts = [head, *_KEY_PART.findall("[" + tail)] if tail else [head]
        _assign(out, parts, value)
    return out


async def read_body(request: Request) -> dict[str, Any]:
    """The request body as a dict, from JSON or form encoding; empty bodies give ``{}``.

    Raises:
        KantataError: 400 when the body is not decodable ([inferred] status and wording).
    """
    raw = await request.body()
    if not raw.strip():
        return {}
    content_type = request.headers.get("content-type", "")
    text = raw.decode("utf-8", errors="replace")
    if "application/x-www-form-urlencoded" in content_type:
        return parse_form(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KantataError(400, [{"type": "system", "message": "Malformed JSON body"}]) from exc
    if not isinstance(data, dict):
        raise KantataError(400, [{"type": "system", "message": "Body must be a JSON object"}])
    return data


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 in UTC with microseconds.

    [inferred]: Kantata shows seconds with the account's offset; microseconds keep
    ``updated_after`` / ``created_after`` cursors exact when a test writes twice in one second.
    """
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_timestamp(value: str, param: str) -> datetime:
    """An ISO-8601 query value (``Z`` allowed; naive means UTC, [inferred]).

    Raises:
        KantataError: 422 naming ``param`` when the value does not parse.
    """
    try:
        # A "+" in an unencoded query string arrives as a space.
        moment = datetime.fromisoformat(value.strip().replace(" ", "+"))
    except ValueError as exc:
        raise KantataError.invalid(f"{param} must be an ISO 8601 timestamp", param) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
