"""What every ops router shares: role sets, paging models and access to the process's services.

What does not belong here: a resource's own models (they live with its router).
"""

import re
from datetime import date
from typing import Annotated, Any, Final

import sqlalchemy as sa
from dbos import DBOSClient
from fastapi import Depends, Request
from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field

from accord.api.auth import Principal, require
from accord.api.errors import Problem
from accord.flows.runtime import Runtime
from accord.store.keys import Role

__all__ = [
    "ACT",
    "ADMIN",
    "READ",
    "Actor",
    "Admin",
    "Client",
    "Engine",
    "IsoDate",
    "IsoDateTime",
    "Reader",
    "RuntimeDep",
    "client_of",
    "engine_of",
    "runtime_of",
]

READ: Final = (Role.VIEWER, Role.OPERATOR, Role.ADMIN)
"""Roles that may read the ops API."""
ACT: Final = (Role.OPERATOR, Role.ADMIN)
"""Roles that may act on exceptions, runs and replays."""
ADMIN: Final = (Role.ADMIN,)
"""Roles that may manage keys and connections."""

_ISO_DATE_TIME: Final = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _iso_only(value: object) -> object:
    # Lax parsing would take 0.5 or "1700000000" for a time (the Unix epoch); the document
    # says an ISO 8601 date-time, so that is all a query accepts.
    if isinstance(value, int | float) or (
        isinstance(value, str) and not _ISO_DATE_TIME.match(value)
    ):
        raise ValueError("expected an ISO 8601 date-time with an offset")
    return value


IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_only)]
"""A time in a query string: ISO 8601 with an offset, nothing else."""

_ISO_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date_only(value: object) -> object:
    # As for times: lax parsing would take "0" for a day of 1970 (a Unix timestamp).
    if isinstance(value, int | float) or (isinstance(value, str) and not _ISO_DATE.match(value)):
        raise ValueError("expected an ISO 8601 date (YYYY-MM-DD)")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date_only)]
"""A day in a query string: ``YYYY-MM-DD``, nothing else."""

Reader = Annotated[Principal, Depends(require(*READ))]
Actor = Annotated[Principal, Depends(require(*ACT))]
Admin = Annotated[Principal, Depends(require(*ADMIN))]

PROBLEMS: Final[dict[int | str, dict[str, Any]]] = {
    401: {"description": "No or unknown API key (problem+json)"},
    403: {"description": "The key's role may not do this (problem+json)"},
}
"""Error answers every ops route documents."""


class Page(BaseModel):
    """Paging of a list answer: pass ``next_offset`` back as ``offset`` for the next page."""

    limit: int
    offset: int
    next_offset: int | None = Field(description="null on the last page")


def engine_of(request: Request) -> sa.Engine:
    """Accord's database engine."""
    engine: sa.Engine = request.app.state.services.engine
    return engine


def runtime_of(request: Request) -> Runtime:
    """The process's durable runtime."""
    runtime: Runtime = request.app.state.services.runtime
    return runtime


def client_of(request: Request) -> DBOSClient:
    """The runtime's DBOS client; 503 while the runtime is not launched."""
    client = runtime_of(request).client
    if client is None:
        raise Problem(503, "Service unavailable", "the durable runtime is not running")
    return client


Engine = Annotated[sa.Engine, Depends(engine_of)]
"""A route's database engine parameter."""
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]
"""A route's durable runtime parameter."""
Client = Annotated[DBOSClient, Depends(client_of)]
"""A route's DBOS client parameter (503 while the runtime is not launched)."""
