"""The shipped PSA role contract, run against the Kantata and Salesforce (Certinia) emulators."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.contract.conftest import control, serve_firm
from tests.contract.sandbox_auth import sandbox_connector

from accord.connectors.roles import Psa
from accord.connectors.testing import SandboxControl
from accord.connectors.testing_roles import PsaContract, customer_of, new_key
from accord.rules import Rules, load_rules
from accord_sandbox.kantata import KantataEmulator
from accord_sandbox.salesforce import SalesforceEmulator

RULES = Path(__file__).resolve().parents[2] / "rules" / "default.yaml"


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules(RULES)


# --------------------------------------------------------------------------- Kantata
@pytest.fixture(scope="module")
def kantata_url(serve_asgi: Callable[..., Any]) -> Iterator[str]:
    yield from serve_firm(serve_asgi, KantataEmulator)


class TestKantataPsaContract(PsaContract):
    @pytest.fixture
    def sandbox(self, kantata_url: str) -> Iterator[SandboxControl]:
        yield from control(kantata_url)

    @pytest.fixture
    def psa(self, kantata_url: str, rules: Rules) -> Iterator[Psa]:
        with sandbox_connector("kantata", kantata_url, name="kantata") as connector:
            yield connector.as_psa(rules)

    @pytest.fixture
    def account_id(self) -> str:
        return "001000000000001AAA"


# --------------------------------------------------------------------------- Certinia
@pytest.fixture(scope="module")
def org_url(serve_asgi: Callable[..., Any]) -> Iterator[str]:
    yield from serve_firm(serve_asgi, SalesforceEmulator)


class TestCertiniaPsaContract(PsaContract):
    @pytest.fixture
    def sandbox(self, org_url: str) -> Iterator[SandboxControl]:
        yield from control(org_url)

    @pytest.fixture
    def psa(self, org_url: str, rules: Rules) -> Iterator[Psa]:
        with sandbox_connector("certinia", org_url, name="certinia") as connector:
            yield connector.as_psa(rules)

    @pytest.fixture
    def crm_account(self, org_url: str, rules: Rules) -> Iterator[tuple[str, str]]:
        """(canonical id, org id) of a fresh account: Certinia's projects name one."""
        customer = customer_of(new_key("CUST"), legal_entity="US01", currency="USD", country="US")
        with sandbox_connector("salesforce", org_url, name="salesforce") as connector:
            yield customer.id, connector.as_crm(rules).upsert_account(customer).id

    @pytest.fixture
    def customer_id(self, crm_account: tuple[str, str]) -> str:
        return crm_account[0]

    @pytest.fixture
    def account_id(self, crm_account: tuple[str, str]) -> str:
        return crm_account[1]
