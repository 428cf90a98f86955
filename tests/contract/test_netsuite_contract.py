"""The shipped connector contract, run against the NetSuite emulator."""

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from accord.connectors.netsuite import NetSuiteConfig, NetSuiteConnector
from accord.connectors.testing import (
    ConnectorContract,
    ConnectorFactory,
    LiveTenant,
    SandboxControl,
    live_values,
)
from accord_sandbox.netsuite import NetSuiteEmulator
from accord_sandbox.scenario import generate

SUBSIDIARY_US = "2"
DEPARTMENT_UNKNOWN = "777"


@pytest.fixture(scope="module")
def emulator_url(serve_asgi: Callable[..., Any]) -> Iterator[str]:
    firm = generate("small", 7)

    def make_app(base_url: str) -> Any:
        emulator = NetSuiteEmulator(base_url=base_url)
        emulator.seed_firm(firm)
        return emulator.app

    with serve_asgi(make_app) as url:
        yield url


class TestNetSuiteContract(ConnectorContract):
    throttle_has_retry_after = False  # NetSuite documents no Retry-After on its 429

    @pytest.fixture
    def sandbox(self, emulator_url: str) -> Iterator[SandboxControl]:
        with httpx.Client(base_url=emulator_url, timeout=10) as client:
            yield SandboxControl(client)

    @pytest.fixture
    def fault_path(self) -> str:
        return "/services/rest/*/v1/*"

    @pytest.fixture
    def make_connector(self, emulator_url: str) -> ConnectorFactory:
        def make(*, budget: Any = None, **overrides: Any) -> NetSuiteConnector:
            settings: dict[str, Any] = {
                "name": "netsuite-test",
                "account_id": "TSTDRV0000001",
                "base_url": f"{emulator_url}/services/rest",
                "client_id": "sandbox",
                "client_secret": "sandbox-secret",
                "timeout_s": 10,
                **overrides,
            }
            return NetSuiteConnector(NetSuiteConfig.model_validate(settings), budget=budget)

        return make

    @pytest.fixture
    def resource(self) -> str:
        return "customer"

    @pytest.fixture
    def make_record(self) -> Callable[[str], dict[str, Any]]:
        def make(external_id: str) -> dict[str, Any]:
            return {
                "companyName": f"Customer {external_id}",
                "subsidiary": {"id": SUBSIDIARY_US},
                "email": "ap@example.com",
            }

        return make

    @pytest.fixture
    def bad_credentials(self) -> dict[str, Any]:
        return {"client_secret": "wrong-secret"}

    @pytest.fixture
    def business_rule_violation(self) -> Callable[[Any], object]:
        def violate(connector: NetSuiteConnector) -> object:
            customer = connector.upsert(
                "customer", "ACC-BR-CUST", {"companyName": "BR", "subsidiary": {"id": "2"}}
            )
            return connector.upsert(
                "job",
                "ACC-BR-JOB",
                {
                    "companyName": "Bad dimension",
                    "parent": {"id": customer.id},
                    "subsidiary": {"id": SUBSIDIARY_US},
                    "department": {"id": DEPARTMENT_UNKNOWN},
                },
            )

        return violate

    @pytest.fixture
    def conflict_violation(self) -> Callable[[Any], object]:
        def conflict(connector: NetSuiteConnector) -> object:
            fields = {"companyName": "Dup", "subsidiary": {"id": SUBSIDIARY_US}}
            connector.upsert("customer", "ACC-DUP-1", fields)
            return connector.create("customer", {**fields, "externalId": "ACC-DUP-1"})

        return conflict


class TestNetSuiteLive(LiveTenant, TestNetSuiteContract):
    """The same contract against a real NetSuite tenant (``pytest -m live``).

    ``live: {netsuite: {subsidiary: "<internal id>"}}`` in the live file names the subsidiary
    the test customers belong to (the sandbox's US01 is ``2``).
    """

    kind = "netsuite"

    @pytest.fixture
    def make_record(self) -> Callable[[str], dict[str, Any]]:
        subsidiary = str(live_values("netsuite").get("subsidiary", SUBSIDIARY_US))

        def make(external_id: str) -> dict[str, Any]:
            return {"companyName": f"Customer {external_id}", "subsidiary": {"id": subsidiary}}

        return make
