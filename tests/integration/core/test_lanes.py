"""Priority lanes: an interactive call overtakes a connection's busy bulk backlog.

A real dispatcher (outbox, dispatch lease, shared database budget, async I/O) keeps the
NetSuite emulator's two slots busy with slow bulk calls; then a person's call (the
``interactive`` lane) is made on the same connection from another thread, as an API request
would. The dispatcher gives a slot back, so the call waits at most about one bulk call's
latency, and the emulator's own request log shows it served before most of the backlog.
"""

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.dbs import BACKENDS, fresh_database

from accord.connectors.aio import AsyncWire
from accord.connectors.budget import Lane, lane
from accord.connectors.netsuite import NetSuiteConfig, NetSuiteConnector
from accord.errors import RateLimitExceeded
from accord.flows.dispatcher import Dispatcher, Disposition, Gate
from accord.store import create_db_engine, migrate, outbox
from accord.store.budget import DatabaseBudget
from accord.store.outbox import OutboxItem, OutboxRow
from accord_sandbox.accord_config import connection_settings
from accord_sandbox.server import Sandbox

BULK_LATENCY_S = 0.4
BACKLOG = 24


class _Probe:
    """Bulk items that are each one slow read, sent through the dispatcher's gate."""

    kind = "probe"

    def __init__(self, connector: NetSuiteConnector) -> None:
        self.wire = AsyncWire(connector, limit=4)

    async def send(self, gate: Gate, rows: list[OutboxRow]) -> list[Disposition]:
        for row in rows:
            async with gate():
                await self.wire.request(
                    "GET", f"/record/v1/employee/eid:{row.item_key}", resource="employee"
                )
        return [Disposition(row=r) for r in rows]

    def record(self, conn: Any, done: list[Disposition]) -> None:
        del conn, done

    def settled(self, batch_ids: Any) -> None:
        del batch_ids

    async def aclose(self) -> None:
        await self.wire.aclose()


@pytest.fixture(scope="module")
def netsuite() -> Iterator[str]:
    with Sandbox(base_port=0, scenario="firm", seed=7).start_in_thread() as sandbox:
        yield sandbox.urls["netsuite"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_interactive_call_overtakes_the_bulk_backlog(
    backend: str, netsuite: str, tmp_path: Path
) -> None:
    with fresh_database(backend, tmp_path) as db_url:
        engine = create_db_engine(db_url)
        migrate(engine)
        settings = connection_settings("netsuite", netsuite) | {
            "name": f"ns-{backend}",
            "concurrency": 2,
            "rate_per_s": 500,
        }
        budget = DatabaseBudget(engine, holder="lanes-test")
        connector = NetSuiteConnector(NetSuiteConfig.model_validate(settings), budget=budget)
        connector.check()  # the token first, so that no call below waits for one
        httpx.post(f"{netsuite}/__sandbox/stats/reset", timeout=10)
        httpx.post(
            f"{netsuite}/__sandbox/faults",
            json={"path": "*/record/v1/employee/*", "latency_ms": BULK_LATENCY_S * 1000},
            timeout=10,
        ).raise_for_status()
        with engine.begin() as conn:
            outbox.enqueue(
                conn,
                [
                    OutboxItem(connector.name, "bulk", "probe", f"b{i}", f"EMP-{i:04d}", "{}")
                    for i in range(BACKLOG)
                ],
            )
        dispatcher = Dispatcher(
            engine, lambda _: connector, {"probe": _Probe(connector)}, holder="lanes-test"
        )
        dispatcher.start()
        try:
            deadline = time.monotonic() + 30
            while _count(netsuite, "/employee/") < 3:
                assert time.monotonic() < deadline, "the bulk backlog never started"
                time.sleep(0.05)
            waited: list[float] = []

            def person() -> None:
                with lane(Lane.INTERACTIVE):
                    started = time.monotonic()
                    connector.read_page("currency", limit=5)
                    waited.append(time.monotonic() - started)

            thread = threading.Thread(target=person)
            thread.start()
            thread.join(30)
            assert waited, "the interactive call did not finish"
            # One bulk call's latency (the slot it frees), plus a little for the hand-over.
            assert waited[0] < BULK_LATENCY_S + 0.35, waited
            deadline = time.monotonic() + 60
            while _count(netsuite, "/employee/") < BACKLOG:
                assert time.monotonic() < deadline, "the bulk backlog did not finish"
                time.sleep(0.1)
        finally:
            dispatcher.stop()
            httpx.delete(f"{netsuite}/__sandbox/faults", timeout=10)
            connector.close()
            budget.close()
            engine.dispose()
        log = httpx.get(f"{netsuite}/__sandbox/requests", timeout=10).json()["requests"]
        person_at = next(r["at"] for r in log if "/query/" in r["path"])
        after = [r for r in log if "/employee/" in r["path"] and r["at"] > person_at]
        assert len(after) >= BACKLOG // 2, "the interactive call waited behind the backlog"


def _count(url: str, fragment: str) -> int:
    log = httpx.get(f"{url}/__sandbox/requests", timeout=10).json()["requests"]
    return sum(1 for r in log if fragment in r["path"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_daily_allowance_keeps_its_reserve_for_people(backend: str, tmp_path: Path) -> None:
    """Salesforce's daily allowance as a budget: bulk stops short of the interactive reserve."""
    with fresh_database(backend, tmp_path) as db_url:
        engine = create_db_engine(db_url)
        migrate(engine)
        config = NetSuiteConfig.model_validate(
            connection_settings("netsuite", "http://127.0.0.1:9")
            | {"name": f"daily-{backend}", "rate_per_s": 1000, "daily_limit": 5, "daily_reserve": 2}
        )
        budget = DatabaseBudget(engine, holder="daily-test")
        try:
            with lane(Lane.BULK):
                for _ in range(3):
                    with budget.acquire(config):
                        pass
                with (
                    pytest.raises(RateLimitExceeded, match="daily allowance of 5 calls"),
                    budget.acquire(config),
                ):
                    pass
            with lane(Lane.INTERACTIVE):
                for _ in range(2):
                    with budget.acquire(config):
                        pass
                with pytest.raises(RateLimitExceeded) as refused, budget.acquire(config):
                    pass
            assert refused.value.retry_after is not None
            assert 0 < refused.value.retry_after <= 86400
            usage = budget.usage(config)
            assert usage.day_used == 5
            assert dict(usage.lanes) == {"interactive": 2, "flow": 0, "bulk": 3, "background": 0}
        finally:
            budget.close()
            engine.dispose()
