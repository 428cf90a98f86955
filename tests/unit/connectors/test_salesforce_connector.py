"""Salesforce connector behaviour on recorded bodies (httpx.MockTransport, every route hit)."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from accord.connectors.budget import LocalBudget
from accord.connectors.salesforce import (
    SalesforceConfig,
    SalesforceConnector,
    parse_error,
    parse_limit_info,
)
from accord.connectors.salesforce.auth import JWT_BEARER_GRANT
from accord.connectors.testing import FakeClock, MockRouter
from accord.errors import (
    AuthError,
    BusinessRuleError,
    ConflictError,
    NotFoundError,
    PermanentError,
    RateLimitExceeded,
    RetryableError,
    UnsupportedOperationError,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "salesforce"
TOKEN = "/services/oauth2/token"
V = "/services/data/v60.0"
INSTANCE = "acme.my.salesforce.com"
ACCOUNT = f"{V}/sobjects/Account/001000000000002AAA"


def body(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def reply(status: int, name: str | None = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body(name) if name else None, headers=headers)


def config(**overrides: Any) -> SalesforceConfig:
    settings: dict[str, Any] = {
        "name": "sf",
        "client_id": "consumer-key",
        "client_secret": "consumer-secret",
    } | overrides
    return SalesforceConfig.model_validate(settings)


def make(router: MockRouter, clock: FakeClock, **overrides: Any) -> SalesforceConnector:
    budget = LocalBudget(monotonic=clock.monotonic, sleep=clock.sleep)
    return SalesforceConnector(
        config(**overrides), transport=router.transport, clock=clock.now, budget=budget
    )


@pytest.fixture
def token_route(mock_router: MockRouter) -> Any:
    return mock_router.add("POST", TOKEN, reply(200, "token"))


@pytest.fixture
def connector(
    mock_router: MockRouter, fake_clock: FakeClock, token_route: Any
) -> SalesforceConnector:
    return make(mock_router, fake_clock)


@pytest.fixture
def offline() -> SalesforceConnector:
    """A connector for tests that make no request (any request fails the test)."""
    return SalesforceConnector(
        config(), transport=httpx.MockTransport(lambda r: pytest.fail("no request expected"))
    )


# --------------------------------------------------------------------------- config
def test_config_defaults_and_one_flow() -> None:
    cfg = config()
    assert cfg.base_url == "https://login.salesforce.com"
    assert cfg.token_url == "https://login.salesforce.com/services/oauth2/token"
    assert cfg.kind == "salesforce"
    assert not cfg.uses_jwt
    with pytest.raises(ValidationError):
        config(username="integration@acme.example", private_key="k")  # both flows
    with pytest.raises(ValidationError):
        config(client_secret=None)  # neither
    with pytest.raises(ValidationError):
        config(api_version="60")
    with pytest.raises(ValidationError):
        config(extra_fields={"Account": ["Name; DROP"]})
    with pytest.raises(ValidationError):
        config(unknown_key=1)
    assert "consumer-secret" not in repr(cfg)


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("name", "status", "cls", "code"),
    [
        ("error_required_field", 400, BusinessRuleError, "REQUIRED_FIELD_MISSING"),
        ("error_validation", 400, BusinessRuleError, "FIELD_CUSTOM_VALIDATION_EXCEPTION"),
        ("error_invalid_field", 400, BusinessRuleError, "INVALID_FIELD"),
        ("error_picklist", 400, BusinessRuleError, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ("error_duplicate", 400, ConflictError, "DUPLICATE_VALUE"),
        ("error_lock", 400, RetryableError, "UNABLE_TO_LOCK_ROW"),
        ("error_limit", 403, RateLimitExceeded, "REQUEST_LIMIT_EXCEEDED"),
        ("error_not_found", 404, NotFoundError, "NOT_FOUND"),
        ("error_multiple_matches", 300, ConflictError, "MULTIPLE_CHOICES"),
        ("error_malformed_query", 400, PermanentError, "MALFORMED_QUERY"),
        ("error_throttle", 429, RetryableError, "REQUEST_LIMIT_EXCEEDED"),
        ("error_server", 500, RetryableError, "UNKNOWN_EXCEPTION"),
    ],
)
def test_error_translation(
    connector: SalesforceConnector,
    mock_router: MockRouter,
    name: str,
    status: int,
    cls: type[Exception],
    code: str,
) -> None:
    route = mock_router.add("GET", ACCOUNT, reply(status, name))
    with pytest.raises(cls) as caught:
        connector.get("Account", "001000000000002AAA")
    error = caught.value
    assert type(error) is cls
    assert error.code == code
    assert error.status_code == status
    assert error.connector == "sf"
    assert error.resource == "Account"
    assert error.detail  # the platform's own text, kept for the people who fix it
    assert len(route.calls) == 1  # one bounded call: no retry inside the connector


def test_fields_named_by_the_error_are_kept() -> None:
    parsed = parse_error(httpx.Response(400, json=body("error_picklist")))
    assert parsed.fields == ("Billing_Model__c",)
    assert parsed.code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_throttle_carries_retry_after_and_penalizes(
    connector: SalesforceConnector, mock_router: MockRouter
) -> None:
    mock_router.add("GET", ACCOUNT, reply(429, "error_throttle", **{"Retry-After": "7"}))
    with pytest.raises(RetryableError) as caught:
        connector.get("Account", "001000000000002AAA")
    assert not isinstance(caught.value, RateLimitExceeded)
    assert caught.value.retry_after == 7.0
    assert connector.budget.usage(connector.config).penalties_total == 1


def test_timeout_is_retryable(mock_router: MockRouter, fake_clock: FakeClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN:
            return reply(200, "token")
        raise httpx.ReadTimeout("slow", request=request)

    conn = SalesforceConnector(config(), transport=httpx.MockTransport(handler))
    with pytest.raises(RetryableError) as caught:
        conn.get("Account", "001000000000002AAA")
    assert caught.value.status_code is None
    assert caught.value.code == "ReadTimeout"


# --------------------------------------------------------------------------- auth
def test_token_cached_instance_url_used_and_refreshed(
    connector: SalesforceConnector,
    mock_router: MockRouter,
    fake_clock: FakeClock,
    token_route: Any,
) -> None:
    route = mock_router.add("GET", ACCOUNT, reply(200, "account"))
    connector.get("Account", "001000000000002AAA")
    connector.get("Account", "001000000000002AAA")
    assert len(token_route.calls) == 1
    form = parse_qs(token_route.calls[0].content.decode())
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_id"] == ["consumer-key"]
    assert token_route.calls[0].url.host == "login.salesforce.com"
    call = route.calls[0]
    assert call.url.host == INSTANCE
    assert call.headers["host"] == INSTANCE
    assert call.headers["authorization"] == "Bearer " + body("token")["access_token"]
    assert call.headers["sforce-call-options"] == "client=accord"
    fake_clock.advance(3600)  # no expires_in: an hour is assumed, refreshed before it ends
    connector.get("Account", "001000000000002AAA")
    assert len(token_route.calls) == 2


def test_invalid_session_reauthenticates_once_then_auth_error(
    connector: SalesforceConnector, mock_router: MockRouter, token_route: Any
) -> None:
    route = mock_router.add("GET", ACCOUNT, reply(401, "error_session"))
    with pytest.raises(AuthError) as caught:
        connector.get("Account", "001000000000002AAA")
    assert caught.value.code == "INVALID_SESSION_ID"
    assert caught.value.status_code == 401
    assert len(route.calls) == 2
    assert len(token_route.calls) == 2


def test_invalid_session_then_success(
    connector: SalesforceConnector, mock_router: MockRouter, token_route: Any
) -> None:
    route = mock_router.add("GET", ACCOUNT, reply(401, "error_session"), reply(200, "account"))
    record = connector.get("Account", "001000000000002AAA")
    assert record["Id"] == "001000000000002AAA"
    assert len(route.calls) == 2
    assert len(token_route.calls) == 2


def test_refused_credentials(mock_router: MockRouter, fake_clock: FakeClock) -> None:
    mock_router.add("POST", TOKEN, reply(400, "error_token"))
    conn = make(mock_router, fake_clock)
    with pytest.raises(AuthError) as caught:
        conn.check()
    assert caught.value.status_code == 400
    assert caught.value.code == "invalid_client"
    assert caught.value.connector == "sf"


def test_plain_http_instance_url_is_refused(mock_router: MockRouter, fake_clock: FakeClock) -> None:
    token = body("token") | {"instance_url": "http://evil.example"}
    mock_router.add("POST", TOKEN, httpx.Response(200, json=token))
    conn = make(mock_router, fake_clock)
    with pytest.raises(AuthError):
        conn.check()


def test_jwt_bearer_flow(mock_router: MockRouter, fake_clock: FakeClock) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    token_route = mock_router.add("POST", TOKEN, reply(200, "token"))
    mock_router.add("GET", f"{V}/limits", httpx.Response(200, json={}))
    conn = make(
        mock_router,
        fake_clock,
        client_secret=None,
        username="integration@acme.example",
        private_key=pem,
        login_url="https://test.salesforce.com",
        jwt_audience="https://test.salesforce.com",
    )
    conn.check()
    form = parse_qs(token_route.calls[0].content.decode())
    assert form["grant_type"] == [JWT_BEARER_GRANT]
    claims = jwt.decode(
        form["assertion"][0],
        key.public_key(),
        algorithms=["RS256"],
        audience="https://test.salesforce.com",
        options={"verify_exp": False},
    )
    assert claims["iss"] == "consumer-key"
    assert claims["sub"] == "integration@acme.example"
    assert claims["exp"] == int((fake_clock.now() + timedelta(minutes=3)).timestamp())


# --------------------------------------------------------------------------- reads
def test_read_page_query_watermark_and_keyset_cursor(
    connector: SalesforceConnector, mock_router: MockRouter
) -> None:
    route = mock_router.add(
        "GET", f"{V}/query", reply(200, "query_page", **{"Sforce-Limit-Info": "api-usage=18/5000"})
    )
    since = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    page = connector.read_page("Account", since=since, limit=2)
    soql = route.calls[0].url.params["q"]
    assert soql.startswith("SELECT Id, SystemModstamp, Accord_Id__c, Name,")
    assert "Parent.Accord_Id__c" in soql
    assert "WHERE SystemModstamp > 2026-01-05T09:00:00.000Z" in soql
    assert soql.endswith("ORDER BY SystemModstamp ASC, Id ASC LIMIT 3")
    assert [r["Id"] for r in page.records] == ["001000000000001AAA", "001000000000002AAA"]
    assert page.high_watermark == datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    assert page.next_cursor == "2026-01-05T10:00:00.000Z|001000000000002AAA"
    assert connector.api_usage is not None
    assert (connector.api_usage.used, connector.api_usage.remaining) == (18, 4982)


def test_cursor_continues_the_keyset_and_last_page_has_none(
    connector: SalesforceConnector, mock_router: MockRouter
) -> None:
    last = body("query_page") | {"records": body("query_page")["records"][2:]}
    route = mock_router.add("GET", f"{V}/query", httpx.Response(200, json=last))
    page = connector.read_page(
        "Account", cursor="2026-01-05T10:00:00.000Z|001000000000002AAA", limit=2
    )
    soql = route.calls[0].url.params["q"]
    assert (
        "(SystemModstamp > 2026-01-05T10:00:00.000Z OR (SystemModstamp = "
        "2026-01-05T10:00:00.000Z AND Id > '001000000000002AAA'))"
    ) in soql
    assert page.next_cursor is None
    assert len(page.records) == 1


def test_sub_millisecond_since_is_inclusive_and_bad_cursor_refused(
    offline: SalesforceConnector,
) -> None:
    connector = offline
    soql = connector.soql_for_page(
        "Account", cursor=None, since=datetime(2026, 1, 5, 9, 0, 0, 1500, tzinfo=UTC), size=5
    )
    assert "SystemModstamp >= 2026-01-05T09:00:00.001Z" in soql
    with pytest.raises(ValueError, match="cursor"):
        connector.soql_for_page("Account", cursor="1' OR Id != '", since=None, size=5)
    with pytest.raises(ValueError, match="resource"):
        connector.read_page("Lead")


def test_read_filters_and_extra_fields_from_config(
    mock_router: MockRouter, fake_clock: FakeClock
) -> None:
    conn = make(
        mock_router,
        fake_clock,
        read_filters={"Opportunity": "IsWon = true"},
        extra_fields={"Opportunity": ["Custom_Region__c", "name"]},
    )
    soql = conn.soql_for_page("Opportunity", cursor=None, since=None, size=10)
    assert "WHERE (IsWon = true)" in soql
    assert "Custom_Region__c" in soql
    assert soql.count(", Name") == 1  # deduplicated case-insensitively


def test_get_by_external_id(connector: SalesforceConnector, mock_router: MockRouter) -> None:
    mock_router.add("GET", f"{V}/sobjects/Account/Accord_Id__c/CUST-0002", reply(200, "account"))
    mock_router.add("GET", f"{V}/sobjects/Account/Accord_Id__c/NOPE", reply(404, "error_not_found"))
    found = connector.get_by_external_id("Account", "CUST-0002")
    assert found is not None
    assert connector.describe("Account", found).external_id == "CUST-0002"
    assert connector.get_by_external_id("Account", "NOPE") is None


def test_describe(offline: SalesforceConnector) -> None:
    connector = offline
    meta = connector.describe("Account", body("account"))
    assert meta.id == "001000000000002AAA"
    assert meta.external_id == "CUST-0002"
    assert meta.modified_at == datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    assert meta.etag is None


# --------------------------------------------------------------------------- writes
UPSERT = f"{V}/sobjects/Account/Accord_Id__c/CUST-9"


def test_upsert_created_then_updated(
    connector: SalesforceConnector, mock_router: MockRouter
) -> None:
    route = mock_router.add(
        "PATCH", UPSERT, reply(201, "upsert_created"), reply(200, "upsert_updated")
    )
    first = connector.upsert("Account", "CUST-9", {"Name": "N", "Accord_Id__c": "CUST-9"})
    second = connector.upsert("Account", "CUST-9", {"Name": "N"})
    assert (first.id, first.created) == ("001000000000009AAA", True)
    assert (second.id, second.created) == ("001000000000009AAA", False)
    assert json.loads(route.calls[0].content) == {"Name": "N"}  # the key travels in the URL
    with pytest.raises(ValueError, match="external_id"):
        connector.upsert("Account", "CUST-9", {"Accord_Id__c": "OTHER"})


def test_upsert_before_v46_looks_the_id_up(mock_router: MockRouter, fake_clock: FakeClock) -> None:
    mock_router.add("POST", TOKEN, reply(200, "token"))
    old = "/services/data/v45.0/sobjects/Account/Accord_Id__c/CUST-9"
    mock_router.add("PATCH", old, httpx.Response(204))
    mock_router.add("GET", old, httpx.Response(200, json={"Id": "001000000000009AAA"}))
    conn = make(mock_router, fake_clock, api_version="v45.0")
    result = conn.upsert("Account", "CUST-9", {"Name": "N"})
    assert (result.id, result.created) == ("001000000000009AAA", False)


def test_upsert_multiple_matches_is_conflict(
    connector: SalesforceConnector, mock_router: MockRouter
) -> None:
    mock_router.add("PATCH", UPSERT, reply(300, "error_multiple_matches"))
    with pytest.raises(ConflictError) as caught:
        connector.upsert("Account", "CUST-9", {"Name": "N"})
    assert caught.value.status_code == 300
    assert caught.value.external_id == "CUST-9"


def test_update_create_delete(connector: SalesforceConnector, mock_router: MockRouter) -> None:
    patch = mock_router.add("PATCH", ACCOUNT, httpx.Response(204))
    mock_router.add("POST", f"{V}/sobjects/Account", reply(201, "upsert_created"))
    mock_router.add("DELETE", ACCOUNT, httpx.Response(204))
    result = connector.update(
        "Account", "001000000000002AAA", {"Name": "X", "Id": "ignored"}, etag="ignored"
    )
    assert (result.id, result.created) == ("001000000000002AAA", False)
    assert json.loads(patch.calls[0].content) == {"Name": "X"}
    created = connector.create("Account", {"Name": "Y"})
    assert (created.id, created.created) == ("001000000000009AAA", True)
    connector.delete("Account", "001000000000002AAA")


def test_update_many_is_collections_of_200_each_refusal_its_own(
    connector: SalesforceConnector, mock_router: MockRouter
) -> None:
    ok = {"id": "006000000000001AAA", "success": True, "errors": []}
    deleted = {
        "success": False,
        "errors": [{"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted"}],
    }
    route = mock_router.add(
        "PATCH",
        f"{V}/composite/sobjects",
        httpx.Response(200, json=[ok] * 199 + [deleted]),
        httpx.Response(200, json=[ok]),
    )
    updates = [
        (f"006{i:012d}AAA", {"Integration_Status__c": "Done", "Id": "x"}) for i in range(201)
    ]

    out = connector.update_many("Opportunity", updates)

    assert len(route.calls) == 2
    first = json.loads(route.calls[0].content)
    assert first["allOrNone"] is False
    assert len(first["records"]) == 200
    assert first["records"][0] == {
        "attributes": {"type": "Opportunity"},
        "id": "006000000000000AAA",
        "Integration_Status__c": "Done",
    }
    assert out[:199] == [None] * 199
    assert isinstance(out[199], NotFoundError)
    assert out[199].external_id == updates[199][0]
    assert out[200] is None


def test_objects_without_external_id_refuse_upsert(offline: SalesforceConnector) -> None:
    with pytest.raises(UnsupportedOperationError):
        offline.upsert("OpportunityLineItem", "X", {})


def test_limit_info_parsing() -> None:
    usage = parse_limit_info("api-usage=4500/5000, per-app-api-usage=17/250(appName=accord)")
    assert usage is not None
    assert usage.fraction == 0.9
    assert parse_limit_info(None) is None
