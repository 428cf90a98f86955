"""The shipped connector contract, run against the Kantata emulator (plus Kantata specifics)."""

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from accord.connectors.authorization import MemoryTokenStore
from accord.connectors.kantata import KantataConfig, KantataConnector
from accord.connectors.testing import (
    ConnectorContract,
    ConnectorFactory,
    LiveTenant,
    SandboxControl,
)
from accord.errors import RetryableError
from accord_sandbox.accord_config import connection_settings
from accord_sandbox.kantata import KantataEmulator
from accord_sandbox.kantata.auth import sandbox_consent
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


def config(emulator_url: str, **overrides: Any) -> KantataConfig:
    settings = connection_settings("kantata", emulator_url) | {"name": "kantata-test"}
    return KantataConfig.model_validate(settings | {"timeout_s": 10} | overrides)


def authorize(emulator_url: str) -> MemoryTokenStore:
    """The consent step: what `accord connections authorize` stores."""
    store = MemoryTokenStore()
    with KantataConnector(config(emulator_url)) as conn:
        flow = conn.authorization_flow()
        assert flow is not None
        redirect = sandbox_consent(flow.authorization_url("st"))
        tokens = flow.exchange(flow.code_from_redirect(redirect, state="st"), conn.client)
    store.save("kantata-test", tokens)
    return store


@pytest.fixture(scope="module")
def tokens(emulator_url: str) -> MemoryTokenStore:
    return authorize(emulator_url)


def test_expiring_tokens_are_refreshed_end_to_end(
    emulator_url: str, emulator: KantataEmulator
) -> None:
    """Should Kantata turn token expiry on, the connector refreshes and keeps the rotation."""
    now = [time.time()]
    emulator.auth.token_ttl_s = 3600
    emulator.auth.now = lambda: now[0]
    try:
        store = authorize(emulator_url)
        first = store.load("kantata-test")
        assert first is not None
        assert first.refresh_token
        with KantataConnector(config(emulator_url), token_store=store) as conn:
            conn.check()
            now[0] += 3601  # expired at Kantata (the connector's clock has not moved)
            conn.check()  # 401, refresh, resend
        renewed = store.load("kantata-test")
        assert renewed is not None
        assert renewed.access_token != first.access_token
        assert renewed.refresh_token not in {None, first.refresh_token}
    finally:
        emulator.auth.token_ttl_s = None
        emulator.auth.now = time.time


@pytest.fixture
def factory(emulator_url: str, tokens: MemoryTokenStore) -> ConnectorFactory:
    def make(*, budget: Any = None, **overrides: Any) -> KantataConnector:
        return KantataConnector(
            config(emulator_url, **overrides), budget=budget, token_store=tokens
        )

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
        # A token the account does not know (revoked, or another account's).
        return {
            "access_token": "not-a-kantata-token",
            "client_id": None,
            "client_secret": None,
            "redirect_uri": None,
        }

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
