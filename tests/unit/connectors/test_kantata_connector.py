"""Kantata connector behaviour on recorded bodies (httpx.MockTransport; all routes must be hit)."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from accord.connectors.authorization import MemoryTokenStore, TokenSet
from accord.connectors.budget import LocalBudget
from accord.connectors.kantata import KantataConfig, KantataConnector
from accord.connectors.testing import FakeClock, MockRouter
from accord.errors import (
    AuthError,
    BusinessRuleError,
    ConflictError,
    NotFoundError,
    PermanentError,
    RetryableError,
    UnsupportedOperationError,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "kantata"
API = "/api/v1"
TOKEN = "/oauth/token"


def body(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def reply(status: int, name: str | None = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body(name) if name else None, headers=headers)


REDIRECT = "http://127.0.0.1:8765/cb"


def config(**overrides: Any) -> KantataConfig:
    settings: dict[str, Any] = {
        "name": "kantata",
        "base_url": "https://kantata.test/api/v1",
        "client_id": "cid",
        "client_secret": "s3cr3t-value",
        "redirect_uri": REDIRECT,
    } | overrides
    return KantataConfig.model_validate(settings)


def authorized(fake_clock: FakeClock, value: str = "k-token-1") -> MemoryTokenStore:
    """A store holding what `accord connections authorize` keeps for a non-expiring token."""
    return MemoryTokenStore({"kantata": TokenSet(access_token=value, obtained_at=fake_clock.now())})


@pytest.fixture
def connector(mock_router: MockRouter, fake_clock: FakeClock) -> KantataConnector:
    budget = LocalBudget(monotonic=fake_clock.monotonic, sleep=fake_clock.sleep)
    return KantataConnector(
        config(),
        transport=mock_router.transport,
        clock=fake_clock.now,
        budget=budget,
        token_store=authorized(fake_clock),
    )


def test_oauth_urls_derived_from_base_url() -> None:
    assert config().token_url == "https://kantata.test/oauth/token"
    assert config().authorize_url == "https://kantata.test/oauth/authorize"
    assert config(token_url="https://auth.test/t").token_url == "https://auth.test/t"
    real = config(base_url="https://api.mavenlink.com/api/v1")
    # "Obtaining tokens for users" sends users to app.mavenlink.com, not the API host.
    assert real.authorize_url == "https://app.mavenlink.com/oauth/authorize"
    assert real.token_url == "https://app.mavenlink.com/oauth/token"
    assert "s3cr3t-value" not in repr(config())


def test_config_takes_an_application_or_its_token() -> None:
    token = config(client_id=None, client_secret=None, redirect_uri=None, access_token="tok")
    assert token.authentication == "OAuth 2.0 application token"
    with pytest.raises(ValueError, match="not both"):
        config(access_token="tok")
    with pytest.raises(ValueError, match="redirect_uri"):
        config(redirect_uri=None)


def test_config_refuses_unknown_keys() -> None:
    with pytest.raises(ValueError, match="extra"):
        config(colour="blue")


@pytest.mark.parametrize(
    ("status", "name", "cls", "code"),
    [
        (422, "error_validation", BusinessRuleError, "validation"),
        (404, "error_not_found", NotFoundError, "system"),
        (429, "error_throttled", RetryableError, "system"),
        (503, "error_server", RetryableError, "system"),
        (400, "error_not_found", PermanentError, "system"),
    ],
)
def test_error_translation(
    connector: KantataConnector,
    mock_router: MockRouter,
    status: int,
    name: str,
    cls: type[Exception],
    code: str,
) -> None:
    mock_router.add("GET", f"{API}/workspaces/10", reply(status, name, **{"Retry-After": "7"}))
    with pytest.raises(cls) as caught:
        connector.get("workspaces", "10")
    error = caught.value
    assert type(error) is cls
    assert error.status_code == status  # type: ignore[attr-defined]
    assert error.code == code  # type: ignore[attr-defined]
    assert error.connector == "kantata"  # type: ignore[attr-defined]
    assert error.resource == "workspaces"  # type: ignore[attr-defined]
    assert error.detail  # type: ignore[attr-defined]
    if isinstance(error, RetryableError):
        assert error.retry_after == 7.0


def test_validation_detail_keeps_every_message(
    connector: KantataConnector, mock_router: MockRouter
) -> None:
    mock_router.add("GET", f"{API}/time_entries", reply(200, "empty_workspaces"))
    mock_router.add("POST", f"{API}/time_entries", reply(422, "error_validation"))
    with pytest.raises(BusinessRuleError) as caught:
        connector.upsert("time_entries", "ACC-1", {"workspace_id": "10"})
    assert caught.value.external_id == "ACC-1"
    assert caught.value.detail is not None
    assert "time_in_minutes" in caught.value.detail
    assert "date_performed" in caught.value.detail


def test_lost_response_is_retryable(connector: KantataConnector, mock_router: MockRouter) -> None:
    mock_router.add("PUT", f"{API}/workspaces/10", httpx.Response(504))
    with pytest.raises(RetryableError) as caught:
        connector.update("workspaces", "10", {"title": "x"})
    assert caught.value.status_code == 504


def test_stored_token_is_sent_and_a_revoked_one_is_an_auth_error(
    connector: KantataConnector, mock_router: MockRouter
) -> None:
    route = mock_router.add(
        "GET", f"{API}/users/me", reply(200, "user"), reply(401, "error_unauthorized")
    )
    connector.check()
    # Kantata's tokens do not expire and come without a refresh token: a 401 means the user
    # revoked the application, and nothing but a new consent helps.
    with pytest.raises(AuthError) as caught:
        connector.check()
    assert caught.value.status_code == 401
    assert all(c.headers["Authorization"] == "Bearer k-token-1" for c in route.calls)


def test_unauthorized_connection_says_how_to_authorize(
    mock_router: MockRouter, fake_clock: FakeClock
) -> None:
    conn = KantataConnector(
        config(), transport=mock_router.transport, token_store=MemoryTokenStore()
    )
    with pytest.raises(AuthError, match="accord connections authorize kantata"):
        conn.check()


def test_consent_step_exchanges_the_code_as_documented(
    mock_router: MockRouter, fake_clock: FakeClock
) -> None:
    token = mock_router.add("POST", TOKEN, reply(200, "token"))
    conn = KantataConnector(config(), transport=mock_router.transport, clock=fake_clock.now)
    flow = conn.authorization_flow()
    assert flow is not None
    url = httpx.URL(flow.authorization_url("st4te"))
    assert url.path == "/oauth/authorize"
    assert dict(url.params) == {
        "response_type": "code",
        "client_id": "cid",
        "redirect_uri": REDIRECT,
        "state": "st4te",
    }
    code = flow.code_from_redirect(f"{REDIRECT}?code=abc&state=st4te", state="st4te")
    tokens = flow.exchange(code, conn.client)
    form = dict(httpx.QueryParams(token.calls[0].content.decode()))
    assert form == {
        "grant_type": "authorization_code",
        "code": "abc",
        "redirect_uri": REDIRECT,
        "client_id": "cid",
        "client_secret": "s3cr3t-value",
    }
    assert tokens.access_token == "k-token-1"
    assert tokens.expires_at is None  # "Kantata OX OAuth access tokens do not expire"
    assert tokens.refresh_token is None


def test_application_token_is_sent_as_is(mock_router: MockRouter) -> None:
    route = mock_router.add("GET", f"{API}/users/me", reply(200, "user"))
    cfg = config(client_id=None, client_secret=None, redirect_uri=None, access_token="app-tok")
    with KantataConnector(cfg, transport=mock_router.transport) as conn:
        assert conn.authorization_flow() is None
        conn.check()
    assert route.calls[0].headers["Authorization"] == "Bearer app-tok"


def test_read_page_orders_embeds_and_pages(
    connector: KantataConnector, mock_router: MockRouter
) -> None:
    route = mock_router.add("GET", f"{API}/workspaces", reply(200, "workspaces_page"))
    since = datetime(2026, 1, 1, tzinfo=UTC)
    page = connector.read_page("workspaces", since=since, limit=500)
    params = route.calls[0].url.params
    assert params["per_page"] == "200"
    assert params["page"] == "1"
    assert params["order"] == "updated_at:asc"
    assert params["updated_after"] == "2026-01-01T00:00:00.000000+00:00"
    assert [r["id"] for r in page.records] == ["10", "11"]
    assert page.next_cursor == "2"
    assert page.high_watermark == datetime(2026, 1, 6, 10, tzinfo=UTC)
    meta = connector.describe("workspaces", page.records[0])
    assert meta.external_id == "ACC-PRJ-1"
    assert connector.describe("workspaces", page.records[1]).external_id is None


def test_upsert_creates_with_reference_in_the_same_request(
    connector: KantataConnector, mock_router: MockRouter
) -> None:
    mock_router.add(
        "GET",
        f"{API}/workspaces",
        reply(200, "empty_workspaces"),
        params={"external_reference_service_model_ref": "ACC-PRJ-1"},
    )
    create = mock_router.add("POST", f"{API}/workspaces", reply(200, "created_workspace"))
    result = connector.upsert("workspaces", "ACC-PRJ-1", {"title": "Acme data platform"})
    assert result.created is True
    assert result.id == "10"
    sent = json.loads(create.calls[0].content)["workspace"]
    assert sent["external_references"] == [
        {"service_name": "accord", "service_model": "project", "service_model_ref": "ACC-PRJ-1"}
    ]


def test_upsert_updates_the_referenced_record(
    connector: KantataConnector, mock_router: MockRouter
) -> None:
    mock_router.add("GET", f"{API}/workspaces", reply(200, "created_workspace"))
    put = mock_router.add("PUT", f"{API}/workspaces/10", reply(200, "created_workspace"))
    result = connector.upsert("workspaces", "ACC-PRJ-1", {"status": "In Progress"})
    assert result.created is False
    assert json.loads(put.calls[0].content) == {"workspace": {"status": "In Progress"}}


def test_two_records_with_one_reference_conflict(
    connector: KantataConnector, mock_router: MockRouter
) -> None:
    mock_router.add("GET", f"{API}/workspaces", reply(200, "workspaces_page"))
    with pytest.raises(ConflictError):
        connector.get_by_external_id("workspaces", "ACC-PRJ-1")


def test_users_cannot_be_upserted() -> None:
    with KantataConnector(config()) as conn, pytest.raises(UnsupportedOperationError):
        conn.upsert("users", "x", {})


def test_ids_and_cursors_are_validated() -> None:
    connector = KantataConnector(config())
    with pytest.raises(ValueError, match="digits"):
        connector.get("workspaces", "10?x=1")
    with pytest.raises(ValueError, match="cursor"):
        connector.read_events("garbage")


def test_event_feed_cursor_and_dedupe(connector: KantataConnector, mock_router: MockRouter) -> None:
    route = mock_router.add(
        "GET",
        f"{API}/subscribed_events",
        reply(200, "events_page"),
        reply(200, "events_redelivered"),
    )
    first = connector.read_events(limit=3, event_types=["time_entry:created", "time_entry:updated"])
    assert [e["id"] for e in first.events] == ["7", "8", "9"]
    assert first.has_more is True
    second = connector.read_events(first.cursor, limit=3)
    assert [e["id"] for e in second.events] == ["10"]  # event 8 was delivered again
    assert second.has_more is False
    params = route.calls[1].url.params
    # inclusive bound: one microsecond before the newest event seen
    assert params["created_after"] == "2026-01-06T09:00:01.999999+00:00"
    assert route.calls[0].url.params["event_types"] == "time_entry:created,time_entry:updated"
    assert second.cursor.endswith("|10|1")
