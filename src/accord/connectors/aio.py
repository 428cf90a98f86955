"""Asynchronous I/O for a connector: its requests sent with aiohttp on kept-alive connections.

The dispatchers (one per outbound connection) keep a connection's concurrency full from one
event loop. Measured against a local server, a request sent this way costs about a quarter of
the CPU of a synchronous ``httpx`` request from a thread pool, and about a tenth of an
``httpx.AsyncClient`` one; at quarter-end volumes that CPU is the bound.

What stays the connector's: the request is *built* by its ``httpx.Client`` (base URL, default
headers, JSON encoding) and *authorised* by its ``httpx.Auth`` flow (tokens cached and
refreshed there, a 401 answered by one re-authentication, signatures such as TBA's computed
per request); errors are *translated* by its ``translate_error``. Only the bytes travel by
aiohttp. A connector whose client has an injected transport (tests, recorded fixtures) is sent
through that client in a worker thread instead, so the same code path runs everywhere.
"""

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import aiohttp
import httpx

from accord.connectors.base import Connector
from accord.errors import RetryableError

__all__ = ["AsyncWire", "CallObserver", "observe_calls"]

CallObserver = Callable[[str, int | None, float, str | None], None]
"""``(connection, status or None, seconds, error kind or None)`` after each call (metrics)."""

_observer: list[CallObserver] = []


def observe_calls(observer: CallObserver | None) -> None:
    """Set the process's observer of asynchronous calls (the metrics of the flows layer).

    Connectors do not record metrics themselves; the process that sends calls tells them
    where to report, once, at start.
    """
    _observer[:] = [observer] if observer is not None else []


_DROP: Final = frozenset({"host", "content-length", "connection", "transfer-encoding"})
"""Headers aiohttp sets itself."""


class AsyncWire:
    """Sends one connector's requests asynchronously (see the module docstring).

    Args:
        connector: The connection whose client builds and authorises the requests.
        limit: Connections kept open (at least the concurrency the caller will use).
        observe: Called after each call, for metrics.
    """

    def __init__(
        self, connector: Connector[Any], *, limit: int, observe: CallObserver | None = None
    ) -> None:
        self._connector = connector
        self._limit = max(1, limit)
        self._observe = observe or (_observer[0] if _observer else None)
        self._session: aiohttp.ClientSession | None = None
        # An injected transport (a mock, a test server's) is not reachable through sockets.
        transport = getattr(connector.client, "_transport", None)
        inner = getattr(transport, "inner", transport)
        self._threaded = not isinstance(inner, httpx.HTTPTransport)

    @property
    def connector(self) -> Connector[Any]:
        """The connection this wire sends for."""
        return self._connector

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit, keepalive_timeout=30),
                timeout=aiohttp.ClientTimeout(total=self._connector.config.timeout_s),
                auto_decompress=True,
            )
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        *,
        resource: str | None,
        json: Any = None,  # noqa: ANN401 - a JSON body: the raw boundary
        params: Mapping[str, str | int] | None = None,
    ) -> httpx.Response:
        """Send one request; the response whatever its status (a 429 penalises the budget).

        Raises:
            RetryableError: The connection failed or timed out.
            AuthError: The token endpoint refused the credentials.
        """
        client = self._connector.client
        request = client.build_request(method, url, json=json, params=params)
        if self._threaded:
            response = await asyncio.to_thread(client.send, request)
        else:
            response = await self._authorised(request, resource=resource)
        if response.status_code == httpx.codes.TOO_MANY_REQUESTS:
            error = self._connector.translate_error(response, resource=resource)
            await asyncio.to_thread(
                self._connector.budget.penalize,
                self._connector.config,
                getattr(error, "retry_after", None),
            )
        return response

    async def _authorised(self, request: httpx.Request, *, resource: str | None) -> httpx.Response:
        """Drive the connector's auth flow; token requests go through its own client."""
        auth = self._connector.client.auth
        if auth is None:
            return await self._send(request, resource=resource)
        flow = auth.sync_auth_flow(request)
        outgoing = next(flow)
        while True:
            if outgoing is request:
                response = await self._send(request, resource=resource)
            else:
                # A token request (rare: once per token lifetime) through the sync client.
                response = await asyncio.to_thread(self._connector.client.send, outgoing, auth=None)
            try:
                outgoing = flow.send(response)
            except StopIteration:
                return response

    async def _send(self, request: httpx.Request, *, resource: str | None) -> httpx.Response:
        name = self._connector.name
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP}
        started = time.perf_counter()
        try:
            async with self._open().request(
                request.method, str(request.url), data=request.content or None, headers=headers
            ) as answer:
                body = await answer.read()
                status = answer.status
                answered = list(answer.headers.items())
        except (aiohttp.ClientError, TimeoutError) as exc:
            kind = "timeout" if isinstance(exc, TimeoutError) else "transport"
            if self._observe is not None:
                self._observe(name, None, time.perf_counter() - started, kind)
            raise RetryableError(
                f"{kind} error: {type(exc).__name__}", connector=name, resource=resource
            ) from exc
        if self._observe is not None:
            self._observe(name, status, time.perf_counter() - started, None)
        return httpx.Response(status, headers=answered, content=body, request=request)

    async def aclose(self) -> None:
        """Close the kept-alive connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
