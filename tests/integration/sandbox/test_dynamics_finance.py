"""Round trips against the Dynamics 365 Finance emulator over HTTP (httpx on the ASGI app)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from accord_sandbox.dynamics_finance import DynamicsFinanceEmulator
from accord_sandbox.scenario import generate

BASE = "http://d365.test"
SCOPE = f"{BASE}/.default"
FIRM = generate("small", 7)
RESOURCE = next(c.id.upper() for c in FIRM.consultants if c.legal_entity == "DE01")


class Clock:
    """A controllable UTC clock so ModifiedDateTime filters are deterministic."""

    def __init__(self) -> None:
        self.now = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> DynamicsFinanceEmulator:
    emulator = DynamicsFinanceEmulator(base_url=BASE, page_size=3, clock=clock)
    emulator.seed_firm(FIRM)
    return emulator


@pytest.fixture
async def anon(emu: DynamicsFinanceEmulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=emu.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        yield c


async def token(c: httpx.AsyncClient, **over: str) -> httpx.Response:
    form = {
        "grant_type": "client_credentials",
        "client_id": "sandbox",
        "client_secret": "sandbox-secret",
        "scope": SCOPE,
        **over,
    }
    return await c.post("/sandbox-tenant/oauth2/v2.0/token", data=form)


@pytest.fixture
async def client(anon: httpx.AsyncClient) -> httpx.AsyncClient:
    answer = await token(anon)
    anon.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
    return anon


async def post(c: httpx.AsyncClient, entity_set: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await c.post(f"/data/{entity_set}", json={"dataAreaId": "de01", **body})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def test_tokens_are_for_the_environment_and_a_registered_app(
    anon: httpx.AsyncClient, emu: DynamicsFinanceEmulator
) -> None:
    wrong_scope = await token(anon, scope="https://api.businesscentral.dynamics.com/.default")
    assert wrong_scope.status_code == 400
    assert wrong_scope.json()["error"] == "invalid_scope"
    wrong_secret = await token(anon, client_secret="nope")
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"
    good = (await token(anon)).json()
    assert good["token_type"] == "Bearer"
    assert good["expires_in"] == 3599
    headers = {"Authorization": f"Bearer {good['access_token']}"}
    assert (await anon.get("/data/LegalEntities", headers=headers)).status_code == 200
    assert (await anon.get("/data/LegalEntities")).status_code == 401
    emu.apps.clear()  # the app is no longer on the Microsoft Entra applications page
    refused = await anon.get("/data/LegalEntities", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == ""


async def test_reads_see_the_default_company_unless_cross_company(
    client: httpx.AsyncClient,
) -> None:
    await post(client, "CustomersV3", {"CustomerAccount": "C-1", "CustomerGroupId": "10"})
    default = await client.get("/data/CustomersV3")
    assert default.json()["value"] == []  # the user's default company is DAT
    cross = await client.get(
        "/data/CustomersV3", params={"cross-company": "true", "$filter": "dataAreaId eq 'DE01'"}
    )
    [customer] = cross.json()["value"]
    assert customer["SalesCurrencyCode"] == "EUR"
    assert customer["@odata.etag"].startswith('W/"')
    keyed = await client.get("/data/CustomersV3(dataAreaId='de01',CustomerAccount='c-1')")
    assert keyed.json()["CustomerAccount"] == "C-1"  # keys compare case-insensitively
    partial = await client.get("/data/CustomersV3('C-1')")
    assert partial.status_code == 400  # every key field, dataAreaId included


async def test_server_driven_paging_and_filters(client: httpx.AsyncClient, clock: Clock) -> None:
    for n in range(5):
        clock.now += timedelta(seconds=1)
        await post(client, "CustomersV3", {"CustomerAccount": f"C-{n}", "CustomerGroupId": "10"})
    seen: list[str] = []
    url: str | None = "/data/CustomersV3?cross-company=true&$orderby=CustomerAccount desc"
    pages = 0
    while url:
        body = (await client.get(url)).json()
        seen += [r["CustomerAccount"] for r in body["value"]]
        url = body.get("@odata.nextLink")
        pages += 1
    assert seen == ["C-4", "C-3", "C-2", "C-1", "C-0"]
    assert pages == 2
    since = await client.get(
        "/data/CustomersV3",
        params={
            "cross-company": "true",
            "$filter": "ModifiedDateTime gt 2026-09-01T09:00:03Z and CustomerAccount eq 'c*'",
        },
    )
    assert [r["CustomerAccount"] for r in since.json()["value"]] == ["C-3", "C-4"]
    enum = await client.get(
        "/data/LedgerFiscalPeriods",
        params={
            "cross-company": "true",
            "$filter": "dataAreaId eq 'de01' and "
            "PeriodStatus eq Microsoft.Dynamics.DataEntities.FiscalPeriodStatus'Open'",
            "$select": "StartDate,PeriodStatus",
            "$orderby": "StartDate",
            "$top": "1",
        },
    )
    assert enum.json()["value"][0]["StartDate"] == "2026-09-01T12:00:00Z"
    bad = await client.get("/data/CustomersV3", params={"$orderby": "Nope"})
    assert bad.status_code == 400
    assert "Microsoft.Dynamics.DataEntities.CustomerV3" in bad.json()["error"]["message"]


async def test_journal_posting_is_all_or_nothing(
    client: httpx.AsyncClient, emu: DynamicsFinanceEmulator
) -> None:
    await post(client, "CustomersV3", {"CustomerAccount": "C-1", "CustomerGroupId": "10"})
    await post(
        client,
        "ProjectContractHeaders",
        {"ProjectContractId": "PC-1", "CustomerAccountNumber": "C-1"},
    )
    await post(
        client,
        "Projects",
        {"ProjectID": "P-1", "ProjectContractID": "PC-1", "ProjectStage": "InProcess"},
    )
    journal = await post(client, "ProjectHourJournalHeaders", {"Description": "Week 37"})
    number = journal["JournalBatchNumber"]
    for day in ("2026-09-14T12:00:00Z", "2026-08-31T12:00:00Z"):
        line = {"JournalId": number, "ProjectID": "P-1", "ProjectDate": day, "Hours": 8}
        await post(client, "ProjectHourJournalLines", {**line, "Resource": RESOURCE})
    emu.periods[("DE01", "2026-08")] = "closed"
    key = f"dataAreaId='de01',JournalBatchNumber='{number}'"
    action = f"/data/ProjectHourJournalHeaders({key})/Microsoft.Dynamics.DataEntities.PostJournal"
    refused = await client.post(action)
    assert refused.status_code == 400
    assert (
        "fiscal period for 2026-08-31 is closed" in refused.json()["error"]["innererror"]["message"]
    )
    assert emu.store.all("ProjectPostedTransactions") == []
    emu.periods[("DE01", "2026-08")] = "open"
    assert (await client.post(action)).status_code == 204
    posted = (await client.get(f"/data/ProjectHourJournalHeaders({key})")).json()
    assert posted["Posted"] == "Yes"
    assert len(emu.store.all("ProjectPostedTransactions")) == 2
    assert (await client.post(action)).status_code == 400  # posted once only
    line = f"dataAreaId='de01',JournalId='{number}',LineNumber=1"
    locked = await client.patch(f"/data/ProjectHourJournalLines({line})", json={"Hours": 1})
    assert locked.status_code == 400


async def test_batch_changesets_and_independent_requests(
    client: httpx.AsyncClient, emu: DynamicsFinanceEmulator
) -> None:
    def part(number: int, request: str, body: str = "") -> str:
        return (
            "--changeset_a\r\nContent-Type: application/http\r\n"
            f"Content-Transfer-Encoding: binary\r\nContent-ID: {number}\r\n\r\n"
            f"{request}\r\nContent-Type: application/json\r\n\r\n{body}\r\n"
        )

    body = (
        "--batch_a\r\nContent-Type: multipart/mixed; boundary=changeset_a\r\n\r\n"
        + part(
            1,
            f"POST {BASE}/data/CustomersV3 HTTP/1.1",
            '{"dataAreaId":"de01","CustomerAccount":"B-1","CustomerGroupId":"10"}',
        )
        + part(2, "POST CustomersV3 HTTP/1.1", '{"dataAreaId":"de01","CustomerAccount":"B-2"}')
        + "--changeset_a--\r\n"
        "--batch_a\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        "GET LegalEntities?$top=1 HTTP/1.1\r\n\r\n\r\n"
        "--batch_a--\r\n"
    )
    answer = await client.post(
        "/data/$batch",
        content=body,
        headers={"Content-Type": "multipart/mixed; boundary=batch_a"},
    )
    assert answer.status_code == 200
    text = answer.text
    assert "Content-ID: 2" in text
    assert "HTTP/1.1 500 Internal Server Error" in text  # the refused write, answered alone
    assert "Customer group must be filled in." in text
    assert "HTTP/1.1 200 OK" in text
    assert emu.store.all("CustomersV3") == []  # B-1 rolled back with the changeset
    garbled = await client.post(
        "/data/$batch", content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert garbled.status_code == 400


async def test_documented_limits_are_on_by_default(client: httpx.AsyncClient) -> None:
    faults = (await client.get("/__sandbox/faults")).json()["active"]
    assert {"path": "/data/*", "concurrency": 52} in faults
    await client.post(
        "/__sandbox/faults", json={"path": "/data/*", "error_rate": 1.0, "status": 429}
    )
    throttled = await client.get("/data/LegalEntities")
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1
    assert "6000 over the time window of 300 seconds" in throttled.json()["error"]["message"]
