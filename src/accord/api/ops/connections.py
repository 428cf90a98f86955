"""``/api/v1/connections``: each connection's health, shared budget usage and poll cursors.

Health is the connector's ``check()`` (authenticate plus one cheap read), cached for
:data:`HEALTH_TTL_S` so that a console refreshing every few seconds does not spend the
remote system's rate limit; ``POST .../check`` (admin) forces a fresh one.
"""

import threading
import time
from datetime import datetime
from typing import Annotated, Final

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from accord.api.errors import Problem
from accord.api.ops.common import PROBLEMS, Admin, Engine, Reader
from accord.flows.connections import Connections, UnknownConnectionError
from accord.store import audit
from accord.store import cursors as cursors_repo
from accord.store import outbox as outbox_repo
from accord.store.budget import DatabaseBudget
from accord.store.util import utc_now

__all__ = ["HEALTH_TTL_S", "HealthCache", "router"]

router = APIRouter(prefix="/api/v1/connections", tags=["connections"], responses=PROBLEMS)

HEALTH_TTL_S: Final = 30.0
"""How long a health check result is reused."""


class HealthOut(BaseModel):
    """The last check of a connection."""

    ok: bool
    checked_at: datetime
    error: str | None = None


class BudgetOut(BaseModel):
    """The connection's shared request budget, as seen now."""

    rate_per_s: float
    effective_rate_per_s: float
    concurrency: int
    in_flight: int
    waiting: int
    acquired_total: int
    penalties_total: int
    lanes: dict[str, int] = Field(
        default_factory=dict,
        description="Calls granted per lane (interactive, flow, bulk, background).",
    )
    day_used: int | None = Field(
        default=None, description="Calls made today against the daily allowance, if any."
    )
    backlog: dict[str, int] = Field(
        default_factory=dict,
        description="Items waiting in the outbox for the connection's dispatcher, by lane.",
    )


class CursorOut(BaseModel):
    """Where one poller of the connection resumes."""

    resource: str
    cursor: str | None
    high_watermark: datetime | None
    updated_at: datetime | None


class ConnectionOut(BaseModel):
    """One connection."""

    name: str
    kind: str
    base_url: str
    health: HealthOut | None
    budget: BudgetOut
    cursors: list[CursorOut]


class ConnectionList(BaseModel):
    """Every configured connection."""

    items: list[ConnectionOut]


class HealthCache:
    """Check results per connection name, reused for ``ttl`` seconds."""

    def __init__(self, ttl: float = HEALTH_TTL_S) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, HealthOut]] = {}

    def get(self, connections: Connections, name: str, *, fresh: bool = False) -> HealthOut:
        """The cached result, or a new check when it is stale (or ``fresh``)."""
        with self._lock:
            hit = self._entries.get(name)
        if hit is not None and not fresh and hit[0] > time.monotonic():
            return hit[1]
        try:
            connections.connector(name).check()
            result = HealthOut(ok=True, checked_at=utc_now())
        except Exception as exc:  # noqa: BLE001 - any failure is an unhealthy connection
            result = HealthOut(ok=False, checked_at=utc_now(), error=type(exc).__name__)
            message = getattr(exc, "message", None)
            if isinstance(message, str):
                result.error = f"{type(exc).__name__}: {message}"
        with self._lock:
            self._entries[name] = (time.monotonic() + self.ttl, result)
        return result


def _connections(request: Request) -> Connections:
    found: Connections = request.app.state.connections
    return found


def _cache(request: Request) -> HealthCache:
    state = request.app.state
    # One cache per app, created on first use (the app module stays untouched by ops).
    with _CACHE_LOCK:
        if not hasattr(state, "ops_health_cache"):
            state.ops_health_cache = HealthCache()
    cache: HealthCache = state.ops_health_cache
    return cache


_CACHE_LOCK = threading.Lock()


def _describe(
    name: str,
    connections: Connections,
    engine: sa.Engine,
    cache: HealthCache,
    *,
    check: bool,
    fresh: bool = False,
) -> ConnectionOut:
    config = connections.config(name)
    usage = DatabaseBudget(engine).usage(config)
    with engine.connect() as conn:
        states = [
            cursors_repo.get(conn, connection=name, resource=r)
            for r in cursors_repo.resources(conn, connection=name)
        ]
        waiting = outbox_repo.backlog(conn)
    return ConnectionOut(
        name=name,
        kind=config.kind,
        base_url=config.base_url,
        health=cache.get(connections, name, fresh=fresh) if check else None,
        budget=BudgetOut(
            rate_per_s=usage.rate_per_s,
            effective_rate_per_s=usage.effective_rate_per_s,
            concurrency=usage.concurrency,
            in_flight=usage.in_flight,
            waiting=usage.waiting,
            acquired_total=usage.acquired_total,
            penalties_total=usage.penalties_total,
            lanes=dict(usage.lanes),
            day_used=usage.day_used,
            backlog={lane: n for (c, lane), n in waiting.items() if c == name},
        ),
        cursors=[
            CursorOut(
                resource=s.resource,
                cursor=s.cursor,
                high_watermark=s.high_watermark,
                updated_at=s.updated_at,
            )
            for s in states
        ],
    )


ConnectionsDep = Annotated[Connections, Depends(_connections)]
Cache = Annotated[HealthCache, Depends(_cache)]


@router.get("", response_model=ConnectionList, summary="List connections")
def list_connections(
    *, _p: Reader, connections: ConnectionsDep, engine: Engine, cache: Cache, health: bool = True
) -> ConnectionList:
    """Every connection with health (cached), budget usage and cursors."""
    return ConnectionList(
        items=[_describe(n, connections, engine, cache, check=health) for n in connections.names()]
    )


@router.get(
    "/{name}",
    response_model=ConnectionOut,
    responses={404: {"description": "No such connection"}},
    summary="One connection",
)
def get_connection(
    *, name: str, _p: Reader, connections: ConnectionsDep, engine: Engine, cache: Cache
) -> ConnectionOut:
    """One connection with health (cached), budget usage and cursors."""
    try:
        return _describe(name, connections, engine, cache, check=True)
    except UnknownConnectionError as exc:
        raise Problem(404, "Not found", str(exc)) from exc


@router.post(
    "/{name}/check",
    response_model=ConnectionOut,
    responses={404: {"description": "No such connection"}},
    summary="Check now",
)
def check_connection(
    *, name: str, principal: Admin, connections: ConnectionsDep, engine: Engine, cache: Cache
) -> ConnectionOut:
    """Run the connection's check now (admin); the result is audited and cached."""
    try:
        out = _describe(name, connections, engine, cache, check=True, fresh=True)
    except UnknownConnectionError as exc:
        raise Problem(404, "Not found", str(exc)) from exc
    assert out.health is not None
    with engine.begin() as conn:
        audit.append(
            conn,
            actor=principal.actor,
            action="connection.check",
            target=f"connection:{name}",
            after=out.health.model_dump(mode="json"),
        )
    return out
