"""Round trips against the NetSuite emulator over HTTP (ASGI in process, uvicorn when racing)."""

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import jwt as pyjwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import SecretStr

from accord.connectors.oauth1 import OAuth1Auth
from accord_sandbox.credentials import (
    M2M_CERTIFICATE_ID,
    TBA_TOKEN_ID,
    TBA_TOKEN_SECRET,
    m2m_private_key_pem,
    private_key_pem,
    self_signed_certificate,
)
from accord_sandbox.firm import (
    AccountingPeriodSpec,
    ConsultantSpec,
    Firm,
    LegalEntitySpec,
    PracticeSpec,
    RegionSpec,
)
from accord_sandbox.netsuite import NetSuiteEmulator

REC = "/services/rest/record/v1"
SQL = "/services/rest/query/v1/suiteql"
TOKEN = "/services/rest/auth/oauth2/v1/token"
LOGIN_DETAIL = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at "
    "Setup > Users/Roles > User Management > View Login Audit Trail."
)
CLOSED_DETAIL = (
    "Error while accessing a resource. The transaction date you specified is not within the "
    "date range of your accounting period."
)


def make_firm() -> Firm:
    def entity(code: str, sub: str, erp: str, currency: str) -> LegalEntitySpec:
        return LegalEntitySpec(
            code=code,
            name=f"Acme {code}",
            currency=currency,
            country=code[:2],
            erp=erp,  # type: ignore[arg-type]
            netsuite_subsidiary_id=sub,
            bc_company_id=f"bc-{code}",
        )

    return Firm(
        scenario="small",
        seed=1,
        legal_entities=(
            entity("US01", "2", "netsuite", "USD"),
            entity("UK01", "3", "netsuite", "GBP"),
            entity("DE01", "4", "business_central", "EUR"),
        ),
        practices=(
            PracticeSpec(
                code="DATA", name="Data", netsuite_department_id="7", bc_department_code="DATA"
            ),
        ),
        regions=(
            RegionSpec(
                code="NA",
                name="North America",
                tax_region="US",
                netsuite_class_id="5",
                bc_area_code="NA",
            ),
        ),
        service_packages=(),
        consultants=(
            ConsultantSpec(
                id="CON-001",
                first_name="Ada",
                last_name="Lovelace",
                email="ada@example.com",
                role="Architect",
                practice="DATA",
                region="NA",
                legal_entity="US01",
                cost_rate=Decimal(80),
                bill_rate=Decimal(200),
                currency="USD",
            ),
        ),
        customers=(),
        opportunities=(),
        accounting_periods=(
            AccountingPeriodSpec(legal_entity="US01", period="2025-01", status="closed"),
            AccountingPeriodSpec(legal_entity="US01", period="2025-02", status="open"),
            AccountingPeriodSpec(legal_entity="UK01", period="2025-01", status="open"),
        ),
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 9, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def emu() -> NetSuiteEmulator:
    e = NetSuiteEmulator()
    e.clock = FakeClock()
    e.seed_firm(make_firm())
    return e


ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def claims(emu: NetSuiteEmulator, **over: object) -> dict[str, object]:
    """The M2M assertion's claims as reference 4.1 lists them."""
    now = int(time.time())
    good = {
        "iss": "sandbox",
        "scope": ["rest_webservices"],
        "aud": f"{emu.base_url}{TOKEN}",
        "iat": now,
        "exp": now + 300,
    }
    return good | over


def assertion(
    emu: NetSuiteEmulator,
    *,
    key: str | None = None,
    alg: str = "ES256",
    kid: str = M2M_CERTIFICATE_ID,
    **over: object,
) -> str:
    """Signed with PyJWT directly (not the connector): the sandbox's published key by default."""
    return pyjwt.encode(
        claims(emu, **over), key or m2m_private_key_pem(), algorithm=alg, headers={"kid": kid}
    )


async def _token(c: httpx.AsyncClient, emu: NetSuiteEmulator) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion(emu),
    }
    r = await c.post(TOKEN, data=form)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture
async def client(emu: NetSuiteEmulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=emu.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        c.headers.update(await _token(c, emu))
        yield c


def employee_id(emu: NetSuiteEmulator) -> str:
    return emu.book.eids["employee"]["CON-001"]


async def make_customer(c: httpx.AsyncClient, eid: str = "CUST-1", sub: str = "2") -> str:
    r = await c.post(
        f"{REC}/customer",
        json={"companyName": f"Globex {eid}", "subsidiary": {"id": sub}, "externalId": eid},
    )
    assert r.status_code == 204, r.text
    return r.headers["Location"].rsplit("/", 1)[1]


async def make_job(c: httpx.AsyncClient, customer_id: str, eid: str = "PRJ-1") -> str:
    r = await c.put(
        f"{REC}/job/eid:{eid}",
        json={
            "companyName": "Data platform",
            "parent": {"id": customer_id},
            "department": {"id": "7"},
            "class": {"id": "5"},
            "jobBillingType": "TM",
            "startDate": "2025-01-01",
        },
    )
    assert r.status_code == 204, r.text
    return r.headers["Location"].rsplit("/", 1)[1]


def detail(r: httpx.Response) -> dict[str, str]:
    body = r.json()
    assert body["status"] == r.status_code
    assert body["type"].startswith("https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html")
    assert len(body["o:errorDetails"]) == 1
    entry: dict[str, str] = body["o:errorDetails"][0]
    return entry


# ----------------------------------------------------------------------------- auth
async def test_m2m_assertion_is_verified_as_documented(emu: NetSuiteEmulator) -> None:
    transport = httpx.ASGITransport(app=emu.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get(f"{REC}/customer")
        assert r.status_code == 401
        assert detail(r) == {"detail": LOGIN_DETAIL, "o:errorCode": "INVALID_LOGIN"}
        form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE}
        r = await c.post(TOKEN, data={**form, "client_assertion": assertion(emu)})
        assert r.status_code == 200
        body = r.json()
        assert body["expires_in"] == "3600"
        assert body["token_type"] == "Bearer"
        bearer = {"Authorization": f"Bearer {body['access_token']}"}
        assert (await c.get(f"{REC}/subsidiary", headers=bearer)).status_code == 200
        other_key = private_key_pem(ec.generate_private_key(ec.SECP256R1()))
        now = int(time.time())
        refused = {
            "unknown certificate id": assertion(emu, kid="not-uploaded"),
            "signed by another key": assertion(emu, key=other_key),
            "algorithm not NetSuite's": assertion(emu, alg="HS256", key="x" * 32),
            "another integration": assertion(emu, iss="someone-else"),
            "audience not this token URL": assertion(
                emu, aud=f"https://tstdrv.suitetalk.api.netsuite.com{TOKEN}"
            ),
            "more than 60 minutes": assertion(emu, exp=now + 3601),
            "expired": assertion(emu, iat=now - 600, exp=now - 1),
            "scope": assertion(emu, scope=["restlets"]),
            "not a JWT": "not-a-jwt",
        }
        for why, bad in refused.items():
            r = await c.post(TOKEN, data={**form, "client_assertion": bad})
            assert r.status_code == 401, why
            assert detail(r)["detail"] == LOGIN_DETAIL
        # A client id and secret are not an M2M credential (only TBA uses the secret).
        plain = {"grant_type": "client_credentials", "client_id": "sandbox"}
        r = await c.post(TOKEN, data={**plain, "client_secret": "sandbox-secret"})
        assert r.status_code == 401
        assert (
            await c.get(f"{REC}/subsidiary", headers={"Authorization": "Bearer no"})
        ).status_code == 401


async def test_uploaded_rsa_certificate_and_revocation(emu: NetSuiteEmulator) -> None:
    transport = httpx.ASGITransport(app=emu.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        small = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        r = await c.post(
            "/__sandbox/netsuite/m2m-certificates",
            json={"certificate": self_signed_certificate(small, common_name="small")},
        )
        assert r.status_code == 400
        assert "3072 or 4096" in r.json()["detail"]
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        r = await c.post(
            "/__sandbox/netsuite/m2m-certificates",
            json={"certificate": self_signed_certificate(key, common_name="firm")},
        )
        assert r.status_code == 201
        cid = r.json()["certificate_id"]
        form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE}
        pem = private_key_pem(key)
        signed = assertion(emu, key=pem, alg="PS256", kid=cid)
        assert (await c.post(TOKEN, data={**form, "client_assertion": signed})).status_code == 200
        # An ES algorithm does not fit an RSA certificate.
        wrong_alg = assertion(emu, key=m2m_private_key_pem(), alg="ES256", kid=cid)
        assert (
            await c.post(TOKEN, data={**form, "client_assertion": wrong_alg})
        ).status_code == 401
        emu.tokens.revoke_certificate(cid)
        signed = assertion(emu, key=pem, alg="PS256", kid=cid)
        assert (await c.post(TOKEN, data={**form, "client_assertion": signed})).status_code == 401


async def test_tba_signatures_are_verified(emu: NetSuiteEmulator) -> None:
    def tba(**over: Any) -> OAuth1Auth:
        settings: dict[str, Any] = {
            "realm": "TSTDRV0000001",
            "consumer_key": "sandbox",
            "consumer_secret": SecretStr("sandbox-secret"),
            "token_id": TBA_TOKEN_ID,
            "token_secret": SecretStr(TBA_TOKEN_SECRET),
        }
        return OAuth1Auth(**(settings | over))

    transport = httpx.ASGITransport(app=emu.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        # Query parameters are part of the signature (reference 4.1): spaces, quotes, colons.
        params = {"q": 'companyName CONTAIN "a b:c"', "limit": "5"}
        r = await c.get(f"{REC}/customer", params=params, auth=tba())
        assert r.status_code == 200, r.text
        r = await c.post(
            f"{REC}/customer",
            json={"companyName": "Signed", "subsidiary": {"id": "2"}},
            auth=tba(),
        )
        assert r.status_code == 204
        fixed = tba(nonce=lambda: "same-nonce")
        assert (await c.get(f"{REC}/customer", auth=fixed)).status_code == 200
        refused = {
            "replayed nonce": fixed,
            "wrong token secret": tba(token_secret=SecretStr("guess")),
            "wrong consumer secret": tba(consumer_secret=SecretStr("guess")),
            "wrong realm": tba(realm="1234567_SB1"),
            "unknown token": tba(token_id="nope"),
            "stale timestamp": tba(clock=lambda: datetime.now(UTC) - timedelta(minutes=10)),
        }
        for why, auth in refused.items():
            r = await c.get(f"{REC}/customer", auth=auth)
            assert r.status_code == 401, why
            assert detail(r)["detail"] == LOGIN_DETAIL


# ----------------------------------------------------------------------------- CRUD
async def test_create_answers_204_location_and_get_by_id_and_eid(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post(
        f"{REC}/customer",
        json={
            "companyName": "Globex",
            "subsidiary": {"id": "2"},
            "externalId": "SF-ACC-001",
            "creditHoldOverride": "OFF",
            "addressBook": {
                "items": [
                    {
                        "defaultBilling": True,
                        "label": "HQ",
                        "addressBookAddress": {"addr1": "1 Main St", "city": "Springfield"},
                    }
                ]
            },
        },
    )
    assert r.status_code == 204
    assert r.content == b""
    location = r.headers["Location"]
    assert location.startswith("http://127.0.0.1:8803/services/rest/record/v1/customer/")
    cid = location.rsplit("/", 1)[1]
    assert cid.isdigit()

    by_id = (await client.get(f"{REC}/customer/{cid}")).json()
    by_eid = (await client.get(f"{REC}/customer/eid:SF-ACC-001")).json()
    assert by_id == by_eid
    assert by_id["id"] == cid
    assert by_id["links"] == [{"rel": "self", "href": location}]
    assert by_id["subsidiary"] == {
        "id": "2",
        "refName": "Acme US01",
        "links": [
            {"rel": "self", "href": "http://127.0.0.1:8803/services/rest/record/v1/subsidiary/2"}
        ],
    }
    assert by_id["currency"]["refName"] == "USD"  # inherited from the subsidiary
    assert by_id["creditHoldOverride"] == {"id": "OFF", "refName": "Off"}
    assert by_id["lastModifiedDate"] == by_id["createdDate"] == "2025-03-01T09:00:00Z"
    assert "items" not in by_id["addressBook"]
    expanded = (await client.get(f"{REC}/customer/{cid}?expandSubResources=true")).json()
    assert expanded["addressBook"]["items"][0]["label"] == "HQ"
    sub = (await client.get(f"{REC}/customer/{cid}/addressBook")).json()
    assert sub["totalResults"] == 1


async def test_put_eid_upsert_twice_keeps_one_record(
    client: httpx.AsyncClient, emu: NetSuiteEmulator
) -> None:
    cid = await make_customer(client)
    first = await client.put(
        f"{REC}/job/eid:PRJ-9", json={"companyName": "Rollout", "parent": {"id": cid}}
    )
    emu.clock.now = datetime(2025, 3, 1, 10, 0, 0, tzinfo=UTC)  # type: ignore[attr-defined]
    second = await client.put(
        f"{REC}/job/eid:PRJ-9",
        json={"companyName": "Rollout phase 2", "parent": {"id": cid}, "jobBillingType": "FBM"},
    )
    assert first.status_code == second.status_code == 204
    assert first.headers["Location"] == second.headers["Location"]
    rows = (await client.get("/__sandbox/records/job")).json()
    assert rows["count"] == 1
    job = (await client.get(f"{REC}/job/eid:PRJ-9")).json()
    assert job["companyName"] == "Rollout phase 2"
    assert job["jobBillingType"] == {"id": "FBM", "refName": "Fixed Bid, Milestone"}
    assert job["subsidiary"]["id"] == "2"  # inherited from the customer
    assert job["lastModifiedDate"] == "2025-03-01T10:00:00Z"
    assert job["createdDate"] == "2025-03-01T09:00:00Z"
    stats = (await client.get("/__sandbox/stats")).json()
    assert stats["duplicates"] == 0
    assert stats["writes_by_endpoint"]["PUT /services/rest/record/v1/{record_type}/{key}"] == 2


async def test_put_needs_an_external_id(client: httpx.AsyncClient) -> None:
    cid = await make_customer(client)
    r = await client.put(f"{REC}/customer/{cid}", json={"companyName": "X"})
    assert r.status_code == 400
    assert detail(r)["o:errorCode"] == "INVALID_PARAMETER"
    r = await client.put(f"{REC}/customer/eid:bad|id", json={"companyName": "X"})
    assert r.status_code == 400


async def test_second_posting_under_another_external_id_is_a_duplicate(
    client: httpx.AsyncClient, emu: NetSuiteEmulator
) -> None:
    job = await make_job(client, await make_customer(client))
    fact = {
        "employee": {"id": employee_id(emu)},
        "customer": {"id": job},
        "tranDate": "2026-09-14",
        "hours": 7.5,
        "memo": "Workshop",
    }
    for eid in ("TE-1", "TE-1-again"):
        assert (await client.put(f"{REC}/timeBill/eid:{eid}", json=fact)).status_code == 204
    # Same employee, project and date with other hours or another memo is another fact.
    assert (
        await client.put(f"{REC}/timeBill/eid:TE-2", json={**fact, "hours": 7})
    ).status_code == 204
    other = {**fact, "memo": "Review"}
    assert (await client.put(f"{REC}/timeBill/eid:TE-3", json=other)).status_code == 204
    stats = (await client.get("/__sandbox/stats")).json()
    assert stats["duplicates"] == 1
    assert stats["duplicates_by_identity"] == {"biz": 1}


async def test_patch_partial_update_and_delete(client: httpx.AsyncClient) -> None:
    cid = await make_customer(client)
    r = await client.patch(f"{REC}/customer/eid:CUST-1", json={"email": "ap@globex.test"})
    assert r.status_code == 204
    assert r.content == b""
    body = (await client.get(f"{REC}/customer/{cid}")).json()
    assert body["email"] == "ap@globex.test"
    assert body["companyName"] == "Globex CUST-1"
    r = await client.delete(f"{REC}/customer/{cid}")
    assert r.status_code == 204
    for path in (f"{REC}/customer/{cid}", f"{REC}/customer/eid:CUST-1", f"{REC}/customer/99999"):
        r = await client.get(path)
        assert r.status_code == 404
        assert detail(r)["o:errorCode"] == "NONEXISTENT_ID"
    r = await client.patch(f"{REC}/customer/{cid}", json={"email": "x"})
    assert r.status_code == 404


async def test_read_only_lists_are_seeded(client: httpx.AsyncClient, emu: NetSuiteEmulator) -> None:
    subs = (await client.get(f"{REC}/subsidiary")).json()
    assert [i["id"] for i in subs["items"]] == ["2", "3"]  # DE01 lives on Business Central
    emp = (await client.get(f"{REC}/employee/eid:CON-001")).json()
    assert emp["department"]["refName"] == "Data"
    assert emp["class"]["id"] == "5"
    period = (await client.get(f"{REC}/accountingPeriod/eid:P-2025-01")).json()
    assert period["periodName"] == "Jan 2025"
    r = await client.post(f"{REC}/department", json={"name": "New"})
    assert r.status_code == 400
    assert detail(r)["o:errorCode"] == "USER_ERROR"


# ----------------------------------------------------------------------------- collections
async def test_collection_paging_and_q(client: httpx.AsyncClient) -> None:
    ids = [await make_customer(client, f"C-{n}") for n in range(5)]
    r = await client.get(f"{REC}/customer", params={"limit": 2, "offset": 0})
    page = r.json()
    assert page["count"] == 2
    assert page["hasMore"] is True
    assert page["offset"] == 0
    assert page["totalResults"] == 5
    assert [i["id"] for i in page["items"]] == ids[:2]
    assert page["items"][0]["links"][0]["rel"] == "self"
    seen = []
    url: str | None = f"{REC}/customer?limit=2"
    while url:
        page = (await client.get(url)).json()
        seen += [i["id"] for i in page["items"]]
        nxt = [link["href"] for link in page["links"] if link["rel"] == "next"]
        url = httpx.URL(nxt[0]).raw_path.decode() if nxt else None
        assert page["hasMore"] is bool(nxt)
    assert seen == ids
    rels = {link["rel"] for link in page["links"]}
    assert {"self", "last", "prev"} <= rels
    r = await client.get(f"{REC}/customer", params={"q": 'companyName START_WITH "Globex C-3"'})
    assert [i["id"] for i in r.json()["items"]] == [ids[3]]
    r = await client.get(f"{REC}/customer", params={"q": "externalId IS C-1 OR externalId IS C-4"})
    assert [i["id"] for i in r.json()["items"]] == [ids[1], ids[4]]
    r = await client.get(f"{REC}/customer", params={"limit": 1001})
    assert r.status_code == 400
    assert detail(r)["o:errorQueryParam"] == "limit"


async def test_suiteql_lastmodified_filter_and_paging(
    client: httpx.AsyncClient, emu: NetSuiteEmulator
) -> None:
    clock: FakeClock = emu.clock  # type: ignore[assignment]
    old = await make_customer(client, "OLD")
    clock.now = datetime(2025, 3, 2, 12, 0, 0, tzinfo=UTC)
    new = [await make_customer(client, f"NEW-{n}") for n in range(3)]
    query = (
        "SELECT id, companyname, externalid, lastmodifieddate FROM customer c "
        "WHERE c.lastmodifieddate > TO_TIMESTAMP('2025-03-01 09:00:00', 'YYYY-MM-DD HH24:MI:SS') "
        "AND (isinactive = 'F' OR isinactive IS NULL) ORDER BY lastmodifieddate, id"
    )
    headers = {"Prefer": "transient"}
    r = await client.post(f"{SQL}?limit=2&offset=0", json={"q": query}, headers=headers)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["totalResults"] == 3
    assert page["hasMore"] is True
    assert page["count"] == 2
    assert page["items"][0] == {
        "links": [],
        "id": new[0],
        "companyname": "Globex NEW-0",
        "externalid": "NEW-0",
        "lastmodifieddate": "2025-03-02 12:00:00",
    }
    nxt = next(link["href"] for link in page["links"] if link["rel"] == "next")
    assert "offset=2" in nxt
    assert "limit=2" in nxt
    r = await client.post(httpx.URL(nxt).raw_path.decode(), json={"q": query}, headers=headers)
    page2 = r.json()
    assert [i["id"] for i in page2["items"]] == [new[2]]
    assert page2["hasMore"] is False
    # A plain date string works too and includes the older record.
    r = await client.post(
        SQL,
        json={
            "q": "SELECT * FROM customer WHERE lastmodifieddate >= '2025-03-01' ORDER BY id DESC"
        },
        headers=headers,
    )
    assert [i["id"] for i in r.json()["items"]] == [*reversed(new), old]
    assert r.json()["items"][0]["subsidiary"] == "2"


async def test_suiteql_errors(client: httpx.AsyncClient) -> None:
    r = await client.post(SQL, json={"q": "SELECT id FROM customer"})
    assert r.status_code == 400
    assert detail(r)["o:errorHeader"] == "Prefer"
    r = await client.post(
        SQL, json={"q": "SELECT foo FROM customer"}, headers={"Prefer": "transient"}
    )
    assert r.status_code == 400
    assert r.json()["title"] == "Invalid search query."
    assert detail(r)["detail"] == "Search error occurred: Field 'foo' not found."
    r = await client.post(SQL, json={"q": "SELEC id FROM"}, headers={"Prefer": "transient"})
    assert r.status_code == 400


# ----------------------------------------------------------------------------- business errors
@pytest.mark.parametrize(
    ("field", "value"),
    [("subsidiary", {"id": "4"}), ("department", {"id": "99"}), ("class", {"id": "98"})],
)
async def test_invalid_dimension_is_refused(
    client: httpx.AsyncClient, field: str, value: dict[str, str]
) -> None:
    body: dict[str, object] = {"companyName": "P", "parent": {"id": await make_customer(client)}}
    body[field] = value
    r = await client.post(f"{REC}/job", json=body)
    assert r.status_code == 400
    assert detail(r) == {
        "detail": (
            "Error while accessing a resource. You have entered an Invalid Field Value "
            f"{value['id']} for the following field: {field}"
        ),
        "o:errorCode": "USER_ERROR",
        "o:errorPath": field,
    }


async def test_duplicate_external_id_on_post(client: httpx.AsyncClient) -> None:
    await make_customer(client, "DUP")
    r = await client.post(
        f"{REC}/customer",
        json={"companyName": "Again", "subsidiary": {"id": "2"}, "externalId": "DUP"},
    )
    assert r.status_code == 400
    assert detail(r) == {
        "detail": "Error while accessing a resource. This entity already exists.",
        "o:errorCode": "USER_ERROR",
    }
    assert (await client.get("/__sandbox/records/customer")).json()["count"] == 1


async def test_closed_period_then_reopened(
    client: httpx.AsyncClient, emu: NetSuiteEmulator
) -> None:
    job = await make_job(client, await make_customer(client))
    time_bill = {
        "employee": {"id": employee_id(emu)},
        "customer": {"id": job},
        "tranDate": "2025-01-20",
        "hours": "7:30",
        "isBillable": True,
        "externalId": "PSA-TC-1",
    }
    r = await client.post(f"{REC}/timeBill", json=time_bill)
    assert r.status_code == 400
    assert detail(r) == {
        "detail": CLOSED_DETAIL,
        "o:errorCode": "USER_ERROR",
        "o:errorPath": "tranDate",
    }
    r = await client.post(
        "/__sandbox/periods", json={"entity": "US01", "period": "2025-01", "status": "open"}
    )
    assert r.status_code == 200
    r = await client.post(f"{REC}/timeBill", json=time_bill)
    assert r.status_code == 204, r.text
    tb = (await client.get(r.headers["Location"].replace("http://127.0.0.1:8803", ""))).json()
    assert tb["hours"] == 7.5
    assert tb["subsidiary"]["id"] == "2"
    assert tb["department"]["id"] == "7"  # defaulted from the employee
    assert tb["class"]["refName"] == "North America"


async def test_closed_posting_period_on_invoice(
    client: httpx.AsyncClient, emu: NetSuiteEmulator
) -> None:
    cid = await make_customer(client)
    period = emu.book.eids["accountingPeriod"]["P-2025-01"]
    r = await client.post(
        f"{REC}/invoice",
        json={
            "entity": {"id": cid},
            "tranDate": "2025-02-03",
            "postingPeriod": {"id": period},
            "item": {"items": [{"item": {"id": "1"}, "quantity": 1, "rate": 10}]},
        },
    )
    assert r.status_code == 400
    assert (
        detail(r)["detail"]
        == "Error while accessing a resource. You cannot post to a closed period."
    )


async def test_inactive_job_refuses_new_time(
    client: httpx.AsyncClient, emu: NetSuiteEmulator
) -> None:
    job = await make_job(client, await make_customer(client))
    r = await client.patch(f"{REC}/job/{job}", json={"isInactive": True})
    assert r.status_code == 204
    r = await client.post(
        f"{REC}/timeBill",
        json={
            "employee": {"id": employee_id(emu)},
            "customer": {"id": job},
            "tranDate": "2025-02-03",
            "hours": 8,
        },
    )
    assert r.status_code == 400
    err = detail(r)
    assert err["o:errorCode"] == "USER_ERROR"
    assert err["detail"].endswith(f"Invalid Field Value {job} for the following field: customer")


async def test_time_without_external_id_counts_duplicates(
    client: httpx.AsyncClient, emu: NetSuiteEmulator
) -> None:
    job = await make_job(client, await make_customer(client))
    body = {
        "employee": {"id": employee_id(emu)},
        "customer": {"id": job},
        "tranDate": "2025-02-03",
        "hours": 8,
    }
    for _ in range(2):
        assert (await client.post(f"{REC}/timeBill", json=body)).status_code == 204
    stats = (await client.get("/__sandbox/stats")).json()
    assert stats["duplicates"] == 1
    assert stats["duplicates_by_endpoint"] == {"POST /services/rest/record/v1/{record_type}": 1}


async def test_payment_settles_invoice(client: httpx.AsyncClient) -> None:
    cid = await make_customer(client)
    job = await make_job(client, cid)
    r = await client.post(
        f"{REC}/invoice",
        json={
            "entity": {"id": job},
            "tranDate": "2025-02-10",
            "externalId": "INV-1",
            "item": {"items": [{"item": {"id": "1"}, "quantity": 10, "rate": 150}]},
        },
    )
    assert r.status_code == 204, r.text
    inv = r.headers["Location"].rsplit("/", 1)[1]
    r = await client.post(
        f"{REC}/customerPayment",
        json={
            "customer": {"id": cid},
            "payment": 1500,
            "tranDate": "2025-02-20",
            "apply": {"items": [{"doc": {"id": inv}, "apply": True, "amount": 1500}]},
        },
    )
    assert r.status_code == 204, r.text
    invoice = (await client.get(f"{REC}/invoice/eid:INV-1")).json()
    assert invoice["status"] == {"id": "B", "refName": "Paid In Full"}
    assert invoice["amountRemaining"] == 0
    r = await client.post(
        SQL,
        json={
            "q": "SELECT id, type, status, foreigntotal FROM transaction WHERE type = 'CustInvc'"
        },
        headers={"Prefer": "transient"},
    )
    assert r.json()["items"] == [
        {"links": [], "id": inv, "type": "CustInvc", "status": "B", "foreigntotal": "1500"}
    ]


# ----------------------------------------------------------------------------- faults
async def test_generic_faults(client: httpx.AsyncClient) -> None:
    await client.post("/__sandbox/faults", json={"path": "*/customer", "rate_limit_per_s": 1})
    codes = [(await client.get(f"{REC}/customer")).status_code for _ in range(3)]
    assert 429 in codes
    r = await client.get(f"{REC}/customer")
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    assert detail(r)["o:errorCode"] == "CONCURRENCY_LIMIT_EXCEEDED"
    assert (await client.delete("/__sandbox/faults")).status_code == 204

    await client.post("/__sandbox/faults", json={"path": "*/job*", "outage_seconds": 60})
    r = await client.get(f"{REC}/job")
    assert r.status_code == 503
    assert detail(r)["o:errorCode"] == "SERVICE_UNAVAILABLE"
    assert (await client.get(f"{REC}/customer")).status_code == 200
    await client.delete("/__sandbox/faults")

    await client.post("/__sandbox/faults", json={"latency_ms": 150})
    start = time.monotonic()
    assert (await client.get(f"{REC}/customer")).status_code == 200
    assert time.monotonic() - start >= 0.15
    stats = (await client.get("/__sandbox/stats")).json()
    assert stats["throttled"] >= 2


@contextmanager
def serve(emu: NetSuiteEmulator) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(emu.app, log_level="warning", ws="none", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


async def test_account_concurrency_limit(emu: NetSuiteEmulator) -> None:
    with serve(emu) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as c:
            c.headers.update(await _token(c, emu))
            r = await c.post("/__sandbox/faults", json={"path": "*/customer", "latency_ms": 400})
            assert r.status_code == 201
            results = await asyncio.gather(*(c.get(f"{REC}/customer") for _ in range(6)))
            codes = sorted(r.status_code for r in results)
            assert codes.count(429) >= 1
            assert codes.count(200) == 5
            refused = next(r for r in results if r.status_code == 429)
            assert refused.json() == {
                "type": "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html",
                "title": "Too Many Requests",
                "status": 429,
                "o:errorDetails": [
                    {
                        "detail": "Concurrent request limit exceeded. Request blocked.",
                        "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED",
                    }
                ],
            }
            assert "Retry-After" not in refused.headers
            # The limit is a default rule: it survives a reset.
            assert (await c.post("/__sandbox/reset")).status_code == 204
            active = (await c.get("/__sandbox/faults")).json()["active"]
            assert active == [{"path": "/services/*", "concurrency": 5}]


async def test_concurrency_limit_is_configurable() -> None:
    emu = NetSuiteEmulator(concurrency_limit=15)
    assert [f.concurrency for f in emu.default_faults()] == [15]


# ----------------------------------------------------------------------------- state
async def test_reset_reseeds_and_state_round_trips(
    client: httpx.AsyncClient, emu: NetSuiteEmulator
) -> None:
    await make_job(client, await make_customer(client))
    snapshot = json.loads(json.dumps(emu.dump_state(), default=str))
    assert (await client.post("/__sandbox/reset")).status_code == 204
    assert (await client.get(f"{REC}/customer")).json()["totalResults"] == 0
    assert (await client.get(f"{REC}/employee/eid:CON-001")).status_code == 200
    closed = (await client.get("/__sandbox/periods")).json()
    assert {"entity": "US01", "period": "2025-01", "status": "closed"} in closed

    emu.load_state(snapshot)
    assert (await client.get(f"{REC}/job/eid:PRJ-1")).status_code == 200
    cid = await make_customer(client, "AFTER-LOAD")
    assert int(cid) > int(emu.book.eids["customer"]["CUST-1"])
