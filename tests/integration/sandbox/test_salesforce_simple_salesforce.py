"""The real simple-salesforce client against the Salesforce emulator served by uvicorn.

The client is used unchanged; only its ``requests.Session`` is given an adapter that sends the
``https://`` URLs it builds to the emulator's plain-http loopback port.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)
from tests.support import serve

from accord_sandbox.salesforce import SalesforceEmulator


class _PlainHttpAdapter(HTTPAdapter):
    """Sends https:// requests over http://, since the emulator listens without TLS."""

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        request.url = "http://" + (request.url or "").removeprefix("https://")
        return super().send(request, *args, **kwargs)


@dataclass
class Served:
    emulator: SalesforceEmulator
    base_url: str
    session: requests.Session


@pytest.fixture
def served() -> Iterator[Served]:
    built: list[SalesforceEmulator] = []

    def make(base_url: str) -> object:
        built.append(SalesforceEmulator(base_url=base_url))
        return built[0].app

    with serve(make) as base_url, requests.Session() as session:
        session.mount("https://", _PlainHttpAdapter())
        yield Served(built[0], base_url, session)


def _login(served: Served) -> Salesforce:
    token = served.session.post(
        f"{served.base_url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "sandbox",
            "client_secret": "sandbox-secret",
        },
        timeout=10,
    )
    assert token.status_code == 200
    body = token.json()
    assert body["instance_url"] == served.base_url
    return Salesforce(
        instance_url=body["instance_url"], session_id=body["access_token"], session=served.session
    )


def test_crud_upsert_and_delete(served: Served) -> None:
    sf = _login(served)
    created = sf.Account.create({"Name": "Acme", "Accord_Id__c": "ACC-1", "BillingCity": "Boston"})
    assert created["success"] is True
    account_id = created["id"]
    assert account_id.startswith("001")
    assert len(account_id) == 18

    assert sf.Account.update(account_id, {"Industry": "Technology"}) == 204
    record = sf.Account.get(account_id)
    assert record["Industry"] == "Technology"
    assert record["BillingAddress"]["city"] == "Boston"
    assert record["attributes"]["type"] == "Account"
    assert record["CreatedDate"].endswith("+0000")

    # simple-salesforce returns only the status code of an upsert (reference section 6, note 2).
    assert sf.Account.upsert("Accord_Id__c/ACC-1", {"Name": "Acme Corp"}) == 200
    assert sf.Account.upsert("Accord_Id__c/ACC-2", {"Name": "Beta"}) == 201
    assert sf.Account.get_by_custom_id("Accord_Id__c", "ACC-1")["Name"] == "Acme Corp"

    opp = sf.Opportunity.create(
        {
            "Name": "Acme rollout",
            "AccountId": account_id,
            "StageName": "Closed Won",
            "CloseDate": "2026-03-31",
            "Billing_Model__c": "Fixed Fee",
        }
    )
    rows = sf.query(f"SELECT Id, Account.Name, IsWon FROM Opportunity WHERE Id = '{opp['id']}'")
    assert rows["records"][0]["Account"]["Name"] == "Acme Corp"
    assert rows["records"][0]["IsWon"] is True
    assert sf.api_usage["api-usage"].used > 0

    assert sf.Account.delete(account_id) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(account_id)
    deleted = sf.query_all(
        f"SELECT Id, IsDeleted FROM Account WHERE Id = '{account_id}'", include_deleted=True
    )
    assert deleted["records"][0]["IsDeleted"] is True


def test_errors_map_to_client_exceptions(served: Served) -> None:
    sf = _login(served)
    with pytest.raises(SalesforceMalformedRequest) as missing:
        sf.Opportunity.create({"Name": "No stage"})
    assert missing.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"

    sf.Account.create({"Name": "Twin", "Accord_Id__c": "TWIN"})
    sf.Account.create({"Name": "Twin again", "Accord_Id__c": "TWIN"})
    with pytest.raises(SalesforceMoreThanOneRecord):
        sf.Account.upsert("Accord_Id__c/TWIN", {"Name": "Which one?"})

    bad = Salesforce(instance_url=served.base_url, session_id="nope", session=served.session)
    with pytest.raises(SalesforceExpiredSession):
        bad.query("SELECT Id FROM Account")


def test_query_all_pages_with_batch_size(served: Served) -> None:
    sf = _login(served)
    for chunk in range(3):
        records = [
            {"attributes": {"type": "Account"}, "Name": f"Paged {chunk * 150 + i:03d}"}
            for i in range(150)
        ]
        results = sf.restful(
            "composite/sobjects",
            method="POST",
            data=json.dumps({"allOrNone": True, "records": records}),
        )
        assert all(r["success"] for r in results)

    headers = {"Sforce-Query-Options": "batchSize=200"}
    first = sf.query(
        "SELECT Id, Name FROM Account WHERE Name LIKE 'Paged%' ORDER BY Name", headers=headers
    )
    assert first["done"] is False
    assert first["totalSize"] == 450
    assert len(first["records"]) == 200
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")

    everything = sf.query_all(
        "SELECT Id, Name FROM Account WHERE Name LIKE 'Paged%' ORDER BY Name", headers=headers
    )
    names = [r["Name"] for r in everything["records"]]
    assert len(names) == 450
    assert names == sorted(names)
    assert served.emulator.stats.requests["GET /services/data/{version}/query/{locator}"] >= 2
