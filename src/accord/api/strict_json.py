"""JSON request bodies are held to their schema: the types the OpenAPI document says, no coercion.

FastAPI validates a body with pydantic in *lax* Python mode, which coerces: ``true`` becomes
``1``, ``"5"`` becomes ``5``, ``0`` becomes the epoch as a date-time. A client sending the
wrong type would then get an answer instead of a 422, and the document (``integer``,
``string`` of format ``date-time``) would not say what the API accepts. :func:`strict_json_body`,
a dependency of the whole app, first validates a route's JSON body in pydantic's *strict JSON*
mode, which accepts exactly what the JSON Schema describes; FastAPI then parses it as usual.
A body that is not JSON at all is left to FastAPI (its 400).
"""

import threading
from typing import Any, Final

from fastapi import Request
from pydantic import TypeAdapter, ValidationError

from accord.api.errors import Problem

__all__ = ["strict_json_body"]

_NOT_JSON: Final = frozenset({"json_invalid", "json_type"})
"""Errors about the body not being JSON at all: FastAPI answers those itself (400)."""

_adapters: dict[int, tuple[object, TypeAdapter[Any]]] = {}
_lock = threading.Lock()


def _adapter(field: Any) -> TypeAdapter[Any]:  # noqa: ANN401 - FastAPI's ModelField
    with _lock:
        found = _adapters.get(id(field))
        if found is None or found[0] is not field:
            annotation: Any = field.field_info.annotation
            found = (field, TypeAdapter(annotation))
            _adapters[id(field)] = found
        return found[1]


async def strict_json_body(request: Request) -> None:
    """Refuse (422) a JSON body that its route's schema does not describe exactly."""
    field = getattr(request.scope.get("route"), "body_field", None)
    if field is None:
        return
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        return  # forms (the console) and other bodies: FastAPI's own rules
    body = await request.body()  # read once: FastAPI reuses it
    if not body.strip():
        return
    try:
        _adapter(field).validate_json(body, strict=True)
    except ValidationError as exc:
        errors: list[dict[str, Any]] = []
        for error in exc.errors(include_url=False):
            if error.get("type") in _NOT_JSON:
                return  # not JSON: FastAPI's own 400
            loc = ".".join(str(p) for p in error.get("loc", ())) or "body"
            errors.append({"field": loc, "message": str(error.get("msg", ""))})
        raise Problem(422, "Invalid request", errors=errors) from None
