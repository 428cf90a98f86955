"""The OpenAPI document says every status the API can answer, with the body it answers.

FastAPI documents what each route declares; the rest of what the API answers comes from
machinery every route shares, and is added here, once, after FastAPI built the document:

- every error (4xx, 5xx) is ``application/problem+json`` (:mod:`accord.api.errors`): its
  schema is :class:`ProblemOut`, FastAPI's ``HTTPValidationError`` for 422 included;
- an operation with a request body answers **400** when the body cannot be parsed;
- an operation with a path parameter answers **404** for an id that does not exist;
- an operation that needs the durable runtime's client answers **503** while it is not
  running (:func:`accord.api.ops.common.client_of`);
- an operation behind an API key answers **401** and **403**, and **429** on the tiers whose
  requests spend the key's rate limit (:func:`accord.api.governance.guard`);
- ``/metrics`` is Prometheus text, not JSON.

Nothing here changes what the API does; it only describes it. Routes keep their own
descriptions where they give one.
"""

from collections.abc import Callable, Iterator
from typing import Any, Final

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field

from accord.api.errors import PROBLEM_JSON
from accord.api.ops.common import client_of
from accord.domain.money import CURRENCY_MINOR_UNITS

__all__ = ["ProblemOut", "install_openapi"]

_REF: Final = {"$ref": "#/components/schemas/ProblemOut"}
_METHODS: Final = ("get", "put", "post", "delete", "patch")
_DEFAULTS: Final = {
    "400": "The body cannot be parsed (not JSON, not UTF-8)",
    "401": "No, unknown, revoked or expired API key",
    "403": "The key's role may not do this",
    "404": "No such resource (an unknown id)",
    "429": "This API key is over its rate limit; see Retry-After",
    "503": "The durable runtime is not running yet; retry shortly",
}
_CURRENCY_PATTERN: Final = "^[A-Z]{3}$"
_VALIDATION_ERROR: Final = {"$ref": "#/components/schemas/HTTPValidationError"}


class ProblemFieldOut(BaseModel):
    """One field a request got wrong."""

    field: str
    message: str


class ProblemOut(BaseModel):
    """An error answer (RFC 9457 problem details), as every error of the API is."""

    type: str = Field(description="always about:blank")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(default=None, description="the request's path")
    errors: list[ProblemFieldOut] | None = Field(
        default=None, description="one entry per field refused"
    )


def _dependencies(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _dependencies(sub)


def _shared_answers(app: FastAPI) -> dict[tuple[str, str], set[int]]:
    """``(path, method)`` -> the statuses its shared dependencies may answer.

    The runtime's client answers 503 while the runtime is down; an authentication dependency
    says what it answers through its ``accord_answers`` mark (401, 403, and 429 when it also
    spends the key's rate limit).
    """
    found: dict[tuple[str, str], set[int]] = {}
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        if not isinstance(dependant, Dependant) or route.path is None:
            continue
        statuses: set[int] = set()
        for call in _dependencies(dependant):
            if call is client_of:
                statuses.add(503)
            statuses.update(getattr(call, "accord_answers", ()))
        for method in route.methods or ():
            found[(route.path, method.lower())] = statuses
    return found


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_JSON: {"schema": dict(_REF)}}


def _complete_operation(path: str, operation: dict[str, Any], *, shared: set[int]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    statuses = set(shared)
    if "requestBody" in operation:
        statuses.add(400)
    if any(p.get("in") == "path" for p in operation.get("parameters", [])) or "{" in path:
        statuses.add(404)
    for code in sorted(statuses):
        responses.setdefault(str(code), {"description": _DEFAULTS[str(code)]})
    for status, response in responses.items():
        if status[:1] not in ("4", "5"):
            continue
        content = response.get("content") or {}
        schema = (content.get("application/json") or {}).get("schema")
        if content and schema not in (
            None,
            {},
            _VALIDATION_ERROR,
        ):
            continue  # the route documents a body of its own (readiness answers JSON)
        response["content"] = _problem_content()


def _currency_enums(node: object) -> None:
    """Give every ISO-4217 code property its known values (the validator's own list)."""
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("pattern") == _CURRENCY_PATTERN:
            node["enum"] = sorted(CURRENCY_MINOR_UNITS)
        for value in node.values():
            _currency_enums(value)
    elif isinstance(node, list):
        for value in node:
            _currency_enums(value)


def complete(document: dict[str, Any], app: FastAPI) -> dict[str, Any]:
    """Add what the shared machinery answers to a FastAPI-built document (in place)."""
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    problem = ProblemOut.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["ProblemOut"] = problem
    shared = _shared_answers(app)
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            if method in item:
                _complete_operation(path, item[method], shared=shared.get((path, method), set()))
    metrics = document.get("paths", {}).get("/metrics", {}).get("get")
    if metrics is not None:
        metrics["responses"]["200"]["content"] = {
            "text/plain": {"schema": {"type": "string", "description": "Prometheus text format"}}
        }
    # Nothing answers HTTPValidationError any more (422 is problem+json): drop its schemas.
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    _currency_enums(schemas)
    return document


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the completed document (built once, then cached)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(build(), app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
