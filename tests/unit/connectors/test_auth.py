import httpx
import pytest
from pydantic import SecretStr

from accord.connectors.auth import ClientCredentialsAuth
from accord.connectors.testing import FakeClock, MockRouter
from accord.errors import AuthError, RetryableError

TOKEN_URL = "https://login.test/oauth2/token"


def token(value: str, expires_in: object = 3600) -> httpx.Response:
    return httpx.Response(
        200, json={"access_token": value, "expires_in": expires_in, "token_type": "Bearer"}
    )


def make(
    router: MockRouter, clock: FakeClock, **kw: object
) -> tuple[ClientCredentialsAuth, httpx.Client]:
    auth = ClientCredentialsAuth(
        token_url=TOKEN_URL,
        client_id="cid",
        client_secret=SecretStr("s3cret"),
        connector="conn",
        clock=clock.now,
        **kw,  # type: ignore[arg-type]
    )
    client = httpx.Client(base_url="https://api.test", transport=router.transport, auth=auth)
    return auth, client


def bearer(request: httpx.Request) -> str:
    return request.headers["Authorization"]


def test_token_is_cached_until_shortly_before_expiry(
    mock_router: MockRouter, fake_clock: FakeClock
) -> None:
    tokens = mock_router.add("POST", "/oauth2/token", token("t1"), token("t2"))
    api = mock_router.add("GET", "/data", httpx.Response(200, json={}))
    auth, client = make(mock_router, fake_clock)
    client.get("/data")
    fake_clock.advance(3000)
    client.get("/data")
    assert auth.fetch_count == 1
    fake_clock.advance(560)  # within the 60 s refresh margin
    client.get("/data")
    assert auth.fetch_count == 2
    assert [bearer(r) for r in api.calls] == ["Bearer t1", "Bearer t1", "Bearer t2"]
    form = tokens.calls[0].content.decode()
    assert "grant_type=client_credentials" in form
    assert "client_id=cid" in form


def test_string_expires_in_is_understood(mock_router: MockRouter, fake_clock: FakeClock) -> None:
    mock_router.add("POST", "/oauth2/token", token("t1", "3600"))
    mock_router.add("GET", "/data", httpx.Response(200))
    auth, client = make(mock_router, fake_clock)
    client.get("/data")
    assert auth.token is not None
    assert (auth.token.expires_at - auth.token.obtained_at).total_seconds() == 3600
    assert "t1" not in repr(auth.token)


def test_one_reauthentication_on_401(mock_router: MockRouter, fake_clock: FakeClock) -> None:
    mock_router.add("POST", "/oauth2/token", token("old"), token("new"))
    api = mock_router.add("GET", "/data", httpx.Response(401), httpx.Response(200, json={"ok": 1}))
    auth, client = make(mock_router, fake_clock)
    assert client.get("/data").status_code == 200
    assert auth.fetch_count == 2
    assert [bearer(r) for r in api.calls] == ["Bearer old", "Bearer new"]


def test_second_401_is_returned_without_a_third_try(
    mock_router: MockRouter, fake_clock: FakeClock
) -> None:
    mock_router.add("POST", "/oauth2/token", token("a"), token("b"))
    api = mock_router.add("GET", "/data", httpx.Response(401))
    auth, client = make(mock_router, fake_clock)
    assert client.get("/data").status_code == 401
    assert len(api.calls) == 2
    assert auth.fetch_count == 2


def test_refused_credentials_raise_auth_error(
    mock_router: MockRouter, fake_clock: FakeClock
) -> None:
    mock_router.add(
        "POST",
        "/oauth2/token",
        httpx.Response(400, json={"error": "invalid_client", "error_description": "bad secret"}),
    )
    _, client = make(mock_router, fake_clock)
    with pytest.raises(AuthError) as caught:
        client.get("/data")
    assert caught.value.code == "invalid_client"
    assert caught.value.status_code == 400
    assert caught.value.connector == "conn"
    assert "s3cret" not in str(caught.value)


def test_throttled_token_endpoint_is_retryable(
    mock_router: MockRouter, fake_clock: FakeClock
) -> None:
    mock_router.add("POST", "/oauth2/token", httpx.Response(503))
    _, client = make(mock_router, fake_clock)
    with pytest.raises(RetryableError):
        client.get("/data")


def test_basic_client_auth_and_scope(mock_router: MockRouter, fake_clock: FakeClock) -> None:
    tokens = mock_router.add("POST", "/oauth2/token", token("t"))
    mock_router.add("GET", "/data", httpx.Response(200))
    _, client = make(
        mock_router, fake_clock, client_auth="basic", scope="https://api.test/.default"
    )
    client.get("/data")
    sent = tokens.calls[0]
    assert sent.headers["Authorization"].startswith("Basic ")
    assert "client_secret" not in sent.content.decode()
    assert "scope=https" in sent.content.decode()
