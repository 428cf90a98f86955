"""``POST /api/v1/events``: CloudEvents 1.0 intake in structured, binary and batch mode.

Every event is validated completely (context attributes, a canonical type, ``data`` against
the type's model) before anything is stored; a batch is accepted whole or not at all. The
202 receipt is answered only after the journal row and the run start are committed.
"""

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any, Final, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from accord.api.auth import require
from accord.api.errors import Problem
from accord.domain import EVENT_TYPES, business_key
from accord.flows.intake import IntakeWriter, Receipt
from accord.observability.metrics import get_metrics
from accord.store.journal import NewEvent
from accord.store.keys import Role

__all__ = [
    "EVENTS_BODY",
    "MAX_BATCH",
    "CloudEventIn",
    "InvalidEventError",
    "invalid_event_problem",
    "journal_events",
    "parse_json_events",
    "router",
]

MAX_BATCH = 500
"""Events per batch request at most."""

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
_REQUIRED = ("specversion", "id", "source", "type")
_BINARY_ATTRS = ("specversion", "id", "source", "type", "subject", "time", "dataschema")

router = APIRouter(prefix="/api/v1", tags=["events"])


class _Invalid(Exception):  # noqa: N818 - internal signal, turned into a Problem
    def __init__(self, status: int, field: str, message: str, event_type: str = "unknown") -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message
        self.event_type = event_type


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _parse_time(value: object, field: str) -> datetime:
    if not isinstance(value, str):
        raise _Invalid(400, field, "must be an RFC 3339 timestamp string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Invalid(400, field, "must be an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise _Invalid(400, field, "must carry a time zone offset (RFC 3339)")
    return parsed.astimezone(UTC)


def _event(attrs: dict[str, Any], data: object, *, has_data: bool, prefix: str) -> NewEvent:
    for name in _REQUIRED:
        value = attrs.get(name)
        if value is None:
            raise _Invalid(400, prefix + name, "required context attribute is missing")
        if not isinstance(value, str) or not value.strip():
            raise _Invalid(400, prefix + name, "must be a non-empty string")
    if attrs["specversion"] != "1.0":
        raise _Invalid(400, prefix + "specversion", "only CloudEvents 1.0 is accepted")
    event_type: str = attrs["type"]
    model = EVENT_TYPES.get(event_type)
    if model is None:
        raise _Invalid(422, prefix + "type", f"unknown event type {event_type!r}")
    subject = attrs.get("subject")
    if subject is not None and not isinstance(subject, str):
        raise _Invalid(400, prefix + "subject", "must be a string", event_type)
    content_type = attrs.get("datacontenttype")
    if content_type is not None and "json" not in str(content_type):
        raise _Invalid(415, prefix + "datacontenttype", "data must be JSON", event_type)
    when = _parse_time(attrs["time"], prefix + "time") if attrs.get("time") is not None else None
    if not has_data:
        raise _Invalid(422, prefix + "data", "required: the canonical payload", event_type)
    try:
        validated = model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        field = f"{prefix}data" + (f".{loc}" if loc else "")
        raise _Invalid(422, field, first.get("msg", "invalid"), event_type) from None
    return NewEvent(
        source=attrs["source"],
        ce_id=attrs["id"],
        type=event_type,
        subject=subject,
        business_key=business_key(event_type, validated),
        time=when,
        data_json=validated.model_dump_json(),
    )


def _structured(obj: object, prefix: str = "") -> NewEvent:
    if not isinstance(obj, dict):
        raise _Invalid(400, prefix.rstrip(".") or "body", "must be a JSON object")
    if "data_base64" in obj:
        raise _Invalid(415, prefix + "data_base64", "binary data is not accepted; send JSON data")
    return _event(obj, obj.get("data"), has_data="data" in obj, prefix=prefix)


InvalidEventError = _Invalid
"""Raised by the parsers when an event is refused; :func:`invalid_event_problem` answers it."""


def _decode(body: bytes) -> object:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Invalid(400, "body", f"malformed JSON: {exc}") from None


def _batch(payload: object) -> list[NewEvent]:
    if not isinstance(payload, list):
        raise _Invalid(400, "body", "a batch must be a JSON array of events")
    if not payload:
        raise _Invalid(400, "body", "a batch must hold at least one event")
    if len(payload) > MAX_BATCH:
        raise _Invalid(413, "body", f"a batch holds at most {MAX_BATCH} events")
    return [_structured(item, prefix=f"[{i}].") for i, item in enumerate(payload)]


def parse_json_events(body: bytes) -> tuple[list[NewEvent], bool]:
    """Events from a JSON body: a structured-mode event (object) or a batch (array).

    Returns:
        The validated events and whether the body was a batch.

    Raises:
        InvalidEventError: Malformed JSON or an event that fails validation.
    """
    payload = _decode(body)
    if isinstance(payload, list):
        return _batch(payload), True
    return [_structured(payload)], False


def _parse(request: Request, body: bytes) -> list[NewEvent]:
    media = _media_type(request)
    if media not in (STRUCTURED, BATCH, "application/json"):
        raise _Invalid(
            415, "content-type", f"use {STRUCTURED}, {BATCH} or application/json with ce-* headers"
        )
    payload = _decode(body)
    if media == STRUCTURED:
        return [_structured(payload)]
    if media == BATCH:
        return _batch(payload)
    attrs = {
        name: request.headers[f"ce-{name}"]
        for name in _BINARY_ATTRS
        if f"ce-{name}" in request.headers
    }
    return [_event(attrs, payload, has_data=True, prefix="ce-")]


class CloudEventIn(BaseModel):
    """A CloudEvents 1.0 envelope in structured mode (the document's description of a body).

    The body is parsed by hand (structured, batch or binary mode); this model only tells the
    OpenAPI document its shape. ``data`` must then match the model of ``type``.
    """

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"]
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(description="a canonical event type, e.g. opportunity.won")
    subject: str | None = None
    time: str | None = Field(default=None, description="RFC 3339 with an offset")
    datacontenttype: str | None = None
    data: Any = None


_EVENT_SCHEMA: Final = CloudEventIn.model_json_schema()
EVENTS_BODY: Final[dict[str, Any]] = {
    "required": True,
    "content": {
        STRUCTURED: {"schema": _EVENT_SCHEMA},
        BATCH: {"schema": {"type": "array", "items": _EVENT_SCHEMA, "maxItems": 500}},
        "application/json": {
            "schema": {
                "description": "binary mode: the event's data; its attributes in ce-* headers"
            }
        },
    },
}
"""The request body of ``POST /api/v1/events`` (and of signed webhooks), for the document."""


@router.post(
    "/events",
    status_code=202,
    openapi_extra={"requestBody": EVENTS_BODY},
    dependencies=[Depends(require(Role.INGEST, Role.ADMIN))],
    summary="Submit canonical events (CloudEvents 1.0: structured, binary or batch mode)",
    responses={
        200: {"description": "Every event was already received; the original receipts"},
        202: {"description": "Accepted: journaled and its run enqueued"},
        400: {"description": "Malformed JSON or context attributes"},
        413: {"description": "Body over 1 MiB or batch over 500 events"},
        415: {"description": "Unsupported content type"},
        422: {"description": "Unknown event type or data that fails the model"},
    },
)
async def post_events(request: Request) -> JSONResponse:
    """Journal events and start their runs; redeliveries get their original receipt."""
    started = time.perf_counter()
    limit: int = request.app.state.settings.api.max_body_bytes
    declared = request.headers.get("content-length")
    metrics = get_metrics()
    if declared and declared.isdigit() and int(declared) > limit:
        metrics.events_rejected.labels(type="unknown", reason="too_large").inc()
        raise Problem(413, "Payload too large", f"bodies are limited to {limit} bytes")
    body = await request.body()
    if len(body) > limit:
        metrics.events_rejected.labels(type="unknown", reason="too_large").inc()
        raise Problem(413, "Payload too large", f"bodies are limited to {limit} bytes")
    try:
        events = _parse(request, body)
    except _Invalid as exc:
        raise invalid_event_problem(exc) from None
    return await journal_events(
        request, events, batch=_media_type(request) == BATCH, started=started
    )


def invalid_event_problem(exc: InvalidEventError) -> Problem:
    """The problem answering a refused event (and the rejection counted)."""
    get_metrics().events_rejected.labels(type=exc.event_type, reason=f"http_{exc.status}").inc()
    return Problem(
        exc.status,
        "Invalid event" if exc.status in (400, 422) else "Unsupported event",
        f"{exc.field}: {exc.message}",
        errors=[{"field": exc.field, "message": exc.message}],
    )


async def journal_events(
    request: Request, events: list[NewEvent], *, batch: bool, started: float
) -> JSONResponse:
    """Journal validated events through the intake writer and answer their receipts.

    202 when something was new, 200 when every event was a redelivery; a batch gets a list.
    """
    writer: IntakeWriter = request.app.state.services.writer
    receipts: list[Receipt] = list(
        await asyncio.gather(*(asyncio.wrap_future(f) for f in writer.submit(events)))
    )
    get_metrics().intake_latency.observe(time.perf_counter() - started)
    all_duplicates = all(r.duplicate for r in receipts)
    status = 200 if all_duplicates else 202
    if batch:
        return JSONResponse(
            {"receipts": [{**r.as_json(), "duplicate": r.duplicate} for r in receipts]},
            status_code=status,
        )
    return JSONResponse(receipts[0].as_json(), status_code=status)
