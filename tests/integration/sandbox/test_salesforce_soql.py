"""SOQL against the Salesforce emulator: each grammar feature, errors, queryAll and paging."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from accord_sandbox.salesforce import SalesforceEmulator
from accord_sandbox.salesforce.soql import BoolOp, Cond, parse

V = "/services/data/v59.0"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def sf() -> AsyncIterator[httpx.AsyncClient]:
    clock = Clock()
    emu = SalesforceEmulator(clock=clock)
    transport = httpx.ASGITransport(app=emu.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sf.test") as client:
        r = await client.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "sandbox",
                "client_secret": "sandbox-secret",
            },
        )
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

        async def create(obj: str, at: str, body: dict[str, object]) -> str:
            clock.now = datetime.fromisoformat(at)
            r = await client.post(f"{V}/sobjects/{obj}", json=body)
            assert r.status_code == 201, r.text
            return str(r.json()["id"])

        alpha = await create(
            "Account",
            "2026-06-10T09:00:00+00:00",
            {
                "Name": "Alpha Corp",
                "Industry": "Technology",
                "AR_Balance__c": 100,
                "Legal_Entity__c": "US01",
            },
        )
        await create(
            "Account",
            "2026-06-14T23:30:00+00:00",
            {
                "Name": "Beta LLC",
                "Industry": "Manufacturing",
                "AR_Balance__c": 5000,
                "Legal_Entity__c": "UK01",
                "ParentId": alpha,
            },
        )
        await create(
            "Account", "2026-06-15T00:30:00+00:00", {"Name": "gamma inc", "Legal_Entity__c": "DE01"}
        )
        await create(
            "Account",
            "2026-06-15T12:00:00+00:00",
            {
                "Name": "Delta O'Brien",
                "Industry": "Technology",
                "AR_Balance__c": 250.5,
                "Legal_Entity__c": "US01",
                "Last_Payment_Date__c": "2026-06-14",
            },
        )
        for name, close in [
            ("Today", "2026-06-15"),
            ("Yesterday", "2026-06-14"),
            ("June", "2026-06-01"),
            ("Last year", "2025-12-31"),
        ]:
            await create(
                "Opportunity",
                "2026-06-15T12:00:00+00:00",
                {"Name": name, "StageName": "Prospecting", "CloseDate": close, "AccountId": alpha},
            )
        yield client


async def _names(sf: httpx.AsyncClient, soql: str) -> list[str]:
    r = await sf.get(f"{V}/query", params={"q": soql})
    assert r.status_code == 200, r.text
    return [rec["Name"] for rec in r.json()["records"]]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Name = 'alpha corp'", ["Alpha Corp"]),
        ("Industry != 'Technology'", ["Beta LLC", "gamma inc"]),
        ("Industry <> 'Technology'", ["Beta LLC", "gamma inc"]),
        ("AR_Balance__c > 100", ["Beta LLC", "Delta O'Brien"]),
        ("AR_Balance__c >= 100", ["Alpha Corp", "Beta LLC", "Delta O'Brien"]),
        ("AR_Balance__c < 250.5", ["Alpha Corp"]),
        ("AR_Balance__c <= 250.5", ["Alpha Corp", "Delta O'Brien"]),
        ("Name LIKE '%CORP%'", ["Alpha Corp"]),
        ("Name LIKE '_eta%'", ["Beta LLC"]),
        ("Name = 'Delta O\\'Brien'", ["Delta O'Brien"]),
        (
            "(Industry = 'Technology' OR Industry = 'Manufacturing') AND AR_Balance__c > 200",
            ["Beta LLC", "Delta O'Brien"],
        ),
        (
            "Industry = 'Technology' OR Industry = 'Manufacturing' AND AR_Balance__c > 200",
            ["Alpha Corp", "Beta LLC", "Delta O'Brien"],
        ),
        ("NOT Industry = 'Technology'", ["Beta LLC", "gamma inc"]),
        ("Legal_Entity__c IN ('UK01', 'DE01')", ["Beta LLC", "gamma inc"]),
        ("Legal_Entity__c NOT IN ('US01')", ["Beta LLC", "gamma inc"]),
        ("Industry = null", ["gamma inc"]),
        ("Industry != null", ["Alpha Corp", "Beta LLC", "Delta O'Brien"]),
        ("Last_Payment_Date__c = 2026-06-14", ["Delta O'Brien"]),
        ("Last_Payment_Date__c = YESTERDAY", ["Delta O'Brien"]),
        ("CreatedDate = TODAY", ["gamma inc", "Delta O'Brien"]),
        ("CreatedDate = YESTERDAY", ["Beta LLC"]),
        ("CreatedDate = LAST_N_DAYS:2", ["Beta LLC", "gamma inc", "Delta O'Brien"]),
        ("CreatedDate < LAST_N_DAYS:2", ["Alpha Corp"]),
        ("CreatedDate > 2026-06-14T23:59:59Z", ["gamma inc", "Delta O'Brien"]),
        ("CreatedDate < 2026-06-14T23:30:00.000+0000", ["Alpha Corp"]),
        ("Parent.Name = 'Alpha Corp'", ["Beta LLC"]),
        ("Owner.Email LIKE 'integration@%' AND Industry = 'Manufacturing'", ["Beta LLC"]),
    ],
)
async def test_where(sf: httpx.AsyncClient, where: str, expected: list[str]) -> None:
    assert await _names(sf, f"SELECT Name FROM Account WHERE {where}") == expected


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("CloseDate = TODAY", ["Today"]),
        ("CloseDate = YESTERDAY", ["Yesterday"]),
        ("CloseDate = LAST_N_DAYS:14", ["Today", "Yesterday", "June"]),
        ("CloseDate > 2026-01-01", ["Today", "Yesterday", "June"]),
        ("CloseDate = THIS_MONTH", ["Today", "Yesterday", "June"]),
        ("CloseDate < 2026-01-01", ["Last year"]),
    ],
)
async def test_date_literals_on_date_fields(
    sf: httpx.AsyncClient, where: str, expected: list[str]
) -> None:
    assert await _names(sf, f"SELECT Name FROM Opportunity WHERE {where}") == expected


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        (
            "ORDER BY AR_Balance__c DESC NULLS LAST",
            ["Beta LLC", "Delta O'Brien", "Alpha Corp", "gamma inc"],
        ),
        ("ORDER BY AR_Balance__c", ["gamma inc", "Alpha Corp", "Delta O'Brien", "Beta LLC"]),
        (
            "ORDER BY AR_Balance__c ASC NULLS LAST",
            ["Alpha Corp", "Delta O'Brien", "Beta LLC", "gamma inc"],
        ),
        (
            "ORDER BY Industry NULLS LAST, Name DESC",
            ["Beta LLC", "Delta O'Brien", "Alpha Corp", "gamma inc"],
        ),
        ("ORDER BY Name LIMIT 2 OFFSET 1", ["Beta LLC", "Delta O'Brien"]),
        ("ORDER BY Name DESC LIMIT 1", ["gamma inc"]),
    ],
)
async def test_order_limit_offset(sf: httpx.AsyncClient, tail: str, expected: list[str]) -> None:
    assert await _names(sf, f"SELECT Name FROM Account {tail}") == expected


async def test_projection_with_parent_fields(sf: httpx.AsyncClient) -> None:
    r = await sf.get(
        f"{V}/query",
        params={"q": "select name, parent.name, owner.email from account where name = 'Beta LLC'"},
    )
    [row] = r.json()["records"]
    assert list(row) == ["attributes", "Name", "Parent", "Owner"]
    assert row["attributes"]["type"] == "Account"
    assert row["Parent"]["Name"] == "Alpha Corp"
    assert row["Parent"]["attributes"]["type"] == "Account"
    assert row["Owner"]["Email"] == "integration@accord.example"
    orphan = (
        await sf.get(
            f"{V}/query", params={"q": "SELECT Parent.Name FROM Account WHERE Name = 'gamma inc'"}
        )
    ).json()
    assert orphan["records"][0]["Parent"] is None


async def test_count(sf: httpx.AsyncClient) -> None:
    r = await sf.get(
        f"{V}/query", params={"q": "SELECT COUNT() FROM Account WHERE Industry = 'Technology'"}
    )
    assert r.json() == {"totalSize": 2, "done": True, "records": []}
    agg = (await sf.get(f"{V}/query", params={"q": "SELECT COUNT(Id) FROM Account"})).json()
    assert agg["records"] == [{"attributes": {"type": "AggregateResult"}, "expr0": 4}]


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT FROM Account", "MALFORMED_QUERY"),
        ("SELECT Name FROM Account WHERE", "MALFORMED_QUERY"),
        ("SELECT Name FROM Account WHERE Name = 'x' GROUP BY Name", "MALFORMED_QUERY"),
        ("SELECT Name, name FROM Account", "MALFORMED_QUERY"),
        (
            "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Opportunity)",
            "MALFORMED_QUERY",
        ),
        ("SELECT Bogus__c FROM Account", "INVALID_FIELD"),
        ("SELECT Nope.Name FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE Bogus = 1", "INVALID_FIELD"),
        ("SELECT Id FROM Acount", "INVALID_TYPE"),
        ("SELECT Id FROM Account WHERE AR_Balance__c = 'ten'", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id FROM Account WHERE CreatedDate = 2026-01-01", "INVALID_QUERY_FILTER_OPERATOR"),
        (
            "SELECT Id FROM Account WHERE Last_Payment_Date__c = '2026-01-01'",
            "INVALID_QUERY_FILTER_OPERATOR",
        ),
        ("SELECT Id FROM Account OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE"),
    ],
)
async def test_query_errors(sf: httpx.AsyncClient, soql: str, code: str) -> None:
    r = await sf.get(f"{V}/query", params={"q": soql})
    assert r.status_code == 400
    [error] = r.json()
    assert error["errorCode"] == code
    assert set(error) == {"message", "errorCode", "fields"}


async def test_query_all_includes_deleted(sf: httpx.AsyncClient) -> None:
    gamma = (
        await sf.get(f"{V}/query", params={"q": "SELECT Id FROM Account WHERE Name = 'gamma inc'"})
    ).json()
    gamma_id = gamma["records"][0]["Id"]
    assert (await sf.delete(f"{V}/sobjects/Account/{gamma_id}")).status_code == 204
    soql = "SELECT Name, IsDeleted FROM Account WHERE Legal_Entity__c = 'DE01'"
    assert (await sf.get(f"{V}/query", params={"q": soql})).json()["totalSize"] == 0
    every = (await sf.get(f"{V}/queryAll", params={"q": soql})).json()
    assert every["records"][0]["IsDeleted"] is True


async def test_paging_default_batch_and_batch_size() -> None:
    emu = SalesforceEmulator()
    account = emu.schema.objects["Account"]
    for i in range(2100):
        emu.engine.create(account, {"Name": f"Bulk {i:04d}"})
    transport = httpx.ASGITransport(app=emu.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sf.test") as sf:
        r = await sf.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "sandbox",
                "client_secret": "sandbox-secret",
            },
        )
        sf.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        first = (
            await sf.get(f"{V}/query", params={"q": "SELECT Id, Name FROM Account ORDER BY Name"})
        ).json()
        assert (first["totalSize"], first["done"], len(first["records"])) == (2100, False, 2000)
        assert first["nextRecordsUrl"].startswith(f"{V}/query/01g")
        assert first["nextRecordsUrl"].endswith("-2000")
        second = (await sf.get(first["nextRecordsUrl"])).json()
        assert (second["done"], len(second["records"])) == (True, 100)
        assert "nextRecordsUrl" not in second
        assert second["records"][-1]["Name"] == "Bulk 2099"

        headers = {"Sforce-Query-Options": "batchSize=500"}
        page = (
            await sf.get(f"{V}/queryAll", params={"q": "SELECT Id FROM Account"}, headers=headers)
        ).json()
        pages, seen = 1, len(page["records"])
        assert "/queryAll/" in page["nextRecordsUrl"]
        while not page["done"]:
            page = (await sf.get(page["nextRecordsUrl"])).json()
            pages, seen = pages + 1, seen + len(page["records"])
        assert (pages, seen) == (5, 2100)

        small = {"Sforce-Query-Options": "batchSize=10"}
        clamped = (
            await sf.get(f"{V}/query", params={"q": "SELECT Id FROM Account"}, headers=small)
        ).json()
        assert len(clamped["records"]) == 200

        bad = await sf.get(f"{V}/query/01gRO0000000099AAA-2000")
        assert bad.status_code == 400
        assert bad.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_parser_precedence_is_pure() -> None:
    q = parse("SELECT Id FROM Account WHERE A = 1 OR B = 2 AND NOT C = 3 LIMIT 5")
    assert isinstance(q.where, BoolOp)
    assert q.where.op == "OR"
    left, right = q.where.items
    assert isinstance(left, Cond)
    assert left.path == ("A",)
    assert isinstance(right, BoolOp)
    assert right.op == "AND"
    assert q.limit == 5
