"""Per-contract ordering under concurrency: many interleaved amendments, two worker processes.

The in-process Accord runs 4 event runs at once, and a second worker process (its own DBOS
executor, 4 more) shares the database. Several contracts are amended round after round
without waiting, so each contract has several versions queued at once while the ERP is slowed
down. Each contract's versions must still apply one at a time, in version order, and the
final PSA and ERP state must be the last version's.

Every round also approves a timesheet on each contract's project: time-to-bill runs need no
order (each entry posts by its own key, issue 15), so they run on the order-free queue
(``accord-bulk``, unpartitioned) and post through the ERP's dispatcher, while each contract's
amendments wait in their own key's one partition of ``accord-events``. The amendments' order
must hold all the same.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from tests.dbs import runtime_table
from tests.e2e.contracts.conftest import WORKFLOW, contract_runs, provisioned
from tests.e2e.lead_to_project.conftest import Accord, start_accord

from accord.flows.capture import canonical_event
from accord.flows.runtime import BULK_QUEUE, EVENTS_QUEUE
from accord.settings import IntakeSettings
from accord.store.journal import NewEvent
from accord_sandbox.server import SandboxHandle

WORKER = Path(__file__).parents[1] / "lead_to_project" / "worker.py"
ROUNDS = 4
DEALS = (
    {"entity": "US01", "package": "IMPL-FIXED", "model": "Fixed Fee"},
    {"entity": "UK01", "package": "ROLLOUT-MILESTONE", "model": "Milestone"},
    {"entity": "US01", "package": "ROLLOUT-MILESTONE", "model": "Milestone"},
    {"entity": "DE01", "package": "MANAGED-RETAINER", "model": "Retainer"},
)


@pytest.fixture(scope="module")
def accord(
    sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory, module_db_url: str
) -> Iterator[Accord]:
    """Accord running 4 event runs at once, on SQLite and (when a server is set) PostgreSQL."""
    yield from start_accord(
        tmp_path_factory.mktemp("contracts-order"),
        sandbox,
        psa="kantata",
        database_url=module_db_url,
        worker_id="e2e-contracts-a",
        intake=IntakeSettings(worker_concurrency=4),
    )


@pytest.fixture
def second_worker(accord: Accord, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Another worker process on the same database (executor ``e2e-contracts-b``)."""
    settings = accord.services.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env |= {
        # The same credentials key as the first worker: the Kantata token is stored under it.
        "ACCORD_CREDENTIALS_KEY": os.environ["ACCORD_CREDENTIALS_KEY"],
        "ACCORD_DATABASE_URL": settings.database_url,
        "ACCORD_WORKER_ID": "e2e-contracts-b",
        "ACCORD_CONFIG_FILE": str(settings.config_file),
        "ACCORD_INTAKE__WORKER_CONCURRENCY": "4",
        "ACCORD_OBSERVABILITY__LOG_JSON": "false",
    }
    log = tmp_path / "worker-b.log"
    proc = subprocess.Popen(
        [sys.executable, str(WORKER)],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).parents[3],
    )
    # Generous: on a loaded 2-core machine a worker's imports and launch took over 60 s.
    deadline = time.monotonic() + 180
    while "worker ready" not in log.read_text():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    yield proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def slow_erp(accord: Accord) -> Iterator[None]:
    """NetSuite and BC writes take 150 ms: versions pile up while one applies."""
    urls = accord.sandbox.urls
    for system, method, path in (
        ("netsuite", "PUT", "*/record/v1/*"),
        ("business_central", "PATCH", "*/api/v2.0/*"),
    ):
        httpx.post(
            f"{urls[system]}/__sandbox/faults",
            json={"method": method, "path": path, "latency_ms": 150},
            timeout=10,
        ).raise_for_status()
    yield
    for system in ("netsuite", "business_central"):
        httpx.delete(f"{urls[system]}/__sandbox/faults", timeout=10)


CONSULTANT = {"US01": "EMP-0001", "UK01": "EMP-0015", "DE01": "EMP-0024"}
CURRENCY = {"US01": "USD", "UK01": "GBP", "DE01": "EUR"}


def amount(deal: int, round_: int) -> int:
    return 100000 + deal * 7000 + round_ * 1000


def approve_time(accord: Accord, opp: str, entity: str, round_: int) -> None:
    """Journal an approved timesheet on the contract's project (an order-free run)."""
    sheet = f"ORD-TS-{opp}-{round_}"
    data = {
        "id": sheet,
        "resource_id": CONSULTANT[entity],
        "project_id": f"PRJ-SF-{opp}",
        "week_start": "2026-10-05",
        "status": "approved",
        "approved_at": "2026-10-10T17:00:00+00:00",
        "entries": [
            {
                "id": f"{sheet}-E{n}",
                "project_id": f"PRJ-SF-{opp}",
                "resource_id": CONSULTANT[entity],
                "date": f"2026-10-0{5 + n}",
                # Hours differ by round: the emulator counts a second entry of the same
                # person, day, project and hours as a duplicate, whatever its external id.
                "hours": f"{round_}.{n + 1}0",
                "billable": True,
                "bill_rate": {"amount": "150.00", "currency": CURRENCY[entity]},
                "notes": "ordering",
            }
            for n in range(2)
        ],
    }
    event = canonical_event("timesheet.approved", data, subject=sheet)
    (receipt,) = accord.services.writer.submit(
        [
            NewEvent(
                source="test/psa",
                ce_id=sheet,
                type=event.type,
                subject=event.subject,
                business_key=event.business_key,
                time=None,
                data_json=event.data_json,
            )
        ]
    )
    receipt.result(timeout=10)


def partitions(accord: Accord, workflow: str) -> dict[str, tuple[str, str | None]]:
    """Run id -> (queue, partition) of every event run of ``workflow``."""
    url = accord.services.settings.database_url
    with accord.services.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT workflow_uuid, queue_name, queue_partition_key"
                f" FROM {runtime_table(url, 'workflow_status')}"
                " WHERE name = :name"
            ),
            {"name": workflow},
        ).all()
    return {str(r[0]): (str(r[1]), r[2]) for r in rows}


def test_interleaved_amendments_apply_in_order_per_contract(
    accord: Accord, second_worker: subprocess.Popen[bytes], slow_erp: None
) -> None:
    opps = [provisioned(accord, amount=amount(i, 0), **deal)[0] for i, deal in enumerate(DEALS)]
    for round_ in range(1, ROUNDS + 1):
        # Every contract changes in every round; one poll journals one version of each.
        for i, opp in enumerate(opps):
            accord.sf().update("Opportunity", opp, {"Amount": amount(i, round_)})
        assert accord.poll() == len(opps)
        for i, opp in enumerate(opps):
            approve_time(accord, opp, DEALS[i]["entity"], round_)
    finished = accord.settle(120, name=WORKFLOW)
    # The timesheets' runs all finished on the order-free queue, unpartitioned; each
    # contract's amendments ran in one partition (their key's), which keeps them in order.
    timesheets = accord.settle(120, name="time_to_bill")
    assert len(timesheets) == ROUNDS * len(opps)
    assert {r["status"] for r in timesheets} == {"SUCCESS"}
    assert set(partitions(accord, "time_to_bill").values()) == {(BULK_QUEUE, None)}
    amended = partitions(accord, WORKFLOW)
    executors = set()
    for i, opp in enumerate(opps):
        runs = contract_runs(accord, opp)
        assert [r["version"] for r in runs] == list(range(2, ROUNDS + 2)), runs
        assert {r["status"] for r in runs} == {"applied"}, runs
        ids = {
            r["id"] for r in finished if (r["output"] or {}).get("contract_id") == f"CTR-SF-{opp}"
        }
        assert len({amended[rid] for rid in ids}) == 1
        assert {amended[rid][0] for rid in ids} == {EVENTS_QUEUE}
        # Applied one after the other, in version order (each run's last step's time).
        applied_at = [r["recorded_at"] for r in runs]
        assert applied_at == sorted(applied_at), runs
        # Each version's diff starts where the previous one ended: nothing was skipped.
        currency = {"US01": "USD", "UK01": "GBP", "DE01": "EUR"}[DEALS[i]["entity"]]
        field = "retainer_fee" if DEALS[i]["model"] == "Retainer" else "total_value"
        chain = [(r["diff"][field]["from"], r["diff"][field]["to"]) for r in runs]
        expected = [
            (f"{amount(i, n - 1)}.00 {currency}", f"{amount(i, n)}.00 {currency}")
            for n in range(1, ROUNDS + 1)
        ]
        assert chain == expected
        # The final state everywhere is the last version's.
        project = f"PRJ-SF-{opp}"
        erp = "business_central" if DEALS[i]["entity"] == "DE01" else "netsuite"
        lines = accord.billing_schedule(project, erp)
        assert sum(line["amount"] for line in lines) == Decimal(amount(i, ROUNDS))
        executors |= {
            r["executor"]
            for r in finished
            if (r["output"] or {}).get("contract_id") == f"CTR-SF-{opp}"
        }
        contingency = {"Fixed Fee": "1.10", "Milestone": "1.05", "Retainer": "1"}[DEALS[i]["model"]]
        workspace = next(
            w
            for w in accord.records("kantata", "workspaces")
            if w["id"] == accord.get("Opportunity", opp)["PSA_Project_Id__c"]
        )
        budget = Decimal(amount(i, ROUNDS)) * Decimal(contingency)
        assert workspace["price_in_cents"] == int(budget * 100)
    # Both worker processes took part (printed for the record; DBOS decides who dequeues).
    print(f"contract runs by executor: {sorted(executors)}")
    assert second_worker.poll() is None
    assert set(accord.duplicates().values()) == {0}
