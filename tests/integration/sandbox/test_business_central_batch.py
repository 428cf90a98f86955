"""The Business Central emulator's ``$batch``: BC's limits, order, errors and lost answers."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.integration.sandbox.test_business_central import DE, ROOT, co, get_token, tiny_firm

from accord_sandbox.business_central import BusinessCentralEmulator
from accord_sandbox.common import FaultSpec

CONTINUE = {"Prefer": "odata.continue-on-error"}
ROOT_TEMPLATE = "/v2.0/{tenant}/{environment}/api/v2.0"


@pytest.fixture
def emu() -> BusinessCentralEmulator:
    emulator = BusinessCentralEmulator(base_url="http://bc.test")
    emulator.seed_firm(tiny_firm())
    return emulator


@pytest.fixture
async def client(emu: BusinessCentralEmulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=emu.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bc.test") as c:
        token = (await get_token(c)).json()["access_token"]
        c.headers["Authorization"] = f"Bearer {token}"
        yield c


async def journal_lines(client: httpx.AsyncClient) -> str:
    found = await client.get(f"{co(DE)}/journals?$filter=code eq 'PROJECTS'")
    return f"companies({DE})/journals({found.json()['value'][0]['id']})/journalLines"


def line(n: int, **extra: Any) -> dict[str, Any]:
    return {"description": f"line {n}", "documentNumber": f"B{n:03d}", **extra}


async def test_operations_run_in_order_each_answering_on_its_own(
    client: httpx.AsyncClient, emu: BusinessCentralEmulator
) -> None:
    lines = await journal_lines(client)
    requests = [
        {"id": "a", "method": "POST", "url": lines, "body": line(1)},
        {"id": "b", "method": "POST", "url": lines, "body": line(2, resourceNumber="NOBODY")},
        {"id": "c", "method": "POST", "url": lines, "body": line(3)},
        {"id": "d", "method": "GET", "url": f"{lines}?$filter=documentNumber eq 'B003'"},
    ]
    stopped = await client.post(f"{ROOT}/$batch", json={"requests": requests})
    answered = await client.post(f"{ROOT}/$batch", json={"requests": requests}, headers=CONTINUE)

    # Without odata.continue-on-error processing stops at the first failed operation.
    assert stopped.status_code == 200
    assert [(r["id"], r["status"]) for r in stopped.json()["responses"]] == [("a", 201), ("b", 400)]
    responses = answered.json()["responses"]
    assert [(r["id"], r["status"]) for r in responses] == [
        ("a", 201),
        ("b", 400),
        ("c", 201),
        ("d", 200),
    ]
    assert responses[0]["body"]["documentNumber"] == "B001"
    assert responses[0]["headers"]["location"]
    refusal = responses[1]["body"]["error"]
    assert refusal["code"] == "Application_FieldValidationException"
    assert "related table (resource)" in refusal["message"]
    assert [v["description"] for v in responses[3]["body"]["value"]] == ["line 3"]
    stats = emu.stats.as_json()
    assert stats["requests_by_endpoint"][f"POST {ROOT_TEMPLATE}/$batch"] == 2
    assert stats["operations"] == 6
    assert stats["max_in_flight"] == 1


async def test_more_than_a_hundred_operations_are_refused_whole(
    client: httpx.AsyncClient, emu: BusinessCentralEmulator
) -> None:
    lines = await journal_lines(client)
    requests = [{"method": "POST", "url": lines, "body": line(n)} for n in range(101)]

    refused = await client.post(f"{ROOT}/$batch", json={"requests": requests}, headers=CONTINUE)

    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "Unknown"
    assert "A maximum number of '100' query operations" in error["message"]
    assert emu.stats.as_json()["operations"] == 0
    snapshot = await client.post(
        f"{ROOT}/$batch", json={"requests": requests[:2]}, headers={"Isolation": "snapshot"}
    )
    assert snapshot.status_code == 400


async def test_each_operation_counts_against_the_rate_window(
    client: httpx.AsyncClient, emu: BusinessCentralEmulator
) -> None:
    emu.add_fault(FaultSpec(path="/v2.0/*/api/*", limit_per_window=3, window_s=300))
    reads = [{"method": "GET", "url": f"companies({DE})/currencies"} for _ in range(5)]

    answer = await client.post(f"{ROOT}/$batch", json={"requests": reads}, headers=CONTINUE)

    # The $batch itself is not counted: three operations fit, the other two are throttled.
    assert answer.status_code == 200
    statuses = [r["status"] for r in answer.json()["responses"]]
    assert statuses == [200, 200, 200, 429, 429]
    assert answer.json()["responses"][3]["headers"]["retry-after"]
    assert emu.stats.window_units >= 3
    alone = await client.get(f"{co(DE)}/currencies")
    assert alone.status_code == 429


async def test_a_lost_operation_answer_loses_the_batch_answer_after_all_applied(
    client: httpx.AsyncClient, emu: BusinessCentralEmulator
) -> None:
    lines = await journal_lines(client)
    emu.add_fault(
        FaultSpec(method="POST", path="*/journalLines", latency_ms=5, lose_response_rate=1.0)
    )
    requests = [{"method": "POST", "url": lines, "body": line(n)} for n in range(3)]

    lost = await client.post(f"{ROOT}/$batch", json={"requests": requests}, headers=CONTINUE)

    assert lost.status_code == 504
    staged = (await client.get(f"{ROOT}/{lines}")).json()["value"]
    assert sorted(v["documentNumber"] for v in staged) == ["B000", "B001", "B002"]
    transport = httpx.ASGITransport(app=emu.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bc.test") as anon:
        anonymous = await anon.post(f"{ROOT}/$batch", json={"requests": requests})
    assert anonymous.status_code == 401
