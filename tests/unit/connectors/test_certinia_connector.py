"""Certinia connector behaviour: its objects and filters on the shared Salesforce REST core."""

import importlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from accord.connectors.certinia import CertiniaConfig, CertiniaConnector
from accord.connectors.salesforce import SalesforceRestConnector
from accord.connectors.salesforce.auth import SalesforceAuth
from accord.connectors.testing import FakeClock, MockRouter
from accord.errors import BusinessRuleError

FIXTURES = Path(__file__).parents[2] / "fixtures"
V = "/services/data/v60.0"


def body(folder: str, name: str) -> Any:
    return json.loads((FIXTURES / folder / f"{name}.json").read_text())


def config(**overrides: Any) -> CertiniaConfig:
    settings: dict[str, Any] = {
        "name": "psa",
        "client_id": "consumer-key",
        "client_secret": "consumer-secret",
    } | overrides
    return CertiniaConfig.model_validate(settings)


@pytest.fixture
def offline() -> CertiniaConnector:
    return CertiniaConnector(
        config(), transport=httpx.MockTransport(lambda r: pytest.fail("no request expected"))
    )


@pytest.fixture
def connector(mock_router: MockRouter, fake_clock: FakeClock) -> CertiniaConnector:
    mock_router.add(
        "POST", "/services/oauth2/token", httpx.Response(200, json=body("salesforce", "token"))
    )
    return CertiniaConnector(config(), transport=mock_router.transport, clock=fake_clock.now)


def test_reuses_the_salesforce_core(offline: CertiniaConnector) -> None:
    assert isinstance(offline, SalesforceRestConnector)
    assert isinstance(offline.client.auth, SalesforceAuth)
    assert offline.kind == "certinia"
    assert config().kind == "certinia"
    assert set(offline.resources()) >= {
        "pse__Proj__c",
        "pse__Milestone__c",
        "pse__Timecard_Header__c",
        "pse__Expense__c",
        "pse__Assignment__c",
        "pse__Billing_Event__c",
        "Contact",
        "pse__Region__c",
        "pse__Practice__c",
    }


def test_default_change_capture_filters(offline: CertiniaConnector) -> None:
    soql = offline.soql_for_page("pse__Timecard_Header__c", cursor=None, since=None, size=200)
    assert "FROM pse__Timecard_Header__c WHERE (pse__Status__c = 'Approved')" in soql
    assert "pse__Sunday_Hours__c" in soql
    assert "pse__Assignment__r.pse__Bill_Rate__c" in soql
    resources = offline.soql_for_page("Contact", cursor=None, since=None, size=200)
    assert "WHERE (pse__Is_Resource__c = true)" in resources
    regions = offline.soql_for_page("pse__Region__c", cursor=None, since=None, size=200)
    assert regions.startswith("SELECT Id, SystemModstamp, Code__c, Name")


def test_filters_can_be_replaced_or_removed() -> None:
    conn = CertiniaConnector(
        config(
            read_filters={
                "pse__Timecard_Header__c": "",
                "pse__Expense__c": "pse__Billable__c = true",
            }
        ),
        transport=httpx.MockTransport(lambda r: pytest.fail("no request expected")),
    )
    timecards = conn.soql_for_page("pse__Timecard_Header__c", cursor=None, since=None, size=10)
    assert "WHERE" not in timecards
    expenses = conn.soql_for_page("pse__Expense__c", cursor=None, since=None, size=10)
    assert "WHERE (pse__Billable__c = true)" in expenses


def test_regions_are_keyed_by_code(offline: CertiniaConnector) -> None:
    assert offline.external_field("pse__Region__c") == "Code__c"
    assert offline.external_field("pse__Proj__c") == "Accord_Id__c"
    meta = offline.describe("pse__Region__c", {"Id": "a0R000000000001AAA", "Code__c": "NA-EAST"})
    assert meta.external_id == "NA-EAST"


def test_project_upsert_and_validation_error(
    connector: CertiniaConnector, mock_router: MockRouter
) -> None:
    path = f"{V}/sobjects/pse__Proj__c/Accord_Id__c/PRJ-0001"
    mock_router.add(
        "PATCH",
        path,
        httpx.Response(
            201, json={"id": "a0P000000000001AAA", "success": True, "errors": [], "created": True}
        ),
        httpx.Response(
            400,
            json=[
                {
                    "message": "Project Globex is closed for time entry.",
                    "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                    "fields": ["pse__Project__c"],
                }
            ],
        ),
    )
    result = connector.upsert("pse__Proj__c", "PRJ-0001", {"Name": "Globex"})
    assert (result.id, result.created) == ("a0P000000000001AAA", True)
    with pytest.raises(BusinessRuleError) as caught:
        connector.upsert("pse__Proj__c", "PRJ-0001", {"Name": "Globex"})
    assert caught.value.code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert caught.value.connector == "psa"
    assert caught.value.external_id == "PRJ-0001"


@pytest.mark.parametrize(
    "module",
    [
        "accord.connectors.salesforce",
        "accord.connectors.salesforce.mapping",
        "accord.connectors.certinia",
        "accord.connectors.certinia.mapping",
    ],
)
def test_all_is_exact_and_importable(module: str) -> None:
    mod = importlib.import_module(module)
    for name in mod.__all__:
        assert hasattr(mod, name), name
    assert sorted(mod.__all__) == sorted(set(mod.__all__))


def test_house_rule_no_framework_imports() -> None:
    banned = ("dbos", "fastapi", "typer", "sqlalchemy")
    root = Path(__file__).parents[3] / "src" / "accord" / "connectors"
    for folder in ("salesforce", "certinia"):
        for path in (root / folder).glob("*.py"):
            text = path.read_text()
            for name in banned:
                assert f"import {name}" not in text, path
                assert f"from {name}" not in text, path
