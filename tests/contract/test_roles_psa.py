"""The shipped PSA role contract, run against the Kantata and Salesforce (Certinia) emulators."""

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.contract.conftest import control, serve_firm
from tests.contract.sandbox_auth import sandbox_connector

from accord.connectors.kantata import KantataConnector
from accord.connectors.roles import Psa
from accord.connectors.testing import SandboxControl
from accord.connectors.testing_recon import ApproveTime
from accord.connectors.testing_roles import PsaContract, customer_of, new_key
from accord.rules import Rules, load_rules
from accord_sandbox.kantata import KantataEmulator
from accord_sandbox.salesforce import SalesforceEmulator

RULES = Path(__file__).resolve().parents[2] / "rules" / "default.yaml"
HOURS = (Decimal("8.00"), Decimal("2.25"))
"""The hours each PSA's ``approve_time`` approves, in order."""


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

    @pytest.fixture
    def approve_time(self, kantata_url: str) -> Iterator[ApproveTime]:
        """A week of a USD consultant's time, submitted and approved."""
        with sandbox_connector("kantata", kantata_url, name="kantata") as kantata:
            assert isinstance(kantata, KantataConnector)

            def approve(workspace: str, project_id: str) -> dict[str, Decimal]:
                del project_id
                user = next(
                    u
                    for u in kantata.read_page("users").records
                    if kantata.describe("users", u).external_id and u.get("currency") == "USD"
                )
                minutes = {"2026-10-05": 480, "2026-10-06": 135}
                ids = [
                    kantata.create(
                        "time_entries",
                        {
                            "workspace_id": workspace,
                            "user_id": user["id"],
                            "date_performed": day,
                            "time_in_minutes": m,
                            "billable": True,
                        },
                    ).id
                    for day, m in minutes.items()
                ]
                submission = kantata.create(
                    "timesheet_submissions",
                    {"workspace_id": workspace, "user_id": user["id"], "start_date": "2026-10-05"},
                ).id
                kantata.approve_timesheet(submission)
                return dict(zip((f"kantata-te-{i}" for i in ids), HOURS, strict=True))

            yield approve


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

    @pytest.fixture
    def approve_time(self, org_url: str) -> Iterator[ApproveTime]:
        """A seeded resource's timecard for the week, submitted then approved."""
        with sandbox_connector("certinia", org_url, name="certinia") as certinia:

            def approve(psa_id: str, project_id: str) -> dict[str, Decimal]:
                del project_id
                contact = next(
                    c for c in certinia.read_page("Contact").records if c.get("Accord_Id__c")
                )
                card = certinia.create(
                    "pse__Timecard_Header__c",
                    {
                        "pse__Resource__c": contact["Id"],
                        "pse__Project__c": psa_id,
                        "pse__Start_Date__c": "2026-10-05",
                        "pse__Status__c": "Submitted",
                        "pse__Monday_Hours__c": 8,
                        "pse__Tuesday_Hours__c": 2.25,
                    },
                ).id
                certinia.update("pse__Timecard_Header__c", card, {"pse__Status__c": "Approved"})
                days = (f"SF-{card}-2026-10-05", f"SF-{card}-2026-10-06")
                return dict(zip(days, HOURS, strict=True))

            yield approve
