"""SIGKILL of the worker during a posting burst: after a restart nothing is lost or doubled.

The worker is a real subprocess (the lead-to-project test's ``worker.py``): it provisions the
projects itself (opportunity polling every second), then posts the approvals journaled here.
NetSuite's time writes are slowed so that the kill lands mid-burst, inside posting steps;
the restarted worker (same worker id) recovers the runs, re-PUTs by external id, and the
ledger ends with every entry posted once: posted hours and amounts equal the approved ones.
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
from tests.e2e.lead_to_project.conftest import unique, write_config
from tests.e2e.time_to_bill.conftest import DEFAULTS
from tests.support import authorize_sandbox_kantata_in

from accord.connectors.salesforce import SalesforceConfig, SalesforceConnector
from accord.flows.capture import canonical_event
from accord.flows.intake import journal_events
from accord.flows.runtime import Runtime
from accord.settings import Settings
from accord.store import create_db_engine, cursors, migrate, postings
from accord.store.cursors import CursorState
from accord.store.journal import NewEvent
from accord_sandbox.server import Sandbox

pytestmark = pytest.mark.slow

WORKER = Path(__file__).parents[1] / "lead_to_project" / "worker.py"
SHEETS = 20
CENT = Decimal("0.01")


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


def test_sigkill_during_burst_loses_and_doubles_nothing(tmp_path: Path) -> None:
    with Sandbox(base_port=0, scenario="firm", seed=7).start_in_thread() as sandbox:
        config = write_config(tmp_path, sandbox.urls, psa="kantata")
        document = yaml.safe_load(config.read_text())
        document["lead_to_project"]["capture_interval_s"] = 1
        document["time_to_bill"] = {**DEFAULTS, "cache_ttl_s": 60}
        for section in ("approvals", "cash", "milestones"):
            if isinstance(document.get(section), dict):
                document[section]["capture_interval_s"] = 0
        config.write_text(yaml.safe_dump(document))
        db_url = f"sqlite:///{tmp_path / 'accord.db'}"
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
            "ACCORD_WORKER_ID": "ttb-kill",
            "ACCORD_CONFIG_FILE": str(config),
            "ACCORD_OBSERVABILITY__LOG_JSON": "false",
        }
        log = tmp_path / "worker.log"
        proc = _start(env, log)
        client: DBOSClient | None = None
        try:
            deadline = time.monotonic() + 90
            while not all(
                sf.get("Opportunity", o).get("Integration_Status__c") == "Provisioned" for o in opps
            ):
                assert time.monotonic() < deadline, log.read_text()
                assert proc.poll() is None, log.read_text()
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
            while True:
                bills = httpx.get(f"{netsuite}/__sandbox/records/timeBill", timeout=10).json()
                written = sum(
                    1 for b in bills["records"] if str(b.get("externalId")).startswith("KILL-")
                )
                if written >= 20:
                    break
                assert time.monotonic() < deadline, log.read_text()
                assert proc.poll() is None, log.read_text()
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            assert _posted(engine) < total, "the kill came too late to test anything"
            httpx.delete(f"{netsuite}/__sandbox/faults", timeout=10)
            proc = _start(env, log)
            deadline = time.monotonic() + 120
            while _posted(engine) < total:
                assert time.monotonic() < deadline, log.read_text()
                assert proc.poll() is None, log.read_text()
                time.sleep(0.2)
        finally:
            if client is not None:
                client.destroy()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for url in sandbox.urls.values():
            assert httpx.get(f"{url}/__sandbox/stats", timeout=10).json()["duplicates"] == 0
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
