"""The shipped CRM role contract, run against the Salesforce emulator."""

from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.contract.conftest import control, serve_firm
from tests.contract.sandbox_auth import sandbox_connector

from accord.connectors.roles import Crm
from accord.connectors.salesforce import SalesforceConnector
from accord.connectors.testing import SandboxControl
from accord.connectors.testing_roles import CrmContract, OpportunityFactory
from accord.rules import load_rules
from accord_sandbox.salesforce import SalesforceEmulator, make_id

RULES = Path(__file__).resolve().parents[2] / "rules" / "default.yaml"


@pytest.fixture(scope="module")
def emulator_url(serve_asgi: Callable[..., Any]) -> Iterator[str]:
    yield from serve_firm(serve_asgi, SalesforceEmulator)


@pytest.fixture(scope="module")
def connector(emulator_url: str) -> Iterator[SalesforceConnector]:
    with sandbox_connector("salesforce", emulator_url, name="salesforce") as built:
        assert isinstance(built, SalesforceConnector)
        yield built


class TestSalesforceCrmContract(CrmContract):
    @pytest.fixture
    def sandbox(self, emulator_url: str) -> Iterator[SandboxControl]:
        yield from control(emulator_url)

    @pytest.fixture
    def crm(self, connector: SalesforceConnector) -> Crm:
        return connector.as_crm(load_rules(RULES))

    @pytest.fixture
    def missing_account(self) -> str:
        return make_id("001", 987_654)  # well formed, never issued

    @pytest.fixture
    def missing_opportunity(self) -> str:
        return make_id("006", 987_654)

    @pytest.fixture
    def make_opportunity(self, connector: SalesforceConnector) -> OpportunityFactory:
        def make(
            account_id: str,
            *,
            won: bool,
            start_date: str | None,
            lines: Sequence[tuple[str, Decimal, str | None]],
        ) -> str:
            body = {
                "Name": "Contract deal",
                "AccountId": account_id,
                "StageName": "Closed Won" if won else "Negotiation/Review",
                "Amount": 100000.0,
                "CurrencyIsoCode": "USD",
                "CloseDate": "2026-09-20",
                "Service_Package__c": "ROLLOUT-MILESTONE",
                "Billing_Model__c": "Milestone",
                "Legal_Entity__c": "US01",
                "Practice__c": "TECH",
                "Region__c": "NA-EAST",
                **({"Start_Date__c": start_date} if start_date else {}),
            }
            opportunity = connector.create("Opportunity", body).id
            for order, (description, amount, due) in enumerate(lines, start=1):
                connector.create(
                    "OpportunityLineItem",
                    {
                        "OpportunityId": opportunity,
                        "Quantity": 1,
                        "TotalPrice": float(amount),
                        "Description": description,
                        "SortOrder": order,
                        **({"ServiceDate": due} if due else {}),
                    },
                )
            return opportunity

        return make

    @pytest.fixture
    def merge_accounts(self, emulator_url: str) -> Callable[[str, str], None]:
        def merge(master: str, loser: str) -> None:
            response = httpx.post(
                f"{emulator_url}/__sandbox/salesforce/merge",
                json={"master_id": master, "loser_id": loser},
                timeout=10,
            )
            response.raise_for_status()

        return merge
