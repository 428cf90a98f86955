"""Rate limiter, deprecation headers and the connector error mapping, without a server."""

from datetime import date

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from accord.api.governance import RateLimiter, deprecated
from accord.api.systems import connector_problem
from accord.errors import (
    AuthError,
    BusinessRuleError,
    ConflictError,
    MappingError,
    NotFoundError,
    RetryableError,
)
from accord.flows.connections import UnknownConnectionError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_per_key():
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.acquire("a")
    assert wait == pytest.approx(0.5)
    # Another key has a bucket of its own.
    assert limiter.acquire("b") == 0.0
    clock.now += 0.5
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0


def test_zero_rate_disables_limiting():
    limiter = RateLimiter(rate=0, burst=1)
    assert all(limiter.acquire("a") == 0.0 for _ in range(100))


def test_deprecation_and_sunset_headers():
    app = FastAPI()

    @app.get(
        "/api/v1/old",
        deprecated=True,
        dependencies=[
            Depends(
                deprecated(since=date(2026, 1, 1), sunset=date(2026, 7, 1), successor="/api/v1/new")
            )
        ],
    )
    def old() -> dict[str, str]:
        return {"ok": "yes"}

    resp = TestClient(app).get("/api/v1/old")
    assert resp.status_code == 200
    assert resp.headers["deprecation"] == "@1767225600"
    assert resp.headers["sunset"] == "Wed, 01 Jul 2026 00:00:00 GMT"
    assert resp.headers["link"] == '</api/v1/new>; rel="successor-version"'
    assert app.openapi()["paths"]["/api/v1/old"]["get"]["deprecated"] is True


@pytest.mark.parametrize(
    ("error", "status", "title"),
    [
        (UnknownConnectionError("x"), 404, "Unknown connection"),
        (NotFoundError(connector="ns"), 404, "Record not found"),
        (AuthError(connector="ns"), 502, "Upstream authentication failed"),
        (RetryableError(connector="ns", retry_after=2.5), 503, "Upstream unavailable"),
        (BusinessRuleError(connector="ns"), 422, "Refused by a business rule"),
        (ConflictError(connector="ns"), 502, "Upstream refused the request"),
        (MappingError("bad"), 502, "Record cannot be mapped"),
    ],
)
def test_connector_errors_map_to_problems(error, status, title):
    problem = connector_problem(error, connection="ns")
    assert (problem.status, problem.title) == (status, title)
    if status == 503:
        assert problem.headers["Retry-After"] == "3"
