"""API governance for the synchronous tiers: per-key rate limits, role guards, deprecation.

What belongs here: the token bucket that throttles each API key (429 problem with
``Retry-After``; in the database, so the limit holds across every API process:
:class:`accord.store.ratelimit.DatabaseRateLimiter`), :func:`guard` (authenticate, authorize,
throttle in one dependency), and
:func:`deprecated` (``Deprecation`` and ``Sunset`` headers for routes on their way out). The
OpenAPI export and its backward-compatibility checker live in
:mod:`accord.api.openapi_export`; routes themselves live in the tier modules.

Rate limits apply to the system, process and experience tiers. Event intake is not throttled
here: it has its own back-pressure (the group-commit writer) and runs at thousands of
requests per second from a few trusted senders.
"""

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from datetime import time as dt_time
from email.utils import format_datetime
from typing import Any, Protocol

from fastapi import Request, Response

from accord.api.auth import Principal, require
from accord.api.errors import Problem
from accord.store.keys import Role
from accord.store.ratelimit import DatabaseRateLimiter

__all__ = [
    "API_PREFIX",
    "OPERATOR_ROLES",
    "PROBLEM_RESPONSES",
    "PROCESS_ROLES",
    "KeyLimiter",
    "RateLimiter",
    "deprecated",
    "guard",
]

API_PREFIX = "/api/v1"
"""Every route of the major version 1 lives under this prefix."""

OPERATOR_ROLES = (Role.OPERATOR, Role.ADMIN)
"""Who may call the system tier (diagnosis: raw reads of one system)."""
PROCESS_ROLES = (Role.PROCESS, Role.OPERATOR, Role.ADMIN)
"""Who may call the process and experience tiers."""

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or unknown API key (problem+json)"},
    403: {"description": "The key's role may not call this route (problem+json)"},
    429: {"description": "Rate limit of this API key exceeded; see Retry-After (problem+json)"},
}
"""Error answers every guarded route may give, for the OpenAPI document."""


class KeyLimiter(Protocol):
    """What :func:`guard` needs of a rate limiter."""

    def try_local(self, key: str) -> bool:
        """Take a token without blocking I/O; False when that cannot be decided so."""

    def acquire(self, key: str) -> float:
        """Take a token; 0 when granted, else seconds until one is due (may read the DB)."""


class RateLimiter:
    """A token bucket per API key in this process's memory (tests, a single process).

    The API uses :class:`~accord.store.ratelimit.DatabaseRateLimiter`, whose buckets every
    API process shares; this one enforces the limit per process only.

    Args:
        rate: Tokens added per second; ``0`` disables limiting.
        burst: Bucket size: how many requests may arrive at once.
        clock: Monotonic seconds; injected by tests.
    """

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def try_local(self, key: str) -> bool:
        """Take one token for ``key`` if there is one (never blocks)."""
        return self.acquire(key) == 0.0

    def acquire(self, key: str) -> float:
        """Take one token for ``key``; return 0 when granted, else seconds until one is due."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


def _limiter(request: Request) -> KeyLimiter:
    limiter: KeyLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        api = request.app.state.settings.api
        limiter = DatabaseRateLimiter(
            request.app.state.services.engine, api.rate_limit_per_s, api.rate_limit_burst
        )
        request.app.state.rate_limiter = limiter
    return limiter


def guard(*roles: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that authenticates, checks ``roles`` and spends one rate-limit token.

    Raises:
        Problem: 401/403 from :func:`accord.api.auth.require`; 429 with ``Retry-After``
            (whole seconds, at least 1) when the key's bucket is empty.
    """
    check = require(*roles)

    async def dependency(request: Request) -> Principal:
        principal = await check(request)
        limiter = _limiter(request)
        wait = 0.0
        if not limiter.try_local(principal.name):
            wait = await asyncio.to_thread(limiter.acquire, principal.name)
        if wait > 0:
            raise Problem(
                429,
                "Too many requests",
                f"API key {principal.name!r} is over its rate limit; retry in {wait:.2f}s",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        return principal

    # The OpenAPI document reads this mark (see accord.api.auth.require).
    dependency.accord_answers = (401, 403, 429)  # type: ignore[attr-defined]
    return dependency


def _http_date(day: date) -> str:
    return format_datetime(datetime.combine(day, dt_time(0, 0), tzinfo=UTC), usegmt=True)


def deprecated(
    *, since: date, sunset: date, successor: str | None = None
) -> Callable[[Response], None]:
    """A dependency marking a route deprecated (RFC 9745 ``Deprecation``, RFC 8594 ``Sunset``).

    Use it with ``deprecated=True`` on the route so that the OpenAPI document says so too::

        @router.get("/old", deprecated=True, dependencies=[Depends(deprecated(...))])

    Args:
        since: When the route was deprecated (sent as ``Deprecation: @<unix seconds>``).
        sunset: The first day the route may answer 410 (sent as an HTTP date).
        successor: Path of the route to use instead (sent as ``Link: <...>;
            rel="successor-version"``).
    """
    stamp = int(datetime.combine(since, dt_time(0, 0), tzinfo=UTC).timestamp())
    headers = {"Deprecation": f"@{stamp}", "Sunset": _http_date(sunset)}
    if successor:
        headers["Link"] = f'<{successor}>; rel="successor-version"'

    def dependency(response: Response) -> None:
        response.headers.update(headers)

    return dependency
