"""Business Central postings through ``$batch``, against the emulator (issue 15, deliver 4).

One refused line is that posting's outcome while the others post; a throttled or lost staging
answer is retried without a duplicate; and a batch of postings takes a handful of requests,
whatever its size.
"""

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.contract.conftest import FIRM, control, serve_firm
from tests.contract.sandbox_auth import sandbox_connector

from accord.connectors.business_central import BusinessCentralConnector
from accord.connectors.business_central.batch import MAX_OPERATIONS, BatchOperation
from accord.connectors.business_central.erp import BusinessCentralErp, rate_units
from accord.connectors.business_central.mapping import bc_number
from accord.connectors.roles import EntryPosting, ErpProject, PostingBatch
from accord.connectors.testing import SandboxControl
from accord.domain import BillingModel, Money, TimeEntry
from accord.errors import PermanentError, Reason, RetryableError
from accord.rules import load_rules
from accord_sandbox.business_central import BusinessCentralEmulator

RULES = Path(__file__).resolve().parents[2] / "rules" / "default.yaml"
COMPANIES = {e.code: e.bc_company_id for e in FIRM.legal_entities}
RESOURCE = next(c.id for c in FIRM.consultants if c.legal_entity == "DE01")
STAGE = "POST /v2.0/{tenant}/{environment}/api/v2.0/companies({company_id})/journals({parent_id})/journalLines"  # noqa: E501
BATCH = "POST /v2.0/{tenant}/{environment}/api/v2.0/$batch"


@pytest.fixture(scope="module")
def bc_url(serve_asgi: Callable[..., Any]) -> Iterator[str]:
    yield from serve_firm(serve_asgi, BusinessCentralEmulator)


@pytest.fixture
def sandbox(bc_url: str) -> Iterator[SandboxControl]:
    for api in control(bc_url):
        api.clear_faults()
        yield api
        api.clear_faults()


@pytest.fixture
def connector(bc_url: str) -> Iterator[BusinessCentralConnector]:
    with sandbox_connector(
        "business_central",
        bc_url,
        name="business-central",
        tenant="sandbox-tenant",
        company_id=COMPANIES["DE01"],
        companies=COMPANIES,
        api_host=bc_url,
        login_host=bc_url,
    ) as conn:
        assert isinstance(conn, BusinessCentralConnector)
        yield conn


@pytest.fixture
def erp(connector: BusinessCentralConnector) -> BusinessCentralErp:
    role = connector.as_erp(load_rules(RULES))
    assert isinstance(role, BusinessCentralErp)
    return role


_projects = iter(range(1, 10_000))


@pytest.fixture
def project(connector: BusinessCentralConnector) -> ErpProject:
    number = f"BATCH-{next(_projects):04d}"
    connector.upsert("projects", number, {"displayName": f"Batch test {number}"})
    return ErpProject(
        erp_id=number,
        legal_entity="DE01",
        active=True,
        status="Open",
        start_date=None,
        end_date=None,
        billing_model=BillingModel.TIME_AND_MATERIALS,
        practice=None,
        region=None,
        currency="EUR",
    )


def postings(project: ErpProject, count: int, *, resource: str = RESOURCE) -> list[EntryPosting]:
    out = []
    for i in range(count):
        entry = TimeEntry(
            id=f"{project.erp_id}-E{i:03d}",
            project_id=f"canonical-{project.erp_id}",
            resource_id=resource,
            date=dt.date(2026, 9, 1 + i % 28),
            hours=Decimal("1.25") + Decimal(i % 7) / 4,
            billable=True,
            bill_rate=Money.of(Decimal("150.00"), "EUR"),
            notes=f"batch test {i}",
        )
        out.append(EntryPosting(key=entry.id, entry=entry, entry_ids=(entry.id,)))
    return out


def ledger(sandbox: SandboxControl, project: ErpProject) -> list[str]:
    records = sandbox.client.get("/__sandbox/records/projectLedgerEntries").json()["records"]
    return [r["documentNumber"] for r in records if r["projectNumber"] == project.erp_id]


def staged_lines(sandbox: SandboxControl, project: ErpProject) -> list[dict[str, Any]]:
    records = sandbox.client.get("/__sandbox/records/journalLines").json()["records"]
    return [r for r in records if r.get("projectNumber") == project.erp_id]


def test_one_refused_line_is_its_outcome_and_the_others_post(
    erp: BusinessCentralErp, project: ErpProject, sandbox: SandboxControl
) -> None:
    good = postings(project, 4)
    bad = postings(project, 5, resource="NOBODY-AT-ALL")[4]
    batch = PostingBatch("time:partial", project, (*good[:2], bad, *good[2:]))
    sandbox.settle_and_reset_stats()

    outcomes = {o.key: o for o in erp.post_entries(batch)}

    refused = outcomes[bad.key]
    assert not refused.posted
    assert isinstance(refused.error, PermanentError)
    assert refused.error.reason is Reason.RESOURCE_UNKNOWN
    assert all(outcomes[p.key].record_id == bc_number(p.key) for p in good)
    assert sorted(ledger(sandbox, project)) == sorted(bc_number(p.key) for p in good)
    assert staged_lines(sandbox, project) == []
    stats = sandbox.stats()
    # The five lines were one $batch request: five operations, no request of their own.
    assert stats["operations_by_endpoint"][STAGE] == 5
    assert STAGE not in stats["requests_by_endpoint"]
    assert stats["duplicates"] == 0
    # A retry finds the four in the ledger and is refused the fifth again.
    again = {o.key: o for o in erp.post_entries(batch)}
    assert all(again[p.key].found for p in good)
    assert isinstance(again[bad.key].error, PermanentError)
    assert sandbox.duplicates() == 0


def test_a_hundred_postings_take_six_requests(
    erp: BusinessCentralErp, project: ErpProject, sandbox: SandboxControl
) -> None:
    batch = PostingBatch("time:hundred", project, tuple(postings(project, 100)))
    sandbox.settle_and_reset_stats()

    outcomes = erp.post_entries(batch)

    assert all(o.posted and not o.found for o in outcomes)
    stats = sandbox.stats()
    api = {k: v for k, v in stats["requests_by_endpoint"].items() if "/api/" in k}
    # The consultant's home entity (multi-entity pricing) is read once per process and cached:
    # the first test of a run in random order pays for it.
    employees = sum(v for k, v in api.items() if k.endswith("/employees"))
    assert employees <= 1, api
    # Ledger read + batch lookup, create the batch, stage, post, ledger + lines, delete.
    assert sum(api.values()) - employees == 6, api
    assert api[BATCH] == 3
    # BC counts every operation: 7 + 1 + 1 + 100 + 1 + 7 + 1 + 1, as the poster paces by.
    assert stats["window_units"] - employees == rate_units(100) == 119
    assert len(ledger(sandbox, project)) == 100


def test_throttled_lines_come_back_to_retry_and_post_once(
    erp: BusinessCentralErp, project: ErpProject, sandbox: SandboxControl
) -> None:
    batch = PostingBatch("time:throttled", project, tuple(postings(project, 10)))
    # Room for six line creates a second: the last four lines of the $batch are throttled
    # (and the connection's budget pauses for the second BC's Retry-After asks).
    sandbox.add_fault(method="POST", path="*/journalLines", limit_per_window=6, window_s=1)

    outcomes = {o.key: o for o in erp.post_entries(batch)}

    posted = [k for k, o in outcomes.items() if o.posted]
    throttled = [o.error for o in outcomes.values() if not o.posted]
    assert len(posted) == 6
    assert len(throttled) == 4
    assert all(isinstance(e, RetryableError) and e.status_code == 429 for e in throttled)
    sandbox.clear_faults()
    again = erp.post_entries(batch)
    assert all(o.posted for o in again)
    assert sorted(ledger(sandbox, project)) == sorted(bc_number(p.key) for p in batch.postings)
    assert sandbox.duplicates() == 0


def test_a_lost_staging_answer_is_retried_without_a_duplicate(
    erp: BusinessCentralErp, project: ErpProject, sandbox: SandboxControl
) -> None:
    batch = PostingBatch("time:lost", project, tuple(postings(project, 8)))
    sandbox.add_fault(method="POST", path="*/journalLines", lose_response_rate=1.0)

    with pytest.raises(RetryableError):
        erp.post_entries(batch)
    assert len(staged_lines(sandbox, project)) == 8, "BC applied the lines, the answer was lost"

    sandbox.clear_faults()
    assert all(o.posted for o in erp.post_entries(batch))
    assert sorted(ledger(sandbox, project)) == sorted(bc_number(p.key) for p in batch.postings)
    assert staged_lines(sandbox, project) == []
    assert sandbox.duplicates() == 0


def test_more_than_a_hundred_operations_go_in_several_requests(
    connector: BusinessCentralConnector, sandbox: SandboxControl
) -> None:
    company = connector.for_company("DE01")
    read = BatchOperation("GET", f"/companies({company.company_id})/currencies", "currencies")
    sandbox.settle_and_reset_stats()

    answers = company.batch([read] * (MAX_OPERATIONS + 1))
    single = company.batch([read])

    assert len(answers) == MAX_OPERATIONS + 1
    assert all(a.ok and a.body.get("value") for a in [*answers, *single])
    stats = sandbox.stats()
    assert stats["requests_by_endpoint"][BATCH] == 1
    # The 101st operation, and one operation alone, are sent as the request itself.
    currencies = "GET /v2.0/{tenant}/{environment}/api/v2.0/companies({company_id})/currencies"
    assert stats["requests_by_endpoint"][currencies] == 2
    assert stats["operations_by_endpoint"][currencies] == MAX_OPERATIONS
