"""The shipped connector contract, run against the Kantata emulator (plus Kantata specifics)."""

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from accord.connectors.kantata import KantataConfig, KantataConnector
from accord.connectors.testing import (
    ConnectorContract,
    ConnectorFactory,
    LiveTenant,
    SandboxControl,
)
from accord.errors import RetryableError
from accord_sandbox.kantata import KantataEmulator
from accord_sandbox.scenario import generate


@pytest.fixture(scope="module")
def emulator() -> KantataEmulator:
    return KantataEmulator(base_url="http://127.0.0.1")


@pytest.fixture(scope="module")
def emulator_url(serve_asgi: Callable[..., Any], emulator: KantataEmulator) -> Iterator[str]:
    firm = generate("small", 7)

    def make_app(base_url: str) -> Any:
        emulator.base_url = base_url
        emulator.seed_firm(firm)
        return emulator.app

    with serve_asgi(make_app) as url:
        yield url


@pytest.fixture
def control(emulator_url: str) -> Iterator[SandboxControl]:
    with httpx.Client(base_url=emulator_url, timeout=10) as client:
        yield SandboxControl(client)


@pytest.fixture
def factory(emulator_url: str) -> ConnectorFactory:
    def make(*, budget: Any = None, **overrides: Any) -> KantataConnector:
        settings: dict[str, Any] = {
            "name": "kantata-test",
            "base_url": f"{emulator_url}/api/v1",
            "client_id": "sandbox",
            "client_secret": "sandbox-secret",
            "timeout_s": 10,
            **overrides,
        }
        return KantataConnector(KantataConfig.model_validate(settings), budget=budget)

    return make


def workspace(external_id: str) -> dict[str, Any]:
    return {
        "title": f"Project {external_id}",
        "currency": "USD",
        "budgeted": True,
        "price_in_cents": 5_000_000,
        "start_date": "2026-01-05",
        "due_date": "2026-06-30",
        "status": "On Hold",
    }


class TestKantataContract(ConnectorContract):
    @pytest.fixture
    def sandbox(self, control: SandboxControl) -> SandboxControl:
        return control

    @pytest.fixture
    def make_connector(self, factory: ConnectorFactory) -> ConnectorFactory:
        return factory

    @pytest.fixture
    def fault_path(self) -> str:
        return "/api/v1/*"

    @pytest.fixture
    def resource(self) -> str:
        return "workspaces"

    @pytest.fixture
    def make_record(self) -> Callable[[str], dict[str, Any]]:
        return workspace

    @pytest.fixture
    def bad_credentials(self) -> dict[str, Any]:
        return {"client_secret": "wrong-secret"}

    @pytest.fixture
    def business_rule_violation(self) -> Callable[[Any], object]:
        def violate(connector: KantataConnector) -> object:
            ws = connector.upsert("workspaces", "ACC-BR-WS", workspace("ACC-BR-WS"))
            # time_in_minutes is required: Kantata answers 422 with a validation error.
            return connector.upsert(
                "time_entries", "ACC-BR-TE", {"workspace_id": ws.id, "date_performed": "2026-01-06"}
            )

        return violate


class TestKantataLive(LiveTenant, TestKantataContract):
    """The same contract against a real Kantata tenant (``pytest -m live``)."""

    kind = "kantata"


def test_retried_create_after_lost_response_is_found_by_reference(
    factory: ConnectorFactory, control: SandboxControl
) -> None:
    control.reset()
    with factory() as conn:
        conn.check()
        control.add_fault(method="POST", path="/api/v1/workspaces*", lose_response_rate=1.0)
        with pytest.raises(RetryableError) as caught:
            conn.upsert("workspaces", "ACC-LOST-1", workspace("ACC-LOST-1"))
        assert caught.value.status_code == 504
        control.clear_faults()
        retried = conn.upsert("workspaces", "ACC-LOST-1", workspace("ACC-LOST-1"))
    assert retried.created is False
    assert control.duplicates() == 0
    assert control.stats()["writes"] >= 1


def test_timesheet_approval_maps_to_canonical_timesheet(
    factory: ConnectorFactory, control: SandboxControl
) -> None:
    from accord.connectors.kantata.mapping import KantataLookups, timesheet_to_canonical
    from accord.domain import TimesheetStatus

    control.reset()
    with factory() as conn:
        ws = conn.upsert("workspaces", "ACC-TS-WS", workspace("ACC-TS-WS"))
        conn.update("workspaces", ws.id, {"status": "In Progress"})
        for day, minutes in (("2026-01-05", 480), ("2026-01-06", 450)):
            conn.upsert(
                "time_entries",
                f"ACC-TS-{day}",
                {"workspace_id": ws.id, "date_performed": day, "time_in_minutes": minutes},
            )
        sub = conn.upsert(
            "timesheet_submissions",
            "ACC-TS-1",
            {"workspace_id": ws.id, "start_date": "2026-01-05"},
        )
        approved = conn.approve_timesheet(sub.id, comment="ok")
        again = conn.upsert("timesheet_submissions", "ACC-TS-1", {"workspace_id": ws.id})
        pending = conn.query_page("timesheet_submissions", filters={"status": "approved"})
    timesheet = timesheet_to_canonical(approved, lookups=KantataLookups())
    assert timesheet.status is TimesheetStatus.APPROVED
    assert timesheet.total_hours == 15.5
    assert again.created is False
    assert again.id == sub.id
    assert [r["id"] for r in pending.records] == [sub.id]
    assert pending.records[0]["time_entries"]


def test_event_feed_is_deduplicated(
    factory: ConnectorFactory, control: SandboxControl, emulator: KantataEmulator
) -> None:
    control.reset()
    emulator.events.duplicate_rate = 1.0  # every emit re-delivers a recent event
    try:
        with factory() as conn:
            first = conn.read_events(limit=200)
            for n in range(4):
                conn.upsert("workspaces", f"ACC-EV-{n}", workspace(f"ACC-EV-{n}"))
            seen: list[str] = [e["id"] for e in first.events]
            cursor = first.cursor
            for _ in range(50):
                page = conn.read_events(cursor, limit=3)
                seen.extend(e["id"] for e in page.events)
                cursor = page.cursor
                if not page.has_more and not page.events:
                    break
    finally:
        emulator.events.duplicate_rate = 0.02
    raw = emulator.events.events
    assert len(raw) > len({e["id"] for e in raw}), "the feed should have re-delivered events"
    assert len(seen) == len(set(seen))
    assert set(seen) == {e["id"] for e in raw}
