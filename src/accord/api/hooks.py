"""``POST /hooks/{connection}``: inbound webhooks, verified before anything is stored.

Two schemes, picked by the connection's connector (``Connector.webhook_scheme``; verification
itself is :mod:`accord.connectors.webhooks`):

* **Subscriptions** (Business Central's): a request with ``?validationToken=...`` is the
  subscription handshake and gets the token echoed as ``text/plain``; a notification batch
  (``{"value": [...]}``) must carry the connection's secret as every item's ``clientState``.
  Notifications carry no data, so each notified resource gets a capture run
  (:func:`accord.flows.capture.enqueue_capture`, deduplicated with a waiting one).
* **Signed JSON** for every other connector: ``X-Accord-Timestamp`` and
  ``X-Accord-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">``, 5-minute replay
  window; the body is a structured CloudEvent or a batch, journaled exactly like
  ``POST /api/v1/events``. A signature is accepted once: the same signed request sent again
  within the window is a replay (:mod:`accord.store.replays`), whichever process gets it.

A refused signature, a wrong ``clientState``, a stale timestamp or a replay answers 401 and
stores nothing. The secret lives with the connection (see :mod:`accord.flows.connections`).
"""

import asyncio
import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from accord.api.errors import Problem
from accord.api.intake import (
    EVENTS_BODY,
    InvalidEventError,
    invalid_event_problem,
    journal_events,
    parse_json_events,
)
from accord.connectors.registry import connector_class
from accord.connectors.types import Clock, utc_now
from accord.connectors.webhooks import (
    REPLAY_WINDOW_S,
    SIGNATURE_HEADER,
    WebhookSignatureError,
    bc_validation_token,
    parse_bc_notifications,
    verify_signature,
)
from accord.errors import ConfigError
from accord.flows.capture import capture_specs, enqueue_capture
from accord.flows.connections import Connections, UnknownConnectionError
from accord.flows.runtime import Runtime
from accord.store import replays

__all__ = ["bc_resource_name", "router"]

logger = logging.getLogger(__name__)

_MAX_TOKEN = 1024
"""Longest validation token echoed; BC's are GUID-like, far shorter."""

router = APIRouter(tags=["webhooks"])

_HOOK_BODY: dict[str, Any] = {
    "required": False,
    "content": {
        **EVENTS_BODY["content"],
        "application/json": {
            "schema": {
                "description": "a Business Central notification batch ({value: [...]}), or "
                "an event in binary mode; none for a Business Central handshake"
            }
        },
    },
}


def bc_resource_name(resource: str) -> str:
    """The entity set a notification's ``resource`` path names: its last segment.

    ``api/v2.0/companies(7c49...)/customers`` -> ``customers``; a key in parentheses on the
    last segment (``salesInvoices(...)``) is dropped.
    """
    last = resource.rstrip("/").rsplit("/", 1)[-1]
    return last.split("(", 1)[0]


def _refused(exc: WebhookSignatureError) -> Problem:
    return Problem(401, "Webhook refused", f"verification failed ({exc.reason})")


async def _read_body(request: Request) -> bytes:
    limit: int = request.app.state.settings.api.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Problem(413, "Payload too large", f"bodies are limited to {limit} bytes")
    body = await request.body()
    if len(body) > limit:
        raise Problem(413, "Payload too large", f"bodies are limited to {limit} bytes")
    return body


async def _subscription(
    request: Request, connections: Connections, connection: str, body: bytes
) -> Response:
    token = bc_validation_token(request.query_params)
    if token is not None:
        if len(token) > _MAX_TOKEN:
            raise Problem(400, "Invalid handshake", "validationToken is too long")
        return PlainTextResponse(token, status_code=200)
    secret = connections.webhook_secret(connection)
    if secret is None:
        raise Problem(404, "No webhook", f"connection {connection!r} has no webhook secret")
    try:
        notifications = parse_bc_notifications(body, client_state=secret, connector=connection)
    except WebhookSignatureError as exc:
        raise _refused(exc) from None
    polled = {s.resource for s in capture_specs() if s.connection == connection}
    runtime: Runtime = request.app.state.services.runtime
    captures: list[dict[str, str]] = []
    ignored: list[str] = []
    for resource in sorted({bc_resource_name(n.resource) for n in notifications}):
        if resource not in polled:
            # Nothing maps this entity set to events yet; acknowledging stops BC's retries.
            ignored.append(resource)
            continue
        run_id = await asyncio.to_thread(enqueue_capture, runtime, connection, resource)
        captures.append({"resource": resource, "run_id": run_id})
    if ignored:
        logger.info("webhook %s: no capture registered for %s", connection, ", ".join(ignored))
    return JSONResponse({"captures": captures, "ignored": ignored}, status_code=202)


async def _signed_events(
    request: Request, connections: Connections, connection: str, body: bytes, started: float
) -> Response:
    secret = connections.webhook_secret(connection)
    if secret is None:
        raise Problem(404, "No webhook", f"connection {connection!r} has no webhook secret")
    clock: Clock = getattr(request.app.state, "clock", utc_now)
    try:
        verify_signature(
            secret=secret, headers=request.headers, body=body, now=clock(), connector=connection
        )
    except WebhookSignatureError as exc:
        raise _refused(exc) from None
    engine = request.app.state.services.engine
    fresh = await asyncio.to_thread(
        replays.first_use,
        engine,
        connection=connection,
        signature=request.headers.get(SIGNATURE_HEADER, ""),
        window_s=REPLAY_WINDOW_S,
    )
    if not fresh:
        raise _refused(WebhookSignatureError("replayed", connector=connection))
    try:
        events, batch = parse_json_events(body)
    except InvalidEventError as exc:
        raise invalid_event_problem(exc) from None
    return await journal_events(request, events, batch=batch, started=started)


@router.post(
    "/hooks/{connection}",
    openapi_extra={"requestBody": _HOOK_BODY},
    summary="Receive a webhook: signed CloudEvents, or Business Central notifications",
    responses={
        200: {"description": "BC handshake echoed, or every event was a redelivery"},
        202: {"description": "Accepted: events journaled, or capture runs enqueued"},
        401: {
            "description": "Signature, timestamp or clientState refused, or a replayed "
            "signature; nothing stored"
        },
        404: {"description": "Unknown connection, or no webhook secret configured"},
        413: {"description": "Body too large"},
    },
    response_model=None,
)
async def receive_hook(connection: str, request: Request) -> Response:
    """Verify a webhook for ``connection`` and journal (or capture) what it announces."""
    started = time.perf_counter()
    connections: Connections = request.app.state.connections
    try:
        config = await asyncio.to_thread(connections.config, connection)
        scheme = connector_class(config.kind).webhook_scheme
    except UnknownConnectionError:
        raise Problem(404, "Unknown connection", f"no connection named {connection!r}") from None
    except ConfigError:
        logger.exception("webhook %s: connections cannot be loaded", connection)
        raise Problem(500, "Configuration error", "connections cannot be loaded") from None
    body = await _read_body(request)
    if scheme == "subscription":
        return await _subscription(request, connections, connection, body)
    return await _signed_events(request, connections, connection, body, started)
