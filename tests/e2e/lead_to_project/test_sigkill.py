"""SIGKILL of the worker mid-flow: after a restart every opportunity is provisioned once.

The worker is a real subprocess polling Salesforce on its own schedule (every second). Writes to
Kantata and NetSuite are slowed down so that the kill lands while runs are between steps; the
restarted worker (same worker id) recovers them. Nothing may exist twice anywhere: the sandbox's
duplicate counters stay 0 and each project exists once in the PSA and once in the ERP.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from tests.e2e.lead_to_project.conftest import unique, write_config
from tests.support import authorize_sandbox_kantata_in

from accord.connectors.salesforce import SalesforceConfig, SalesforceConnector
from accord.store import create_db_engine, cursors, migrate
from accord.store.cursors import CursorState
from accord_sandbox.server import Sandbox

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("worker.py")
COUNT = 4


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER)],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).parents[3],
    )


def _provisioned(sf: SalesforceConnector, ids: list[str]) -> int:
    return sum(sf.get("Opportunity", i).get("Integration_Status__c") == "Provisioned" for i in ids)


def test_sigkill_mid_flow_duplicates_nothing(tmp_path: Path) -> None:
    with Sandbox(base_port=0, scenario="firm", seed=7).start_in_thread() as sandbox:
        config = write_config(tmp_path, sandbox.urls, psa="kantata")
        document = yaml.safe_load(config.read_text())
        document["lead_to_project"]["capture_interval_s"] = 1
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
        engine.dispose()
        sf = SalesforceConnector(
            SalesforceConfig(
                name="salesforce",
                login_url=sandbox.urls["salesforce"],
                client_id="sandbox",
                client_secret="sandbox-secret",  # type: ignore[arg-type]
            )
        )
        for system, path in (("kantata", "*/api/v1/*"), ("netsuite", "*/record/v1/*")):
            httpx.post(
                f"{sandbox.urls[system]}/__sandbox/faults",
                json={
                    "method": "PUT" if system == "netsuite" else "POST",
                    "path": path,
                    "latency_ms": 400,
                },
                timeout=10,
            ).raise_for_status()
        ids = []
        for i in range(COUNT):
            entity = ("US01", "UK01")[i % 2]
            account = sf.create(
                "Account",
                {
                    "Name": unique("Kill"),
                    "BillingStreet": "1 Main Street",
                    "BillingCity": "Springfield",
                    "BillingCountry": "US" if entity == "US01" else "GB",
                    "CurrencyIsoCode": "USD" if entity == "US01" else "GBP",
                    "Legal_Entity__c": entity,
                    "Tax_Region__c": "US-EAST" if entity == "US01" else "UK-VAT",
                },
            ).id
            ids.append(
                sf.create(
                    "Opportunity",
                    {
                        "Name": unique("Kill deal"),
                        "AccountId": account,
                        "StageName": "Closed Won",
                        "Amount": 50000 + i,
                        "CurrencyIsoCode": "USD" if entity == "US01" else "GBP",
                        "CloseDate": "2026-09-20",
                        "Service_Package__c": "ROLLOUT-MILESTONE",
                        "Billing_Model__c": "Milestone",
                        "Legal_Entity__c": entity,
                        "Practice__c": "TECH",
                        "Region__c": "NA-EAST" if entity == "US01" else "UKI",
                        "Start_Date__c": "2026-10-05",
                    },
                ).id
            )
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
        env |= {
            "ACCORD_CREDENTIALS_KEY": os.environ["ACCORD_CREDENTIALS_KEY"],
            "ACCORD_DATABASE_URL": db_url,
            "ACCORD_WORKER_ID": "l2p-kill",
            "ACCORD_CONFIG_FILE": str(config),
            "ACCORD_OBSERVABILITY__LOG_JSON": "false",
        }
        log = tmp_path / "worker.log"
        proc = _start(env, log)
        try:
            # Kill once some workspace is being built but not every run is done.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                stories = httpx.get(
                    f"{sandbox.urls['kantata']}/__sandbox/records/stories", timeout=10
                ).json()["records"]
                if stories:
                    break
                assert proc.poll() is None, log.read_text()
                time.sleep(0.05)
            else:
                pytest.fail(f"the worker never started provisioning:\n{log.read_text()}")
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            assert _provisioned(sf, ids) < COUNT, "the kill came too late to test anything"
            httpx.delete(f"{sandbox.urls['kantata']}/__sandbox/faults", timeout=10)
            httpx.delete(f"{sandbox.urls['netsuite']}/__sandbox/faults", timeout=10)
            proc = _start(env, log)
            deadline = time.monotonic() + 90
            while _provisioned(sf, ids) < COUNT:
                assert time.monotonic() < deadline, log.read_text()
                assert proc.poll() is None, log.read_text()
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for url in sandbox.urls.values():
            assert httpx.get(f"{url}/__sandbox/stats", timeout=10).json()["duplicates"] == 0
        refs = httpx.get(
            f"{sandbox.urls['kantata']}/__sandbox/records/external_references", timeout=10
        ).json()["records"]
        jobs = httpx.get(f"{sandbox.urls['netsuite']}/__sandbox/records/job", timeout=10).json()[
            "records"
        ]
        for opp in ids:
            key = f"PRJ-SF-{opp}"
            workspaces = {
                r["subject_id"]
                for r in refs
                if r["service_model_ref"] == key and r["subject_type"] == "Workspace"
            }
            assert len(workspaces) == 1, key
            assert len([j for j in jobs if j.get("externalId") == key]) == 1, key
            record = sf.get("Opportunity", opp)
            assert record["PSA_Project_Id__c"] in workspaces
        sf.close()
