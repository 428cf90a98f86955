"""Round trips against the Salesforce emulator (httpx on the ASGI app): auth, CRUD, describe,
upsert, composite, collections, limits and faults."""

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from accord_sandbox.credentials import private_key_pem, self_signed_certificate
from accord_sandbox.firm import (
    ConsultantSpec,
    CustomerSpec,
    Firm,
    LegalEntitySpec,
    OpportunitySpec,
    PracticeSpec,
    RegionSpec,
    ServicePackageSpec,
)
from accord_sandbox.salesforce import SalesforceEmulator, is_well_formed, make_id, to_18

V = "/services/data/v59.0"


class Clock:
    """A settable clock, so that date literals and timestamps are testable."""

    def __init__(self) -> None:
        self.now = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def tiny_firm() -> Firm:
    return Firm(
        scenario="small",
        seed=7,
        legal_entities=(
            LegalEntitySpec(
                code="US01",
                name="Accord US Inc.",
                currency="USD",
                country="US",
                erp="netsuite",
                netsuite_subsidiary_id="1",
                bc_company_id="00000000-0000-0000-0000-000000000001",
            ),
        ),
        practices=(
            PracticeSpec(
                code="ADV", name="Advisory", netsuite_department_id="10", bc_department_code="ADV"
            ),
        ),
        regions=(
            RegionSpec(
                code="NA-EAST",
                name="North America East",
                tax_region="US-MA",
                netsuite_class_id="5",
                bc_area_code="NAE",
            ),
        ),
        service_packages=(
            ServicePackageSpec(
                code="ADVISORY-TM",
                name="Advisory, time and materials",
                billing_model="time_and_materials",
                template="TPL-ADV",
                phases=("Discovery", "Delivery"),
                duration_days=90,
            ),
        ),
        consultants=(
            ConsultantSpec(
                id="CONS-0001",
                first_name="Ada",
                last_name="Lovelace",
                email="ada.lovelace@accord.example",
                role="Senior Consultant",
                practice="ADV",
                region="NA-EAST",
                legal_entity="US01",
                cost_rate=Decimal("90.00"),
                bill_rate=Decimal("200.00"),
                currency="USD",
            ),
        ),
        customers=(
            CustomerSpec(
                id="CUST-0002",
                name="Globex Boston",
                parent_id="CUST-0001",
                legal_entity="US01",
                currency="USD",
                tax_region="US-MA",
                street="1 Main St",
                city="Boston",
                postal_code="02110",
                state="MA",
                country="US",
                industry="Manufacturing",
            ),
            CustomerSpec(
                id="CUST-0001",
                name="Globex Holdings",
                legal_entity="US01",
                currency="USD",
                tax_region="US-NY",
                street="5 Park Ave",
                city="New York",
                postal_code="10001",
                state="NY",
                country="US",
                industry="Manufacturing",
            ),
        ),
        opportunities=(
            OpportunitySpec(
                id="OPP-0001",
                name="Globex advisory",
                customer_id="CUST-0002",
                stage="Closed Won",
                amount=Decimal("120000.00"),
                currency="USD",
                close_date=date(2026, 6, 1),
                service_package="ADVISORY-TM",
                billing_model="time_and_materials",
                legal_entity="US01",
                practice="ADV",
                region="NA-EAST",
                start_date=date(2026, 7, 1),
                end_date=date(2026, 9, 30),
                owner_email="sam.seller@accord.example",
            ),
        ),
        accounting_periods=(),
    )


def make_emulator(*, daily_limit: int = 100_000) -> tuple[SalesforceEmulator, Clock]:
    clock = Clock()
    emu = SalesforceEmulator(clock=clock, daily_limit=daily_limit)
    emu.seed_firm(tiny_firm())
    return emu, clock


async def token(client: httpx.AsyncClient) -> str:
    r = await client.post(
        "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "sandbox",
            "client_secret": "sandbox-secret",
        },
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def client_for(emu: SalesforceEmulator) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=emu.app), base_url="http://sf.test")


@pytest.fixture
def emu_clock() -> tuple[SalesforceEmulator, Clock]:
    return make_emulator()


@pytest.fixture
def emu(emu_clock: tuple[SalesforceEmulator, Clock]) -> SalesforceEmulator:
    return emu_clock[0]


@pytest.fixture
async def sf(emu: SalesforceEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(emu) as client:
        client.headers["Authorization"] = f"Bearer {await token(client)}"
        yield client


async def _create(sf: httpx.AsyncClient, obj: str, body: dict[str, Any]) -> str:
    r = await sf.post(f"{V}/sobjects/{obj}", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


APP_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
"""The key whose certificate the tests upload to the connected app."""


def _jwt(claims: dict[str, Any], key: rsa.RSAPrivateKey = APP_KEY) -> str:
    return pyjwt.encode(claims, private_key_pem(key), algorithm="RS256")


# --------------------------------------------------------------------------- auth
async def test_client_credentials_token(emu: SalesforceEmulator) -> None:
    async with client_for(emu) as client:
        r = await client.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "sandbox",
                "client_secret": "sandbox-secret",
            },
        )
        body = r.json()
        assert r.status_code == 200
        assert body["instance_url"] == "http://127.0.0.1:8801"
        assert body["token_type"] == "Bearer"
        assert body["id"].endswith(f"/id/{make_id('00D', 1)}/{emu.user_id}")
        assert body["issued_at"].isdigit()
        assert body["signature"]
        assert "refresh_token" not in body

        bad = await client.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "sandbox",
                "client_secret": "wrong",
            },
        )
        assert bad.status_code == 400
        assert bad.json() == {
            "error": "invalid_client",
            "error_description": "invalid client credentials",
        }
        other = await client.post("/services/oauth2/token", data={"grant_type": "password"})
        assert other.status_code == 400
        assert other.json()["error"] == "unsupported_grant_type"


async def test_jwt_bearer_token(
    emu: SalesforceEmulator, emu_clock: tuple[SalesforceEmulator, Clock]
) -> None:
    now = emu_clock[1].now.timestamp()
    good = {
        "iss": "sandbox",
        "sub": "integration@accord.example",
        "aud": "https://login.salesforce.com",
        "exp": now + 180,
    }
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    async with client_for(emu) as client:
        # Before a certificate is uploaded to the connected app, no assertion verifies.
        r = await client.post(
            "/services/oauth2/token", data={"grant_type": grant, "assertion": _jwt(good)}
        )
        assert r.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}
        cert = self_signed_certificate(APP_KEY, common_name="accord")
        up = await client.post("/__sandbox/salesforce/jwt_certificates", json={"certificate": cert})
        assert up.status_code == 204
        r = await client.post(
            "/services/oauth2/token", data={"grant_type": grant, "assertion": _jwt(good)}
        )
        assert r.status_code == 200
        assert set(r.json()) == {"access_token", "scope", "instance_url", "id", "token_type"}
        ok = await client.get(
            f"{V}/sobjects", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
        )
        assert ok.status_code == 200

        cases = [
            ({**good, "iss": "someone-else"}, "invalid_client"),
            ({**good, "exp": now - 1}, "invalid_grant"),
            ({**good, "aud": "https://evil.example"}, "invalid_grant"),
        ]
        for claims, error in cases:
            refused = await client.post(
                "/services/oauth2/token", data={"grant_type": grant, "assertion": _jwt(claims)}
            )
            assert refused.status_code == 400
            assert refused.json()["error"] == error
        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = await client.post(
            "/services/oauth2/token",
            data={"grant_type": grant, "assertion": _jwt(good, other_key)},
        )
        assert forged.json()["error"] == "invalid_grant"
        garbage = await client.post(
            "/services/oauth2/token", data={"grant_type": grant, "assertion": "not-a-jwt"}
        )
        assert garbage.json() == {
            "error": "invalid_grant",
            "error_description": "invalid assertion",
        }


async def test_missing_or_bad_session_is_401(emu: SalesforceEmulator) -> None:
    async with client_for(emu) as client:
        for headers in ({}, {"Authorization": "Bearer nope"}):
            r = await client.get(f"{V}/sobjects", headers=headers)
            assert r.status_code == 401
            assert r.json() == [
                {
                    "message": "Session expired or invalid",
                    "errorCode": "INVALID_SESSION_ID",
                    "fields": [],
                }
            ]
        sf_token = await token(client)
        expired = await client.post("/__sandbox/salesforce/expire_sessions")
        assert expired.json() == {"expired": 1}
        r = await client.get(f"{V}/sobjects", headers={"Authorization": f"Bearer {sf_token}"})
        assert r.status_code == 401


async def test_versions_and_resources(emu: SalesforceEmulator, sf: httpx.AsyncClient) -> None:
    async with client_for(emu) as anonymous:
        r = await anonymous.get("/services/data/")
    versions = {v["version"]: v for v in r.json()}
    assert versions["59.0"] == {
        "label": "Winter '24",
        "url": "/services/data/v59.0",
        "version": "59.0",
    }
    assert versions["66.0"]["label"] == "Spring '26"
    resources = await sf.get(f"{V}/")
    assert resources.json()["query"] == f"{V}/query"
    assert (await sf.get("/services/data/v12.0/sobjects")).status_code == 404


# --------------------------------------------------------------------------- ids, seed, CRUD
def test_ids_are_case_safe() -> None:
    assert make_id("003", 0) == "003RO0000000000YAA"
    assert to_18("003RO0000035WQg") == "003RO0000035WQgYAM"  # the reference's sample id
    assert is_well_formed("003RO0000035WQgYAM")
    assert not is_well_formed("003RO0000035WQgAAA")
    assert not is_well_formed("003-bad")


async def test_seeded_firm(emu: SalesforceEmulator, sf: httpx.AsyncClient) -> None:
    q = (
        "SELECT Name, AccountNumber, Accord_Id__c, Parent.AccountNumber, BillingCity "
        "FROM Account ORDER BY AccountNumber"
    )
    rows = (await sf.get(f"{V}/query", params={"q": q})).json()["records"]
    assert [r["AccountNumber"] for r in rows] == ["CUST-0001", "CUST-0002"]
    assert rows[1]["Parent"]["AccountNumber"] == "CUST-0001"
    assert rows[0]["Parent"] is None
    assert rows[1]["Accord_Id__c"] is None
    opp = (
        await sf.get(
            f"{V}/query",
            params={
                "q": "SELECT Billing_Model__c, Practice__c, Region__c, Owner.Email, "
                "Account.Name, IsWon FROM Opportunity"
            },
        )
    ).json()["records"][0]
    assert opp["Billing_Model__c"] == "Time and Materials"
    assert (opp["Practice__c"], opp["Region__c"]) == ("ADV", "NA-EAST")
    assert opp["Owner"]["Email"] == "sam.seller@accord.example"
    assert opp["IsWon"] is True
    resource = (
        await sf.get(
            f"{V}/query",
            params={"q": "SELECT Name, pse__Is_Resource__c, pse__Region__r.Code__c FROM Contact"},
        )
    ).json()["records"][0]
    assert resource["Name"] == "Ada Lovelace"
    assert resource["pse__Is_Resource__c"] is True
    assert resource["pse__Region__r"]["Code__c"] == "NA-EAST"
    ids = (await sf.get("/__sandbox/salesforce/firm_ids")).json()
    assert ids["OPP-0001"].startswith("006")
    assert ids["ADVISORY-TM"].startswith("01t")
    assert ids["ADV"].startswith(emu.schema.objects["pse__Practice__c"].prefix)


async def test_crud_round_trip(
    emu_clock: tuple[SalesforceEmulator, Clock], sf: httpx.AsyncClient
) -> None:
    clock = emu_clock[1]
    r = await sf.post(f"{V}/sobjects/Account", json={"Name": "Initech", "BillingCity": "Austin"})
    assert r.status_code == 201
    account_id = r.json()["id"]
    assert r.json() == {"id": account_id, "success": True, "errors": []}
    assert r.headers["Location"] == f"{V}/sobjects/Account/{account_id}"

    got = (await sf.get(f"{V}/sobjects/Account/{account_id[:15]}")).json()
    assert got["attributes"] == {"type": "Account", "url": f"{V}/sobjects/Account/{account_id}"}
    assert got["CreatedDate"] == "2026-06-15T12:00:00.000+0000"
    assert got["BillingAddress"]["city"] == "Austin"
    assert got["IsDeleted"] is False

    clock.advance(minutes=5)
    assert (
        await sf.patch(f"{V}/sobjects/Account/{account_id}", json={"Industry": "Technology"})
    ).status_code == 204
    some = (
        await sf.get(
            f"{V}/sobjects/Account/{account_id}", params={"fields": "Industry,LastModifiedDate"}
        )
    ).json()
    assert set(some) == {"attributes", "Industry", "LastModifiedDate"}
    assert some["LastModifiedDate"] == "2026-06-15T12:05:00.000+0000"

    assert (await sf.delete(f"{V}/sobjects/Account/{account_id}")).status_code == 204
    gone = await sf.get(f"{V}/sobjects/Account/{account_id}")
    assert gone.status_code == 404
    assert gone.json()[0]["errorCode"] == "ENTITY_IS_DELETED"

    malformed = await sf.get(f"{V}/sobjects/Account/001xyz")
    assert malformed.status_code == 400
    assert malformed.json()[0]["errorCode"] == "MALFORMED_ID"
    missing = await sf.get(f"{V}/sobjects/Account/{make_id('001', 9999)}")
    assert missing.status_code == 404
    assert missing.json() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND", "fields": []}
    ]
    assert (await sf.get(f"{V}/sobjects/Nope__c/describe")).status_code == 404


@pytest.mark.parametrize(
    ("obj", "body", "code", "fields"),
    [
        ("Opportunity", {"Name": "x"}, "REQUIRED_FIELD_MISSING", ["CloseDate", "StageName"]),
        ("Account", {"Name": "x", "Bogus__c": 1}, "INVALID_FIELD", []),
        (
            "Opportunity",
            {"Name": "x", "StageName": "Closed Won", "CloseDate": "2026-01-01", "IsWon": True},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ["IsWon"],
        ),
        (
            "Opportunity",
            {"Name": "x", "StageName": "Won-ish", "CloseDate": "2026-01-01"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            ["StageName"],
        ),
        (
            "Account",
            {"Name": "x", "Legal_Entity__c": "FR01"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            ["Legal_Entity__c"],
        ),
        ("Account", {"Name": "x", "ParentId": "001bad"}, "MALFORMED_ID", ["ParentId"]),
        (
            "Account",
            {"Name": "x", "ParentId": make_id("001", 9999)},
            "INVALID_CROSS_REFERENCE_KEY",
            ["ParentId"],
        ),
        (
            "Account",
            {"Name": "x", "ParentId": make_id("003", 1)},
            "FIELD_INTEGRITY_EXCEPTION",
            ["ParentId"],
        ),
        ("Account", {"Name": "x" * 256}, "STRING_TOO_LONG", ["Name"]),
        (
            "Opportunity",
            {"Name": "x", "StageName": "Closed Won", "CloseDate": "June"},
            "JSON_PARSER_ERROR",
            [],
        ),
    ],
)
async def test_write_validation(
    sf: httpx.AsyncClient, obj: str, body: dict[str, Any], code: str, fields: list[str]
) -> None:
    r = await sf.post(f"{V}/sobjects/{obj}", json=body)
    assert r.status_code == 400
    [error] = r.json()
    assert error["errorCode"] == code
    assert error["fields"] == fields
    assert set(error) == {"message", "errorCode", "fields"}


async def test_unique_external_id_refuses_duplicates(sf: httpx.AsyncClient) -> None:
    base = {"StageName": "Prospecting", "CloseDate": "2026-09-30", "Accord_Id__c": "opp-1"}
    first = await _create(sf, "Opportunity", {**base, "Name": "A"})
    r = await sf.post(
        f"{V}/sobjects/Opportunity", json={**base, "Name": "B", "Accord_Id__c": "OPP-1"}
    )
    assert r.status_code == 400
    assert r.json()[0]["errorCode"] == "DUPLICATE_VALUE"
    assert first in r.json()[0]["message"]


async def test_describe(sf: httpx.AsyncClient) -> None:
    d = (await sf.get(f"{V}/sobjects/Opportunity/describe")).json()
    assert d["keyPrefix"] == "006"
    fields = {f["name"]: f for f in d["fields"]}
    picks = {name: [p["value"] for p in fields[name]["picklistValues"]] for name in fields}
    assert "Closed Won" in picks["StageName"]
    assert picks["Billing_Model__c"] == ["Time and Materials", "Fixed Fee", "Milestone", "Retainer"]
    assert picks["Legal_Entity__c"] == ["US01", "UK01", "DE01"]
    assert picks["Service_Package__c"] == [
        "ADVISORY-TM",
        "IMPL-FIXED",
        "ROLLOUT-MILESTONE",
        "MANAGED-RETAINER",
    ]
    assert picks["Practice__c"] == ["ADV"]
    assert picks["Region__c"] == ["NA-EAST"]
    accord = fields["Accord_Id__c"]
    assert (accord["externalId"], accord["unique"], accord["custom"], accord["idLookup"]) == (
        True,
        True,
        True,
        True,
    )
    for name in (
        "Service_Package__c",
        "Start_Date__c",
        "PSA_Project_Id__c",
        "ERP_Project_Id__c",
        "Integration_Status__c",
    ):
        assert fields[name]["custom"] is True
    assert fields["StageName"]["nillable"] is False
    assert fields["IsWon"]["createable"] is False
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert fields["AccountId"]["relationshipName"] == "Account"

    account = {
        f["name"]: f for f in (await sf.get(f"{V}/sobjects/Account/describe")).json()["fields"]
    }
    for name in (
        "Accord_Id__c",
        "Legal_Entity__c",
        "Tax_Region__c",
        "AR_Status__c",
        "AR_Balance__c",
        "Last_Payment_Date__c",
        "ParentId",
    ):
        assert name in account
    assert account["Accord_Id__c"]["externalId"] is True
    timecard = {
        f["name"]: f
        for f in (await sf.get(f"{V}/sobjects/pse__Timecard_Header__c/describe")).json()["fields"]
    }
    assert [p["value"] for p in timecard["pse__Status__c"]["picklistValues"]] == [
        "Saved",
        "Submitted",
        "Approved",
        "Rejected",
    ]
    assert "pse__Approved__c" in timecard

    listing = (await sf.get(f"{V}/sobjects")).json()
    prefixes = {o["name"]: o["keyPrefix"] for o in listing["sobjects"]}
    assert prefixes["Account"] == "001"
    assert prefixes["Contract"] == "800"
    assert prefixes["OpportunityLineItem"] == "00k"
    assert {
        "pse__Proj__c",
        "pse__Assignment__c",
        "pse__Milestone__c",
        "pse__Expense__c",
        "pse__Billing_Event__c",
    } <= set(prefixes)
    assert listing["maxBatchSize"] == 200


# --------------------------------------------------------------------------- upsert
async def test_upsert_created_updated_and_versions(sf: httpx.AsyncClient) -> None:
    url = f"{V}/sobjects/Account/Accord_Id__c/ACC-9"
    created = await sf.patch(url, json={"Name": "Hooli"})
    assert created.status_code == 201
    account_id = created.json()["id"]
    assert created.json() == {"id": account_id, "success": True, "errors": [], "created": True}
    updated = await sf.patch(url, json={"Name": "Hooli XYZ"})
    assert updated.status_code == 200
    assert updated.json() == {"id": account_id, "success": True, "errors": [], "created": False}
    old = await sf.patch(
        "/services/data/v45.0/sobjects/Account/Accord_Id__c/acc-9", json={"Name": "Hooli 45"}
    )
    assert old.status_code == 204
    assert old.content == b""
    got = (await sf.get(f"{V}/sobjects/Account/Accord_Id__c/ACC-9")).json()
    assert got["Name"] == "Hooli 45"
    assert got["Id"] == account_id

    assert (
        await sf.patch(f"{V}/sobjects/Account/Accord_Id__c/NEW?updateOnly=true", json={"Name": "n"})
    ).status_code == 404
    assert (await sf.get(f"{V}/sobjects/Account/Accord_Id__c/ABSENT")).status_code == 404
    not_ext = await sf.patch(f"{V}/sobjects/Account/Name/Hooli", json={"Industry": "Technology"})
    assert not_ext.status_code == 404
    assert "external ID field" in not_ext.json()[0]["message"]


async def test_upsert_with_several_matches_is_300(sf: httpx.AsyncClient) -> None:
    a = await _create(sf, "Account", {"Name": "Twin 1", "Accord_Id__c": "TWIN"})
    b = await _create(sf, "Account", {"Name": "Twin 2", "Accord_Id__c": "twin"})
    r = await sf.patch(f"{V}/sobjects/Account/Accord_Id__c/TWIN", json={"Name": "?"})
    assert r.status_code == 300
    assert r.json() == [f"{V}/sobjects/Account/{a}", f"{V}/sobjects/Account/{b}"]
    names = {(await sf.get(f"{V}/sobjects/Account/{i}")).json()["Name"] for i in (a, b)}
    assert names == {"Twin 1", "Twin 2"}  # nothing changed
    assert (await sf.get(f"{V}/sobjects/Account/Accord_Id__c/TWIN")).status_code == 300


async def test_parent_reference_by_external_id(sf: httpx.AsyncClient) -> None:
    await sf.patch(f"{V}/sobjects/Account/Accord_Id__c/P-1", json={"Name": "Parent"})
    opp = await sf.patch(
        f"{V}/sobjects/Opportunity/Accord_Id__c/O-1",
        json={
            "Name": "Child deal",
            "StageName": "Prospecting",
            "CloseDate": "2026-12-31",
            "Account": {"Accord_Id__c": "P-1"},
        },
    )
    assert opp.status_code == 201
    row = (
        await sf.get(
            f"{V}/query",
            params={"q": "SELECT Account.Name FROM Opportunity WHERE Accord_Id__c = 'O-1'"},
        )
    ).json()
    assert row["records"][0]["Account"]["Name"] == "Parent"


# --------------------------------------------------------------------------- composite
async def test_composite_with_references(sf: httpx.AsyncClient) -> None:
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {
                "method": "POST",
                "url": f"{V}/sobjects/Account",
                "referenceId": "refAccount",
                "body": {"Name": "Sample Account"},
            },
            {
                "method": "POST",
                "url": f"{V}/sobjects/Contact",
                "referenceId": "refContact",
                "body": {"LastName": "Sample Contact", "AccountId": "@{refAccount.id}"},
            },
            {
                "method": "GET",
                "url": f"{V}/sobjects/Contact/@{{refContact.id}}?fields=AccountId",
                "referenceId": "readBack",
            },
            {
                "method": "GET",
                "url": f"{V}/query?q=SELECT+Id+FROM+Account+WHERE+Name='Sample Account'",
                "referenceId": "q",
            },
            {
                "method": "PATCH",
                "url": f"{V}/sobjects/Account/@{{q.records[0].Id}}",
                "referenceId": "touch",
                "body": {"Industry": "Consulting"},
            },
        ],
    }
    r = await sf.post(f"{V}/composite", json=body)
    assert r.status_code == 200
    out = {item["referenceId"]: item for item in r.json()["compositeResponse"]}
    account_id = out["refAccount"]["body"]["id"]
    assert out["refAccount"]["httpStatusCode"] == 201
    assert out["refAccount"]["httpHeaders"] == {"Location": f"{V}/sobjects/Account/{account_id}"}
    assert out["readBack"]["body"]["AccountId"] == account_id
    assert out["touch"]["httpStatusCode"] == 204
    assert out["touch"]["body"] is None


async def test_composite_all_or_none_rolls_back(sf: httpx.AsyncClient) -> None:
    subs = [
        {
            "method": "POST",
            "url": f"{V}/sobjects/Account",
            "referenceId": "ok",
            "body": {"Name": "Rolled back", "Accord_Id__c": "RB-1"},
        },
        {
            "method": "POST",
            "url": f"{V}/sobjects/Opportunity",
            "referenceId": "bad",
            "body": {"Name": "no stage", "AccountId": "@{ok.id}"},
        },
        {
            "method": "POST",
            "url": f"{V}/sobjects/Account",
            "referenceId": "after",
            "body": {"Name": "Never"},
        },
    ]
    r = await sf.post(f"{V}/composite", json={"allOrNone": True, "compositeRequest": subs})
    out = [
        (i["referenceId"], i["httpStatusCode"], i["body"][0]["errorCode"])
        for i in r.json()["compositeResponse"]
    ]
    assert out == [
        ("ok", 400, "PROCESSING_HALTED"),
        ("bad", 400, "REQUIRED_FIELD_MISSING"),
        ("after", 400, "PROCESSING_HALTED"),
    ]
    count = (
        await sf.get(
            f"{V}/query",
            params={"q": "SELECT COUNT() FROM Account WHERE Name IN ('Rolled back', 'Never')"},
        )
    ).json()
    assert count["totalSize"] == 0
    assert (await sf.get(f"{V}/sobjects/Account/Accord_Id__c/RB-1")).status_code == 404

    partial = await sf.post(f"{V}/composite", json={"allOrNone": False, "compositeRequest": subs})
    codes = [i["httpStatusCode"] for i in partial.json()["compositeResponse"]]
    assert codes == [201, 400, 201]

    too_many = [{"method": "GET", "url": f"{V}/limits", "referenceId": f"r{i}"} for i in range(26)]
    assert (await sf.post(f"{V}/composite", json={"compositeRequest": too_many})).status_code == 400


async def test_composite_limits_and_how_batches_count(sf: httpx.AsyncClient) -> None:
    """At most five collections or query subrequests; a composite or a collection is one call."""

    def query(n: int) -> dict[str, Any]:
        return {
            "method": "GET",
            "url": f"{V}/query?q=SELECT+Id+FROM+Account",
            "referenceId": f"q{n}",
        }

    collection = {
        "method": "POST",
        "url": f"{V}/composite/sobjects",
        "referenceId": "c",
        "body": {"records": [{"attributes": {"type": "Account"}, "Name": "In a composite"}]},
    }
    five = [query(n) for n in range(4)] + [collection]
    six = [*five, query(9)]
    plain = [{"method": "GET", "url": f"{V}/limits", "referenceId": f"l{i}"} for i in range(19)]
    before = await sf.get(f"{V}/limits")
    used = int(before.headers["Sforce-Limit-Info"].split("=")[1].split("/")[0])

    ok = await sf.post(f"{V}/composite", json={"compositeRequest": five + plain})
    assert ok.status_code == 200
    assert [i["httpStatusCode"] for i in ok.json()["compositeResponse"]] == [200] * 4 + [200] * 20
    refused = await sf.post(f"{V}/composite", json={"compositeRequest": six})
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "LIMIT_EXCEEDED"
    records = [{"attributes": {"type": "Account"}, "Name": f"Counted {i}"} for i in range(200)]
    created = await sf.post(f"{V}/composite/sobjects", json={"records": records})
    assert all(r["success"] for r in created.json())
    # 24 subrequests and 200 records: one call each against the daily allowance (plus the
    # refused composite, which Salesforce counts too [inferred]).
    assert created.headers["Sforce-Limit-Info"].startswith(f"api-usage={used + 3}/")

    ids = ",".join(r["id"] for r in created.json()) + "," + make_id("001", 9999)
    deleted = await sf.delete(f"{V}/composite/sobjects", params={"ids": ids})
    assert deleted.status_code == 400, "201 ids: more than sObject Collections takes"
    assert deleted.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


# --------------------------------------------------------------------------- collections
async def test_collections_create_update_upsert_delete(sf: httpx.AsyncClient) -> None:
    records = [
        {"attributes": {"type": "Account"}, "Name": "C1"},
        {"attributes": {"type": "Contact"}, "LastName": "Mixed types are fine"},
        {"attributes": {"type": "Account"}},
    ]
    r = await sf.post(f"{V}/composite/sobjects", json={"allOrNone": False, "records": records})
    assert r.status_code == 200
    first, second, third = r.json()
    assert first["success"]
    assert second["success"]
    assert first["errors"] == []
    assert third == {
        "success": False,
        "errors": [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [Name]",
                "fields": ["Name"],
            }
        ],
    }

    r = await sf.post(f"{V}/composite/sobjects", json={"allOrNone": True, "records": records})
    rolled, _, failed = r.json()
    assert rolled["id"] is None
    assert rolled["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert failed["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert (
        await sf.get(f"{V}/query", params={"q": "SELECT COUNT() FROM Account WHERE Name = 'C1'"})
    ).json()["totalSize"] == 1

    patch = [{"attributes": {"type": "Account"}, "id": first["id"], "Industry": "Technology"}]
    assert (await sf.patch(f"{V}/composite/sobjects", json={"records": patch})).json()[0][
        "success"
    ] is True

    upserts = [
        {"attributes": {"type": "Account"}, "Accord_Id__c": "U-1", "Name": "Upserted"},
        {"attributes": {"type": "Account"}, "Accord_Id__c": "U-1", "Name": "Upserted again"},
    ]
    results = (
        await sf.patch(f"{V}/composite/sobjects/Account/Accord_Id__c", json={"records": upserts})
    ).json()
    assert [x["created"] for x in results] == [True, False]

    ids = f"{first['id']},{second['id']},{make_id('001', 9999)}"
    deleted = (
        await sf.delete(f"{V}/composite/sobjects", params={"ids": ids, "allOrNone": "false"})
    ).json()
    assert [d["success"] for d in deleted] == [True, True, False]
    assert deleted[2]["errors"][0]["statusCode"] == "NOT_FOUND"

    fetched = (
        await sf.get(
            f"{V}/composite/sobjects/Account", params={"ids": results[0]["id"], "fields": "Name"}
        )
    ).json()
    assert fetched[0]["Name"] == "Upserted again"

    too_many = [{"attributes": {"type": "Account"}, "Name": str(i)} for i in range(201)]
    assert (await sf.post(f"{V}/composite/sobjects", json={"records": too_many})).status_code == 400
    # Mixed types run as chunks of one type each, at most ten a request.
    kinds = ("Account", "Contact") * 6
    chunky = [{"attributes": {"type": t}, "Name": "x", "LastName": "x"} for t in kinds[:11]]
    refused = await sf.post(f"{V}/composite/sobjects", json={"records": chunky})
    assert refused.status_code == 400
    assert "more than 10 chunks" in refused.json()[0]["message"]


# --------------------------------------------------------------------------- certinia behaviour
async def test_certinia_timecard_approval_and_rules(sf: httpx.AsyncClient) -> None:
    ids = (await sf.get("/__sandbox/salesforce/firm_ids")).json()
    project = await _create(
        sf,
        "pse__Proj__c",
        {
            "Name": "Globex advisory",
            "pse__Account__c": ids["CUST-0002"],
            "pse__Stage__c": "In Progress",
            "Accord_Id__c": "PRJ-1",
        },
    )
    schedule = await _create(
        sf,
        "pse__Schedule__c",
        {"pse__Start_Date__c": "2026-07-06", "pse__End_Date__c": "2026-09-25"},
    )
    assignment = await _create(
        sf,
        "pse__Assignment__c",
        {
            "pse__Project__c": project,
            "pse__Resource__c": ids["CONS-0001"],
            "pse__Schedule__c": schedule,
            "pse__Bill_Rate__c": 200,
        },
    )
    card = await _create(
        sf,
        "pse__Timecard_Header__c",
        {
            "pse__Project__c": project,
            "pse__Resource__c": ids["CONS-0001"],
            "pse__Assignment__c": assignment,
            "pse__Start_Date__c": "2026-07-06",
            "pse__Monday_Hours__c": 8,
            "pse__Tuesday_Hours__c": 7.5,
        },
    )
    saved = (await sf.get(f"{V}/sobjects/pse__Timecard_Header__c/{card}")).json()
    assert (saved["pse__Status__c"], saved["pse__Approved__c"], saved["pse__Total_Hours__c"]) == (
        "Saved",
        False,
        15.5,
    )
    assert saved["pse__End_Date__c"] == "2026-07-12"
    assert saved["Name"] == "TC-0000001"
    await sf.patch(
        f"{V}/sobjects/pse__Timecard_Header__c/{card}", json={"pse__Status__c": "Approved"}
    )
    rows = (
        await sf.get(
            f"{V}/query",
            params={
                "q": "SELECT Id FROM pse__Timecard_Header__c WHERE pse__Approved__c = true "
                "AND pse__Project__r.Accord_Id__c = 'PRJ-1'"
            },
        )
    ).json()
    assert [r["Id"] for r in rows["records"]] == [card]

    # The hold switch of the compensation path, then time entry on a closed project.
    await sf.patch(
        f"{V}/sobjects/pse__Proj__c/Accord_Id__c/PRJ-1",
        json={"pse__Stage__c": "On Hold", "pse__Closed_for_Time_Entry__c": True},
    )
    refused = await sf.post(
        f"{V}/sobjects/pse__Timecard_Header__c",
        json={
            "pse__Project__c": project,
            "pse__Resource__c": ids["CONS-0001"],
            "pse__Start_Date__c": "2026-07-13",
        },
    )
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    no_schedule = await sf.post(
        f"{V}/sobjects/pse__Assignment__c",
        json={"pse__Project__c": project, "pse__Resource__c": ids["CONS-0001"]},
    )
    assert no_schedule.json()[0]["fields"] == ["pse__Schedule__c"]

    event = await _create(
        sf,
        "pse__Billing_Event__c",
        {"pse__Project__c": project, "pse__Invoiced__c": True, "pse__Invoice_Number__c": "INV-1"},
    )
    blocked = await sf.delete(f"{V}/sobjects/pse__Billing_Event__c/{event}")
    assert blocked.status_code == 400
    assert (
        blocked.json()[0]["message"]
        == "You cannot delete this Billing Event as it has already been invoiced."
    )


async def test_contract_and_line_items(sf: httpx.AsyncClient) -> None:
    ids = (await sf.get("/__sandbox/salesforce/firm_ids")).json()
    contract = await _create(
        sf,
        "Contract",
        {"AccountId": ids["CUST-0001"], "StartDate": "2026-01-31", "ContractTerm": 1},
    )
    got = (await sf.get(f"{V}/sobjects/Contract/{contract}")).json()
    assert (got["EndDate"], got["Status"], got["ContractNumber"]) == (
        "2026-02-27",
        "Draft",
        "00000001",
    )
    line = await _create(
        sf,
        "OpportunityLineItem",
        {
            "OpportunityId": ids["OPP-0001"],
            "Product2Id": ids["ADVISORY-TM"],
            "Quantity": 3,
            "UnitPrice": 1000,
        },
    )
    item = (await sf.get(f"{V}/sobjects/OpportunityLineItem/{line}")).json()
    assert (item["TotalPrice"], item["ProductCode"]) == (3000.0, "ADVISORY-TM")
    opp = (
        await sf.get(
            f"{V}/sobjects/Opportunity/{ids['OPP-0001']}",
            params={"fields": "HasOpportunityLineItem"},
        )
    ).json()
    assert opp["HasOpportunityLineItem"] is True


# --------------------------------------------------------------------------- limits and faults
async def test_limit_info_on_every_answer_and_daily_limit() -> None:
    emu, _ = make_emulator(daily_limit=3)
    async with client_for(emu) as client:
        client.headers["Authorization"] = f"Bearer {await token(client)}"
        answers = [await client.get(f"{V}/limits") for _ in range(3)]
        seen = [r.headers["Sforce-Limit-Info"] for r in answers]
        assert seen == ["api-usage=1/3", "api-usage=2/3", "api-usage=3/3"]
        assert answers[-1].json() == {"DailyApiRequests": {"Max": 3, "Remaining": 0}}
        over = await client.get(f"{V}/sobjects")
        assert over.status_code == 403
        assert over.json() == [
            {
                "message": "TotalRequests Limit exceeded.",
                "errorCode": "REQUEST_LIMIT_EXCEEDED",
                "fields": [],
            }
        ]
        assert over.headers["Sforce-Limit-Info"] == "api-usage=3/3"
        await client.post("/__sandbox/salesforce/api_usage", json={"used": 0, "limit": 10})
        assert (await client.get(f"{V}/sobjects")).headers["Sforce-Limit-Info"] == "api-usage=1/10"


async def test_fault_429_with_retry_after(emu: SalesforceEmulator, sf: httpx.AsyncClient) -> None:
    await sf.post("/__sandbox/faults", json={"path": "*/query*", "error_rate": 1.0, "status": 429})
    r = await sf.get(f"{V}/query", params={"q": "SELECT Id FROM Account"})
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "1"
    assert r.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert (await sf.get(f"{V}/sobjects")).status_code == 200  # other paths are untouched
    assert (await sf.get("/__sandbox/stats")).json()["throttled"] >= 1


async def test_fault_outage_and_latency(sf: httpx.AsyncClient) -> None:
    await sf.post("/__sandbox/faults", json={"method": "POST", "outage_seconds": 60})
    down = await sf.post(f"{V}/sobjects/Account", json={"Name": "x"})
    assert down.status_code == 503
    assert down.json() == [
        {"message": "Service unavailable", "errorCode": "SERVICE_UNAVAILABLE", "fields": []}
    ]
    await sf.delete("/__sandbox/faults")
    await sf.post("/__sandbox/faults", json={"method": "GET", "latency_ms": 150})
    start = time.monotonic()
    assert (await sf.get(f"{V}/sobjects")).status_code == 200
    assert time.monotonic() - start >= 0.15


async def test_unable_to_lock_row_knob(sf: httpx.AsyncClient) -> None:
    assert (await sf.post("/__sandbox/salesforce/lock_rows", json={"count": 2})).json() == {
        "pending": 2
    }
    locked = await sf.post(f"{V}/sobjects/Account", json={"Name": "L"})
    assert locked.status_code == 400
    assert locked.json()[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    batch = [
        {"attributes": {"type": "Account"}, "Name": "L1"},
        {"attributes": {"type": "Account"}, "Name": "L2"},
    ]
    results = (await sf.post(f"{V}/composite/sobjects", json={"records": batch})).json()
    assert results[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert results[1]["success"] is True
    assert (await sf.post(f"{V}/sobjects/Account", json={"Name": "L"})).status_code == 201


async def test_duplicates_counted_in_stats(emu: SalesforceEmulator, sf: httpx.AsyncClient) -> None:
    for _ in range(2):
        await sf.patch(f"{V}/sobjects/Account/Accord_Id__c/IDEMPOTENT", json={"Name": "Once"})
    stats = (await sf.get("/__sandbox/stats")).json()
    assert stats["duplicates"] == 0
    for _ in range(2):
        await _create(sf, "Account", {"Name": "Twice", "Accord_Id__c": "NOT-IDEMPOTENT"})
    stats = (await sf.get("/__sandbox/stats")).json()
    assert stats["duplicates"] == 1
    assert stats["duplicates_by_endpoint"] == {
        "POST /services/data/{version}/sobjects/{sobject}": 1
    }
    assert stats["writes"] == 4
    assert emu.natural_key_count() == 1
    # A project for the same account and name under another external id is one too.
    account = await _create(sf, "Account", {"Name": "Initech"})
    for ext in ("PRJ-A", "PRJ-B"):
        project = {"Name": "Rollout", "pse__Account__c": account, "Accord_Id__c": ext}
        await _create(sf, "pse__Proj__c", project)
    stats = (await sf.get("/__sandbox/stats")).json()
    assert stats["duplicates_by_identity"] == {"biz": 1, "eid": 1}


async def test_reset_and_state_round_trip(emu: SalesforceEmulator, sf: httpx.AsyncClient) -> None:
    before = (await sf.get("/__sandbox/salesforce/firm_ids")).json()
    await _create(sf, "Account", {"Name": "Temporary"})
    state = json.loads(json.dumps(emu.dump_state(), default=str))
    assert (await sf.post("/__sandbox/reset")).status_code == 204
    assert (await sf.get("/__sandbox/salesforce/firm_ids")).json() == before
    count = (await sf.get(f"{V}/query", params={"q": "SELECT COUNT() FROM Account"})).json()[
        "totalSize"
    ]
    assert count == 2  # the firm's accounts again; the session survived the reset

    restored = SalesforceEmulator()
    restored.load_state(state)
    async with client_for(restored) as client:
        client.headers["Authorization"] = sf.headers["Authorization"]
        r = await client.get(f"{V}/sobjects/Account/Accord_Id__c/none")
        assert r.status_code == 404
        names = await client.get(
            f"{V}/query", params={"q": "SELECT Name FROM Account WHERE Name = 'Temporary'"}
        )
        assert names.json()["totalSize"] == 1
        created = await client.post(f"{V}/sobjects/Account", json={"Name": "After restore"})
        assert created.json()["id"] not in {r["Id"] for r in restored.store.all("Account")[:-1]}
