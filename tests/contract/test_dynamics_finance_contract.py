"""The shipped connector contract on the Dynamics 365 Finance emulator (plus D365 specifics)."""

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from accord.connectors.dynamics_finance import (
    BatchRequest,
    DynamicsFinanceConfig,
    DynamicsFinanceConnector,
)
from accord.connectors.testing import ConnectorContract, ConnectorFactory, SandboxControl
from accord.errors import BusinessRuleError, ConflictError, RetryableError
from accord_sandbox.dynamics_finance import DynamicsFinanceEmulator
from accord_sandbox.scenario import generate

FIRM = generate("small", 7)
COMPANIES = {e.code: e.code.lower() for e in FIRM.legal_entities}


@pytest.fixture(scope="module")
def emulator_url(serve_asgi: Callable[..., Any]) -> Iterator[str]:
    def make_app(base_url: str) -> Any:
        emulator = DynamicsFinanceEmulator(base_url=base_url)
        emulator.seed_firm(FIRM)
        return emulator.app

    with serve_asgi(make_app) as url:
        yield url


@pytest.fixture
def control(emulator_url: str) -> Iterator[SandboxControl]:
    with httpx.Client(base_url=emulator_url, timeout=10) as client:
        yield SandboxControl(client)


@pytest.fixture
def factory(emulator_url: str) -> ConnectorFactory:
    def make(*, budget: Any = None, **overrides: Any) -> DynamicsFinanceConnector:
        settings: dict[str, Any] = {
            "name": "d365-test",
            "environment_url": emulator_url,
            "tenant": "sandbox-tenant",
            "login_host": emulator_url,
            "client_id": "sandbox",
            "client_secret": "sandbox-secret",
            "company": "de01",
            "companies": COMPANIES,
            "timeout_s": 10,
            "rate_per_s": 500,
            **overrides,
        }
        config = DynamicsFinanceConfig.model_validate(settings)
        return DynamicsFinanceConnector(config, budget=budget)

    return make


def customer(external_id: str) -> dict[str, Any]:
    return {
        "OrganizationName": f"Customer {external_id}",
        "CustomerGroupId": "10",
        "AddressCity": "Köln",
        "AddressCountryRegionId": "DEU",
        "SalesCurrencyCode": "EUR",
    }


class TestDynamicsFinanceContract(ConnectorContract):
    @pytest.fixture
    def sandbox(self, control: SandboxControl) -> SandboxControl:
        return control

    @pytest.fixture
    def make_connector(self, factory: ConnectorFactory) -> ConnectorFactory:
        return factory

    @pytest.fixture
    def fault_path(self) -> str:
        return "/data/*"

    @pytest.fixture
    def missing_id(self) -> str:
        return "dataAreaId='de01',CustomerAccount='NO-SUCH-CUSTOMER'"

    @pytest.fixture
    def resource(self) -> str:
        return "CustomersV3"

    @pytest.fixture
    def make_record(self) -> Callable[[str], dict[str, Any]]:
        return customer

    @pytest.fixture
    def bad_credentials(self) -> dict[str, Any]:
        return {"client_secret": "wrong-secret"}

    @pytest.fixture
    def business_rule_violation(self) -> Callable[[Any], object]:
        def violate(connector: DynamicsFinanceConnector) -> object:
            return connector.upsert(
                "ProjectContractHeaders",
                "ACC-BR-PC",
                {"Name": "No such customer", "CustomerAccountNumber": "NO-SUCH-CUSTOMER"},
            )

        return violate

    @pytest.fixture
    def conflict_violation(self) -> Callable[[Any], object]:
        def conflict(connector: DynamicsFinanceConnector) -> object:
            written = connector.upsert("CustomersV3", "ACC-ETAG-1", customer("ACC-ETAG-1"))
            connector.update("CustomersV3", written.id, {"AddressCity": "Bonn"}, etag=written.etag)
            return connector.update(
                "CustomersV3", written.id, {"AddressCity": "Kiel"}, etag=written.etag
            )

        return conflict


def test_retried_create_after_lost_response_finds_the_first(
    factory: ConnectorFactory, control: SandboxControl
) -> None:
    control.reset()
    with factory() as conn:
        conn.check()
        control.add_fault(method="POST", path="/data/CustomersV3", lose_response_rate=1.0)
        with pytest.raises(RetryableError) as caught:
            conn.upsert("CustomersV3", "ACC-LOST-1", customer("ACC-LOST-1"))
        assert caught.value.status_code == 504
        control.clear_faults()
        retried = conn.upsert("CustomersV3", "ACC-LOST-1", customer("ACC-LOST-1"))
    assert retried.created is False
    assert control.duplicates() == 0


def test_companies_are_addressed_per_call(
    factory: ConnectorFactory, control: SandboxControl
) -> None:
    control.reset()
    with factory(company="us01") as conn:
        us = conn.upsert(
            "CustomersV3", "ACC-CO-1", {**customer("ACC-CO-1"), "SalesCurrencyCode": "USD"}
        )
        de = conn.for_company("DE01")
        assert de.get_by_external_id("CustomersV3", "ACC-CO-1") is None
        written = de.upsert("CustomersV3", "ACC-CO-1", customer("ACC-CO-1"))
        assert written.id != us.id
        assert "dataAreaId='de01'" in written.id
        everywhere = conn.query("CustomersV3", "CustomerAccount eq 'ACC-CO-1'", every_company=True)
    assert sorted(r["dataAreaId"] for r in everywhere) == ["de01", "us01"]


def test_a_changeset_is_all_or_nothing(factory: ConnectorFactory, control: SandboxControl) -> None:
    control.reset()
    with factory() as conn:
        good = {"dataAreaId": "de01", "CustomerAccount": "ACC-B-1", **customer("ACC-B-1")}
        bad = {"dataAreaId": "de01", "CustomerAccount": "ACC-B-2", "CustomerGroupId": ""}
        answers = conn.batch(
            [BatchRequest("POST", "CustomersV3", good), BatchRequest("POST", "CustomersV3", bad)]
        )
        assert [(a.status, a.content_id) for a in answers] == [(500, "2")]
        error = conn.batch_error(answers[0], resource="CustomersV3")
        assert isinstance(error, BusinessRuleError)
        assert error.code == "AxODataWriteException"
        assert conn.get_by_external_id("CustomersV3", "ACC-B-1") is None  # rolled back
        answers = conn.batch([BatchRequest("POST", "CustomersV3", good)])
        assert [a.status for a in answers] == [201]
        duplicate = conn.batch([BatchRequest("POST", "CustomersV3", good)])
        assert isinstance(conn.batch_error(duplicate[0], resource="CustomersV3"), ConflictError)
    assert control.duplicates() == 1  # the refused second create is counted
