"""JSON request bodies are held to their schema: the types the OpenAPI document says, no coercion.

FastAPI validates a body with pydantic in *lax* Python mode, which coerces: ``true`` becomes
``1``, ``"5"`` becomes ``5``, ``0`` becomes the epoch as a date-time. A client sending the
wrong type would then get an answer instead of a 422, and the document (``integer``,
``string`` of format ``date-time``) would not say what the API accepts. Every route with a
JSON body is wrapped here so that the body is first validated in pydantic's *strict JSON*
mode, which accepts exactly what the JSON Schema describes; only then does FastAPI parse it
as usual. A body that is not JSON at all is left to FastAPI (its 400).

Applied once, to every route of the app, by :func:`install_strict_bodies`; routers need not
know about it.
"""

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, params
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accord.api.errors import problem_response

__all__ = ["install_strict_bodies"]

_JSON_ERRORS = frozenset({"json_invalid", "json_type"})
"""Errors about the body not being JSON at all: FastAPI answers those itself (400)."""


class _StrictBody:
    """Reads the body, validates it strictly, then hands it on unchanged (or answers 422)."""

    def __init__(self, app: ASGIApp, adapter: TypeAdapter[Any]) -> None:
        self.app = app
        self.adapter = adapter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = dict(scope.get("headers") or []).get(b"content-type", b"").decode()
        media = content_type.split(";", 1)[0].strip().lower()
        if scope["type"] != "http" or not (media == "application/json" or media.endswith("+json")):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = bool(message.get("more_body"))
        body = b"".join(chunks)
        if body.strip():
            try:
                self.adapter.validate_json(body, strict=True)
            except ValidationError as exc:
                errors = _errors(exc.errors(include_url=False))
                if errors:
                    response = problem_response(
                        422, "Invalid request", errors=errors, instance=str(scope.get("path"))
                    )
                    await response(scope, receive, send)
                    return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _errors(found: Iterable[Any]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for error in found:
        if error.get("type") in _JSON_ERRORS:
            return []  # not JSON: FastAPI's own 400
        loc = [str(p) for p in error.get("loc", ())]
        out.append({"field": ".".join(loc) or "body", "message": str(error.get("msg", ""))})
    return out


def _json_body(route: APIRoute) -> bool:
    return route.body_field is not None and not any(
        isinstance(p.field_info, params.Form | params.File) for p in route.dependant.body_params
    )


def install_strict_bodies(app: FastAPI) -> None:
    """Wrap every route with a JSON body of ``app`` (call it after every router is included)."""
    for route in app.routes:
        if isinstance(route, APIRoute) and route.include_in_schema and _json_body(route):
            assert route.body_field is not None
            annotation: Any = route.body_field.field_info.annotation
            adapter: TypeAdapter[Any] = TypeAdapter(annotation)
            route.app = _StrictBody(route.app, adapter)
