"""Round trips against the Business Central emulator over HTTP (httpx on the ASGI app).

Webhook tests run a real receiver under uvicorn in a thread, because the emulator calls it
over the network for the validation handshake and for notifications.
"""

import base64
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt as pyjwt
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse

from accord_sandbox.business_central import CLOSED_PERIOD_MESSAGE, BusinessCentralEmulator
from accord_sandbox.business_central.auth import BC_RESOURCE
from accord_sandbox.credentials import private_key_pem, self_signed_certificate
from accord_sandbox.firm import (
    AccountingPeriodSpec,
    ConsultantSpec,
    Firm,
    LegalEntitySpec,
    PracticeSpec,
    RegionSpec,
)

US = "1f0c6a8e-0000-4000-8000-000000000001"
DE = "1f0c6a8e-0000-4000-8000-000000000002"
ROOT = "/v2.0/sandbox-tenant/production/api/v2.0"
SCOPE = "https://api.businesscentral.dynamics.com/.default"


def co(company: str) -> str:
    return f"{ROOT}/companies({company})"


def tiny_firm() -> Firm:
    def entity(code: str, cid: str, currency: str, country: str) -> LegalEntitySpec:
        return LegalEntitySpec(
            code=code,
            name=f"Firm {code}",
            currency=currency,
            country=country,
            erp="business_central",
            netsuite_subsidiary_id="1",
            bc_company_id=cid,
        )

    return Firm(
        scenario="small",
        seed=7,
        legal_entities=(entity("US01", US, "USD", "US"), entity("DE01", DE, "EUR", "DE")),
        practices=(
            PracticeSpec(
                code="DATA", name="Data", netsuite_department_id="3", bc_department_code="DATA"
            ),
        ),
        regions=(
            RegionSpec(
                code="EMEA",
                name="Europe",
                tax_region="EU",
                netsuite_class_id="2",
                bc_area_code="EMEA",
            ),
        ),
        service_packages=(),
        consultants=(
            ConsultantSpec(
                id="CONS-0001",
                first_name="Ada",
                last_name="Lovelace",
                email="ada@firm.example",
                role="Architect",
                practice="DATA",
                region="EMEA",
                legal_entity="DE01",
                cost_rate=Decimal("90.00"),
                bill_rate=Decimal("180.00"),
                currency="EUR",
            ),
        ),
        customers=(),
        opportunities=(),
        accounting_periods=(
            AccountingPeriodSpec(legal_entity="DE01", period="2025-01", status="closed"),
            AccountingPeriodSpec(legal_entity="DE01", period="2025-02", status="open"),
        ),
    )


class Clock:
    """A controllable UTC clock so lastModifiedDateTime filters are deterministic."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> BusinessCentralEmulator:
    emulator = BusinessCentralEmulator(base_url="http://bc.test", page_size=3, clock=clock)
    emulator.seed_firm(tiny_firm())
    return emulator


@pytest.fixture
async def anon(emu: BusinessCentralEmulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=emu.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bc.test") as c:
        yield c


async def get_token(c: httpx.AsyncClient, secret: str = "sandbox-secret") -> httpx.Response:
    return await c.post(
        "/sandbox-tenant/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "sandbox",
            "client_secret": secret,
            "scope": SCOPE,
        },
    )


@pytest.fixture
async def client(anon: httpx.AsyncClient) -> httpx.AsyncClient:
    r = await get_token(anon)
    assert r.status_code == 200
    anon.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return anon


async def create(c: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await c.post(path, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def new_customer(c: httpx.AsyncClient, company: str = DE, **extra: Any) -> dict[str, Any]:
    return await create(c, f"{co(company)}/customers", {"displayName": "Contoso", **extra})


# --------------------------------------------------------------------------- auth
async def test_token_good_and_bad(anon: httpx.AsyncClient) -> None:
    good = await get_token(anon)
    assert good.status_code == 200
    body = good.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599
    assert body["access_token"]

    bad = await get_token(anon, secret="wrong")
    assert bad.status_code == 401
    err = bad.json()
    assert err["error"] == "invalid_client"
    assert err["error_codes"] == [7000215]
    assert err["error_description"].startswith("AADSTS7000215:")

    unknown = await anon.post(
        "/sandbox-tenant/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": "nobody", "scope": SCOPE},
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "unauthorized_client"

    scope = await anon.post(
        "/sandbox-tenant/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "sandbox",
            "client_secret": "sandbox-secret",
            "scope": "https://api.businesscentral.dynamics.com/API.ReadWrite.All",
        },
    )
    assert scope.status_code == 400
    assert scope.json()["error"] == "invalid_scope"


async def test_api_refuses_missing_or_forged_token(anon: httpx.AsyncClient) -> None:
    r = await anon.get(f"{ROOT}/companies")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "Authentication_InvalidCredentials"
    r = await anon.get(f"{ROOT}/companies", headers={"Authorization": "Bearer sandbox.e30.xx"})
    assert r.status_code == 401


async def test_api_checks_the_tokens_audience_and_roles(
    anon: httpx.AsyncClient, emu: BusinessCentralEmulator
) -> None:
    graph = await anon.post(
        "/sandbox-tenant/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "sandbox",
            "client_secret": "sandbox-secret",
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    assert graph.status_code == 200  # Entra issues it: the audience is Microsoft Graph
    bearer = {"Authorization": f"Bearer {graph.json()['access_token']}"}
    r = await anon.get(f"{ROOT}/companies", headers=bearer)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "Authentication_InvalidCredentials"
    # Without admin consent to API.ReadWrite.All the token carries no roles.
    emu.entra.app.roles[BC_RESOURCE] = ()
    bearer = {"Authorization": f"Bearer {(await get_token(anon)).json()['access_token']}"}
    r = await anon.get(f"{ROOT}/companies", headers=bearer)
    assert r.status_code == 401
    assert "could not be authenticated or authorized" in r.json()["error"]["message"]
    emu.entra.app.roles[BC_RESOURCE] = ("API.ReadWrite.All",)
    bearer = {"Authorization": f"Bearer {(await get_token(anon)).json()['access_token']}"}
    assert (await anon.get(f"{ROOT}/companies", headers=bearer)).status_code == 200


def entra_assertion(key: rsa.RSAPrivateKey, cert_pem: str, **over: Any) -> str:
    """A certificate credential as Microsoft documents it, signed with PyJWT directly."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    thumb = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA256())).decode().rstrip("=")
    now = int(time.time())
    claims = {
        "aud": "http://bc.test/sandbox-tenant/oauth2/v2.0/token",
        "iss": "sandbox",
        "sub": "sandbox",
        "jti": "j-1",
        "nbf": now,
        "iat": now,
        "exp": now + 600,
    } | over
    pem = private_key_pem(key)
    return pyjwt.encode(claims, pem, algorithm="PS256", headers={"x5t#S256": thumb})


async def test_certificate_credential(
    anon: httpx.AsyncClient, emu: BusinessCentralEmulator
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = self_signed_certificate(key, common_name="accord")

    async def token(assertion: str) -> httpx.Response:
        return await anon.post(
            "/sandbox-tenant/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "sandbox",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
                "scope": SCOPE,
            },
        )

    not_uploaded = await token(entra_assertion(key, cert))
    assert not_uploaded.status_code == 401
    assert not_uploaded.json()["error_codes"] == [700027]
    emu.entra.app.upload_certificate(cert)
    good = await token(entra_assertion(key, cert))
    assert good.status_code == 200, good.text
    bearer = {"Authorization": f"Bearer {good.json()['access_token']}"}
    assert (await anon.get(f"{ROOT}/companies", headers=bearer)).status_code == 200
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    refused = {
        "another key": (entra_assertion(other, cert), 700027),
        "audience": (entra_assertion(key, cert, aud="https://login.microsoftonline.com/x"), 700021),
        "subject": (entra_assertion(key, cert, sub="someone"), 700021),
        "expired": (entra_assertion(key, cert, nbf=now - 4000, exp=now - 3000), 700024),
    }
    for why, (assertion, code) in refused.items():
        r = await token(assertion)
        assert r.status_code == 401, why
        assert r.json()["error_codes"] == [code], why


# --------------------------------------------------------------------------- companies
async def test_companies_and_reference_data(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{ROOT}/companies")
    assert r.status_code == 200
    body = r.json()
    assert body["@odata.context"].endswith("/api/v2.0/$metadata#companies")
    assert {c["id"] for c in body["value"]} == {US, DE}
    assert all(c["@odata.etag"].startswith('W/"') for c in body["value"])

    one = (await client.get(f"{co(DE)}")).json()
    assert one["name"] == "Firm DE01"

    dims = (await client.get(f"{co(DE)}/dimensions?$expand=dimensionValues")).json()["value"]
    dept = next(d for d in dims if d["code"] == "DEPARTMENT")
    assert [v["code"] for v in dept["dimensionValues"]] == ["DATA"]
    values = (await client.get(f"{co(DE)}/dimensionValues?$filter=code eq 'EMEA'")).json()
    assert len(values["value"]) == 1

    periods = (await client.get(f"{co(DE)}/accountingPeriods")).json()["value"]
    assert {p["startingDate"]: p["closed"] for p in periods} == {
        "2025-01-01": True,
        "2025-02-01": False,
    }
    resources = (await client.get(f"{co(DE)}/resources")).json()["value"]
    assert resources[0]["number"] == "CONS-0001"
    assert resources[0]["unitPrice"] == 180
    employees = (await client.get(f"{co(DE)}/employees")).json()["value"]
    assert employees[0]["displayName"] == "Ada Lovelace"
    currencies = (await client.get(f"{co(DE)}/currencies")).json()["value"]
    assert [c["code"] for c in currencies] == ["USD"]


async def test_unknown_company_environment_and_missing_company(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{co('00000000-0000-0000-0000-000000000009')}/customers")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "BadRequest_NotFound"
    assert "CorrelationId" in r.json()["error"]["message"]
    r = await client.get("/v2.0/sandbox-tenant/nope/api/v2.0/companies")
    assert r.status_code == 404
    r = await client.get(f"{ROOT}/customers")
    assert r.json()["error"]["code"] == "Internal_CompanyNotFound"


# --------------------------------------------------------------------------- create / get
async def test_customer_create_get_and_duplicate_number(
    client: httpx.AsyncClient, emu: BusinessCentralEmulator
) -> None:
    r = await client.post(
        f"{co(DE)}/customers", json={"number": "CUST-1", "displayName": "Contoso", "city": "Köln"}
    )
    assert r.status_code == 201
    body = r.json()
    assert body["@odata.context"].endswith(f"$metadata#companies({DE})/customers/$entity")
    assert body["@odata.etag"].startswith('W/"JzE5O')
    assert body["currencyCode"] == "EUR"
    assert body["blocked"] == " "
    assert r.headers["Location"].endswith(f"/companies({DE})/customers({body['id']})")

    got = (await client.get(f"{co(DE)}/customers({body['id']})")).json()
    assert got["city"] == "Köln"
    assert got["@odata.etag"] == body["@odata.etag"]

    dup = await client.post(f"{co(DE)}/customers", json={"number": "CUST-1", "displayName": "X"})
    assert dup.status_code == 400
    assert dup.json()["error"]["code"] == "Internal_EntityWithSameKeyExists"
    # Same number in another company is a different record.
    assert (await client.post(f"{co(US)}/customers", json={"number": "CUST-1"})).status_code == 201

    auto = await new_customer(client)
    assert auto["number"] == "C00001"
    stats = (await client.get("/__sandbox/stats")).json()
    # The refused second CUST-1, and a second "Contoso" in DE01 under another number: the
    # same business fact (a customer's name in one company) whatever its number.
    assert stats["duplicates"] == 2
    assert stats["duplicates_by_identity"] == {"biz": 1, "number": 1}
    assert stats["writes"] == 3

    unknown = await client.post(f"{co(DE)}/customers", json={"colour": "red"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "BadRequest"
    wrong_type = await client.post(f"{co(DE)}/customers", json={"taxLiable": "yes"})
    assert wrong_type.status_code == 400


async def test_project_extension_fields_and_dimension_check(client: httpx.AsyncClient) -> None:
    customer = await new_customer(client, number="CUST-9")
    project = await create(
        client,
        f"{co(DE)}/projects",
        {
            "number": "PRJ-1",
            "displayName": "Data platform",
            "customerNumber": "CUST-9",
            "startDate": "2025-02-01",
            "endDate": "2025-06-30",
            "departmentCode": "DATA",
            "areaCode": "EMEA",
            "billingModel": "Fixed Fee",
        },
    )
    assert project["customerId"] == customer["id"]
    assert project["currencyCode"] == "EUR"
    assert project["status"] == "Open"
    found = (await client.get(f"{co(DE)}/projects?$filter=number eq 'PRJ-1'")).json()["value"]
    assert [p["id"] for p in found] == [project["id"]]

    bad = await client.post(
        f"{co(DE)}/projects", json={"number": "PRJ-2", "departmentCode": "NOPE"}
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "Application_FieldValidationException"
    bad = await client.post(f"{co(DE)}/projects", json={"billingModel": "Barter"})
    assert bad.status_code == 400


# --------------------------------------------------------------------------- query options
async def test_filters_on_strings_numbers_dates_and_last_modified(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    first = await new_customer(client, displayName="Alpha")
    clock.tick(60)
    second = await new_customer(client, displayName="Beta", city="Berlin")
    clock.tick(60)
    await new_customer(client, displayName="Gamma", city="Berlin", blocked="All")

    def names(r: httpx.Response) -> list[str]:
        assert r.status_code == 200, r.text
        return [c["displayName"] for c in r.json()["value"]]

    base = f"{co(DE)}/customers"
    stamp = first["lastModifiedDateTime"]
    assert stamp == "2025-03-01T09:00:00.000Z"
    assert names(
        await client.get(base, params={"$filter": f"lastModifiedDateTime gt {stamp}"})
    ) == [
        "Beta",
        "Gamma",
    ]
    later = second["lastModifiedDateTime"]
    flt = f"lastModifiedDateTime ge {later} and city eq 'Berlin' and blocked ne 'All'"
    assert names(await client.get(base, params={"$filter": flt})) == ["Beta"]
    flt = "displayName eq 'Alpha' or (city eq 'Berlin' and not (blocked eq 'All'))"
    assert names(await client.get(base, params={"$filter": flt})) == ["Alpha", "Beta"]
    assert names(await client.get(base, params={"$filter": "startswith(displayName,'G')"})) == [
        "Gamma"
    ]
    assert names(await client.get(base, params={"$filter": "balanceDue eq 0"})) == [
        "Alpha",
        "Beta",
        "Gamma",
    ]
    bad = await client.get(base, params={"$filter": "shoeSize eq 3"})
    assert bad.status_code == 400
    assert "shoeSize" in bad.json()["error"]["message"]
    bad = await client.get(base, params={"$filter": "city eq 3"})
    assert bad.status_code == 400


async def test_top_skip_select_orderby_and_paging_to_the_end(client: httpx.AsyncClient) -> None:
    for n in range(7):
        await new_customer(client, displayName=f"Customer {n}")
    seen: list[str] = []
    url: str | None = f"{co(DE)}/customers"
    pages = 0
    while url:
        body = (await client.get(url)).json()
        seen += [c["displayName"] for c in body["value"]]
        url = body.get("@odata.nextLink")
        if url:
            assert "$skiptoken=" in url
            assert urlsplit(url).netloc == "bc.test"
        pages += 1
    assert pages == 3
    assert seen == [f"Customer {n}" for n in range(7)]

    # $top spans pages too: 5 in pages of 3.
    first = (await client.get(f"{co(DE)}/customers?$top=5")).json()
    assert len(first["value"]) == 3
    rest = (await client.get(first["@odata.nextLink"])).json()
    assert len(rest["value"]) == 2
    assert "@odata.nextLink" not in rest

    page = (
        await client.get(
            f"{co(DE)}/customers",
            params={
                "$orderby": "displayName desc",
                "$skip": "1",
                "$top": "2",
                "$select": "number,displayName",
            },
        )
    ).json()
    assert [c["displayName"] for c in page["value"]] == ["Customer 5", "Customer 4"]
    assert set(page["value"][0]) == {"@odata.etag", "number", "displayName"}
    assert (await client.get(f"{co(DE)}/customers?$top=-1")).status_code == 400
    assert (await client.get(f"{co(DE)}/customers?$skiptoken=garbage")).status_code == 400


# --------------------------------------------------------------------------- etags
async def test_patch_and_delete_need_a_current_etag(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    customer = await new_customer(client, number="CUST-5")
    url = f"{co(DE)}/customers({customer['id']})"
    missing = await client.patch(url, json={"city": "Bonn"})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "BadRequest_InvalidToken"

    clock.tick(5)
    ok = await client.patch(
        url, json={"city": "Bonn"}, headers={"If-Match": customer["@odata.etag"]}
    )
    assert ok.status_code == 200
    updated = ok.json()
    assert updated["city"] == "Bonn"
    assert updated["@odata.etag"] != customer["@odata.etag"]
    assert updated["lastModifiedDateTime"] > customer["lastModifiedDateTime"]

    stale = await client.patch(
        url, json={"city": "Köln"}, headers={"If-Match": customer["@odata.etag"]}
    )
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "Request_EntityChanged"
    assert (await client.get(url)).json()["city"] == "Bonn"

    star = await client.patch(url, json={"phoneNumber": "+49 1"}, headers={"If-Match": "*"})
    assert star.status_code == 200

    assert (
        await client.delete(url, headers={"If-Match": updated["@odata.etag"]})
    ).status_code == 409
    gone = await client.delete(url, headers={"If-Match": star.json()["@odata.etag"]})
    assert gone.status_code == 204
    assert (await client.get(url)).status_code == 404


# --------------------------------------------------------------------------- invoices
async def ensure_customer(client: httpx.AsyncClient, number: str) -> None:
    """Verify before create, as Accord's connector does (BC has no upsert)."""
    found = await client.get(f"{co(DE)}/customers", params={"$filter": f"number eq '{number}'"})
    if not found.json()["value"]:
        await create(client, f"{co(DE)}/customers", {"number": number, "displayName": "Fabrikam"})


async def draft_invoice(
    client: httpx.AsyncClient, ext: str, posting_date: str = "2025-02-10"
) -> dict[str, Any]:
    await ensure_customer(client, "CUST-INV")
    return await create(
        client,
        f"{co(DE)}/salesInvoices",
        {
            "externalDocumentNumber": ext,
            "customerNumber": "CUST-INV",
            "invoiceDate": posting_date,
            "postingDate": posting_date,
            "salesInvoiceLines": [
                {
                    "lineType": "Resource",
                    "lineObjectNumber": "CONS-0001",
                    "quantity": 8,
                    "unitPrice": 180,
                },
            ],
        },
    )


async def test_sales_invoice_lines_expand_and_post(
    client: httpx.AsyncClient, emu: BusinessCentralEmulator
) -> None:
    invoice = await draft_invoice(client, "SF-100")
    assert invoice["status"] == "Draft"
    assert invoice["customerName"] == "Fabrikam"
    assert invoice["totalAmountExcludingTax"] == 1440
    assert invoice["dueDate"] == "2025-03-12"
    url = f"{co(DE)}/salesInvoices({invoice['id']})"

    line = await create(
        client,
        f"{url}/salesInvoiceLines",
        {
            "lineType": "Account",
            "lineObjectNumber": "6610",
            "description": "Travel",
            "quantity": 1,
            "unitPrice": 99.5,
        },
    )
    assert line["sequence"] == 20000
    assert line["amountExcludingTax"] == 99.5
    expanded = (await client.get(url, params={"$expand": "salesInvoiceLines,customer"})).json()
    assert [ln["sequence"] for ln in expanded["salesInvoiceLines"]] == [10000, 20000]
    assert expanded["customer"]["number"] == "CUST-INV"
    assert expanded["totalAmountIncludingTax"] == 1539.5
    assert expanded["@odata.etag"] != invoice["@odata.etag"]  # lines change the header

    found = (
        await client.get(
            f"{co(DE)}/salesInvoices", params={"$filter": "externalDocumentNumber eq 'SF-100'"}
        )
    ).json()["value"]
    assert [i["id"] for i in found] == [invoice["id"]]

    posted = await client.post(f"{url}/Microsoft.NAV.post")
    assert posted.status_code == 204
    after = (await client.get(url)).json()
    assert after["status"] == "Open"
    assert after["number"] == "PS-INV103001"
    assert after["remainingAmount"] == 1539.5

    again = await client.post(f"{url}/Microsoft.NAV.post")
    assert again.status_code == 400
    change = await client.patch(url, json={"postingDate": "2025-02-11"}, headers={"If-Match": "*"})
    assert change.status_code == 400


async def test_closed_period_refused_then_reopened(client: httpx.AsyncClient) -> None:
    invoice = await draft_invoice(client, "SF-200", posting_date="2025-01-20")
    url = f"{co(DE)}/salesInvoices({invoice['id']})/Microsoft.NAV.post"
    refused = await client.post(url)
    assert refused.status_code == 400
    err = refused.json()["error"]
    assert err["code"] == "Application_FieldValidationException"
    assert err["message"].startswith(CLOSED_PERIOD_MESSAGE)

    r = await client.post(
        "/__sandbox/periods", json={"entity": "DE01", "period": "2025-01", "status": "open"}
    )
    assert r.status_code == 200
    assert (await client.post(url)).status_code == 204
    periods = (await client.get(f"{co(DE)}/accountingPeriods?$filter=closed eq true")).json()
    assert periods["value"] == []


async def test_item_lines_name_a_real_item_and_cannot_post_without_one(
    client: httpx.AsyncClient,
) -> None:
    invoice = await draft_invoice(client, "SF-ITEM")
    url = f"{co(DE)}/salesInvoices({invoice['id']})"
    item = {"lineType": "Item", "quantity": 1, "unitPrice": 500}
    unknown = await client.post(
        f"{url}/salesInvoiceLines", json={**item, "lineObjectNumber": "NOPE"}
    )
    assert unknown.status_code == 400
    assert "cannot be found in the related table (item)" in unknown.json()["error"]["message"]
    known = await create(
        client, f"{url}/salesInvoiceLines", {**item, "lineObjectNumber": "SERVICES"}
    )
    items = (await client.get(f"{co(DE)}/items")).json()["value"]
    assert known["itemId"] == next(i["id"] for i in items if i["number"] == "SERVICES")
    # An Item line without its item is accepted as a draft, and refused when posted.
    await create(client, f"{url}/salesInvoiceLines", {**item, "description": "Milestone"})
    refused = await client.post(f"{url}/Microsoft.NAV.post")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "Application_TestFieldException"
    assert "No. must have a value in Sales Line" in refused.json()["error"]["message"]


async def test_duplicate_invoice_counted_in_stats(client: httpx.AsyncClient) -> None:
    await draft_invoice(client, "SF-300")
    await draft_invoice(client, "SF-300")  # a non-idempotent client: BC accepts it
    stats = (await client.get("/__sandbox/stats")).json()
    assert stats["duplicates"] == 1
    assert stats["duplicates_by_identity"] == {"ext": 1}
    assert stats["duplicates_by_endpoint"] == {
        "POST /v2.0/{tenant}/{environment}/api/v2.0/companies({company_id})/salesInvoices": 1
    }


# --------------------------------------------------------------------------- journals, payments
async def test_project_time_journal_post_and_closed_period(client: httpx.AsyncClient) -> None:
    await create(client, f"{co(DE)}/projects", {"number": "PRJ-T", "displayName": "T"})
    journals = (await client.get(f"{co(DE)}/journals?$filter=code eq 'PROJECTS'")).json()["value"]
    journal = journals[0]
    lines_url = f"{co(DE)}/journals({journal['id']})/journalLines"
    line = await create(
        client,
        lines_url,
        {
            "postingDate": "2025-02-03",
            "projectNumber": "PRJ-T",
            "resourceNumber": "CONS-0001",
            "quantity": 7.5,
            "unitPrice": 180,
            "description": "Design workshop",
        },
    )
    assert line["lineNumber"] == 10000
    assert line["amount"] == 1350
    assert line["journalDisplayName"] == "Project postings"
    bad = await client.post(lines_url, json={"projectNumber": "NOPE"})
    assert bad.status_code == 400

    closed = await create(client, lines_url, {"postingDate": "2025-01-31", "amount": 10})
    post = f"{co(DE)}/journals({journal['id']})/Microsoft.NAV.post"
    refused = await client.post(post)
    assert refused.status_code == 400
    assert refused.json()["error"]["message"].startswith(CLOSED_PERIOD_MESSAGE)
    await client.delete(f"{lines_url}({closed['id']})", headers={"If-Match": closed["@odata.etag"]})
    assert (await client.post(post)).status_code == 204
    assert (await client.get(lines_url)).json()["value"] == []
    posted = (await client.get("/__sandbox/records/postedJournalLines")).json()
    assert posted["count"] == 1


async def test_customer_payment_marks_invoice_paid(client: httpx.AsyncClient) -> None:
    invoice = await draft_invoice(client, "SF-400")
    inv_url = f"{co(DE)}/salesInvoices({invoice['id']})"
    assert (await client.post(f"{inv_url}/Microsoft.NAV.post")).status_code == 204
    journal = (await client.get(f"{co(DE)}/customerPaymentJournals")).json()["value"][0]
    pay_url = f"{co(DE)}/customerPaymentJournals({journal['id']})/customerPayments"
    payment = await create(
        client,
        pay_url,
        {
            "customerNumber": "CUST-INV",
            "postingDate": "2025-02-20",
            "amount": -1440,
            "appliesToInvoiceId": invoice["id"],
            "externalDocumentNumber": "PAY-1",
        },
    )
    assert payment["appliesToInvoiceNumber"] == "PS-INV103001"
    post = f"{co(DE)}/customerPaymentJournals({journal['id']})/Microsoft.NAV.post"
    assert (await client.post(post)).status_code == 204
    after = (await client.get(inv_url)).json()
    assert after["status"] == "Paid"
    assert after["remainingAmount"] == 0


async def test_time_registration_entries(client: httpx.AsyncClient) -> None:
    employee = (await client.get(f"{co(DE)}/employees")).json()["value"][0]
    entry = await create(
        client,
        f"{co(DE)}/timeRegistrationEntries",
        {"employeeId": employee["id"], "date": "2025-02-04", "quantity": 8},
    )
    assert entry["employeeNumber"] == "CONS-0001"
    assert entry["status"] == "Open"


# --------------------------------------------------------------------------- faults
async def test_injected_throttle_outage_and_latency(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/__sandbox/faults", json={"path": "*/customers", "error_rate": 1.0, "status": 429}
    )
    assert r.status_code == 201
    throttled = await client.get(f"{co(DE)}/customers")
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    await client.delete("/__sandbox/faults")

    await client.post("/__sandbox/faults", json={"path": "*/projects", "outage_seconds": 60})
    down = await client.get(f"{co(DE)}/projects")
    assert down.status_code == 503
    assert down.json()["error"]["code"] == "ServiceUnavailable"
    assert (await client.get(f"{co(DE)}/customers")).status_code == 200
    await client.delete("/__sandbox/faults")

    await client.post("/__sandbox/faults", json={"path": "*/companies", "latency_ms": 200})
    started = time.monotonic()
    assert (await client.get(f"{ROOT}/companies")).status_code == 200
    assert time.monotonic() - started >= 0.2
    stats = (await client.get("/__sandbox/stats")).json()
    assert stats["throttled"] == 1


async def test_reset_reseeds_and_state_round_trips(
    client: httpx.AsyncClient, emu: BusinessCentralEmulator
) -> None:
    await new_customer(client, number="CUST-S")
    state = emu.dump_state()
    assert (await client.post("/__sandbox/reset")).status_code == 204
    assert (await client.get(f"{co(DE)}/customers")).json()["value"] == []
    assert len((await client.get(f"{ROOT}/companies")).json()["value"]) == 2

    other = BusinessCentralEmulator(base_url="http://bc.test")
    other.load_state(state)
    transport = httpx.ASGITransport(app=other.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bc.test") as c2:
        token = (await get_token(c2)).json()["access_token"]
        c2.headers["Authorization"] = f"Bearer {token}"
        r = await c2.get(f"{co(DE)}/customers?$filter=number eq 'CUST-S'")
        assert len(r.json()["value"]) == 1
        again = await c2.post(f"{co(DE)}/customers", json={"number": "CUST-S"})
        assert again.json()["error"]["code"] == "Internal_EntityWithSameKeyExists"


# --------------------------------------------------------------------------- webhooks
class Receiver:
    """A webhook subscriber served by uvicorn in a thread."""

    def __init__(self, *, echo: bool = True) -> None:
        self.echo = echo
        self.handshakes = 0
        self.notifications: list[dict[str, Any]] = []
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            token = request.query_params.get("validationToken")
            if token is not None:
                self.handshakes += 1
                return PlainTextResponse(token if self.echo else "no")
            self.notifications.append(await request.json())
            return Response(status_code=200)

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})

    def __enter__(self) -> "Receiver":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "receiver did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


async def test_subscription_handshake_notification_renew_delete(
    client: httpx.AsyncClient, emu: BusinessCentralEmulator, receiver: Receiver, clock: Clock
) -> None:
    r = await client.post(
        f"{ROOT}/subscriptions",
        json={
            "notificationUrl": receiver.url,
            "resource": f"/api/v2.0/companies({DE})/customers",
            "clientState": "s3cret",
        },
    )
    assert r.status_code == 201, r.text
    sub = r.json()
    assert receiver.handshakes == 1
    assert sub["clientState"] == "s3cret"
    assert sub["expirationDateTime"] == "2025-03-04T09:00:00.000Z"

    customer = await new_customer(client, number="CUST-W")
    await new_customer(client, company=US)  # another company: no notification
    await emu.webhooks.drain()
    assert len(receiver.notifications) == 1
    note = receiver.notifications[0]["value"][0]
    assert note["subscriptionId"] == sub["subscriptionId"]
    assert note["clientState"] == "s3cret"
    assert note["changeType"] == "created"
    assert note["resource"] == f"api/v2.0/companies({DE})/customers({customer['id']})"
    assert set(note) == {
        "subscriptionId",
        "clientState",
        "expirationDateTime",
        "resource",
        "changeType",
        "lastModifiedDateTime",
    }

    sub_url = f"{ROOT}/subscriptions('{sub['subscriptionId']}')"
    assert (await client.patch(sub_url, json={})).status_code == 400  # If-Match required
    clock.tick(86400)
    renewed = await client.patch(sub_url, json={}, headers={"If-Match": sub["@odata.etag"]})
    assert renewed.status_code == 200
    assert renewed.json()["expirationDateTime"] == "2025-03-05T09:00:00.000Z"
    assert receiver.handshakes == 2

    # Expired subscriptions get nothing.
    clock.tick(4 * 86400)
    await new_customer(client)
    await emu.webhooks.drain()
    assert len(receiver.notifications) == 1

    gone = await client.delete(sub_url, headers={"If-Match": renewed.json()["@odata.etag"]})
    assert gone.status_code == 204
    assert (await client.get(f"{ROOT}/subscriptions")).json()["value"] == []


async def test_subscription_refused_when_token_not_echoed(client: httpx.AsyncClient) -> None:
    with Receiver(echo=False) as silent:
        r = await client.post(
            f"{ROOT}/subscriptions",
            json={"notificationUrl": silent.url, "resource": f"companies({DE})/salesInvoices"},
        )
        assert silent.handshakes == 1
    assert r.status_code == 400
    assert "validationToken" in r.json()["error"]["message"]
    assert (await client.get(f"{ROOT}/subscriptions")).json()["value"] == []


async def test_invoice_post_notifies_sales_invoice_subscribers(
    client: httpx.AsyncClient, emu: BusinessCentralEmulator, receiver: Receiver
) -> None:
    invoice = await draft_invoice(client, "SF-500")
    r = await client.post(
        f"{ROOT}/subscriptions",
        json={"notificationUrl": receiver.url, "resource": f"companies({DE})/salesInvoices"},
    )
    assert r.status_code == 201
    url = f"{co(DE)}/salesInvoices({invoice['id']})/Microsoft.NAV.post"
    assert (await client.post(url)).status_code == 204
    await emu.webhooks.drain()
    changes = [n["value"][0]["changeType"] for n in receiver.notifications]
    assert changes == ["updated"]
