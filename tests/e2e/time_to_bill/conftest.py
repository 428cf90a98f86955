"""Time-to-bill end to end: the sandbox in-process, Accord in-process (one runtime per module).

Projects are provisioned through lead-to-project (an opportunity won in the Salesforce
emulator, polled), then approvals are journaled as ``timesheet.approved`` /
``expense.approved`` CloudEvents through the intake writer (the intake API's own path) and the
time-to-bill runs post them into the NetSuite / Business Central emulators.

The module's rules file is a copy in the test folder, so a test can break a mapping (an ERP
dimension) and fix it again; ``accord.yaml``'s ``time_to_bill:`` section can be rewritten per
test (:meth:`Billing.configure`), which the flow re-reads when the file changes. ERP reads are
not cached (``cache_ttl_s: 0``) so that a test sees its own changes to the emulators at once.
"""

import datetime as dt
import itertools
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from dbos import DBOS
from fastapi.testclient import TestClient
from tests.e2e.lead_to_project.conftest import Accord, lineage_app, write_config
from tests.support import authorize_sandbox_kantata

from accord.api.ops.exceptions import router as exceptions_router
from accord.flows.capture import canonical_event
from accord.flows.intake import Receipt
from accord.flows.services import Services
from accord.settings import Settings
from accord.store import cursors, exceptions, keys, postings
from accord.store.cursors import CursorState
from accord.store.exceptions import BusinessException
from accord.store.journal import NewEvent
from accord_sandbox.server import Sandbox, SandboxHandle

REPO = Path(__file__).resolve().parents[3]
_ids = itertools.count(1)
CONSULTANT = {"US01": "EMP-0001", "UK01": "EMP-0015", "DE01": "EMP-0024"}
"""A consultant of each legal entity (their ERP employee / resource is seeded)."""
CURRENCY = {"US01": "USD", "UK01": "GBP", "DE01": "EUR"}
PACKAGE = {
    "time_and_materials": ("ADVISORY-TM", "Time and Materials"),
    "fixed_fee": ("IMPL-FIXED", "Fixed Fee"),
    "milestone": ("ROLLOUT-MILESTONE", "Milestone"),
    "retainer": ("MANAGED-RETAINER", "Retainer"),
}
PROJECT_START = "2026-06-01"
"""Projects start in June: July and August are closed in the sandbox, September is open."""
DEFAULTS: dict[str, Any] = {
    "closed_period_policy": "redate",
    "posting": "per_entry",
    "cache_ttl_s": 0,
    "hold_check_interval_s": 0,
    "max_workers": 8,
}


def uid(prefix: str) -> str:
    """An id no other test uses (also across modules: the clock is in it)."""
    return f"{prefix}-{int(time.time() * 1000) % 100_000_000}-{next(_ids)}"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    """The four emulators on free ports, scenario firm."""
    handle = Sandbox(base_port=0, scenario="firm", seed=7).start_in_thread()
    yield handle
    handle.stop()


@dataclass
class Billing:
    """One in-process Accord with helpers for projects, approvals and the ERP's records."""

    accord: Accord
    folder: Path
    config: Path
    rules: Path
    operator_key: str

    @property
    def services(self) -> Services:
        return self.accord.services

    @property
    def engine(self) -> Any:
        return self.services.engine

    # ------------------------------------------------------------------ configuration
    def configure(self, **section: Any) -> None:
        """Rewrite ``time_to_bill:`` (defaults plus ``section``); the flow re-reads it."""
        document = yaml.safe_load(self.config.read_text(encoding="utf-8"))
        document["time_to_bill"] = {**DEFAULTS, **section}
        self.config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        # A rewrite within the file system's timestamp resolution must still be noticed.
        stamp = time.time() + next(_ids) * 0.001
        os.utime(self.config, (stamp, stamp))

    # ------------------------------------------------------------------ projects
    def project(
        self, model: str = "time_and_materials", *, entity: str = "US01", start: str = PROJECT_START
    ) -> str:
        """Provision a project through lead-to-project; returns its canonical id."""
        package, label = PACKAGE[model]
        account = self.accord.account(entity=entity)
        opp = self.accord.opportunity(
            account,
            entity=entity,
            package=package,
            model=label,
            amount=90000.0,
            Start_Date__c=start,
            CloseDate="2026-05-20",
        )
        run = self.accord.provision(opp)
        assert run["status"] == "provisioned", run
        return f"PRJ-{run['opportunity_id']}"

    # ------------------------------------------------------------------ approvals
    def timesheet(
        self,
        project_id: str,
        days: list[tuple[str, str]],
        *,
        entity: str = "US01",
        billable: bool = True,
        rate: str | None = "150.00",
        currency: str | None = None,
        sheet_id: str | None = None,
        resource: str | None = None,
    ) -> dict[str, Any]:
        """A canonical approved timesheet: ``days`` are (ISO date, hours) in one week."""
        sheet_id = sheet_id or uid("TS")
        resource = resource or CONSULTANT[entity]
        dates = [dt.date.fromisoformat(d) for d, _ in days]
        week = min(dates) - dt.timedelta(days=min(dates).weekday())
        entries = []
        for n, (day, hours) in enumerate(days, start=1):
            entry: dict[str, Any] = {
                "id": f"{sheet_id}-E{n}",
                "project_id": project_id,
                "resource_id": resource,
                "date": day,
                "hours": hours,
                "billable": billable,
                "notes": f"work {n}",
            }
            if rate is not None:
                entry["bill_rate"] = {"amount": rate, "currency": currency or CURRENCY[entity]}
            entries.append(entry)
        return {
            "id": sheet_id,
            "resource_id": resource,
            "project_id": project_id,
            "week_start": week.isoformat(),
            "status": "approved",
            "approved_at": datetime.now(UTC).isoformat(),
            "entries": entries,
        }

    def expense(
        self, project_id: str, day: str, amount: str, *, entity: str = "US01", billable: bool = True
    ) -> dict[str, Any]:
        """A canonical approved expense."""
        return {
            "id": uid("EXP"),
            "project_id": project_id,
            "resource_id": CONSULTANT[entity],
            "date": day,
            "category": "travel",
            "amount": {"amount": amount, "currency": CURRENCY[entity]},
            "billable": billable,
            "status": "approved",
            "description": "train to client",
            "approved_at": datetime.now(UTC).isoformat(),
        }

    def submit(
        self, data: dict[str, Any], *, kind: str = "timesheet", ce_id: str | None = None
    ) -> Receipt:
        """Journal an approval event as the intake does (and start its run)."""
        event_type = f"{kind}.approved"
        event = canonical_event(event_type, data, subject=str(data["id"]))
        new = NewEvent(
            source="test/psa",
            ce_id=ce_id or uid("ce"),
            type=event.type,
            subject=event.subject,
            business_key=event.business_key,
            time=None,
            data_json=event.data_json,
        )
        (future,) = self.services.writer.submit([new])
        return future.result(timeout=10)

    def settle(self, timeout: float = 120.0) -> list[dict[str, Any]]:
        """Wait until no time-to-bill run is queued or running; return the finished ones."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = DBOS.list_workflows(
                status=["PENDING", "ENQUEUED"], name="time_to_bill", load_input=False
            )
            if not busy:
                break
            time.sleep(0.05)
        else:
            pytest.fail("time-to-bill runs did not finish in time")
        done = DBOS.list_workflows(name="time_to_bill", load_input=False)
        return [{"id": w.workflow_id, "status": w.status, "output": w.output} for w in done]

    def post(self, data: dict[str, Any], *, kind: str = "timesheet") -> dict[str, Any]:
        """Submit one approval and return its run's output."""
        receipt = self.submit(data, kind=kind)
        runs = {r["id"]: r for r in self.settle()}
        run = runs[receipt.run_id]
        assert run["status"] == "SUCCESS", run
        return dict(run["output"])

    def action(self, exception_id: int, action: str, body: dict[str, Any] | None = None) -> Any:
        """An operator's exception action through the ops API (retry, redate ...)."""
        response = self.accord.api.post(
            f"/api/v1/exceptions/{exception_id}/{action}",
            json=body,
            headers={"Authorization": f"Bearer {self.operator_key}"},
        )
        assert response.status_code in (200, 202), response.text
        return response.json()

    # ------------------------------------------------------------------ state
    def ledger(self, submission_id: str) -> dict[str, postings.Posting]:
        with self.engine.connect() as conn:
            rows = postings.list_(conn, submission_id=submission_id)
        return {r.entry_id: r for r in rows}

    def exceptions(self, project_id: str, status: str | None = "open") -> list[BusinessException]:
        with self.engine.connect() as conn:
            return list(
                exceptions.list_(
                    conn, business_key=f"project:{project_id}", status=status, limit=100
                )
            )

    def records(self, system: str, obj: str) -> list[dict[str, Any]]:
        return self.accord.records(system, obj)

    def time_bills(self, prefix: str) -> list[dict[str, Any]]:
        """NetSuite timeBill records whose external id starts with ``prefix``."""
        return [
            r
            for r in self.records("netsuite", "timeBill")
            if str(r.get("externalId", "")).startswith(prefix)
        ]

    def stats(self, system: str = "netsuite") -> dict[str, Any]:
        url = self.accord.sandbox.urls[system]
        return dict(httpx.get(f"{url}/__sandbox/stats", timeout=10).json())

    def control(self, system: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = self.accord.sandbox.urls[system]
        if body is None:
            return httpx.delete(f"{url}/__sandbox/{path}", timeout=10)
        response = httpx.post(f"{url}/__sandbox/{path}", json=body, timeout=10)
        response.raise_for_status()
        return response

    def set_period(self, entity: str, period: str, status: str, system: str = "netsuite") -> None:
        self.control(system, "periods", {"entity": entity, "period": period, "status": status})


def start_billing(
    folder: Path,
    sandbox: SandboxHandle,
    *,
    edit_rules: Callable[[dict[str, Any]], None] | None = None,
    edit_config: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[Billing]:
    """Build, start and (after the module) stop one in-process Accord for time-to-bill.

    ``edit_rules`` may change the rules document before Accord starts (an entity's ERP), and
    ``edit_config`` the ``accord.yaml`` document (a connection's settings).
    """
    rules = folder / "rules.yaml"
    shutil.copy(REPO / "rules" / "default.yaml", rules)
    if edit_rules is not None:
        spec = yaml.safe_load(rules.read_text(encoding="utf-8"))
        edit_rules(spec)
        rules.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    config = write_config(folder, sandbox.urls, psa="kantata")
    document = yaml.safe_load(config.read_text(encoding="utf-8"))
    document["lead_to_project"]["rules"] = str(rules)
    document["time_to_bill"] = dict(DEFAULTS)
    # Other flows' polling stays off: these tests journal their own events.
    for section in ("approvals", "cash", "milestones"):
        if isinstance(document.get(section), dict):
            document[section]["capture_interval_s"] = 0
    for settings in document["connections"].values():
        settings["concurrency"] = 10
    if edit_config is not None:
        edit_config(document)
    config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    settings = Settings(
        database_url=f"sqlite:///{folder / 'accord.db'}",
        worker_id=f"e2e-ttb-{folder.name}",
        config_file=config,
    )
    services = Services.build(settings)
    authorize_sandbox_kantata(services.connections)
    services.start()
    with services.engine.begin() as conn:
        cursors.save(
            conn,
            CursorState(
                connection="salesforce", resource="Opportunity", high_watermark=datetime.now(UTC)
            ),
        )
        _, viewer = keys.create(conn, name="viewer", role=keys.Role.VIEWER, actor="test")
        _, operator = keys.create(conn, name="operator", role=keys.Role.OPERATOR, actor="test")
    app = lineage_app(settings, services)
    app.include_router(exceptions_router)
    accord = Accord(services=services, sandbox=sandbox, api=TestClient(app), viewer_key=viewer)
    try:
        yield Billing(
            accord=accord, folder=folder, config=config, rules=rules, operator_key=operator
        )
    finally:
        services.stop()


@pytest.fixture(scope="module")
def billing(sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Billing]:
    """Accord for the module, against the module's sandbox."""
    yield from start_billing(tmp_path_factory.mktemp("ttb"), sandbox)
