"""The short chaos run (``bench/chaos.py`` is the long one): nothing lost, nothing doubled.

A worker process (the lead-to-project test's ``worker.py``) provisions two projects, then posts
200 approved entries into NetSuite while, on a seeded schedule (``bench/_chaos.py``), it is
SIGKILLed and started again, NetSuite refuses connections and then answers 503s, throttles
with 429s, commits writes and loses the answers, and answers after the client's timeout; on
PostgreSQL the database server restarts too. NetSuite is reached through a TCP gate. The
verdict comes from NetSuite's own records and duplicate counters: every entry posted once (by
external id and by business identity), each project's hours and amounts to the cent, every run
finished.
"""

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from dbos import DBOSClient
from tests.e2e.lead_to_project.conftest import write_config
from tests.e2e.time_to_bill.conftest import DEFAULTS
from tests.e2e.time_to_bill.test_sigkill import WORKER, _opportunity, _sheet
from tests.support import authorize_sandbox_kantata_in

from accord.connectors.salesforce import SalesforceConfig, SalesforceConnector
from accord.flows.capture import canonical_event
from accord.flows.intake import journal_events
from accord.flows.runtime import Runtime
from accord.settings import Settings
from accord.store import create_db_engine, cursors, migrate
from accord.store.cursors import CursorState
from accord.store.journal import NewEvent
from accord_sandbox.gate import TcpGate
from accord_sandbox.server import Sandbox

sys.path.insert(0, str(Path(__file__).parents[3] / "bench"))
import _chaos

pytestmark = pytest.mark.slow

SHEETS = 10
"""Timesheets per project (10 entries each): 200 entries."""
TIMEOUT_S = 2.0
SPEC = _chaos.ChaosSpec(
    kills=1, outage_s=3, storms=1, storm_s=2, lost=1, lost_s=3, slow=1, slow_s=2
)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[_chaos.PgCluster | None]:
    """SQLite, or a PostgreSQL server of the test's own (it is restarted)."""
    if request.param == "sqlite":
        yield None
        return
    bindir = _chaos.postgres_bindir()
    if bindir is None:
        if os.environ.get("ACCORD_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required but its server programs are not installed")
        pytest.skip("no PostgreSQL server programs")
    cluster = _chaos.PgCluster(bindir)
    cluster.start()
    yield cluster
    cluster.stop()


def _events(sheets: list[dict]) -> list[NewEvent]:
    out = []
    for sheet in sheets:
        event = canonical_event("timesheet.approved", sheet, subject=sheet["id"])
        out.append(
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
    return out


def test_a_short_chaos_run_loses_and_doubles_nothing(
    tmp_path: Path, database: _chaos.PgCluster | None
) -> None:
    with Sandbox(base_port=0, scenario="firm", seed=7).start_in_thread() as sandbox:
        ns = sandbox.urls["netsuite"]
        gate = TcpGate(ns)
        gate.open()
        sandbox.emulators["netsuite"].base_url = gate.url  # the URL Accord calls (token audience)
        config = write_config(tmp_path, {**sandbox.urls, "netsuite": gate.url}, psa="kantata")
        document = yaml.safe_load(config.read_text())
        document["lead_to_project"]["capture_interval_s"] = 1
        document["time_to_bill"] = {**DEFAULTS, "cache_ttl_s": 60}
        document["connections"]["netsuite"]["timeout_s"] = TIMEOUT_S
        for section in ("approvals", "cash", "milestones"):
            if isinstance(document.get(section), dict):
                document[section]["capture_interval_s"] = 0
        config.write_text(yaml.safe_dump(document))
        db_url = (
            database.fresh_database("accord")
            if database is not None
            else f"sqlite:///{tmp_path / 'accord.db'}"
        )
        engine = create_db_engine(db_url)
        migrate(engine)
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
            "ACCORD_WORKER_ID": "chaos-worker",
            "ACCORD_CONFIG_FILE": str(config),
            "ACCORD_OBSERVABILITY__LOG_JSON": "false",
        }
        log = tmp_path / "worker.log"

        def launch() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, str(WORKER)],
                env=env,
                stdout=log.open("ab"),
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).parents[3],
            )

        fleet = _chaos.Fleet([_chaos.Member("worker", launch, log=log)])
        fleet.start()
        client: DBOSClient | None = None
        chaos: _chaos.Chaos | None = None
        try:
            # Generous: on a loaded machine (load 70 on 2 cores) provisioning alone took 2 minutes.
            deadline = time.monotonic() + 240
            while not all(
                sf.get("Opportunity", o).get("Integration_Status__c") == "Provisioned" for o in opps
            ):
                assert time.monotonic() < deadline, log.read_text()
                fleet.supervise()
                assert not fleet.exits, fleet.exits
                time.sleep(0.2)
            # 200 ms per time posting: the drain lasts long enough for every fault to land.
            latency = {"method": "PUT", "path": _chaos.TIME_BILLS, "latency_ms": 200}
            erp = _chaos.ErpFaults(ns, gate, timeout_s=TIMEOUT_S, base=[latency], spec=SPEC)
            erp.restore()
            # NetSuite's counters from here on are the drain's (the verdict reads them).
            httpx.post(f"{ns}/__sandbox/stats/reset", timeout=10).raise_for_status()
            spec = SPEC if database is None else dataclasses.replace(SPEC, db_restarts=1)
            plan = _chaos.schedule(24, 6.0, spec)
            chaos = _chaos.Chaos(plan, fleet=fleet, erp=erp, db=database, seed=24)
            fleet.clock = chaos.elapsed
            sheets = [
                _sheet(f"PRJ-SF-{opp}", resource, currency, n)
                for opp, (resource, currency) in opps.items()
                for n in range(SHEETS)
            ]
            for sheet in sheets:
                for entry in sheet["entries"]:
                    # Entries re-dated into the open period share a day: a memo of their own
                    # keeps two entries from being one business fact.
                    entry["notes"] = f"chaos {entry['id']}"
            runtime = Runtime(Settings(database_url=db_url, worker_id="test"), engine, worker=False)
            client = runtime.client = DBOSClient(system_database_engine=engine)
            with engine.begin() as conn:
                journal_events(conn, runtime, _events(sheets))
            chaos.start()
            deadline = time.monotonic() + 180
            # Every fault applied, then every run finished.
            while chaos.is_alive() or _chaos.unfinished(engine):
                assert time.monotonic() < deadline, (chaos.applied, log.read_text()[-3000:])
                fleet.supervise()
                time.sleep(0.5)
            verdict = _chaos.judge(_chaos.entries_of(sheets), ns, engine)
        finally:
            if chaos is not None:
                chaos.halt()
            if client is not None:
                client.destroy()
            fleet.stop()
            gate.close()
            sf.close()
        assert chaos.errors == []
        assert chaos.summary() == chaos.planned(), chaos.applied
        # The faults met traffic: NetSuite answered injected errors (a run in which Accord was
        # down through every window would pass the verdict and test nothing).
        assert verdict["throttled"] + verdict["errors"] > 0, chaos.applied
        assert fleet.exits == []
        assert verdict["entries"] == verdict["time_bills"] == 2 * SHEETS * 10
        assert _chaos.passed(verdict), verdict
        assert verdict["runs"] == {"SUCCESS": 2 * SHEETS}, verdict
        engine.dispose()
