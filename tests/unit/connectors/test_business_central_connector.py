"""Business Central connector behaviour on recorded bodies (httpx.MockTransport)."""

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from accord.connectors.budget import LocalBudget
from accord.connectors.business_central import BusinessCentralConfig, BusinessCentralConnector
from accord.connectors.testing import FakeClock, MockRouter
from accord.errors import (
    AuthError,
    BusinessRuleError,
    ConflictError,
    NotFoundError,
    PermanentError,
    RetryableError,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "business_central"
DE01 = "7c491555-5042-4b00-bce3-dbae2c28726b"
US01 = "372c3718-3941-463a-8566-1c54a7fd9348"
API = "/v2.0/tenant-1/production/api/v2.0"
CO = f"{API}/companies({DE01})"
TOKEN = "/tenant-1/oauth2/v2.0/token"
CUSTOMER_ID = "5d115c9c-44e3-ea11-bb43-000d3a2feca1"


def body(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def reply(status: int, name: str | None = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body(name) if name else None, headers=headers)


def config(**overrides: Any) -> BusinessCentralConfig:
    settings: dict[str, Any] = {
        "name": "bc",
        "tenant": "tenant-1",
        "company_id": DE01,
        "companies": {"DE01": DE01, "US01": US01},
        "client_id": "cid",
        "client_secret": "s3cr3t-value",
    } | overrides
    return BusinessCentralConfig.model_validate(settings)


@pytest.fixture
def connector(mock_router: MockRouter, fake_clock: FakeClock) -> BusinessCentralConnector:
    mock_router.add("POST", TOKEN, reply(200, "token"))
    budget = LocalBudget(monotonic=fake_clock.monotonic, sleep=fake_clock.sleep)
    return BusinessCentralConnector(
        config(), transport=mock_router.transport, clock=fake_clock.now, budget=budget
    )


def test_certificate_credential_assertion(mock_router: MockRouter, fake_clock: FakeClock) -> None:
    import jwt
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa

    from accord_sandbox.credentials import private_key_pem, self_signed_certificate

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = self_signed_certificate(key, common_name="c")
    cfg = config(client_secret=None, certificate=cert, private_key=private_key_pem(key))
    token = mock_router.add("POST", TOKEN, reply(200, "token"))
    mock_router.add("GET", CO, httpx.Response(200, json={"id": DE01}))
    with BusinessCentralConnector(cfg, transport=mock_router.transport, clock=fake_clock.now) as c:
        c.check()
    form = dict(httpx.QueryParams(token.calls[0].content.decode()))
    assert "client_secret" not in form
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert form["scope"] == "https://api.businesscentral.dynamics.com/.default"
    header = jwt.get_unverified_header(form["client_assertion"])
    parsed = x509.load_pem_x509_certificate(cert.encode())
    sha256 = base64.urlsafe_b64encode(parsed.fingerprint(hashes.SHA256())).decode().rstrip("=")
    assert header["alg"] == "PS256"
    assert header["x5t#S256"] == sha256
    claims = jwt.decode(
        form["client_assertion"],
        key.public_key(),
        algorithms=["PS256"],
        audience=cfg.token_url,
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    assert claims["iss"] == claims["sub"] == "cid"
    assert claims["jti"]
    assert claims["exp"] - claims["nbf"] <= 600


def test_config_takes_a_secret_or_a_matching_certificate() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from accord_sandbox.credentials import private_key_pem, self_signed_certificate

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = self_signed_certificate(key, common_name="c")
    with pytest.raises(ValueError, match="either client_secret"):
        config(client_secret=None)
    with pytest.raises(ValueError, match="go together"):
        config(client_secret=None, certificate=cert)
    with pytest.raises(ValueError, match="does not belong"):
        config(client_secret=None, certificate=cert, private_key=private_key_pem(other))


def test_urls_derive_from_tenant_and_environment() -> None:
    cfg = config(environment="sandbox")
    assert cfg.base_url == "https://api.businesscentral.dynamics.com/v2.0/tenant-1/sandbox/api/v2.0"
    assert cfg.token_url == "https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token"
    assert "s3cr3t-value" not in repr(cfg)
    assert cfg.company_for("US01") == US01
    with pytest.raises(ValueError, match="unknown company"):
        cfg.company_for("FR01")


def test_token_request_is_entra_client_credentials(
    connector: BusinessCentralConnector, mock_router: MockRouter
) -> None:
    mock_router.add("GET", CO, reply(200, "customer"))
    connector.check()
    connector.check()
    token = next(r for r in mock_router.routes if r.path == TOKEN)
    assert len(token.calls) == 1  # cached
    form = dict(httpx.QueryParams(token.calls[0].content.decode()))
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == "https://api.businesscentral.dynamics.com/.default"


def test_one_reauthentication_then_auth_error(
    connector: BusinessCentralConnector, mock_router: MockRouter
) -> None:
    route = mock_router.add(
        "GET",
        CO,
        reply(401, "error_unauthorized"),
        reply(200, "customer"),
        reply(401, "error_unauthorized"),
    )
    connector.check()  # 401 -> new token -> 200
    with pytest.raises(AuthError) as caught:
        connector.check()  # 401 -> new token -> 401
    assert caught.value.code == "Authentication_InvalidCredentials"
    assert caught.value.status_code == 401
    assert len(route.calls) == 4
    token = next(r for r in mock_router.routes if r.path == TOKEN)
    assert len(token.calls) == 3


def test_refused_secret(mock_router: MockRouter, fake_clock: FakeClock) -> None:
    mock_router.add("POST", TOKEN, reply(401, "error_invalid_client"))
    conn = BusinessCentralConnector(config(), transport=mock_router.transport, clock=fake_clock.now)
    with pytest.raises(AuthError) as caught:
        conn.check()
    assert caught.value.code == "invalid_client"


@pytest.mark.parametrize(
    ("status", "name", "cls", "code"),
    [
        (409, "error_entity_changed", ConflictError, "Request_EntityChanged"),
        (400, "error_same_key", ConflictError, "Internal_EntityWithSameKeyExists"),
        (400, "error_closed_period", BusinessRuleError, "Application_FieldValidationException"),
        (400, "error_invalid_dimension", BusinessRuleError, "Application_FieldValidationException"),
        (400, "error_missing_if_match", PermanentError, "BadRequest_InvalidToken"),
        (404, "error_not_found", NotFoundError, "BadRequest_NotFound"),
        (429, "error_throttled", RetryableError, "TooManyRequests"),
        (504, "error_gateway_timeout", RetryableError, "GatewayTimeout"),
    ],
)
def test_error_translation(
    connector: BusinessCentralConnector,
    mock_router: MockRouter,
    status: int,
    name: str,
    cls: type[Exception],
    code: str,
) -> None:
    mock_router.add(
        "PATCH", f"{CO}/customers({CUSTOMER_ID})", reply(status, name, **{"Retry-After": "12"})
    )
    with pytest.raises(cls) as caught:
        connector.update("customers", CUSTOMER_ID, {"city": "Bonn"}, etag='W/"old"')
    error = caught.value
    assert type(error) is cls
    assert error.status_code == status  # type: ignore[attr-defined]
    assert error.code == code  # type: ignore[attr-defined]
    assert error.resource == "customers"  # type: ignore[attr-defined]
    assert error.detail  # type: ignore[attr-defined]
    assert error.request_id == "3f1c2d1e-0000-4000-8000-000000000001"  # type: ignore[attr-defined]
    assert "CorrelationId" not in error.detail  # type: ignore[attr-defined]
    if isinstance(error, RetryableError):
        assert error.retry_after == 12.0


def test_update_sends_if_match(
    connector: BusinessCentralConnector, mock_router: MockRouter
) -> None:
    route = mock_router.add("PATCH", f"{CO}/customers({CUSTOMER_ID})", reply(200, "customer"))
    result = connector.update("customers", CUSTOMER_ID, {"city": "Köln"}, etag='W/"abc"')
    connector.update("customers", CUSTOMER_ID, {"city": "Köln"})
    assert route.calls[0].headers["If-Match"] == 'W/"abc"'
    assert route.calls[1].headers["If-Match"] == "*"
    assert result.etag == body("customer")["@odata.etag"]


def test_upsert_verifies_before_create(
    connector: BusinessCentralConnector, mock_router: MockRouter
) -> None:
    probe = mock_router.add("GET", f"{CO}/customers", reply(200, "customers_empty"))
    create = mock_router.add("POST", f"{CO}/customers", reply(201, "customer"))
    result = connector.upsert("customers", "CUST-0001", {"displayName": "Contoso GmbH"})
    assert result.created is True
    assert result.id == CUSTOMER_ID
    assert probe.calls[0].url.params["$filter"] == "number eq 'CUST-0001'"
    assert json.loads(create.calls[0].content)["number"] == "CUST-0001"


def test_upsert_patches_the_found_record_with_its_etag(
    connector: BusinessCentralConnector, mock_router: MockRouter
) -> None:
    mock_router.add("GET", f"{CO}/customers", reply(200, "customers_last"))
    patch = mock_router.add(
        "PATCH", f"{CO}/customers(7d115c9c-44e3-ea11-bb43-000d3a2feca1)", reply(200, "customer")
    )
    result = connector.upsert("customers", "CUST-0003", {"displayName": "Contoso"})
    assert result.created is False
    assert patch.calls[0].headers["If-Match"] == body("customers_last")["value"][0]["@odata.etag"]


def test_posted_invoice_is_returned_as_found(
    connector: BusinessCentralConnector, mock_router: MockRouter
) -> None:
    mock_router.add(
        "GET", f"{CO}/salesInvoices", httpx.Response(200, json={"value": [body("sales_invoice")]})
    )
    result = connector.upsert("salesInvoices", "SF-123", {"customerNumber": "CUST-0001"})
    assert result.created is False
    assert result.id == body("sales_invoice")["id"]


def test_read_page_follows_next_link_then_keyset(
    connector: BusinessCentralConnector, mock_router: MockRouter
) -> None:
    route = mock_router.add(
        "GET",
        f"{CO}/customers",
        reply(200, "customers_page"),
        reply(200, "customers_last"),
        reply(200, "customers_empty"),
    )
    since = datetime(2026, 3, 1, tzinfo=UTC)
    first = connector.read_page("customers", since=since, limit=2)
    params = route.calls[0].url.params
    assert params["$filter"] == "lastModifiedDateTime gt 2026-03-01T00:00:00.000Z"
    assert params["$top"] == "2"
    assert first.next_cursor == body("customers_page")["@odata.nextLink"]
    assert first.high_watermark == datetime(2026, 3, 2, 10, tzinfo=UTC)
    second = connector.read_page("customers", cursor=first.next_cursor, since=since, limit=2)
    assert route.calls[1].url.params["$skiptoken"] == "Mg"
    assert second.next_cursor == "2026-03-03T10:00:00.000Z|7d115c9c-44e3-ea11-bb43-000d3a2feca1"
    third = connector.read_page("customers", cursor=second.next_cursor, since=since, limit=2)
    assert third.next_cursor is None
    assert "id gt 7d115c9c-44e3-ea11-bb43-000d3a2feca1" in route.calls[2].url.params["$filter"]
    meta = connector.describe("customers", first.records[0])
    assert meta.external_id == "CUST-0001"
    assert meta.etag == body("customer")["@odata.etag"]


def test_foreign_next_links_and_bad_ids_are_refused() -> None:
    connector = BusinessCentralConnector(config())
    with pytest.raises(ValueError, match="outside"):
        connector.read_page("customers", cursor="https://evil.example/steal")
    with pytest.raises(ValueError, match="GUID"):
        connector.get("customers", "1)/../x")
    with pytest.raises(ValueError, match="cursor"):
        connector.read_page("customers", cursor="nope")
    with pytest.raises(ValueError, match="characters"):
        connector.get_by_external_id("customers", "X" * 21)


def test_company_override(connector: BusinessCentralConnector, mock_router: MockRouter) -> None:
    route = mock_router.add("GET", f"{API}/companies({US01})", reply(200, "customer"))
    connector.for_company("US01").check()
    assert route.called
    assert connector.company_id == DE01


def test_journal_lines_live_under_the_time_journal(
    connector: BusinessCentralConnector, mock_router: MockRouter
) -> None:
    journals = mock_router.add("GET", f"{CO}/journals", reply(200, "journals"))
    lines = f"{CO}/journals(cd0f5c9c-0000-4000-8000-0000000000e1)/journalLines"
    mock_router.add("GET", lines, httpx.Response(200, json={"value": []}))
    assert connector.get_by_external_id("journalLines", "TE-1") is None
    assert connector.post_journal("time") is False
    assert len(journals.calls) == 1  # batch id cached
    assert journals.calls[0].url.params["$filter"] == "code eq 'PROJECTS'"


def test_subscriptions(connector: BusinessCentralConnector, mock_router: MockRouter) -> None:
    sub = {"subscriptionId": "s1", "clientState": "shh", "@odata.etag": 'W/"s"'}
    create = mock_router.add("POST", f"{API}/subscriptions", httpx.Response(201, json=sub))
    renew = mock_router.add("PATCH", f"{API}/subscriptions('s1')", httpx.Response(200, json=sub))
    mock_router.add("DELETE", f"{API}/subscriptions('s1')", reply(404, "error_not_found"))
    made = connector.create_subscription(
        notification_url="https://me.example/hook",
        resource="customers",
        client_state=SecretStr("shh"),
    )
    assert "clientState" not in made
    sent = json.loads(create.calls[0].content)
    assert sent["resource"] == f"/api/v2.0/companies({DE01})/customers"
    connector.renew_subscription("s1", etag='W/"s"')
    assert renew.calls[0].headers["If-Match"] == 'W/"s"'
    connector.delete_subscription("s1")  # already gone: fine
