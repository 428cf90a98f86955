"""A worker subprocess on Business Central, SIGKILLed and restarted: for exactly-once tests.

:class:`KillHarness` provisions DE01 (Business Central) projects through a real worker
process (opportunity polling), journals events for it, kills it at random moments and
restarts it under the same worker id, and waits until no run of a workflow is left.
"""

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from dbos import DBOSClient
from tests.dbs import fresh_database, runtime_table
from tests.e2e.lead_to_project.conftest import unique, write_config
from tests.support import authorize_sandbox_kantata_in

from accord.connectors.salesforce import SalesforceConfig, SalesforceConnector
from accord.flows.capture import canonical_event
from accord.flows.intake import journal_events
from accord.flows.replay import retry_exception
from accord.flows.runtime import Runtime
from accord.settings import Settings
from accord.store import create_db_engine, cursors, exceptions, migrate
from accord.store.cursors import CursorState
from accord.store.journal import NewEvent
from accord_sandbox.server import Sandbox, SandboxHandle

WORKER = Path(__file__).parent / "lead_to_project" / "worker.py"
RULES = Path(__file__).parents[2] / "rules" / "default.yaml"


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER)],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).parents[2],
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def new_events(event_type: str, items: list[dict[str, Any]]) -> list[NewEvent]:
    """Approval (or milestone) events as the intake journals them, one per item."""
    out = []
    for item in items:
        event = canonical_event(event_type, item, subject=item["id"])
        out.append(
            NewEvent(
                source="test/psa",
                ce_id=item["id"],
                type=event.type,
                subject=event.subject,
                business_key=event.business_key,
                time=None,
                data_json=event.data_json,
            )
        )
    return out


@dataclass
class KillHarness:
    """The sandbox, a database, and a worker subprocess to kill (see the module docstring)."""

    sandbox: SandboxHandle
    db_url: str
    folder: Path
    rng: random.Random
    engine: Any = None
    sf: Any = None
    proc: Any = None
    runtime: Any = None
    client: Any = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def log(self) -> Path:
        return self.folder / "worker.log"

    def start(
        self,
        time_to_bill: dict[str, Any],
        *,
        edit_rules: Callable[[dict[str, Any]], None] | None = None,
    ) -> Path:
        """Write the config (and with ``edit_rules`` a rules file of its own), start the worker.

        Returns:
            The config file.
        """
        config = write_config(self.folder, self.sandbox.urls, psa="kantata")
        document = yaml.safe_load(config.read_text())
        document["lead_to_project"]["capture_interval_s"] = 1
        if edit_rules is not None:
            rules = self.folder / "rules.yaml"
            spec = yaml.safe_load(RULES.read_text(encoding="utf-8"))
            edit_rules(spec)
            rules.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
            document["lead_to_project"]["rules"] = str(rules)
        document["time_to_bill"] = time_to_bill
        for section in ("approvals", "cash", "milestones"):
            if isinstance(document.get(section), dict):
                document[section]["capture_interval_s"] = 0
        config.write_text(yaml.safe_dump(document))
        self.engine = create_db_engine(self.db_url)
        migrate(self.engine)
        authorize_sandbox_kantata_in(self.engine, config)
        with self.engine.begin() as conn:
            cursors.save(
                conn,
                CursorState(
                    connection="salesforce",
                    resource="Opportunity",
                    high_watermark=datetime.now(UTC),
                ),
            )
        self.sf = SalesforceConnector(
            SalesforceConfig(
                name="salesforce",
                login_url=self.sandbox.urls["salesforce"],
                client_id="sandbox",
                client_secret="sandbox-secret",  # type: ignore[arg-type]
            )
        )
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
        self.env |= {
            "ACCORD_DATABASE_URL": self.db_url,
            "ACCORD_WORKER_ID": "bc-kill",
            "ACCORD_CONFIG_FILE": str(config),
            "ACCORD_OBSERVABILITY__LOG_JSON": "false",
            # The worker decrypts Kantata's stored token with the key the tests run under.
            "ACCORD_CREDENTIALS_KEY": os.environ["ACCORD_CREDENTIALS_KEY"],
        }
        self.proc = _start(self.env, self.log)
        self.runtime = Runtime(
            Settings(database_url=self.db_url, worker_id="test"), self.engine, worker=False
        )
        self.client = self.runtime.client = DBOSClient(system_database_engine=self.engine)
        return config

    def provision(self, count: int, *, package: str, model: str, kills: int = 0) -> list[str]:
        """Win ``count`` DE01 opportunities; wait until the worker provisioned them all.

        With ``kills``, the worker is killed and restarted that many times meanwhile.
        """
        opportunities = [self._opportunity(package, model) for _ in range(count)]
        self.kill_and_restart(kills)
        deadline = time.monotonic() + 120
        while not all(
            self.sf.get("Opportunity", o).get("Integration_Status__c") == "Provisioned"
            for o in opportunities
        ):
            assert time.monotonic() < deadline, self.log.read_text()
            assert self.proc.poll() is None, self.log.read_text()
            time.sleep(0.2)
        return [f"PRJ-SF-{o}" for o in opportunities]

    def _opportunity(self, package: str, model: str) -> str:
        account = self.sf.create(
            "Account",
            {
                "Name": unique("Kill BC"),
                "BillingStreet": "1 Hauptstrasse",
                "BillingCity": "Berlin",
                "BillingCountry": "DE",
                "CurrencyIsoCode": "EUR",
                "Legal_Entity__c": "DE01",
                "Tax_Region__c": "EU-VAT",
            },
        ).id
        return self.sf.create(
            "Opportunity",
            {
                "Name": unique("Kill BC deal"),
                "AccountId": account,
                "StageName": "Closed Won",
                "Amount": 80000,
                "CurrencyIsoCode": "EUR",
                "CloseDate": "2026-05-20",
                "Service_Package__c": package,
                "Billing_Model__c": model,
                "Legal_Entity__c": "DE01",
                "Practice__c": "TECH",
                "Region__c": "DACH",
                "Start_Date__c": "2026-06-01",
            },
        ).id

    def faults(self, rules: list[dict[str, Any]]) -> None:
        bc = self.sandbox.urls["business_central"]
        for rule in rules:
            httpx.post(f"{bc}/__sandbox/faults", json=rule, timeout=10).raise_for_status()

    def clear_faults(self) -> None:
        httpx.delete(f"{self.sandbox.urls['business_central']}/__sandbox/faults", timeout=10)

    def journal(self, events: list[NewEvent]) -> None:
        with self.engine.begin() as conn:
            journal_events(conn, self.runtime, events)

    def kill_and_restart(self, times: int, *, within: tuple[float, float] = (0.5, 3.0)) -> None:
        """SIGKILL the worker at random moments, restarting it under the same id each time.

        Each kill comes a random number of seconds in ``within`` after the previous one.
        """
        for _ in range(times):
            time.sleep(self.rng.uniform(*within))
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = _start(self.env, self.log)

    def settle(self, workflow: str, timeout: float = 240) -> None:
        """Wait until no run of ``workflow`` is pending or enqueued (faults cleared first)."""
        self.clear_faults()
        table = runtime_table(self.db_url, "workflow_status")
        deadline = time.monotonic() + timeout
        while True:
            with self.engine.connect() as conn:
                busy = conn.exec_driver_sql(
                    f"SELECT count(*) FROM {table} WHERE name = '{workflow}' "
                    "AND status IN ('PENDING', 'ENQUEUED')"
                ).scalar_one()
            if not busy:
                return
            assert time.monotonic() < deadline, self.log.read_text()
            assert self.proc.poll() is None, self.log.read_text()
            time.sleep(0.3)

    def open_exceptions(self, flow: str) -> list[Any]:
        with self.engine.connect() as conn:
            found = exceptions.list_(conn, status="open", limit=500)
        return [e for e in found if e.flow == flow]

    def retry_open(self, flow: str) -> int:
        """Retry every open exception of ``flow`` as an operator would; returns how many."""
        still = self.open_exceptions(flow)
        for exc in still:
            with self.engine.begin() as conn:
                retry_exception(conn, self.runtime, self.client, exception_id=exc.id, actor="test")
        time.sleep(1)
        return len(still)

    def records(self, obj: str) -> list[dict[str, Any]]:
        bc = self.sandbox.urls["business_central"]
        return httpx.get(f"{bc}/__sandbox/records/{obj}", timeout=10).json()["records"]

    def duplicates(self) -> int:
        bc = self.sandbox.urls["business_central"]
        return int(httpx.get(f"{bc}/__sandbox/stats", timeout=10).json()["duplicates"])

    def close(self) -> None:
        if self.client is not None:
            self.client.destroy()
        if self.proc is not None:
            _stop(self.proc)
        if self.sf is not None:
            self.sf.close()
        if self.engine is not None:
            self.engine.dispose()


@contextmanager
def kill_harness(backend: str, folder: Path, *, seed: int) -> Iterator[KillHarness]:
    """A :class:`KillHarness` on a fresh database of ``backend``, closed on exit."""
    with (
        Sandbox(base_port=0, scenario="firm", seed=7).start_in_thread() as sandbox,
        fresh_database(backend, folder) as db_url,
    ):
        harness = KillHarness(sandbox, db_url, folder, random.Random(seed))
        try:
            yield harness
        finally:
            harness.close()
