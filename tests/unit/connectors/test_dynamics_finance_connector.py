"""Dynamics 365 Finance connector behaviour on recorded bodies (httpx.MockTransport)."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from accord.connectors.budget import LocalBudget
from accord.connectors.dynamics_finance import (
    BatchRequest,
    DynamicsFinanceConfig,
    DynamicsFinanceConnector,
    refusal_reason,
)
from accord.connectors.dynamics_finance.batch import decode_batch, encode_batch
from accord.connectors.testing import FakeClock, MockRouter
from accord.errors import AuthError, BusinessRuleError, NotFoundError, RetryableError

FIXTURES = Path(__file__).parents[2] / "fixtures" / "dynamics_finance"
ENV = "https://contoso.operations.dynamics.com"
TOKEN = "/tenant-1/oauth2/v2.0/token"


def body(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def reply(status: int, name: str | None = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body(name) if name else None, headers=headers)


def config(**overrides: Any) -> DynamicsFinanceConfig:
    settings: dict[str, Any] = {
        "name": "d365",
        "environment_url": ENV,
        "tenant": "tenant-1",
        "client_id": "cid",
        "client_secret": "s3cr3t-value",
        "company": "de01",
        "companies": {"DE01": "de01", "US01": "US01"},
    } | overrides
    return DynamicsFinanceConfig.model_validate(settings)


@pytest.fixture
def connector(mock_router: MockRouter, fake_clock: FakeClock) -> DynamicsFinanceConnector:
    mock_router.add("POST", TOKEN, reply(200, "token"))
    budget = LocalBudget(monotonic=fake_clock.monotonic, sleep=fake_clock.sleep)
    return DynamicsFinanceConnector(
        config(), transport=mock_router.transport, clock=fake_clock.now, budget=budget
    )


def test_urls_and_scope_derive_from_the_environment() -> None:
    cfg = config()
    assert cfg.base_url == f"{ENV}/data"
    assert cfg.scope == f"{ENV}/.default"
    assert cfg.token_url == "https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token"
    assert "s3cr3t-value" not in repr(cfg)
    assert cfg.area_for("US01") == "us01"
    assert cfg.entity_of("de01") == "DE01"
    with pytest.raises(ValueError, match="unknown company"):
        cfg.area_for("FR01")


def test_token_is_for_the_environment_and_reads_are_cross_company(
    connector: DynamicsFinanceConnector, mock_router: MockRouter
) -> None:
    page = mock_router.add("GET", "/data/CustomersV3", reply(200, "customers_page"))
    first = connector.read_page("CustomersV3", limit=2, since=datetime(2026, 8, 1, tzinfo=UTC))
    form = dict(httpx.QueryParams(mock_router.routes[-1].calls[0].content.decode()))
    assert form["scope"] == f"{ENV}/.default"
    assert form["grant_type"] == "client_credentials"
    params = page.calls[0].url.params
    assert params["cross-company"] == "true"
    assert params["$filter"] == "dataAreaId eq 'de01' and ModifiedDateTime gt 2026-08-01T00:00:00Z"
    assert params["$orderby"] == "ModifiedDateTime asc,dataAreaId asc,CustomerAccount asc"
    assert first.high_watermark == datetime(2026, 9, 1, 9, 0, 5, tzinfo=UTC)
    assert first.next_cursor is not None
    connector.read_page("CustomersV3", cursor=first.next_cursor, limit=2)
    keyset = page.calls[1].url.params["$filter"]
    assert "ModifiedDateTime gt 2026-09-01T09:00:05Z" in keyset
    assert "CustomerAccount gt 'C-0002'" in keyset
    meta = connector.describe("CustomersV3", first.records[0])
    assert meta.id == "dataAreaId='de01',CustomerAccount='C-0001'"
    assert meta.external_id == "C-0001"
    with pytest.raises(ValueError, match="cursor"):
        connector.read_page("CustomersV3", cursor="bm90IGEgY3Vyc29y", limit=2)


def test_upsert_creates_then_patches_by_natural_key(
    connector: DynamicsFinanceConnector, mock_router: MockRouter
) -> None:
    path = "/data/CustomersV3(dataAreaId='de01',CustomerAccount='C-0001')"
    record = body("customers_page")["value"][0]
    mock_router.add("GET", path, reply(404, "error_not_found"), httpx.Response(200, json=record))
    post = mock_router.add("POST", "/data/CustomersV3", httpx.Response(201, json=record))
    patch = mock_router.add("PATCH", path, httpx.Response(204, headers={"ETag": 'W/"new"'}))
    created = connector.upsert("CustomersV3", "C-0001", {"OrganizationName": "Rheinwerk AG"})
    assert created.created is True
    assert json.loads(post.calls[0].content)["dataAreaId"] == "de01"
    updated = connector.upsert("CustomersV3", "C-0001", {"OrganizationName": "Rheinwerk SE"})
    assert (updated.created, updated.etag) == (False, 'W/"new"')
    assert patch.calls[0].headers["If-Match"] == record["@odata.etag"]
    with pytest.raises(ValueError, match="key predicate"):
        connector.get("CustomersV3", "C-0001) or (1 eq 1")


@pytest.mark.parametrize(
    ("status", "fixture", "error", "reason"),
    [
        (400, "error_closed_period", BusinessRuleError, "period_closed"),
        (500, "error_related_resource", BusinessRuleError, "resource_unknown"),
        (404, "error_not_found", NotFoundError, "not_found"),
    ],
)
def test_refusals_say_what_to_do_and_why(
    connector: DynamicsFinanceConnector,
    mock_router: MockRouter,
    status: int,
    fixture: str,
    error: type[Exception],
    reason: str,
) -> None:
    mock_router.add(
        "GET", "/data/Projects(dataAreaId='de01',ProjectID='P-1')", reply(status, fixture)
    )
    with pytest.raises(error) as caught:
        connector.get("Projects", "dataAreaId='de01',ProjectID='P-1'")
    assert caught.value.reason == reason  # type: ignore[attr-defined]
    assert caught.value.status_code == status  # type: ignore[attr-defined]


def test_throttling_and_refused_credentials(mock_router: MockRouter, fake_clock: FakeClock) -> None:
    mock_router.add("POST", TOKEN, reply(200, "token"))
    mock_router.add(
        "GET", "/data/LegalEntities", reply(429, "error_throttled", **{"Retry-After": "7"})
    )
    budget = LocalBudget(monotonic=fake_clock.monotonic, sleep=fake_clock.sleep)
    with DynamicsFinanceConnector(config(), transport=mock_router.transport, budget=budget) as conn:
        with pytest.raises(RetryableError) as caught:
            conn.check()
        assert caught.value.retry_after == 7
        assert budget.usage(conn.config).penalties_total == 1
    refused = MockRouter()
    refused.add("POST", TOKEN, reply(401, "error_invalid_client"))
    with (
        DynamicsFinanceConnector(config(), transport=refused.transport) as conn,
        pytest.raises(AuthError) as denied,
    ):
        conn.check()
    assert denied.value.code == "invalid_client"


def test_batch_frames_a_changeset_and_reads_the_answer(
    connector: DynamicsFinanceConnector, mock_router: MockRouter
) -> None:
    answer = (FIXTURES / "batch_refused.txt").read_bytes()
    sent = mock_router.add(
        "POST",
        "/data/$batch",
        httpx.Response(
            200,
            content=answer,
            headers={"Content-Type": "multipart/mixed; boundary=batchresponse_1"},
        ),
    )
    answers = connector.batch(
        [BatchRequest("POST", "ProjectHourJournalLines", {"Hours": 8})] * 2, atomic=True
    )
    assert [(a.status, a.content_id) for a in answers] == [(500, "2"), (200, None)]
    error = connector.batch_error(answers[0], resource="ProjectHourJournalLines")
    assert isinstance(error, BusinessRuleError)
    assert error.reason == "resource_unknown"
    request = sent.calls[0]
    assert request.headers["Content-Type"].startswith("multipart/mixed; boundary=batch_")
    text = request.content.decode()
    assert text.count("Content-ID:") == 2
    assert f"POST {ENV}/data/ProjectHourJournalLines HTTP/1.1" in text


def test_encoded_batches_decode_back() -> None:
    _, raw = encode_batch(ENV, [BatchRequest("GET", "Currencies")], atomic=False)
    assert "changeset" not in raw.decode()
    with pytest.raises(ValueError, match="boundary"):
        decode_batch("application/json", raw)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "The value 'X' in field 'Customer' is not found in the related table 'Customers'.",
            "customer_invalid",
        ),
        (
            "Project P-1 is in stage Created; the stage does not allow transactions to be posted.",
            "project_inactive",
        ),
        ("The value 'NOPE' for the dimension 'Department' does not exist.", "dimension_invalid"),
        (
            "Cannot create a record in Customers. CustomerAccount: C-1. The record already exists.",
            "duplicate",
        ),
        ("Hours must be greater than zero.", "validation"),
    ],
)
def test_refusal_reasons_from_infolog_text(text: str, reason: str) -> None:
    assert refusal_reason(text) == reason
