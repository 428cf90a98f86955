"""Reconciliation end to end: the sandbox and one Accord in-process (one runtime per module).

Deals are won in the Salesforce emulator and provisioned by lead-to-project; consultants' time
is logged, submitted and approved in the Kantata emulator, captured and posted to NetSuite or
Business Central by time-to-bill: the three systems hold what Accord wrote. Tests then change
a system through its own API (what a clerk would do) and reconcile in this process
(:func:`accord.flows.reconciliation.run_here`, as ``accord reconcile`` does).

``settle_minutes: 0``: the emulators answer at once, so nothing is "still on its way" once the
runs have settled.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from dbos import DBOS
from tests.e2e.lead_to_project.conftest import Accord, start_accord, unique

from accord.connectors.kantata import KantataConnector
from accord.flows.approvals.capture import approval_specs
from accord.flows.capture import poll_once
from accord.flows.reconciliation import run_here, start_run
from accord.store import exceptions, postings
from accord.store import reconciliation as store
from accord.store.exceptions import BusinessException
from accord.store.reconciliation import DriftItem, ReconciliationRun
from accord_sandbox.server import Sandbox, SandboxHandle

WEEK = "2026-10-05"
"""The deals' start (a Monday) in an open period: time is logged that week."""
CURRENCY = {"US01": "USD", "UK01": "GBP", "DE01": "EUR"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    """The four emulators on free ports, scenario firm."""
    handle = Sandbox(base_port=0, scenario="firm", seed=7).start_in_thread()
    yield handle
    handle.stop()


def _tweak(document: dict[str, Any]) -> None:
    document["reconciliation"] = {"interval_minutes": 0, "settle_minutes": 0}
    document["approvals"]["capture_interval_s"] = 0


@dataclass
class Recon:
    """The module's Accord, with what the tests do to the systems and then reconcile."""

    accord: Accord

    @property
    def engine(self) -> Any:
        return self.accord.services.engine

    # ------------------------------------------------------------------ making the firm
    def deal(
        self, *, entity: str = "US01", model: str = "Time and Materials", **fields: Any
    ) -> dict[str, Any]:
        """A won deal provisioned by lead-to-project; its run's output."""
        package = {
            "Time and Materials": "ADVISORY-TM",
            "Fixed Fee": "IMPL-FIXED",
            "Milestone": "ROLLOUT-MILESTONE",
        }[model]
        account = self.accord.account(entity=entity)
        opp = self.accord.opportunity(
            account, entity=entity, package=package, model=model, **fields
        )
        run = self.accord.provision(opp)
        assert run["status"] == "provisioned", run
        return run

    def kantata(self) -> KantataConnector:
        connector = self.accord.services.connections.connector("kantata")
        assert isinstance(connector, KantataConnector)
        return connector

    def log_time(
        self, workspace: str, minutes: tuple[int, ...], *, currency: str = "USD"
    ) -> list[str]:
        """Log, submit and approve a week of time in Kantata; the entries' canonical ids."""
        kantata = self.kantata()
        user = next(
            u
            for u in kantata.read_page("users").records
            if kantata.describe("users", u).external_id and u.get("currency") == currency
        )
        ids = [
            kantata.create(
                "time_entries",
                {
                    "workspace_id": workspace,
                    "user_id": user["id"],
                    "date_performed": f"2026-10-0{5 + day}",
                    "time_in_minutes": m,
                    "billable": True,
                },
            ).id
            for day, m in enumerate(minutes)
        ]
        submission = kantata.create(
            "timesheet_submissions",
            {"workspace_id": workspace, "user_id": user["id"], "start_date": WEEK},
        ).id
        kantata.approve_timesheet(submission)
        keys = [f"kantata-te-{i}" for i in ids]
        # Until time-to-bill recorded every entry's outcome: a poll's runs may start after
        # ``settle`` looked (the intake commits them a moment later), so poll and look again.
        deadline = time.monotonic() + 120
        while True:
            self.capture_approvals()
            with self.engine.connect() as conn:
                rows = postings.get_many(conn, kind="time", entry_ids=keys)
            if len(rows) == len(keys) and all(r.status != postings.QUEUED for r in rows.values()):
                return keys
            assert time.monotonic() < deadline, f"time-to-bill did not settle {keys}: {rows}"
            time.sleep(0.5)

    def capture_approvals(self) -> None:
        """One poll of Kantata's approvals, then wait for time-to-bill."""
        (spec,) = approval_specs("kantata")
        poll_once(
            self.accord.services.connections.connector("kantata"),
            connection=spec.connection,
            resource=spec.resource,
            engine=self.engine,
            runtime=self.accord.services.runtime,
            to_events=spec.to_events,
            overlap=timedelta(seconds=30),
            read=spec.read,
            describe=spec.describe,
        )
        self.settle("time_to_bill")

    def settle(self, name: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not DBOS.list_workflows(status=["PENDING", "ENQUEUED"], name=name, load_input=False):
                return
            time.sleep(0.2)
        pytest.fail(f"{name} runs did not finish in time")

    # ------------------------------------------------------------------ the systems' APIs
    def url(self, system: str) -> str:
        return self.accord.sandbox.urls[system]

    def time_bills(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """NetSuite's time bills carrying these external ids."""
        return {
            r["externalId"]: r
            for r in self.accord.records("netsuite", "timeBill")
            if r.get("externalId") in keys
        }

    def netsuite(self) -> Any:
        return self.accord.services.connections.connector("netsuite")

    # ------------------------------------------------------------------ reconciling
    def reconcile(self, *, project_id: str | None = None) -> ReconciliationRun:
        """One run in this process (as ``accord reconcile`` makes it)."""
        with self.engine.begin() as conn:
            run = start_run(conn, trigger="manual", actor="test", project_id=project_id)
        return run_here(run.id)

    def drift(self, run: ReconciliationRun, *, code: str | None = None) -> list[DriftItem]:
        """Open items the run found or saw again (of one code)."""
        with self.engine.connect() as conn:
            items = store.list_drift(conn, recon_id=run.id, status=store.OPEN)
        return [i for i in items if code is None or i.code == code]

    def item(self, item_id: int) -> DriftItem:
        with self.engine.connect() as conn:
            (found,) = [i for i in store.list_drift(conn, limit=100_000) if i.id == item_id]
        return found

    def exception(self, exception_id: int | None) -> BusinessException:
        assert exception_id is not None
        with self.engine.connect() as conn:
            found = exceptions.get(conn, id=exception_id)
        assert found is not None
        return found


@pytest.fixture(scope="module")
def recon(sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recon]:
    """The module's Accord (Kantata as PSA)."""
    for accord in start_accord(
        tmp_path_factory.mktemp("recon"), sandbox, psa="kantata", tweak=_tweak
    ):
        yield Recon(accord)


def hours(record: dict[str, Any]) -> Decimal:
    return Decimal(str(record["hours"]))


__all__ = ["CURRENCY", "WEEK", "Recon", "hours", "httpx", "recon", "sandbox", "unique"]
