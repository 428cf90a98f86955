"""The shipped connector contract, run against the Salesforce emulator."""

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from accord.connectors.salesforce import SalesforceConfig, SalesforceConnector
from accord.connectors.testing import (
    ConnectorContract,
    ConnectorFactory,
    LiveTenant,
    SandboxControl,
)
from accord.errors import AuthError, ConflictError, RateLimitExceeded
from accord_sandbox.credentials import private_key_pem, self_signed_certificate
from accord_sandbox.salesforce import SalesforceEmulator, make_id
from accord_sandbox.scenario import generate


@pytest.fixture(scope="module")
def emulator_url(serve_asgi: Callable[..., Any]) -> Iterator[str]:
    firm = generate("small", 7)

    def make_app(base_url: str) -> Any:
        emulator = SalesforceEmulator(base_url=base_url)
        emulator.seed_firm(firm)
        return emulator.app

    with serve_asgi(make_app) as url:
        yield url


def account(external_id: str) -> dict[str, Any]:
    return {
        "Name": f"Account {external_id}",
        "Legal_Entity__c": "US01",
        "Tax_Region__c": "US-NY",
        "CurrencyIsoCode": "USD",
        "BillingStreet": "5 Park Ave",
        "BillingCity": "New York",
        "BillingCountry": "US",
    }


class TestSalesforceContract(ConnectorContract):
    modification_resolution_s = 0.01  # SystemModstamp has millisecond precision

    @pytest.fixture
    def sandbox(self, emulator_url: str) -> Iterator[SandboxControl]:
        with httpx.Client(base_url=emulator_url, timeout=10) as client:
            yield SandboxControl(client)

    @pytest.fixture
    def fault_path(self) -> str:
        return "/services/data/*"

    @pytest.fixture
    def make_connector(self, emulator_url: str) -> ConnectorFactory:
        def make(*, budget: Any = None, **overrides: Any) -> SalesforceConnector:
            settings: dict[str, Any] = {
                "name": "salesforce-test",
                "login_url": emulator_url,
                "client_id": "sandbox",
                "client_secret": "sandbox-secret",
                "timeout_s": 10,
                **overrides,
            }
            return SalesforceConnector(SalesforceConfig.model_validate(settings), budget=budget)

        return make

    @pytest.fixture
    def resource(self) -> str:
        return "Account"

    @pytest.fixture
    def missing_id(self) -> str:
        return make_id("001", 987_654)  # well formed, never issued

    @pytest.fixture
    def make_record(self) -> Callable[[str], dict[str, Any]]:
        return account

    @pytest.fixture
    def bad_credentials(self) -> dict[str, Any]:
        return {"client_secret": "wrong-secret"}

    @pytest.fixture
    def business_rule_violation(self) -> Callable[[Any], object]:
        def violate(connector: SalesforceConnector) -> object:
            # StageName and CloseDate are required: REQUIRED_FIELD_MISSING.
            return connector.upsert("Opportunity", "ACC-BR-OPP", {"Name": "No stage"})

        return violate

    @pytest.fixture
    def conflict_violation(self) -> Callable[[Any], object]:
        def conflict(connector: SalesforceConnector) -> object:
            # Account's Accord_Id__c is not unique: two records carry it, the upsert answers 300.
            connector.create("Account", {**account("ACC-DUP"), "Accord_Id__c": "ACC-DUP"})
            connector.create("Account", {**account("ACC-DUP"), "Accord_Id__c": "ACC-DUP"})
            return connector.upsert("Account", "ACC-DUP", account("ACC-DUP"))

        return conflict


class TestSalesforceLive(LiveTenant, TestSalesforceContract):
    """The same contract against a real Salesforce tenant (``pytest -m live``)."""

    kind = "salesforce"


# --------------------------------------------------------------------------- Salesforce specifics
class TestSalesforceSpecifics:
    @pytest.fixture
    def sandbox(self, emulator_url: str) -> Iterator[httpx.Client]:
        with httpx.Client(base_url=emulator_url, timeout=10) as client:
            client.post("/__sandbox/reset").raise_for_status()
            yield client
            # The module's emulator is the contract's too: leave no spent quota behind.
            client.post("/__sandbox/reset").raise_for_status()

    @pytest.fixture
    def connector(self, emulator_url: str) -> Iterator[SalesforceConnector]:
        config = SalesforceConfig(
            name="sf",
            login_url=emulator_url,
            client_id="sandbox",
            client_secret="sandbox-secret",  # type: ignore[arg-type]
        )
        with SalesforceConnector(config) as conn:
            yield conn

    def test_unique_external_id_duplicate_is_conflict(
        self, sandbox: httpx.Client, connector: SalesforceConnector
    ) -> None:
        fields = {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-01-31"}
        connector.upsert("Opportunity", "ACC-OPP-1", fields)
        with pytest.raises(ConflictError) as caught:
            connector.create("Opportunity", {**fields, "Accord_Id__c": "ACC-OPP-1"})
        assert caught.value.code == "DUPLICATE_VALUE"

    def test_daily_limit_is_rate_limit_exceeded(
        self, sandbox: httpx.Client, connector: SalesforceConnector
    ) -> None:
        connector.check()
        assert connector.api_usage is not None
        assert connector.api_usage.used >= 1
        sandbox.post("/__sandbox/salesforce/api_usage", json={"used": 10, "limit": 10})
        with pytest.raises(RateLimitExceeded) as caught:
            connector.read_page("Account", limit=1)
        assert caught.value.status_code == 403
        assert caught.value.code == "REQUEST_LIMIT_EXCEEDED"

    def test_expired_session_reauthenticates_once(
        self, sandbox: httpx.Client, connector: SalesforceConnector
    ) -> None:
        connector.check()
        sandbox.post("/__sandbox/salesforce/expire_sessions").raise_for_status()
        page = connector.read_page("Opportunity", limit=3)
        assert len(page.records) == 3
        auth = connector.client.auth
        assert getattr(auth, "fetch_count", None) == 2

    def test_polled_opportunity_carries_parent_keys(
        self, sandbox: httpx.Client, connector: SalesforceConnector
    ) -> None:
        record = connector.read_page("Opportunity", limit=1).records[0]
        assert "Account" in record
        assert record["StageName"]


def test_jwt_bearer_end_to_end(emulator_url: str) -> None:
    """The connector's RS256 assertion, verified with the certificate uploaded to the app."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    settings = {
        "name": "salesforce-jwt",
        "login_url": emulator_url,
        "client_id": "sandbox",
        "username": "integration@accord.example",
        "private_key": private_key_pem(key),
        "timeout_s": 10,
    }
    config = SalesforceConfig.model_validate(settings)
    with SalesforceConnector(config) as conn, pytest.raises(AuthError):
        conn.check()  # no certificate uploaded to the connected app yet
    certificate = self_signed_certificate(key, common_name="accord")
    httpx.post(
        f"{emulator_url}/__sandbox/salesforce/jwt_certificates",
        json={"certificate": certificate},
        timeout=10,
    ).raise_for_status()
    with SalesforceConnector(config) as conn:
        conn.check()
        assert conn.config.authentication == "OAuth 2.0 JWT bearer"
