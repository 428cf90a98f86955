"""The shipped ERP role contract, run against the NetSuite, Business Central and D365 emulators."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.contract.conftest import FIRM, control, serve_firm
from tests.contract.sandbox_auth import sandbox_connector

from accord.connectors.roles import Erp
from accord.connectors.testing import SandboxControl
from accord.connectors.testing_roles import ErpContract
from accord.rules import Rules, load_rules
from accord_sandbox.business_central import BusinessCentralEmulator
from accord_sandbox.dynamics_finance import DynamicsFinanceEmulator
from accord_sandbox.netsuite import NetSuiteEmulator

RULES = Path(__file__).resolve().parents[2] / "rules" / "default.yaml"


@pytest.fixture(scope="module")
def netsuite_url(serve_asgi: Callable[..., Any]) -> Iterator[str]:
    yield from serve_firm(serve_asgi, NetSuiteEmulator)


@pytest.fixture(scope="module")
def d365_url(serve_asgi: Callable[..., Any]) -> Iterator[str]:
    yield from serve_firm(serve_asgi, DynamicsFinanceEmulator)


def rules_with_entity_on(path: Path, code: str, erp: str, connection: str) -> Rules:
    """The shipped rules with legal entity ``code`` booked on ``erp`` through ``connection``."""
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    data["legal_entities"][code].update(erp=erp, connection=connection)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_rules(path)


@pytest.fixture(scope="module")
def bc_url(serve_asgi: Callable[..., Any]) -> Iterator[str]:
    yield from serve_firm(serve_asgi, BusinessCentralEmulator)


class _Rules:
    @pytest.fixture
    def rules(self) -> Rules:
        return load_rules(RULES)


def _consultant(legal_entity: str) -> str:
    """The canonical id of the seeded firm's first consultant in ``legal_entity``."""
    return next(c.id for c in FIRM.consultants if c.legal_entity == legal_entity)


class TestNetSuiteErpContract(_Rules, ErpContract):
    @pytest.fixture
    def sandbox(self, netsuite_url: str) -> Iterator[SandboxControl]:
        yield from control(netsuite_url)

    @pytest.fixture
    def erp(self, netsuite_url: str, rules: Rules) -> Iterator[Erp]:
        # The rules book US01 and UK01 on the connection named "netsuite".
        with sandbox_connector("netsuite", netsuite_url, name="netsuite") as connector:
            yield connector.as_erp(rules)

    @pytest.fixture
    def legal_entity(self) -> str:
        return "US01"

    @pytest.fixture
    def resource_id(self) -> str:
        return _consultant("US01")  # the firm's NetSuite employee carries the id


class TestBusinessCentralErpContract(_Rules, ErpContract):
    @pytest.fixture
    def sandbox(self, bc_url: str) -> Iterator[SandboxControl]:
        yield from control(bc_url)

    @pytest.fixture
    def erp(self, bc_url: str, rules: Rules) -> Iterator[Erp]:
        companies = {e.code: e.bc_company_id for e in FIRM.legal_entities}
        with sandbox_connector(
            "business_central",
            bc_url,
            # The rules book DE01 on the connection named "business-central".
            name="business-central",
            tenant="sandbox-tenant",
            company_id=companies["DE01"],
            companies=companies,
            api_host=bc_url,
            login_host=bc_url,
        ) as connector:
            yield connector.as_erp(rules)

    @pytest.fixture
    def legal_entity(self) -> str:
        return "DE01"

    @pytest.fixture
    def resource_id(self) -> str:
        return _consultant("DE01")  # the firm's BC resource is numbered after it


class TestDynamicsFinanceErpContract(ErpContract):
    @pytest.fixture
    def rules(self, tmp_path: Path) -> Rules:
        # A migration rehearsal books DE01 on Dynamics 365 Finance.
        return rules_with_entity_on(
            tmp_path / "rules.yaml", "DE01", "dynamics_finance", "dynamics-finance"
        )

    @pytest.fixture
    def sandbox(self, d365_url: str) -> Iterator[SandboxControl]:
        yield from control(d365_url)

    @pytest.fixture
    def erp(self, d365_url: str, rules: Rules) -> Iterator[Erp]:
        with sandbox_connector(
            "dynamics_finance",
            d365_url,
            name="dynamics-finance",
            company="de01",
            companies={e.code: e.code.lower() for e in FIRM.legal_entities},
            dimension_delimiter="|",
        ) as connector:
            yield connector.as_erp(rules)

    @pytest.fixture
    def legal_entity(self) -> str:
        return "DE01"

    @pytest.fixture
    def resource_id(self) -> str:
        return _consultant("DE01")  # the firm's D365 worker (personnel number) carries the id
