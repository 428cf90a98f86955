"""The shipped connector contract, run against the Salesforce emulator's Certinia objects."""

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from accord.connectors.certinia import CertiniaConfig, CertiniaConnector
from accord.connectors.certinia.mapping import (
    project_from_canonical,
    project_to_canonical,
    timecard_to_timesheet,
)
from accord.connectors.testing import (
    ConnectorContract,
    ConnectorFactory,
    LiveTenant,
    SandboxControl,
)
from accord.domain import BillingModel, Project, ProjectStatus, TimesheetStatus
from accord.errors import BusinessRuleError
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


def project(external_id: str) -> dict[str, Any]:
    return {
        "Name": f"Project {external_id}"[:80],
        "pse__Stage__c": "Planned",
        "pse__Start_Date__c": "2026-02-02",
        "CurrencyIsoCode": "USD",
    }


def settings(emulator_url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "certinia-test",
        "login_url": emulator_url,
        "client_id": "sandbox",
        "client_secret": "sandbox-secret",
        "timeout_s": 10,
        **overrides,
    }


class TestCertiniaContract(ConnectorContract):
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
        def make(*, budget: Any = None, **overrides: Any) -> CertiniaConnector:
            config = CertiniaConfig.model_validate(settings(emulator_url, **overrides))
            return CertiniaConnector(config, budget=budget)

        return make

    @pytest.fixture
    def resource(self) -> str:
        return "pse__Proj__c"

    @pytest.fixture
    def missing_id(self) -> str:
        return make_id("a0P", 987_654)  # a well-formed project id, never issued

    @pytest.fixture
    def make_record(self) -> Callable[[str], dict[str, Any]]:
        return project

    @pytest.fixture
    def bad_credentials(self) -> dict[str, Any]:
        return {"client_secret": "wrong-secret"}

    @pytest.fixture
    def business_rule_violation(self) -> Callable[[Any], object]:
        def violate(connector: CertiniaConnector) -> object:
            closed = connector.upsert(
                "pse__Proj__c",
                "ACC-BR-PRJ",
                {**project("closed"), "pse__Closed_for_Time_Entry__c": True},
            )
            resource = connector.read_page("Contact", limit=1).records[0]
            return connector.upsert(
                "pse__Timecard_Header__c",
                "ACC-BR-TC",
                {
                    "pse__Project__c": closed.id,
                    "pse__Resource__c": resource["Id"],
                    "pse__Start_Date__c": "2026-02-02",
                    "pse__Monday_Hours__c": 8,
                },
            )

        return violate

    @pytest.fixture
    def conflict_violation(self) -> Callable[[Any], object]:
        def conflict(connector: CertiniaConnector) -> object:
            connector.upsert("pse__Proj__c", "ACC-DUP-PRJ", project("dup"))
            return connector.create(
                "pse__Proj__c", {**project("dup"), "Accord_Id__c": "ACC-DUP-PRJ"}
            )

        return conflict


class TestCertiniaLive(LiveTenant, TestCertiniaContract):
    """The same contract against a real Certinia tenant (``pytest -m live``)."""

    kind = "certinia"


# --------------------------------------------------------------------------- Certinia flows
@pytest.fixture
def certinia(emulator_url: str) -> Iterator[CertiniaConnector]:
    with httpx.Client(base_url=emulator_url, timeout=10) as control:
        control.post("/__sandbox/reset").raise_for_status()
    with CertiniaConnector(CertiniaConfig.model_validate(settings(emulator_url))) as conn:
        yield conn


def test_provisioned_project_round_trips(certinia: CertiniaConnector, emulator_url: str) -> None:
    with httpx.Client(base_url=emulator_url, timeout=10) as control:
        ids = control.get("/__sandbox/salesforce/firm_ids").json()
    account_id = next(v for k, v in ids.items() if k.startswith("CUST-"))
    region = next(k for k, v in ids.items() if v.startswith("a0R"))
    practice = next(k for k, v in ids.items() if v.startswith("a0Q"))
    canonical = Project(
        id="PRJ-ACC-1",
        name="Data platform rollout",
        customer_id=f"SF-{account_id}",
        legal_entity="US01",
        practice=practice,
        region=region,
        billing_model=BillingModel.TIME_AND_MATERIALS,
        status=ProjectStatus.ON_HOLD,
        currency="USD",
        start_date="2026-03-02",  # type: ignore[arg-type]
    )
    written = certinia.upsert("pse__Proj__c", canonical.id, project_from_canonical(canonical))
    assert written.created is True
    again = certinia.upsert("pse__Proj__c", canonical.id, project_from_canonical(canonical))
    assert again.created is False
    page = certinia.read_page("pse__Proj__c", limit=2000)
    row = next(r for r in page.records if r["Id"] == written.id)
    assert row["pse__Closed_for_Time_Entry__c"] is True
    mapped = project_to_canonical(row)
    assert mapped.id == canonical.id
    assert mapped.status is ProjectStatus.ON_HOLD
    assert (mapped.region, mapped.practice) == (region, practice)
    assert mapped.customer_id == canonical.customer_id
    assert mapped.legal_entity  # the seeded account's Legal_Entity__c


def test_approved_timecards_are_captured_and_mapped(certinia: CertiniaConnector) -> None:
    target = certinia.upsert("pse__Proj__c", "PRJ-TC-1", project("tc"))
    resource = certinia.read_page("Contact", limit=1).records[0]
    card = {
        "pse__Project__c": target.id,
        "pse__Resource__c": resource["Id"],
        "pse__Start_Date__c": "2026-02-02",
        "pse__Monday_Hours__c": 8,
        "pse__Wednesday_Hours__c": 4.5,
        "pse__Status__c": "Saved",
    }
    saved = certinia.upsert("pse__Timecard_Header__c", "TC-1", card)
    assert certinia.read_page("pse__Timecard_Header__c").records == []
    certinia.update(
        "pse__Timecard_Header__c",
        saved.id,
        {"pse__Status__c": "Approved", "pse__Approved__c": True},
    )
    records = certinia.read_page("pse__Timecard_Header__c").records
    assert [r["Id"] for r in records] == [saved.id]
    sheet = timecard_to_timesheet(records[0])
    assert sheet.status is TimesheetStatus.APPROVED
    assert [str(e.hours) for e in sheet.entries] == ["8.00", "4.50"]
    assert sheet.project_id == "PRJ-TC-1"


def test_unknown_region_code_is_business_rule(certinia: CertiniaConnector) -> None:
    body = {**project("bad-region"), "pse__Region__r": {"Code__c": "NOWHERE"}}
    with pytest.raises(BusinessRuleError) as caught:
        certinia.upsert("pse__Proj__c", "PRJ-BAD-REGION", body)
    assert caught.value.code == "INVALID_FIELD"
