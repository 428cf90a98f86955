"""The authorization code grant's stored tokens: use, refresh, rotation, several processes."""

from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr

from accord.connectors.authorization import (
    AuthorizationCodeAuth,
    AuthorizationCodeFlow,
    MemoryTokenStore,
    TokenSet,
)
from accord.connectors.testing import FakeClock, MockRouter
from accord.errors import AuthError, ConfigError

TOKEN = "/oauth/token"


def flow(clock: FakeClock) -> AuthorizationCodeFlow:
    return AuthorizationCodeFlow(
        authorize_url="https://auth.test/oauth/authorize",
        token_url=f"https://auth.test{TOKEN}",
        client_id="cid",
        client_secret=SecretStr("sec"),
        redirect_uri="http://127.0.0.1:9/cb",
        connector="psa",
        clock=clock.now,
    )


def tokens(clock: FakeClock, access: str, refresh: str | None, life_s: float) -> TokenSet:
    now = clock.now()
    return TokenSet(access, now, refresh, now + timedelta(seconds=life_s))


def granted(access: str, refresh: str) -> httpx.Response:
    body = {"access_token": access, "token_type": "bearer", "expires_in": 3600}
    return httpx.Response(200, json=body | {"refresh_token": refresh})


def client(router: MockRouter, auth: AuthorizationCodeAuth) -> httpx.Client:
    return httpx.Client(base_url="https://api.test", transport=router.transport, auth=auth)


def test_expiring_token_is_refreshed_before_expiry_and_rotation_saved(
    mock_router: MockRouter, fake_clock: FakeClock
) -> None:
    store = MemoryTokenStore({"psa": tokens(fake_clock, "a1", "r1", 3600)})
    refresh = mock_router.add("POST", TOKEN, granted("a2", "r2"))
    api = mock_router.add("GET", "/data", httpx.Response(200), httpx.Response(200))
    http = client(mock_router, AuthorizationCodeAuth(flow(fake_clock), store))
    http.get("/data")
    fake_clock.advance(3570)  # within the refresh margin
    http.get("/data")
    assert [c.headers["Authorization"] for c in api.calls] == ["Bearer a1", "Bearer a2"]
    form = dict(httpx.QueryParams(refresh.calls[0].content.decode()))
    assert form == {
        "grant_type": "refresh_token",
        "refresh_token": "r1",
        "client_id": "cid",
        "client_secret": "sec",
    }
    saved = store.load("psa")
    assert saved is not None
    assert (saved.access_token, saved.refresh_token) == ("a2", "r2")


def test_401_refreshes_once(mock_router: MockRouter, fake_clock: FakeClock) -> None:
    store = MemoryTokenStore({"psa": tokens(fake_clock, "a1", "r1", 3600)})
    mock_router.add("POST", TOKEN, granted("a2", "r2"))
    api = mock_router.add("GET", "/data", httpx.Response(401), httpx.Response(200))
    auth = AuthorizationCodeAuth(flow(fake_clock), store)
    assert client(mock_router, auth).get("/data").status_code == 200
    assert auth.refresh_count == 1
    assert api.calls[-1].headers["Authorization"] == "Bearer a2"


def test_a_token_another_process_refreshed_is_used_not_refreshed_again(
    mock_router: MockRouter, fake_clock: FakeClock
) -> None:
    store = MemoryTokenStore({"psa": tokens(fake_clock, "a1", "r1", 3600)})
    api = mock_router.add("GET", "/data", httpx.Response(200), httpx.Response(200))
    auth = AuthorizationCodeAuth(flow(fake_clock), store)
    http = client(mock_router, auth)
    http.get("/data")
    fake_clock.advance(3570)
    store.save("psa", tokens(fake_clock, "a2", "r2", 3600))  # the other process's refresh
    http.get("/data")
    assert auth.refresh_count == 0
    assert api.calls[-1].headers["Authorization"] == "Bearer a2"


def test_refused_refresh_asks_for_a_new_consent(
    mock_router: MockRouter, fake_clock: FakeClock
) -> None:
    store = MemoryTokenStore({"psa": tokens(fake_clock, "a1", "r1", 10)})
    mock_router.add("POST", TOKEN, httpx.Response(400, json={"error": "invalid_grant"}))
    auth = AuthorizationCodeAuth(flow(fake_clock), store)
    fake_clock.advance(11)
    with pytest.raises(AuthError, match="accord connections authorize psa"):
        client(mock_router, auth).get("/data")


def test_no_stored_token_asks_for_a_consent(mock_router: MockRouter, fake_clock: FakeClock) -> None:
    auth = AuthorizationCodeAuth(flow(fake_clock), MemoryTokenStore())
    with pytest.raises(AuthError, match="not authorized"):
        client(mock_router, auth).get("/data")


def test_redirect_is_checked_for_state_and_errors(fake_clock: FakeClock) -> None:
    f = flow(fake_clock)
    assert f.code_from_redirect("http://127.0.0.1:9/cb?code=c1&state=s", state="s") == "c1"
    with pytest.raises(ConfigError, match="state"):
        f.code_from_redirect("http://127.0.0.1:9/cb?code=c1&state=forged", state="s")
    with pytest.raises(ConfigError, match="access_denied"):
        f.code_from_redirect("http://x/cb?error=access_denied&state=s", state="s")
    with pytest.raises(ConfigError, match="no authorization code"):
        f.code_from_redirect("http://x/cb?state=s", state="s")


def test_token_set_round_trips_and_hides_secrets(fake_clock: FakeClock) -> None:
    original = tokens(fake_clock, "secret-access", "secret-refresh", 60)
    assert TokenSet.from_json(original.to_json()) == original
    assert "secret" not in repr(original)
    lasting = TokenSet("a", fake_clock.now())
    assert lasting.fresh(fake_clock.now() + timedelta(days=3650), 60)
    with pytest.raises(ValueError, match="not a stored token set"):
        TokenSet.from_json({"refresh_token": "x"})
