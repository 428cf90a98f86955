"""NetSuite connector behaviour on recorded bodies (httpx.MockTransport; all routes must be hit)."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from accord.connectors.budget import LocalBudget
from accord.connectors.netsuite import NetSuiteConfig, NetSuiteConnector, classify_user_error
from accord.connectors.netsuite.auth import ASSERTION_TYPE
from accord.connectors.testing import FakeClock, MockRouter
from accord.errors import (
    AuthError,
    BusinessRuleError,
    ConflictError,
    NotFoundError,
    PermanentError,
    RetryableError,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "netsuite"
ROOT = "/services/rest"
TOKEN = f"{ROOT}/auth/oauth2/v1/token"
SUITEQL = f"{ROOT}/query/v1/suiteql"


def body(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def reply(status: int, name: str | None = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body(name) if name else None, headers=headers)


KEY = ec.generate_private_key(ec.SECP256R1())
PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()


def config(**overrides: Any) -> NetSuiteConfig:
    settings: dict[str, Any] = {
        "name": "ns",
        "account_id": "1234567-sb1",
        "client_id": "cid",
        "certificate_id": "cert-1",
        "private_key": PEM,
        "signing_algorithm": "ES256",
    } | overrides
    return NetSuiteConfig.model_validate(settings)


def tba(**overrides: Any) -> NetSuiteConfig:
    settings: dict[str, Any] = {
        "certificate_id": None,
        "private_key": None,
        "client_secret": "consumer-secret",
        "token_id": "token-id",
        "token_secret": "token-secret",
    }
    return config(**(settings | overrides))


@pytest.fixture
def connector(mock_router: MockRouter, fake_clock: FakeClock) -> NetSuiteConnector:
    mock_router.add("POST", TOKEN, reply(200, "token"))
    budget = LocalBudget(monotonic=fake_clock.monotonic, sleep=fake_clock.sleep)
    return NetSuiteConnector(
        config(), transport=mock_router.transport, clock=fake_clock.now, budget=budget
    )


def test_default_urls_from_account() -> None:
    cfg = config()
    assert cfg.base_url == "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest"
    assert cfg.token_url == cfg.base_url + "/auth/oauth2/v1/token"


@pytest.mark.parametrize(
    ("name", "status", "cls", "code"),
    [
        ("error_concurrency", 429, RetryableError, "CONCURRENCY_LIMIT_EXCEEDED"),
        ("error_closed_period", 400, BusinessRuleError, "USER_ERROR"),
        ("error_invalid_department", 400, BusinessRuleError, "USER_ERROR"),
        ("error_invalid_customer_line", 400, BusinessRuleError, "USER_ERROR"),
        ("error_duplicate", 400, ConflictError, "USER_ERROR"),
        ("error_not_found", 404, NotFoundError, "NONEXISTENT_ID"),
        ("error_permission", 400, AuthError, "INSUFFICIENT_PERMISSION"),
        ("error_suiteql", 400, PermanentError, "INVALID_PARAMETER"),
        ("error_server", 500, RetryableError, "UNEXPECTED_ERROR"),
    ],
)
def test_error_translation(
    connector: NetSuiteConnector,
    mock_router: MockRouter,
    name: str,
    status: int,
    cls: type[Exception],
    code: str,
) -> None:
    route = mock_router.add("GET", f"{ROOT}/record/v1/customer/647", reply(status, name))
    with pytest.raises(cls) as caught:
        connector.get("customer", "647")
    error = caught.value
    assert type(error) is cls
    assert error.code == code
    assert error.status_code == status
    assert error.connector == "ns"
    assert error.resource == "customer"
    assert error.detail == body(name)["o:errorDetails"][0]["detail"] + (
        f" (at {body(name)['o:errorDetails'][0]['o:errorPath']})"
        if "o:errorPath" in body(name)["o:errorDetails"][0]
        else ""
    )
    assert len(route.calls) == 1  # one bounded call: no retry inside the connector


def test_concurrency_limit_penalizes_budget_without_retry_after(
    connector: NetSuiteConnector, mock_router: MockRouter
) -> None:
    mock_router.add("GET", f"{ROOT}/record/v1/customer/1", reply(429, "error_concurrency"))
    with pytest.raises(RetryableError) as caught:
        connector.get("customer", "1")
    assert caught.value.retry_after is None
    assert connector.budget.usage(connector.config).penalties_total == 1


def test_401_reauthenticates_once_then_auth_error(
    connector: NetSuiteConnector, mock_router: MockRouter
) -> None:
    route = mock_router.add(
        "GET", f"{ROOT}/record/v1/customer/1", reply(401, "error_invalid_login")
    )
    with pytest.raises(AuthError) as caught:
        connector.get("customer", "1")
    assert caught.value.code == "INVALID_LOGIN"
    assert len(route.calls) == 2
    token_route = next(r for r in mock_router.routes if r.path == TOKEN)
    assert len(token_route.calls) == 2


def test_classify_user_error() -> None:
    assert classify_user_error(body("error_closed_period")["o:errorDetails"][0]["detail"]) == (
        "closed_period"
    )
    detail = body("error_invalid_department")["o:errorDetails"][0]["detail"]
    assert classify_user_error(detail) == "invalid_reference"
    assert (
        classify_user_error("Error while accessing a resource. You cannot post to a closed period.")
        == "closed_period"
    )
    assert classify_user_error("You must enter a value for Company Name.") == "validation"


def test_read_page_query_and_keyset_cursor(
    connector: NetSuiteConnector, mock_router: MockRouter
) -> None:
    route = mock_router.add("POST", SUITEQL, reply(200, "suiteql_customer_page"))
    page = connector.read_page("customer", since=datetime(2025, 1, 31, 23, 0, tzinfo=UTC), limit=2)
    assert [r["id"] for r in page.records] == ["640", "647"]
    assert all("links" not in r for r in page.records)
    assert page.high_watermark == datetime(2025, 2, 1, 10, 30, tzinfo=UTC)
    assert page.next_cursor == "2025-02-01 10:30:00|647"
    sent = route.calls[0]
    assert sent.headers["Prefer"] == "transient"
    assert sent.url.params["limit"] == "2"
    query = json.loads(sent.content)["q"]
    assert "FROM customer" in query
    assert "lastmodifieddate > TO_TIMESTAMP('2025-01-31 23:00:00'" in query
    assert query.endswith("ORDER BY lastmodifieddate ASC, id ASC")

    connector.read_page("customer", cursor=page.next_cursor, limit=2)
    query = json.loads(route.calls[1].content)["q"]
    assert (
        "lastmodifieddate = TO_TIMESTAMP('2025-02-01 10:30:00', 'YYYY-MM-DD HH24:MI:SS')"
        " AND id > 647" in query
    )


def test_transactions_filter_by_type_and_cap_page(
    connector: NetSuiteConnector, mock_router: MockRouter
) -> None:
    route = mock_router.add(
        "POST", SUITEQL, httpx.Response(200, json={"items": [], "hasMore": False})
    )
    page = connector.read_page("invoice", limit=5000)
    assert page.records == []
    assert page.next_cursor is None
    assert page.high_watermark is None
    assert route.calls[0].url.params["limit"] == "1000"
    assert "type = 'CustInvc'" in json.loads(route.calls[0].content)["q"]


def offline() -> NetSuiteConnector:
    """A connector whose transport fails the test if any request is made."""
    return NetSuiteConnector(config(), transport=MockRouter().transport)


def test_tampered_cursor_is_refused() -> None:
    with offline() as conn, pytest.raises(ValueError, match="cursor"):
        conn.read_page("customer", cursor="1' OR 1=1 --|1")


def test_upsert_reports_created_and_parses_location(
    connector: NetSuiteConnector, mock_router: MockRouter
) -> None:
    mock_router.add(
        "GET", f"{ROOT}/record/v1/customer/eid:CUST-0001", reply(404, "error_not_found")
    )
    put = mock_router.add(
        "PUT",
        f"{ROOT}/record/v1/customer/eid:CUST-0001",
        httpx.Response(204, headers={"Location": "https://x/services/rest/record/v1/customer/647"}),
    )
    result = connector.upsert("customer", "CUST-0001", {"companyName": "Acme Corp"})
    assert (result.id, result.created) == ("647", True)
    assert json.loads(put.calls[0].content) == {"companyName": "Acme Corp"}


def test_upsert_of_existing_record_reports_update(
    connector: NetSuiteConnector, mock_router: MockRouter
) -> None:
    mock_router.add("GET", f"{ROOT}/record/v1/customer/eid:CUST-0001", reply(200, "customer"))
    mock_router.add(
        "PUT",
        f"{ROOT}/record/v1/customer/eid:CUST-0001",
        httpx.Response(204, headers={"Location": "https://x/record/v1/customer/647"}),
    )
    result = connector.upsert("customer", "CUST-0001", {"companyName": "Acme Corp"})
    assert (result.id, result.created) == ("647", False)


def test_write_without_location_is_permanent(
    connector: NetSuiteConnector, mock_router: MockRouter
) -> None:
    mock_router.add("POST", f"{ROOT}/record/v1/customer", httpx.Response(204))
    with pytest.raises(PermanentError):
        connector.create("customer", {"companyName": "x"})


def test_invalid_external_id_is_refused_before_any_request() -> None:
    with offline() as conn, pytest.raises(ValueError, match="external id"):
        conn.get_by_external_id("customer", "A|B")


def test_get_expands_sublists_of_transactions(
    connector: NetSuiteConnector, mock_router: MockRouter
) -> None:
    route = mock_router.add(
        "GET",
        f"{ROOT}/record/v1/invoice/8001",
        reply(200, "invoice"),
        params={"expandSubResources": "true"},
    )
    record = connector.get("invoice", "8001")
    meta = connector.describe("invoice", record)
    assert (meta.id, meta.external_id) == ("8001", "INV-0042")
    assert meta.modified_at == datetime(2025, 3, 10, 9, tzinfo=UTC)
    assert route.called


def test_m2m_client_assertion(mock_router: MockRouter, fake_clock: FakeClock) -> None:
    cfg = config()
    token = mock_router.add("POST", TOKEN, reply(200, "token"))
    mock_router.add("GET", f"{ROOT}/record/v1/customer", httpx.Response(200, json={"items": []}))
    with NetSuiteConnector(cfg, transport=mock_router.transport, clock=fake_clock.now) as conn:
        conn.check()
    form = dict(httpx.QueryParams(token.calls[0].content.decode()))
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == ASSERTION_TYPE
    import jwt

    header = jwt.get_unverified_header(form["client_assertion"])
    claims = jwt.decode(
        form["client_assertion"],
        KEY.public_key(),
        algorithms=["ES256"],
        audience=cfg.token_url,
        options={"verify_exp": False},  # signed at the fake clock's time
    )
    assert header["kid"] == "cert-1"
    assert claims["iss"] == "cid"
    assert claims["scope"] == ["rest_webservices"]
    assert claims["exp"] - claims["iat"] <= 3600
    assert set(form) == {"grant_type", "client_assertion_type", "client_assertion"}


def test_tba_signs_every_request(mock_router: MockRouter, fake_clock: FakeClock) -> None:
    route = mock_router.add(
        "GET", f"{ROOT}/record/v1/customer", httpx.Response(200, json={"items": []})
    )
    cfg = tba()
    assert cfg.realm == "1234567_SB1"
    with NetSuiteConnector(cfg, transport=mock_router.transport, clock=fake_clock.now) as conn:
        conn.check()
    header = route.calls[0].headers["Authorization"]
    assert header.startswith('OAuth realm="1234567_SB1", oauth_consumer_key="cid"')
    assert 'oauth_token="token-id"' in header
    assert 'oauth_signature_method="HMAC-SHA256"' in header
    assert f'oauth_timestamp="{int(fake_clock.now().timestamp())}"' in header
    assert "consumer-secret" not in header
    assert "token-secret" not in header


def test_config_takes_exactly_one_documented_credential() -> None:
    with pytest.raises(ValueError, match="give either"):
        config(certificate_id=None, private_key=None)
    with pytest.raises(ValueError, match="go together"):
        config(private_key=None)
    with pytest.raises(ValueError, match="not both"):
        config(client_secret="s")  # the old sandbox-only plain secret is not a credential
    with pytest.raises(ValueError, match="go together"):
        tba(token_secret=None)
    with pytest.raises(ValueError, match="needs an RSA"):
        config(signing_algorithm="PS256")
    with pytest.raises(ValueError, match="PEM"):
        config(private_key="not a key")
    assert config().authentication == "OAuth 2.0 M2M (ES256 certificate)"
    assert tba().authentication.startswith("token-based")
