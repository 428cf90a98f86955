"""SIGKILL of the dispatching worker during a posting burst: nothing is lost or doubled.

Two workers are real subprocesses (the lead-to-project test's ``worker.py``, worker ids
``ttb-kill-a`` and ``ttb-kill-b``): they provision the projects themselves (opportunity
polling every second), then run the approvals journaled here; one of them holds NetSuite's
dispatch lease (``dispatch:netsuite``) and sends every posting. NetSuite's time writes are
slowed so that the kill lands mid-burst. The lease holder is SIGKILLed: the other worker takes
the lease over (once the dead holder's lease expires) and goes on posting what is in the
outbox, the dead worker's items too, while the dead worker is still down. Then the killed
worker restarts under its id and recovers its runs; the ledger ends with every entry posted
once: one ``timeBill`` per entry, posted hours and amounts equal the approved ones. On SQLite
and PostgreSQL.
"""

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import httpx
import pytest
import yaml
from dbos import DBOSClient
from tests.dbs import BACKENDS, fresh_database
from tests.e2e.lead_to_project.conftest import unique, write_config
from tests.e2e.time_to_bill.conftest import DEFAULTS
from tests.support import authorize_sandbox_kantata_in

from accord.connectors.salesforce import SalesforceConfig, SalesforceConnector
from accord.flows.capture import canonical_event
from accord.flows.dispatcher import LEASE_TTL_S
from accord.flows.intake import journal_events
from accord.flows.runtime import Runtime
from accord.settings import Settings
from accord.store import create_db_engine, cursors, leases, migrate, postings
from accord.store.cursors import CursorState
from accord.store.journal import NewEvent
from accord_sandbox.server import Sandbox

pytestmark = pytest.mark.slow

WORKER = Path(__file__).parents[1] / "lead_to_project" / "worker.py"
SHEETS = 20
CENT = Decimal("0.01")
WORKERS = ("ttb-kill-a", "ttb-kill-b")
LEASE = "dispatch:netsuite"
TAKEOVER_S = 2 * LEASE_TTL_S + 10
"""The lease frees LEASE_TTL_S after the dead holder's last renewal and the survivor tries
every third of it: a generous bound for a loaded machine (bench/failover.py measures it)."""


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER)],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).parents[3],
    )


def _opportunity(sf: SalesforceConnector, entity: str) -> str:
    us = entity == "US01"
    account = sf.create(
        "Account",
        {
            "Name": unique("Burst"),
            "BillingStreet": "1 Main Street",
            "BillingCity": "Springfield",
            "BillingCountry": "US" if us else "GB",
            "CurrencyIsoCode": "USD" if us else "GBP",
            "Legal_Entity__c": entity,
            "Tax_Region__c": "US-EAST" if us else "UK-VAT",
        },
    ).id
    return sf.create(
        "Opportunity",
        {
            "Name": unique("Burst deal"),
            "AccountId": account,
            "StageName": "Closed Won",
            "Amount": 80000,
            "CurrencyIsoCode": "USD" if us else "GBP",
            "CloseDate": "2026-05-20",
            "Service_Package__c": "ADVISORY-TM",
            "Billing_Model__c": "Time and Materials",
            "Legal_Entity__c": entity,
            "Practice__c": "TECH",
            "Region__c": "NA-EAST" if us else "UKI",
            "Start_Date__c": "2026-06-01",
        },
    ).id


def _sheet(project: str, resource: str, currency: str, n: int) -> dict:
    week = ("2026-07-06", "2026-08-03", "2026-09-14")[n % 3]
    day0 = datetime.fromisoformat(week).date()
    entries = []
    for i in range(10):
        value = (Decimal(15 + (n * 41 + i * 29) % 400) / 60).quantize(CENT)
        entries.append(
            {
                "id": f"KILL-{project[-6:]}-{n}-{i}",
                "project_id": project,
                "resource_id": resource,
                "date": day0.replace(day=day0.day + i % 5).isoformat(),
                "hours": str(value),
                "billable": True,
                "bill_rate": {"amount": f"{120 + n % 3 * 7.5:.2f}", "currency": currency},
                "notes": "burst",
            }
        )
    return {
        "id": f"KILL-TS-{project[-6:]}-{n}",
        "resource_id": resource,
        "project_id": project,
        "week_start": week,
        "status": "approved",
        "approved_at": datetime.now(UTC).isoformat(),
        "entries": entries,
    }


def _posted(engine) -> int:
    with engine.connect() as conn:
        return len(postings.list_(conn, status="posted", limit=100_000))


def _written(netsuite: str) -> int:
    bills = httpx.get(f"{netsuite}/__sandbox/records/timeBill", timeout=10).json()["records"]
    return sum(1 for b in bills if str(b.get("externalId")).startswith("KILL-"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_of_the_dispatcher_hands_over_and_loses_and_doubles_nothing(
    backend: str, tmp_path: Path
) -> None:
    with (
        Sandbox(base_port=0, scenario="firm", seed=7).start_in_thread() as sandbox,
        fresh_database(backend, tmp_path) as db_url,
    ):
        config = write_config(tmp_path, sandbox.urls, psa="kantata")
        document = yaml.safe_load(config.read_text())
        document["lead_to_project"]["capture_interval_s"] = 1
        document["time_to_bill"] = {**DEFAULTS, "cache_ttl_s": 60}
        for section in ("approvals", "cash", "milestones"):
            if isinstance(document.get(section), dict):
                document[section]["capture_interval_s"] = 0
        config.write_text(yaml.safe_dump(document))
        engine = create_db_engine(db_url)
        migrate(engine)
        # The worker process decrypts the token with the key it inherits (see env below).
        authorize_sandbox_kantata_in(engine, config)
        with engine.begin() as conn:
            cursors.save(
                conn,
                CursorState(
                    connection="salesforce",
                    resource="Opportunity",
                    high_watermark=datetime.now(UTC),
                ),
            )
        sf = SalesforceConnector(
            SalesforceConfig(
                name="salesforce",
                login_url=sandbox.urls["salesforce"],
                client_id="sandbox",
                client_secret="sandbox-secret",  # type: ignore[arg-type]
            )
        )
        opps = {_opportunity(sf, "US01"): ("EMP-0001", "USD")}
        opps[_opportunity(sf, "UK01")] = ("EMP-0015", "GBP")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
        env |= {
            "ACCORD_CREDENTIALS_KEY": os.environ["ACCORD_CREDENTIALS_KEY"],
            "ACCORD_DATABASE_URL": db_url,
            "ACCORD_CONFIG_FILE": str(config),
            "ACCORD_OBSERVABILITY__LOG_JSON": "false",
        }
        logs = {w: tmp_path / f"{w}.log" for w in WORKERS}
        procs = {w: _start(env | {"ACCORD_WORKER_ID": w}, logs[w]) for w in WORKERS}

        def alive() -> None:
            for w, p in procs.items():
                assert p.poll() is None, logs[w].read_text()

        client: DBOSClient | None = None
        try:
            deadline = time.monotonic() + 90
            while not all(
                sf.get("Opportunity", o).get("Integration_Status__c") == "Provisioned" for o in opps
            ):
                assert time.monotonic() < deadline, "the projects were not provisioned"
                alive()
                time.sleep(0.2)
            netsuite = sandbox.urls["netsuite"]
            httpx.post(
                f"{netsuite}/__sandbox/faults",
                json={"method": "PUT", "path": "*/record/v1/timeBill/*", "latency_ms": 300},
                timeout=10,
            ).raise_for_status()
            sheets = [
                _sheet(f"PRJ-SF-{opp}", resource, currency, n)
                for opp, (resource, currency) in opps.items()
                for n in range(SHEETS // 2)
            ]
            events = []
            for sheet in sheets:
                event = canonical_event("timesheet.approved", sheet, subject=sheet["id"])
                events.append(
                    NewEvent(
                        source="test/psa",
                        ce_id=sheet["id"],
                        type=event.type,
                        subject=event.subject,
                        business_key=event.business_key,
                        time=None,
                        data_json=event.data_json,
                    )
                )
            runtime = Runtime(Settings(database_url=db_url, worker_id="test"), engine, worker=False)
            client = runtime.client = DBOSClient(system_database_engine=engine)
            with engine.begin() as conn:
                journal_events(conn, runtime, events)
            total = SHEETS * 10
            deadline = time.monotonic() + 60
            while _written(netsuite) < 20:
                assert time.monotonic() < deadline, "no posting reached NetSuite"
                alive()
                time.sleep(0.05)
            # Kill the dispatcher: the worker holding NetSuite's dispatch lease.
            dead = leases.holder_of(engine, LEASE)
            assert dead in WORKERS, dead
            (survivor,) = set(WORKERS) - {dead}
            os.kill(procs[dead].pid, signal.SIGKILL)
            procs[dead].wait(timeout=10)
            written_at_kill = _written(netsuite)
            assert _posted(engine) < total, "the kill came too late to test anything"
            httpx.delete(f"{netsuite}/__sandbox/faults", timeout=10)
            # The survivor takes the lease over and posts on, the dead worker still down.
            deadline = time.monotonic() + TAKEOVER_S
            while leases.holder_of(engine, LEASE) != survivor:
                assert time.monotonic() < deadline, logs[survivor].read_text()
                assert procs[survivor].poll() is None, logs[survivor].read_text()
                time.sleep(0.1)
            deadline = time.monotonic() + 60
            while _written(netsuite) < written_at_kill + 20:
                assert time.monotonic() < deadline, logs[survivor].read_text()
                assert procs[survivor].poll() is None, logs[survivor].read_text()
                time.sleep(0.1)
            assert procs[dead].poll() is not None
            # The dead worker comes back under its id and recovers its runs.
            procs[dead] = _start(env | {"ACCORD_WORKER_ID": dead}, logs[dead])
            deadline = time.monotonic() + 120
            while _posted(engine) < total:
                assert time.monotonic() < deadline, logs[dead].read_text()
                alive()
                time.sleep(0.2)
        finally:
            if client is not None:
                client.destroy()
            for proc in procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs.values():
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for url in sandbox.urls.values():
            stats = httpx.get(f"{url}/__sandbox/stats", timeout=10).json()
            assert stats["duplicates"] == 0, stats
        bills = [
            b
            for b in httpx.get(f"{netsuite}/__sandbox/records/timeBill", timeout=10).json()[
                "records"
            ]
            if str(b.get("externalId")).startswith("KILL-")
        ]
        ids = [b["externalId"] for b in bills]
        assert len(ids) == len(set(ids)) == total
        expected_hours: dict[str, Decimal] = defaultdict(Decimal)
        expected_amount: dict[str, Decimal] = defaultdict(Decimal)
        for sheet in sheets:
            for e in sheet["entries"]:
                expected_hours[sheet["project_id"]] += Decimal(e["hours"])
                line = Decimal(e["hours"]) * Decimal(e["bill_rate"]["amount"])
                expected_amount[sheet["project_id"]] += line.quantize(CENT, ROUND_HALF_UP)
        with engine.connect() as conn:
            totals = postings.totals_by_project(conn)
        for project, hours in expected_hours.items():
            assert totals[project]["hours"] == hours
            assert sum(totals[project]["amount"].values()) == expected_amount[project]
        engine.dispose()
        sf.close()
