"""Round trips against the Kantata OX emulator over HTTP (httpx on the ASGI app)."""

import time
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from accord_sandbox.credentials import KANTATA_REDIRECT_URI
from accord_sandbox.firm import ConsultantSpec, Firm
from accord_sandbox.kantata import KantataEmulator

API = "/api/v1"
WEEK = date(2025, 1, 6)  # a Monday


def tiny_firm() -> Firm:
    def consultant(n: int, role: str, bill: str, cost: str, currency: str) -> ConsultantSpec:
        return ConsultantSpec(
            id=f"CONS-{n:04d}",
            first_name=f"First{n}",
            last_name=f"Last{n}",
            email=f"c{n}@firm.example",
            role=role,
            practice="DATA",
            region="NA",
            legal_entity="US01",
            cost_rate=Decimal(cost),
            bill_rate=Decimal(bill),
            currency=currency,
        )

    return Firm(
        scenario="small",
        seed=7,
        legal_entities=(),
        practices=(),
        regions=(),
        service_packages=(),
        consultants=(
            consultant(1, "Consultant", "150.00", "80.00", "USD"),
            consultant(2, "Architect", "220.50", "120.00", "USD"),
            consultant(3, "Consultant", "140.00", "75.00", "EUR"),
        ),
        customers=(),
        opportunities=(),
        accounting_periods=(),
    )


@pytest.fixture
def emu() -> KantataEmulator:
    emulator = KantataEmulator()
    emulator.events.duplicate_rate = 0.0
    emulator.seed_firm(tiny_firm())
    return emulator


@pytest.fixture
async def anon(emu: KantataEmulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=emu.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kantata.test") as c:
        yield c


APP = {"client_id": "sandbox", "client_secret": "sandbox-secret"}


async def consent(anon: httpx.AsyncClient, **params: str) -> dict[str, list[str]]:
    """Steps 1 and 2 of "Obtaining tokens for users": the query the redirect carries."""
    query = {"client_id": "sandbox", "response_type": "code", "redirect_uri": KANTATA_REDIRECT_URI}
    r = await anon.get("/oauth/authorize", params=query | params)
    assert r.status_code == 302, r.text
    location = urlsplit(r.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == KANTATA_REDIRECT_URI
    return parse_qs(location.query)


async def exchange(anon: httpx.AsyncClient, code: str) -> httpx.Response:
    """Step 3: the code for a token, with the application's credentials."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": KANTATA_REDIRECT_URI,
        **APP,
    }
    return await anon.post("/oauth/token", data=form)


@pytest.fixture
async def client(anon: httpx.AsyncClient) -> httpx.AsyncClient:
    r = await exchange(anon, (await consent(anon))["code"][0])
    assert r.status_code == 200
    anon.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return anon


def only(body: dict[str, Any]) -> dict[str, Any]:
    """The single primary record of an envelope, read through ``results``."""
    assert len(body["results"]) == 1
    ref = body["results"][0]
    return body[ref["key"]][ref["id"]]


def ordered(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [body[r["key"]][r["id"]] for r in body["results"]]


async def create(client: httpx.AsyncClient, plural: str, singular: str, **attrs: Any) -> dict:
    r = await client.post(f"{API}/{plural}", json={singular: attrs})
    assert r.status_code == 200, r.text
    return only(r.json())


async def user_by_email(client: httpx.AsyncClient, email: str) -> dict:
    r = await client.get(f"{API}/users", params={"email_address": email})
    return only(r.json())


async def workspace(client: httpx.AsyncClient, **attrs: Any) -> dict:
    base = {"title": "Data platform", "currency": "USD", "start_date": "2025-01-01"}
    return await create(client, "workspaces", "workspace", **{**base, **attrs})


async def entry(client: httpx.AsyncClient, ws: dict, day: date, minutes: int = 60, **kw: Any):
    return await create(
        client,
        "time_entries",
        "time_entry",
        workspace_id=ws["id"],
        date_performed=day.isoformat(),
        time_in_minutes=minutes,
        **kw,
    )


# ----------------------------------------------------------------------------- auth


async def test_authorization_code_token_acts_as_the_consenting_user(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get(f"{API}/users/me")
    assert r.status_code == 200
    assert only(r.json())["email_address"] == "integration@sandbox.invalid"


async def test_authorization_code_flow_as_documented(anon: httpx.AsyncClient) -> None:
    query = await consent(anon, state="xyz")
    assert query["state"] == ["xyz"]
    r = await exchange(anon, query["code"][0])
    assert r.status_code == 200
    body = r.json()
    # "Kantata OX OAuth access tokens do not expire": no expires_in, no refresh_token.
    assert set(body) == {"access_token", "token_type"}
    r = await anon.get(
        f"{API}/workspaces", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert r.status_code == 200
    # A code is single-use.
    r = await exchange(anon, query["code"][0])
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


async def test_consent_refusals(anon: httpx.AsyncClient, emu: KantataEmulator) -> None:
    # A redirect_uri other than the registered one is refused on the page, not redirected.
    r = await anon.get(
        "/oauth/authorize",
        params={"client_id": "sandbox", "response_type": "code", "redirect_uri": "http://evil/cb"},
    )
    assert r.status_code == 400
    assert "redirect_uri" in r.json()["error"]
    emu.auth.consent = "deny"
    query = await consent(anon, state="s")
    assert query["error"] == ["access_denied"]
    assert query["state"] == ["s"]
    assert "code" not in query


async def test_wrong_client_secret_is_refused(anon: httpx.AsyncClient) -> None:
    code = (await consent(anon))["code"][0]
    r = await anon.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": KANTATA_REDIRECT_URI,
            "client_id": "sandbox",
            "client_secret": "x",
        },
    )
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    assert r.json()["errors"][0]["type"] == "authentication"


@pytest.mark.parametrize("grant", ["client_credentials", "password", "refresh_token"])
async def test_grants_kantata_does_not_document_are_refused(
    anon: httpx.AsyncClient, grant: str
) -> None:
    r = await anon.post("/oauth/token", data={"grant_type": grant, **APP})
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"


async def test_expiring_tokens_refresh_and_rotate(
    anon: httpx.AsyncClient, emu: KantataEmulator
) -> None:
    now = [1_000_000.0]
    emu.auth.now = lambda: now[0]
    emu.auth.token_ttl_s = 60
    first = (await exchange(anon, (await consent(anon))["code"][0])).json()
    assert first["expires_in"] == 60
    now[0] += 61
    bearer = {"Authorization": f"Bearer {first['access_token']}"}
    assert (await anon.get(f"{API}/workspaces", headers=bearer)).status_code == 401
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], **APP}
    second = (await anon.post("/oauth/token", data=refresh)).json()
    assert second["refresh_token"] != first["refresh_token"]
    bearer = {"Authorization": f"Bearer {second['access_token']}"}
    assert (await anon.get(f"{API}/workspaces", headers=bearer)).status_code == 200
    r = await anon.post("/oauth/token", data=refresh)  # the rotated-out refresh token
    assert r.json()["error"] == "invalid_grant"


async def test_revoked_application_and_application_token(
    client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    page = (await anon.get("/__sandbox/oauth/application")).json()
    assert page["redirect_uris"] == [KANTATA_REDIRECT_URI]
    assert (await client.post("/__sandbox/oauth/revoke")).status_code == 204
    assert (await client.get(f"{API}/users/me")).status_code == 401
    owner = {"Authorization": f"Bearer {page['oauth_token']}"}
    r = await anon.get(f"{API}/users/me", headers=owner)
    assert only(r.json())["email_address"] == "integration@sandbox.invalid"


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic c2FuZGJveA=="])
async def test_missing_or_bad_bearer_is_401(anon: httpx.AsyncClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    r = await anon.get(f"{API}/workspaces", headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.json() == {
        "errors": [{"type": "authentication", "message": r.json()["errors"][0]["message"]}]
    }


# ----------------------------------------------------------------------------- seeding


async def test_firm_seeds_users_roles_and_rate_cards(
    client: httpx.AsyncClient, emu: KantataEmulator
) -> None:
    users = (await client.get(f"{API}/users", params={"include": "role"})).json()
    assert users["count"] == 4  # the integration admin plus three consultants
    c2 = next(u for u in users["users"].values() if u["email_address"] == "c2@firm.example")
    assert c2["bill_rate_in_cents"] == 22050
    assert c2["cost_rate_in_cents"] == 12000
    assert users["roles"][c2["role_id"]]["name"] == "Architect"
    cards = ordered((await client.get(f"{API}/rate_cards")).json())
    assert [(c["currency"], c["default"]) for c in cards] == [("EUR", True), ("USD", False)]
    usd = cards[1]
    assert {r["rate_in_cents"] for r in usd["rates"]} == {15000, 22050}
    emu.seed_firm(tiny_firm())  # idempotent
    assert (await client.get(f"{API}/users")).json()["count"] == 4
    await workspace(client)
    assert (await client.post("/__sandbox/reset")).status_code == 204
    assert (await client.get(f"{API}/users")).json()["count"] == 4
    assert (await client.get(f"{API}/workspaces")).json()["count"] == 0


# ----------------------------------------------------------------------------- collections


async def _stories_attrs(client: httpx.AsyncClient, ws: dict) -> dict:
    return {"workspace_id": ws["id"], "title": "Go-live", "story_type": "milestone"}


COLLECTIONS = ["workspaces", "time_entries", "expenses", "stories", "invoices"]


async def _make(client: httpx.AsyncClient, plural: str, n: int) -> dict:
    ws = await workspace(client, title=f"WS {plural} {n}")
    if plural == "workspaces":
        return ws
    if plural == "time_entries":
        return await entry(client, ws, WEEK + timedelta(days=n % 5), 30 + n)
    if plural == "expenses":
        return await create(
            client,
            "expenses",
            "expense",
            workspace_id=ws["id"],
            date="2025-01-07",
            category="Travel",
            amount_in_cents=1000 + n,
        )
    if plural == "stories":
        return await create(client, "stories", "story", **await _stories_attrs(client, ws))
    return await create(client, "invoices", "invoice", workspace_ids=[ws["id"]])


UPDATES = {
    "workspaces": ("workspace", {"description": "changed"}),
    "time_entries": ("time_entry", {"notes": "changed"}),
    "expenses": ("expense", {"notes": "changed"}),
    "stories": ("story", {"state": "completed"}),
    "invoices": ("invoice", {"status": "submitted"}),
}


@pytest.mark.parametrize("plural", COLLECTIONS)
async def test_collection_round_trip(client: httpx.AsyncClient, plural: str) -> None:
    made = [await _make(client, plural, n) for n in range(3)]
    r = await client.get(f"{API}/{plural}/{made[1]['id']}")
    assert r.status_code == 200
    assert only(r.json()) == made[1]
    listing = (await client.get(f"{API}/{plural}")).json()
    assert listing["count"] == 3
    assert [x["id"] for x in ordered(listing)] == [m["id"] for m in made]
    assert all(isinstance(k, str) for k in listing[plural])
    # updated_after returns only what changed after the cutoff.
    cutoff = made[-1]["updated_at"]
    singular, change = UPDATES[plural]
    r = await client.put(f"{API}/{plural}/{made[0]['id']}", json={singular: change})
    assert r.status_code == 200, r.text
    updated = only(r.json())
    assert updated["updated_at"] > made[0]["updated_at"]
    assert updated["created_at"] == made[0]["created_at"]
    assert all(updated[k] == v for k, v in change.items())
    r = await client.get(f"{API}/{plural}", params={"updated_after": cutoff})
    assert [x["id"] for x in ordered(r.json())] == [made[0]["id"]]
    assert (await client.get(f"{API}/{plural}.json", params={"only": made[2]["id"]})).json()[
        "count"
    ] == 1


async def test_paging_to_the_end(client: httpx.AsyncClient) -> None:
    ws = await workspace(client)
    rows = [
        {"workspace_id": ws["id"], "date_performed": "2025-01-06", "time_in_minutes": m}
        for m in range(1, 46)
    ]
    r = await client.post(f"{API}/time_entries", json={"time_entries": rows})
    assert r.status_code == 200
    assert r.json()["count"] == 45
    seen: list[str] = []
    page = 1
    while True:
        body = (
            await client.get(f"{API}/time_entries", params={"page": page, "per_page": 20})
        ).json()
        assert body["meta"] == {"count": 45, "page_count": 3, "page_number": page, "page_size": 20}
        seen += [x["id"] for x in ordered(body)]
        if page >= body["meta"]["page_count"]:
            break
        page += 1
    assert len(seen) == len(set(seen)) == 45
    big = (await client.get(f"{API}/time_entries", params={"per_page": 500})).json()
    assert big["meta"]["page_size"] == 200
    assert len(big["results"]) == 45
    default = (await client.get(f"{API}/time_entries")).json()
    assert len(default["results"]) == 20
    desc = ordered(
        (await client.get(f"{API}/time_entries", params={"order": "time_in_minutes:desc"})).json()
    )
    assert desc[0]["time_in_minutes"] == 45


async def test_bulk_create_limits_and_atomicity(client: httpx.AsyncClient) -> None:
    ws = await workspace(client)
    row = {"workspace_id": ws["id"], "date_performed": "2025-01-06", "time_in_minutes": 5}
    r = await client.post(f"{API}/time_entries", json={"time_entries": [row] * 101})
    assert r.status_code == 422
    r = await client.post(f"{API}/time_entries", json={"time_entries": [row, {"notes": "x"}]})
    assert r.status_code == 422
    assert (await client.get(f"{API}/time_entries")).json()["count"] == 0


async def test_rails_form_body_and_json_suffix(client: httpx.AsyncClient) -> None:
    ws = await workspace(client)
    r = await client.post(
        f"{API}/time_entries.json",
        content=(
            f"time_entry[workspace_id]={ws['id']}&time_entry[date_performed]=2025-01-08"
            "&time_entry[time_in_minutes]=90&time_entry[billable]=false"
        ),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    created = only(r.json())
    assert created["time_in_minutes"] == 90
    assert created["billable"] is False
    assert created["currency"] == "USD"


async def test_time_entry_rate_comes_from_rate_card_role(client: httpx.AsyncClient) -> None:
    cards = ordered((await client.get(f"{API}/rate_cards", params={"currency": "USD"})).json())
    ws = await workspace(client, rate_card_id=cards[0]["id"])
    architect = await user_by_email(client, "c2@firm.example")
    te = await entry(client, ws, WEEK, 120, user_id=architect["id"])
    assert te["rate_in_cents"] == 22050
    assert te["cost_rate_in_cents"] == 12000
    r = await client.post(
        f"{API}/workspaces",
        json={"workspace": {"title": "x", "currency": "GBP", "rate_card_id": cards[0]["id"]}},
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "rate_card_id"


async def test_workspace_on_hold_and_archived(client: httpx.AsyncClient) -> None:
    ws = await workspace(client, price_in_cents=5_000_000, budgeted=True)
    r = await client.put(f"{API}/workspaces/{ws['id']}", json={"workspace": {"status": "On Hold"}})
    assert only(r.json())["status"] == {"color": "yellow", "key": 320, "message": "On Hold"}
    r = await client.put(f"{API}/workspaces/{ws['id']}", json={"workspace": {"archived": True}})
    assert only(r.json())["archived"] is True
    r = await client.post(
        f"{API}/time_entries",
        json={
            "time_entry": {
                "workspace_id": ws["id"],
                "date_performed": "2025-01-06",
                "time_in_minutes": 5,
            }
        },
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["message"] == "Workspace id is archived"


async def test_milestone_stories_and_sub_stories(client: httpx.AsyncClient) -> None:
    ws = await workspace(client)
    phase = await create(client, "stories", "story", workspace_id=ws["id"], title="Phase 1")
    ms = await create(
        client,
        "stories",
        "story",
        workspace_id=ws["id"],
        title="Design sign-off",
        story_type="milestone",
        parent_id=phase["id"],
        due_date="2025-02-01",
    )
    assert ms["state"] == "not started"
    parent = only((await client.get(f"{API}/stories/{phase['id']}")).json())
    assert parent["sub_story_ids"] == [ms["id"]]
    r = await client.get(f"{API}/stories", params={"story_type": "milestone"})
    assert [x["id"] for x in ordered(r.json())] == [ms["id"]]
    r = await client.put(f"{API}/stories/{ms['id']}", json={"story": {"state": "completed"}})
    assert only(r.json())["state"] == "completed"
    r = await client.put(f"{API}/stories/{ms['id']}", json={"story": {"story_type": "epic"}})
    assert r.status_code == 422
    assert r.json()["errors"][0]["message"] == "Story type is not included in the list"


async def test_invoice_totals_lock_and_void(client: httpx.AsyncClient) -> None:
    cards = ordered((await client.get(f"{API}/rate_cards", params={"currency": "USD"})).json())
    ws = await workspace(client, rate_card_id=cards[0]["id"])
    c1 = await user_by_email(client, "c1@firm.example")
    te = await entry(client, ws, WEEK, 90, user_id=c1["id"])  # 1.5h at 150.00
    ex = await create(
        client,
        "expenses",
        "expense",
        workspace_id=ws["id"],
        date="2025-01-07",
        category="Travel",
        amount_in_cents=1234,
    )
    body = {"workspace_ids": [ws["id"]], "time_entry_ids": [te["id"]], "expense_ids": [ex["id"]]}
    r = await client.post(
        f"{API}/invoices",
        json={
            "invoice": body,
        },
        params={"include": "time_entries"},
    )
    inv = only(r.json())
    assert (inv["subtotal"], inv["total"], inv["currency"]) == ("237.34", "237.34", "USD")
    assert r.json()["time_entries"][te["id"]]["is_invoiced"] is True
    assert (await client.post(f"{API}/invoices", json={"invoice": body})).status_code == 422
    r = await client.put(f"{API}/time_entries/{te['id']}", json={"time_entry": {"notes": "x"}})
    assert r.status_code == 422
    await client.put(f"{API}/invoices/{inv['id']}", json={"invoice": {"status": "void"}})
    te_now = only((await client.get(f"{API}/time_entries/{te['id']}")).json())
    assert te_now["is_invoiced"] is False


# ----------------------------------------------------------------------------- external refs


async def test_external_reference_upsert_and_filters(client: httpx.AsyncClient) -> None:
    ws = await workspace(client)
    te = await entry(client, ws, WEEK)
    ref = {
        "subject_type": "TimeEntry",
        "subject_id": te["id"],
        "service_name": "netsuite",
        "service_model": "timebill",
        "service_model_ref": "555",
        "status": "successful",
    }
    first = only(
        (await client.post(f"{API}/external_references", json={"external_reference": ref})).json()
    )
    again = only(
        (
            await client.post(
                f"{API}/external_references",
                json={"external_reference": {**ref, "external_status": "posted"}},
            )
        ).json()
    )
    assert again["id"] == first["id"]
    assert again["external_status"] == "posted"
    assert again["updated_at"] > first["updated_at"]
    listing = (
        await client.get(
            f"{API}/external_references",
            params={"service_name": "netsuite", "service_model_ref": "555"},
        )
    ).json()
    assert listing["count"] == 1
    r = await client.get(
        f"{API}/time_entries",
        params={
            "external_reference_service_name": "netsuite",
            "external_reference_service_model_ref": "555",
            "include": "external_references",
        },
    )
    assert [x["id"] for x in ordered(r.json())] == [te["id"]]
    assert first["id"] in r.json()["external_references"]
    r = await client.get(
        f"{API}/time_entries", params={"external_reference_service_model_ref": "9"}
    )
    assert r.json()["count"] == 0
    assert (await client.get("/__sandbox/stats")).json()["duplicates"] == 0
    # Linking a second Kantata record to the same external id is a duplicate.
    te2 = await entry(client, ws, WEEK, 45)
    r = await client.post(
        f"{API}/external_references", json={"external_reference": {**ref, "subject_id": te2["id"]}}
    )
    assert only(r.json())["id"] != first["id"]
    assert (await client.get("/__sandbox/stats")).json()["duplicates_by_endpoint"] == {
        "POST /api/v1/external_references": 1
    }
    bad = {**ref, "subject_id": "99999"}
    r = await client.post(f"{API}/external_references", json={"external_reference": bad})
    assert r.status_code == 422


async def test_duplicates_are_counted_and_idempotent_upsert_is_not(
    client: httpx.AsyncClient,
) -> None:
    ws = await workspace(client)
    ext = {
        "service_name": "salesforce",
        "service_model": "Opportunity",
        "service_model_ref": "006A",
    }

    async def idempotent_create() -> None:
        found = await client.get(
            f"{API}/workspaces",
            params={
                "external_reference_service_name": "salesforce",
                "external_reference_service_model_ref": "006A",
            },
        )
        if found.json()["count"] == 0:
            await workspace(client, title="Won deal", external_references=[ext])

    await idempotent_create()
    await idempotent_create()
    stats = (await client.get("/__sandbox/stats")).json()
    assert stats["duplicates"] == 0
    # A naive client creating again is caught, as is time booked twice.
    await workspace(client, title="Won deal", external_references=[ext])
    await entry(client, ws, WEEK, 60)
    await entry(client, ws, WEEK, 60)
    # Time booked again under another external reference is the same fact too.
    again = {**ext, "service_model": "TimeEntry"}
    await entry(client, ws, WEEK, 90, external_references=[{**again, "service_model_ref": "a"}])
    await entry(client, ws, WEEK, 90, external_references=[{**again, "service_model_ref": "b"}])
    stats = (await client.get("/__sandbox/stats")).json()
    assert stats["duplicates"] == 3
    assert stats["duplicates_by_endpoint"] == {
        "POST /api/v1/workspaces": 1,
        "POST /api/v1/time_entries": 2,
    }
    assert stats["duplicates_by_identity"] == {"biz": 2, "ref": 1}


# ----------------------------------------------------------------------------- timesheets


async def test_timesheet_submission_and_approve(client: httpx.AsyncClient) -> None:
    ws = await workspace(client)
    c1 = await user_by_email(client, "c1@firm.example")
    week1 = [
        await entry(client, ws, WEEK + timedelta(days=d), 480, user_id=c1["id"]) for d in range(3)
    ]
    await entry(client, ws, WEEK + timedelta(days=7), 480, user_id=c1["id"])  # next week
    await entry(client, ws, WEEK, 60)  # someone else
    r = await client.post(
        f"{API}/timesheet_submissions",
        json={
            "timesheet_submission": {
                "user_id": c1["id"],
                "workspace_id": ws["id"],
                "start_date": WEEK.isoformat(),
            }
        },
    )
    assert r.status_code == 200, r.text
    sub = only(r.json())
    assert sub["status"] == "pending"
    assert sub["end_date"] == (WEEK + timedelta(days=6)).isoformat()
    assert sub["time_entry_ids"] == [e["id"] for e in week1]
    # Submitted time is locked.
    r = await client.put(
        f"{API}/time_entries/{week1[0]['id']}", json={"time_entry": {"notes": "x"}}
    )
    assert r.status_code == 422
    assert (await client.delete(f"{API}/time_entries/{week1[0]['id']}")).status_code == 422
    before = ordered(
        (await client.get(f"{API}/subscribed_events", params={"per_page": 200})).json()
    )
    # Submitting locked the entries: one created event, then an update per entry.
    assert [e["event_type"] for e in before[-4:]] == ["timesheet_submission:created"] + [
        "time_entry:updated"
    ] * 3
    cursor = before[-1]["created_at"]
    r = await client.put(
        f"{API}/timesheet_submissions/{sub['id']}/approve",
        json={"resolution": {"description": "Looks right"}},
    )
    assert r.status_code == 200
    body = r.json()
    approved = only(body)
    assert approved["status"] == "approved"
    assert approved["resolution"] == {"description": "Looks right"}
    assert set(body["time_entries"]) == {e["id"] for e in week1}
    assert all(e["approved"] and not e["user_can_edit"] for e in body["time_entries"].values())
    assert c1["id"] in body["users"]
    assert ws["id"] in body["workspaces"]
    r = await client.get(f"{API}/time_entries", params={"approved": "true"})
    assert r.json()["count"] == 3
    events = ordered(
        (await client.get(f"{API}/subscribed_events", params={"created_after": cursor})).json()
    )
    assert [e["event_type"] for e in events] == ["time_entry:updated"] * 3 + [
        "timesheet_submission:updated"
    ]
    assert events[-1]["payload"]["status"] == "approved"
    r = await client.put(f"{API}/timesheet_submissions/{sub['id']}/approve")
    assert r.status_code == 422
    # The same week again has nothing left to submit.
    r = await client.post(
        f"{API}/timesheet_submissions",
        json={
            "timesheet_submission": {
                "user_id": c1["id"],
                "workspace_id": ws["id"],
                "start_date": WEEK.isoformat(),
            }
        },
    )
    assert r.status_code == 422


async def test_timesheet_reject_unlocks_entries(client: httpx.AsyncClient) -> None:
    ws = await workspace(client)
    te = await entry(client, ws, WEEK)
    sub = await create(
        client,
        "timesheet_submissions",
        "timesheet_submission",
        workspace_id=ws["id"],
        time_entry_ids=[te["id"]],
    )
    r = await client.put(f"{API}/timesheet_submissions/{sub['id']}/reject")
    assert only(r.json())["status"] == "rejected"
    now = only((await client.get(f"{API}/time_entries/{te['id']}")).json())
    assert (now["approved"], now["user_can_edit"], now["active_submission_id"]) == (
        False,
        True,
        None,
    )


# ----------------------------------------------------------------------------- events


async def test_subscribed_events_polling_with_cursor(client: httpx.AsyncClient) -> None:
    ws = await workspace(client)
    await entry(client, ws, WEEK)
    first = ordered((await client.get(f"{API}/subscribed_events")).json())
    assert [e["event_type"] for e in first] == ["workspace:created", "time_entry:created"]
    assert first[1]["subject_type"] == "TimeEntry"
    assert first[1]["payload"]["time_in_minutes"] == 60
    assert {"id", "subject_id", "subject_changed_at", "created_at", "current_payload"} <= set(
        first[1]
    )
    cursor = first[-1]["created_at"]
    assert (
        ordered(
            (await client.get(f"{API}/subscribed_events", params={"created_after": cursor})).json()
        )
        == []
    )
    await client.put(f"{API}/workspaces/{ws['id']}", json={"workspace": {"title": "Renamed"}})
    new = ordered(
        (await client.get(f"{API}/subscribed_events", params={"created_after": cursor})).json()
    )
    assert [e["event_type"] for e in new] == ["workspace:updated"]
    assert new[0]["payload"]["title"] == "Renamed"
    r = await client.get(
        f"{API}/subscribed_events",
        params={"event_types": "time_entry:created", "per_page": 1, "page": 1},
    )
    assert r.json()["meta"]["count"] == 1
    types = (await client.get(f"{API}/subscribed_event_types")).json()
    assert "time_entry:updated" in types["subscribed_event_types"]


async def test_subscribed_events_may_duplicate(
    client: httpx.AsyncClient, emu: KantataEmulator
) -> None:
    emu.events.duplicate_rate = 1.0
    ws = await workspace(client)
    for d in range(3):
        await entry(client, ws, WEEK + timedelta(days=d))
    events = ordered(
        (await client.get(f"{API}/subscribed_events", params={"per_page": 200})).json()
    )
    ids = [e["id"] for e in events]
    assert len(ids) > len(set(ids)) == 4
    # ``results`` may name one id twice; the keyed map holds it once.
    body = (await client.get(f"{API}/subscribed_events", params={"per_page": 200})).json()
    assert len(body["subscribed_events"]) == 4


# ----------------------------------------------------------------------------- errors


async def test_error_shapes(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{API}/workspaces/424242")
    assert r.status_code == 404
    assert r.json() == {"errors": [{"type": "system", "message": "Not Found"}]}
    r = await client.get(f"{API}/no_such_things")
    assert r.status_code == 404
    assert "errors" in r.json()
    r = await client.post(f"{API}/time_entries", json={"time_entry": {"time_in_minutes": "lots"}})
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert {
        "type": "validation",
        "message": "Date performed can't be blank",
        "field": "date_performed",
    } in errors
    assert {
        "type": "validation",
        "message": "Time in minutes is not a number",
        "field": "time_in_minutes",
    } in errors
    r = await client.post(
        f"{API}/time_entries",
        json={
            "time_entry": {
                "workspace_id": "999",
                "date_performed": "2025-01-06",
                "time_in_minutes": 5,
            }
        },
    )
    assert r.json()["errors"] == [
        {"type": "validation", "message": "Workspace must exist", "field": "workspace_id"}
    ]
    r = await client.post(f"{API}/workspaces", json={"nothing": {}})
    assert r.status_code == 422
    r = await client.get(f"{API}/workspaces", params={"updated_after": "yesterday"})
    assert r.status_code == 422


# ----------------------------------------------------------------------------- faults


async def test_fault_429_with_retry_after(client: httpx.AsyncClient) -> None:
    await client.post(
        "/__sandbox/faults", json={"path": "/api/v1/workspaces*", "error_rate": 1.0, "status": 429}
    )
    r = await client.get(f"{API}/workspaces")
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1
    assert r.json()["errors"][0]["type"] == "system"
    assert (await client.get(f"{API}/users")).status_code == 200
    assert (await client.get("/__sandbox/stats")).json()["throttled"] == 1


async def test_fault_rate_limit(client: httpx.AsyncClient) -> None:
    await client.post("/__sandbox/faults", json={"rate_limit_per_s": 2})
    codes = [(await client.get(f"{API}/users")).status_code for _ in range(4)]
    assert codes.count(429) >= 1


async def test_fault_outage(client: httpx.AsyncClient) -> None:
    await client.post("/__sandbox/faults", json={"outage_seconds": 60})
    r = await client.get(f"{API}/workspaces")
    assert r.status_code == 503
    assert r.json() == {"errors": [{"type": "system", "message": "Service unavailable"}]}
    await client.delete("/__sandbox/faults")
    assert (await client.get(f"{API}/workspaces")).status_code == 200


async def test_fault_latency(client: httpx.AsyncClient) -> None:
    await client.post("/__sandbox/faults", json={"method": "GET", "latency_ms": 200})
    started = time.monotonic()
    assert (await client.get(f"{API}/users")).status_code == 200
    assert time.monotonic() - started >= 0.2


async def test_lost_response_still_writes(client: httpx.AsyncClient) -> None:
    await client.post("/__sandbox/faults", json={"method": "POST", "lose_response_rate": 1.0})
    r = await client.post(f"{API}/workspaces", json={"workspace": {"title": "Lost"}})
    assert r.status_code == 504
    await client.delete("/__sandbox/faults")
    assert (await client.get(f"{API}/workspaces", params={"search": "lost"})).json()["count"] == 1


# ----------------------------------------------------------------------------- state


async def test_state_round_trip(client: httpx.AsyncClient, emu: KantataEmulator) -> None:
    ws = await workspace(client)
    snapshot = emu.dump_state()
    other = KantataEmulator()
    other.load_state(snapshot)
    transport = httpx.ASGITransport(app=other.app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://k.test", headers=dict(client.headers)
    ) as c2:
        r = await c2.get(f"{API}/workspaces/{ws['id']}")
        assert r.status_code == 200  # the token survived too
        assert only(r.json())["title"] == ws["title"]
        created = await workspace(c2, title="after restore")
        assert int(created["id"]) > int(ws["id"])
        assert len(ordered((await c2.get(f"{API}/subscribed_events")).json())) == 2
