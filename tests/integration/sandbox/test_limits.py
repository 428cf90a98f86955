"""Each emulator enforces its vendor's documented limits by default, and only when asked not to
does it stop. Windows and durations are shrunk through the fault API so the tests stay quick;
the defaults themselves are read back from ``GET /__sandbox/faults``.
"""

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from accord_sandbox.business_central import BusinessCentralEmulator
from accord_sandbox.common import Emulator
from accord_sandbox.kantata import KantataEmulator
from accord_sandbox.netsuite import NetSuiteEmulator
from accord_sandbox.salesforce import SalesforceEmulator


async def _client(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=emu.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emu.test") as client:
        yield client


async def _defaults(emu: Emulator) -> list[dict]:
    async for client in _client(emu):
        return (await client.get("/__sandbox/faults")).json()["active"]
    raise AssertionError


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (
            BusinessCentralEmulator,
            [
                {"path": "/v2.0/*/api/*", "limit_per_window": 6000, "window_s": 300.0},
                {"path": "/v2.0/*/api/*", "concurrency": 100},
            ],
        ),
        (
            SalesforceEmulator,
            [{"path": "/services/data/*", "concurrency": 25, "long_running_s": 20.0}],
        ),
        (KantataEmulator, [{"path": "/api/v1/*", "limit_per_window": 1200, "window_s": 60.0}]),
        (NetSuiteEmulator, [{"path": "/services/*", "concurrency": 5}]),
    ],
    ids=["business_central", "salesforce", "kantata", "netsuite"],
)
async def test_vendor_limits_are_on_by_default(
    make: Callable[[], Emulator], expected: list[dict]
) -> None:
    emu = make()
    assert await _defaults(emu) == expected
    async for client in _client(emu):
        # Deleting the injected faults keeps the vendor's limits.
        assert (await client.delete("/__sandbox/faults")).status_code == 204
        assert (await client.get("/__sandbox/faults")).json()["active"] == expected


async def test_limits_off_only_when_asked() -> None:
    for emu in (
        BusinessCentralEmulator(limits=False),
        SalesforceEmulator(limits=False),
        KantataEmulator(limits=False),
        NetSuiteEmulator(limits=False),
    ):
        assert await _defaults(emu) == []


async def test_sliding_window_throttles_with_retry_after() -> None:
    emu = BusinessCentralEmulator(limits=False)
    async for client in _client(emu):
        rule = {"path": "/v2.0/*", "limit_per_window": 3, "window_s": 30}
        await client.post("/__sandbox/faults", json=rule)
        answers = [(await client.get("/v2.0/t/production/api/v2.0/companies")) for _ in range(4)]
        assert [a.status_code for a in answers[:3]] == [401, 401, 401]  # no token: counted
        throttled = answers[3]
        assert throttled.status_code == 429
        assert throttled.json()["error"]["code"] == "TooManyRequests"
        assert 25 <= int(throttled.headers["Retry-After"]) <= 30
        assert (await client.get("/__sandbox/stats")).json()["throttled"] == 1


async def test_concurrency_counts_only_long_running_requests() -> None:
    emu = SalesforceEmulator(limits=False)
    async for client in _client(emu):
        slow = {"path": "/services/data/v60.0/limits", "latency_ms": 600}
        await client.post("/__sandbox/faults", json=slow)
        rule = {"path": "/services/data/*", "concurrency": 1, "long_running_s": 0.2}
        await client.post("/__sandbox/faults", json=rule)
        running = asyncio.create_task(client.get("/services/data/v60.0/limits"))
        await asyncio.sleep(0.05)
        # One request in flight, not yet long-running: others still pass.
        early = await client.get("/services/data/v60.0/sobjects")
        assert early.status_code == 401
        await asyncio.sleep(0.3)
        late = await client.get("/services/data/v60.0/sobjects")
        assert late.status_code == 403
        assert late.json() == [
            {
                "message": "ConcurrentPerOrgLongTxn Limit exceeded.",
                "errorCode": "REQUEST_LIMIT_EXCEEDED",
                "fields": [],
            }
        ]
        assert (await running).status_code == 401
        after = await client.get("/services/data/v60.0/sobjects")
        assert after.status_code == 401
