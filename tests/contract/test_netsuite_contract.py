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
from accord.errors import AuthError
from accord_sandbox.accord_config import connection_settings
from accord_sandbox.credentials import TBA_TOKEN_ID, TBA_TOKEN_SECRET
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
                **connection_settings("netsuite", emulator_url),
                "name": "netsuite-test",
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
        return {"certificate_id": "not-uploaded-in-the-m2m-setup"}

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


def test_token_based_authentication_end_to_end(emulator_url: str) -> None:
    """TBA instead of M2M: every request signed, verified by the emulator (reference 4.1)."""
    settings = {
        **connection_settings("netsuite", emulator_url),
        "name": "netsuite-tba",
        "certificate_id": None,
        "private_key": None,
        "client_secret": "sandbox-secret",
        "token_id": TBA_TOKEN_ID,
        "token_secret": TBA_TOKEN_SECRET,
    }
    with NetSuiteConnector(NetSuiteConfig.model_validate(settings)) as conn:
        conn.check()
        conn.upsert("customer", "ACC-TBA-1", {"companyName": "TBA", "subsidiary": {"id": "2"}})
        assert conn.get_by_external_id("customer", "ACC-TBA-1") is not None
        assert conn.read_page("customer", limit=2).records  # SuiteQL with query parameters
    wrong = {**settings, "token_secret": "guessed"}
    with NetSuiteConnector(NetSuiteConfig.model_validate(wrong)) as conn, pytest.raises(AuthError):
        conn.check()
