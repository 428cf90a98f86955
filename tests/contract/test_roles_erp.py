"""The shipped ERP role contract, run against the NetSuite and Business Central emulators."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.contract.conftest import FIRM, control, serve_firm

from accord.connectors.business_central import BusinessCentralConfig, BusinessCentralConnector
from accord.connectors.netsuite import NetSuiteConfig, NetSuiteConnector
from accord.connectors.roles import Erp
from accord.connectors.testing import SandboxControl
from accord.connectors.testing_roles import ErpContract
from accord.rules import Rules, load_rules
from accord_sandbox.business_central import BusinessCentralEmulator
from accord_sandbox.netsuite import NetSuiteEmulator

RULES = Path(__file__).resolve().parents[2] / "rules" / "default.yaml"
SECRETS = {"client_id": "sandbox", "client_secret": "sandbox-secret", "timeout_s": 10}


@pytest.fixture(scope="module")
def netsuite_url(serve_asgi: Callable[..., Any]) -> Iterator[str]:
    yield from serve_firm(serve_asgi, NetSuiteEmulator)


@pytest.fixture(scope="module")
def bc_url(serve_asgi: Callable[..., Any]) -> Iterator[str]:
    yield from serve_firm(serve_asgi, BusinessCentralEmulator)


class _Rules:
    @pytest.fixture
    def rules(self) -> Rules:
        return load_rules(RULES)


class TestNetSuiteErpContract(_Rules, ErpContract):
    @pytest.fixture
    def sandbox(self, netsuite_url: str) -> Iterator[SandboxControl]:
        yield from control(netsuite_url)

    @pytest.fixture
    def erp(self, netsuite_url: str, rules: Rules) -> Iterator[Erp]:
        config = NetSuiteConfig.model_validate(
            {
                # The rules book US01 and UK01 on the connection named "netsuite".
                "name": "netsuite",
                "account_id": "TSTDRV0000001",
                "base_url": f"{netsuite_url}/services/rest",
                **SECRETS,
            }
        )
        with NetSuiteConnector(config) as connector:
            yield connector.as_erp(rules)

    @pytest.fixture
    def legal_entity(self) -> str:
        return "US01"


class TestBusinessCentralErpContract(_Rules, ErpContract):
    @pytest.fixture
    def sandbox(self, bc_url: str) -> Iterator[SandboxControl]:
        yield from control(bc_url)

    @pytest.fixture
    def erp(self, bc_url: str, rules: Rules) -> Iterator[Erp]:
        companies = {e.code: e.bc_company_id for e in FIRM.legal_entities}
        config = BusinessCentralConfig.model_validate(
            {
                # The rules book DE01 on the connection named "business-central".
                "name": "business-central",
                "tenant": "sandbox-tenant",
                "company_id": companies["DE01"],
                "companies": companies,
                "api_host": bc_url,
                "login_host": bc_url,
                **SECRETS,
            }
        )
        with BusinessCentralConnector(config) as connector:
            yield connector.as_erp(rules)

    @pytest.fixture
    def legal_entity(self) -> str:
        return "DE01"
