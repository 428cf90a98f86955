"""Dynamics 365 Finance as an ERP, on its emulator: projects, periods, postings exactly once."""

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from tests.support import ROOT

from accord.connectors.dynamics_finance import DynamicsFinanceConfig, DynamicsFinanceConnector
from accord.connectors.dynamics_finance.mapping import posting_ref
from accord.connectors.roles import EntryPosting, Erp, ErpProject, PostingBatch
from accord.connectors.testing import SandboxControl
from accord.domain import BillingModel, Expense, ExpenseCategory, ExpenseStatus, Money, TimeEntry
from accord.errors import BusinessRuleError, RetryableError
from accord.rules import load_rules
from accord_sandbox.dynamics_finance import DynamicsFinanceEmulator
from accord_sandbox.scenario import generate

FIRM = generate("small", 7)
RULES = load_rules(ROOT / "rules" / "default.yaml")
RESOURCE = next(c.id for c in FIRM.consultants if c.legal_entity == "DE01")
DAY = dt.date(2026, 9, 14)  # September 2026 is open for DE01 in the small firm


@pytest.fixture(scope="module")
def emulator_url(serve_asgi: Callable[..., Any]) -> Iterator[str]:
    def make_app(base_url: str) -> Any:
        emulator = DynamicsFinanceEmulator(base_url=base_url)
        emulator.seed_firm(FIRM)
        return emulator.app

    with serve_asgi(make_app) as url:
        yield url


@pytest.fixture
def control(emulator_url: str) -> Iterator[SandboxControl]:
    with httpx.Client(base_url=emulator_url, timeout=10) as client:
        sandbox = SandboxControl(client)
        sandbox.reset()
        yield sandbox
        sandbox.clear_faults()


@pytest.fixture
def connector(emulator_url: str) -> Iterator[DynamicsFinanceConnector]:
    config = DynamicsFinanceConfig.model_validate(
        {
            "name": "dynamics-finance",
            "environment_url": emulator_url,
            "tenant": "sandbox-tenant",
            "login_host": emulator_url,
            "client_id": "sandbox",
            "client_secret": "sandbox-secret",
            "company": "de01",
            "companies": {e.code: e.code.lower() for e in FIRM.legal_entities},
            "dimension_delimiter": "|",
            "timeout_s": 10,
            "rate_per_s": 500,
        }
    )
    with DynamicsFinanceConnector(config) as conn:
        yield conn


@pytest.fixture
def erp(connector: DynamicsFinanceConnector) -> Erp:
    return connector.as_erp(RULES)


def _project(connector: DynamicsFinanceConnector, *, stage: str = "InProcess") -> str:
    suffix = uuid.uuid4().hex[:8].upper()
    connector.upsert(
        "CustomersV3", f"C-{suffix}", {"OrganizationName": "Acme GmbH", "CustomerGroupId": "10"}
    )
    connector.upsert(
        "ProjectContractHeaders",
        f"PC-{suffix}",
        {"Name": "Data platform", "CustomerAccountNumber": f"C-{suffix}"},
    )
    connector.upsert(
        "Projects",
        f"P-{suffix}",
        {
            "ProjectName": "Data platform",
            "ProjectContractID": f"PC-{suffix}",
            "ProjectType": "TimeMaterial",
            "ProjectStage": stage,
            "ProjectedStartDate": "2026-09-01T12:00:00Z",
            "DefaultDimensionDisplayValue": "DATA-AI|DACH",
        },
    )
    return f"P-{suffix}"


def _time(
    key: str, *, hours: str = "7.5", day: dt.date = DAY, resource: str = RESOURCE
) -> EntryPosting:
    entry = TimeEntry(
        id=key,
        project_id="prj-1",
        resource_id=resource,
        date=day,
        hours=Decimal(hours),
        billable=True,
        bill_rate=Money.of(Decimal(180), "EUR"),
        notes="Workshop",
    )
    return EntryPosting(
        key=key,
        entry=entry,
        entry_ids=(key,),
        dimensions={"department": "DATA-AI", "class": "DACH"},
    )


def _expense(key: str) -> EntryPosting:
    expense = Expense(
        id=key,
        project_id="prj-1",
        resource_id=RESOURCE,
        date=DAY,
        category=ExpenseCategory.TRAVEL,
        amount=Money.of(Decimal("412.50"), "EUR"),
        billable=True,
        status=ExpenseStatus.APPROVED,
        description="Train to Köln",
    )
    return EntryPosting(key=key, entry=expense, entry_ids=(key,))


def _batch(erp: Erp, project_id: str, *postings: EntryPosting) -> PostingBatch:
    project = erp.project(project_id)
    assert project is not None
    return PostingBatch(batch_id=f"time:{uuid.uuid4()}", project=project, postings=postings)


def _posted(connector: DynamicsFinanceConnector, project_id: str) -> list[dict[str, Any]]:
    return connector.query("ProjectPostedTransactions", f"ProjectId eq '{project_id}'")


def test_project_and_periods_in_canonical_terms(
    erp: Erp, connector: DynamicsFinanceConnector, control: SandboxControl
) -> None:
    project_id = _project(connector)
    project = erp.project(project_id)
    assert project == ErpProject(
        erp_id=project_id,
        legal_entity="DE01",
        active=True,
        status="InProcess",
        start_date=dt.date(2026, 9, 1),
        end_date=None,
        billing_model=BillingModel.TIME_AND_MATERIALS,
        practice="DATA",
        region="DACH",
        currency="EUR",
    )
    assert erp.project("P-NOWHERE") is None
    assert erp.record_type("time") == "dynamics_finance:ProjectHourJournalLine"
    closed = erp.closed_periods("DE01")
    assert "2025-06" in closed
    assert "2026-09" not in closed
    control.client.post(
        "/__sandbox/periods", json={"entity": "DE01", "period": "2026-09", "status": "closed"}
    ).raise_for_status()
    assert "2026-09" in erp.closed_periods("DE01")


def test_postings_book_once_and_are_found_again(
    erp: Erp, connector: DynamicsFinanceConnector, control: SandboxControl
) -> None:
    project_id = _project(connector)
    batch = _batch(erp, project_id, _time("te-1"), _time("te-2", hours="2"), _expense("ex-1"))
    first = erp.post_entries(batch)
    assert [(o.key, o.posted, o.found, o.error) for o in first] == [
        ("te-1", True, False, None),
        ("te-2", True, False, None),
        ("ex-1", True, False, None),
    ]
    again = erp.post_entries(batch)
    assert all(o.posted and o.found for o in again)
    assert erp.posted_entries(batch.project, ["te-1", "ex-1", "te-9"]) == {
        "te-1": posting_ref("te-1"),
        "ex-1": posting_ref("ex-1"),
    }
    posted = _posted(connector, project_id)
    assert sorted((p["TransactionType"], p["Quantity"]) for p in posted) == [
        ("Cost", 1),
        ("Hour", 2),
        ("Hour", 7.5),
    ]
    hour = next(p for p in posted if p["Quantity"] == 7.5)
    assert hour["TransactionId"] == posting_ref("te-1")
    assert hour["TotalSalesAmount"] == 1350
    assert control.duplicates() == 0


@pytest.mark.parametrize(
    "lost",
    [
        "/data/ProjectHourJournalHeaders",
        "/data/$batch",
        "*/Microsoft.Dynamics.DataEntities.PostJournal",
    ],
)
def test_a_lost_answer_never_books_twice(
    erp: Erp, connector: DynamicsFinanceConnector, control: SandboxControl, lost: str
) -> None:
    project_id = _project(connector)
    batch = _batch(erp, project_id, _time("lost-1"), _time("lost-2"))
    control.add_fault(method="POST", path=lost, lose_response_rate=1.0)
    with pytest.raises(RetryableError):
        erp.post_entries(batch)
    control.clear_faults()
    outcomes = erp.post_entries(batch)
    assert all(o.posted for o in outcomes)
    assert len(_posted(connector, project_id)) == 2
    assert control.duplicates() == 0


def test_refusals_carry_canonical_reasons(
    erp: Erp, connector: DynamicsFinanceConnector, control: SandboxControl
) -> None:
    project_id = _project(connector)
    unknown = _time("nobody", resource="emp-9999")
    outcomes = erp.post_entries(_batch(erp, project_id, _time("ok-1"), unknown))
    assert outcomes[0].posted
    assert isinstance(outcomes[1].error, BusinessRuleError)
    assert outcomes[1].error.reason == "resource_unknown"

    control.client.post(
        "/__sandbox/periods", json={"entity": "DE01", "period": "2026-09", "status": "closed"}
    ).raise_for_status()
    batch = _batch(erp, project_id, _time("closed-1"))
    refused = erp.post_entries(batch)
    assert refused[0].error is not None
    assert refused[0].error.reason == "period_closed"
    # The refused journal is gone: reopening the period and retrying posts the entry once.
    control.client.post(
        "/__sandbox/periods", json={"entity": "DE01", "period": "2026-09", "status": "open"}
    ).raise_for_status()
    assert erp.post_entries(batch)[0].posted
    assert len(_posted(connector, project_id)) == 2

    inactive = _project(connector, stage="Created")
    stopped = erp.post_entries(_batch(erp, inactive, _time("inactive-1")))
    assert stopped[0].error is not None
    assert stopped[0].error.reason == "project_inactive"
    assert control.duplicates() == 0


def test_the_async_poster_posts_through_the_gate(
    erp: Erp, connector: DynamicsFinanceConnector, control: SandboxControl
) -> None:
    project_id = _project(connector)
    batch = _batch(erp, project_id, _time("async-1"))
    entered: list[int] = []

    @contextlib.asynccontextmanager
    async def gate() -> AsyncIterator[None]:
        entered.append(1)
        yield

    async def run() -> list[bool]:
        poster = erp.poster(gate)  # type: ignore[attr-defined]
        try:
            return [o.posted for o in await poster.post(batch)]
        finally:
            await poster.aclose()

    assert asyncio.run(run()) == [True]
    assert entered == [1]
    assert control.duplicates() == 0


def test_reconciliation_reads_posted_lines_plans_and_keys(
    erp: Erp, connector: DynamicsFinanceConnector, control: SandboxControl
) -> None:
    """Lines of posted journals only, worth what Accord counts; plan totals; key predicates."""
    project_id = _project(connector)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    batch = _batch(erp, project_id, _time("rc-te"), _expense("rc-ex"))
    assert all(o.posted for o in erp.post_entries(batch))
    # A line staged in an open journal is not posted: reconciliation must not count it.
    open_journal = connector.insert(
        "ProjectHourJournalHeaders",
        {"JournalName": connector.config.hour_journal_name, "Description": "Manual"},
    )
    staged = erp.posting_body(batch, _time("rc-open"))
    connector.insert(
        "ProjectHourJournalLines",
        staged | {"JournalId": open_journal["JournalBatchNumber"]},
    )

    held = {w.key: w for w in erp.posted_work([batch.project])}
    assert set(held) == {erp.held_key("rc-te"), erp.held_key("rc-ex")}
    time, expense = held[erp.held_key("rc-te")], held[erp.held_key("rc-ex")]
    assert (time.kind, time.hours, time.amount, time.currency) == (
        "time",
        Decimal("7.5"),
        Decimal("1350.00"),
        "EUR",
    )
    assert (expense.kind, expense.hours, expense.amount, expense.billable) == (
        "expense",
        None,
        Decimal("412.50"),
        True,
    )
    assert {w.key for w in erp.posted_work([batch.project], changed_since=before)} == set(held)
    assert [w.key for w in erp.posted_work([], keys=["rc-ex", "rc-open"])] == [
        erp.held_key("rc-ex")
    ]

    for key, price in (("MS-A", 1000), ("MS-B", 250.5)):
        connector.upsert(
            "ProjectOnAccountTransactions",
            f"{key}-{project_id}",
            {"ProjectID": project_id, "Quantity": 1, "SalesPrice": price, "IsMilestone": "Yes"},
        )
    assert erp.billing_plan_total(project_id) == Decimal("1250.50")
    assert erp.billing_plan_total("P-NOWHERE") is None
    line = connector.get_by_external_id("ProjectOnAccountTransactions", f"MS-A-{project_id}")
    assert line is not None
    kept = connector.describe("ProjectOnAccountTransactions", line).id
    gone = "dataAreaId='de01',TransactionId='MS-GONE'"
    assert erp.existing("erp_milestone", [kept, gone]) == {kept}
    assert project_id not in (erp.keyed_records("erp_project") or {})  # its own contract id
    assert control.duplicates() == 0


def test_reconciliation_follows_the_next_link(serve_asgi: Callable[..., Any]) -> None:
    """Server-driven pages of one record each are all read (the nextLink is followed)."""

    def make_app(base_url: str) -> Any:
        emulator = DynamicsFinanceEmulator(base_url=base_url, page_size=1)
        emulator.seed_firm(FIRM)
        return emulator.app

    with serve_asgi(make_app) as url:
        config = DynamicsFinanceConfig.model_validate(
            {
                "name": "dynamics-finance",
                "environment_url": url,
                "tenant": "sandbox-tenant",
                "login_host": url,
                "client_id": "sandbox",
                "client_secret": "sandbox-secret",
                "company": "de01",
                "companies": {e.code: e.code.lower() for e in FIRM.legal_entities},
                "dimension_delimiter": "|",
            }
        )
        with DynamicsFinanceConnector(config) as connector:
            erp = connector.as_erp(RULES)
            project_id = _project(connector)
            batch = _batch(erp, project_id, _time("pg-1"), _time("pg-2", hours="2"))
            assert all(o.posted for o in erp.post_entries(batch))
            held = erp.posted_work([batch.project], keys=["pg-1"])
            assert sorted(w.hours or 0 for w in held) == [Decimal(2), Decimal("7.5")]
            customer = f"C-{project_id[2:]}"
            assert erp.existing("customer", [customer, "C-GONE"]) == {customer}
