"""Lead-to-project end to end: the sandbox in-process, Accord in-process (one runtime per module).

DBOS is a per-process singleton, so each test module gets one runtime (``accord`` fixture) on
its own database, against one sandbox. Tests do not reset the sandbox between each other:
Accord's xref outlives a sandbox reset and would then point at records that no longer exist.
Instead every test creates its own accounts and opportunities (unique names), so tests are
independent, and the duplicate counters must stay 0 for the whole module.

Capture is driven by the tests (``capture_interval_s: 0`` turns the schedule off): the
Opportunity cursor starts at "now", so the firm's seeded opportunities are left alone, and
:meth:`Accord.poll` runs one real poll (the flow's mapper, journal, run starts).
"""

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from dbos import DBOS
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.support import authorize_sandbox_kantata

from accord.api.auth import KeyVerifier
from accord.api.errors import install_error_handlers
from accord.api.lineage import router as lineage_router
from accord.connectors.business_central.mapping import bc_number
from accord.flows.capture import canonical_event, poll_once
from accord.flows.intake import Receipt
from accord.flows.lead_to_project.capture import opportunity_events
from accord.flows.services import Services
from accord.settings import Settings
from accord.store import cursors, exceptions, keys
from accord.store.cursors import CursorState
from accord.store.exceptions import BusinessException
from accord.store.journal import NewEvent
from accord_sandbox.accord_config import accord_config
from accord_sandbox.server import Sandbox, SandboxHandle

_names = itertools.count(1)


def unique(prefix: str) -> str:
    """A name no other test uses."""
    return f"{prefix} {int(time.time() * 1000) % 10_000_000}-{next(_names)}"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    """The four emulators on free ports, scenario firm."""
    handle = Sandbox(base_port=0, scenario="firm", seed=7).start_in_thread()
    yield handle
    handle.stop()


def write_config(
    folder: Path, urls: Any, *, psa: str, tweak: Callable[[dict[str, Any]], None] | None = None
) -> Path:
    """accord.yaml for the sandbox: no polling schedule, generous budgets (tests are quick).

    ``tweak`` may change the document before it is written (a module's own timeouts).
    """
    document = accord_config(urls, psa=psa)  # type: ignore[arg-type]
    document["lead_to_project"]["capture_interval_s"] = 0
    document["delivery"]["capture_interval_s"] = 0
    for settings in document["connections"].values():
        settings["rate_per_s"] = 500
        settings["concurrency"] = 8
        settings["timeout_s"] = 10
    if tweak is not None:
        tweak(document)
    path = folder / "accord.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class Accord:
    """One in-process Accord (runtime, connections, API) against the module's sandbox."""

    services: Services
    sandbox: SandboxHandle
    api: TestClient
    viewer_key: str

    # ------------------------------------------------------------------ Salesforce
    def sf(self) -> Any:
        return self.services.connections.connector("salesforce")

    def account(self, *, entity: str = "US01", parent: str | None = None, **fields: Any) -> str:
        """Create an account (a customer) in Salesforce; returns its id."""
        country, currency, tax = {
            "US01": ("US", "USD", "US-EAST"),
            "UK01": ("GB", "GBP", "UK-VAT"),
            "DE01": ("DE", "EUR", "EU-VAT"),
        }[entity]
        body = {
            "Name": unique("Acme"),
            "BillingStreet": "1 Main Street",
            "BillingCity": "Springfield",
            "BillingPostalCode": "12345",
            "BillingCountry": country,
            "CurrencyIsoCode": currency,
            "Legal_Entity__c": entity,
            "Tax_Region__c": tax,
            **({"ParentId": parent} if parent else {}),
            **fields,
        }
        return str(self.sf().create("Account", body).id)

    def opportunity(
        self,
        account_id: str,
        *,
        entity: str = "US01",
        package: str = "IMPL-FIXED",
        model: str = "Fixed Fee",
        amount: float = 120000.0,
        **fields: Any,
    ) -> str:
        """Create a Closed Won opportunity; returns its id."""
        region, currency = {
            "US01": ("NA-EAST", "USD"),
            "UK01": ("UKI", "GBP"),
            "DE01": ("DACH", "EUR"),
        }[entity]
        body = {
            "Name": unique("Deal"),
            "AccountId": account_id,
            "StageName": "Closed Won",
            "Amount": amount,
            "CurrencyIsoCode": currency,
            "CloseDate": "2026-09-20",
            "Service_Package__c": package,
            "Billing_Model__c": model,
            "Legal_Entity__c": entity,
            "Practice__c": "TECH",
            "Region__c": region,
            "Start_Date__c": "2026-10-05",
            **fields,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return str(self.sf().create("Opportunity", body).id)

    def get(self, sobject: str, record_id: str) -> dict[str, Any]:
        """One Salesforce record (Certinia's ``pse__`` objects through that connection)."""
        name = "certinia" if sobject.startswith("pse__") else "salesforce"
        return dict(self.services.connections.connector(name).get(sobject, record_id))

    # ------------------------------------------------------------------ capture and runs
    def poll(self) -> int:
        """One real poll of Salesforce opportunities; returns the events journaled."""
        result = poll_once(
            self.sf(),
            connection="salesforce",
            resource="Opportunity",
            engine=self.services.engine,
            runtime=self.services.runtime,
            to_events=opportunity_events,
            overlap=timedelta(0),
        )
        return result.journaled

    def settle(
        self, timeout: float = 60.0, *, name: str = "lead_to_project"
    ) -> list[dict[str, Any]]:
        """Wait until no run of workflow ``name`` is queued or running; return their outputs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = DBOS.list_workflows(status=["PENDING", "ENQUEUED"], name=name, load_input=False)
            if not busy:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"{name} runs did not finish in time")
        done = DBOS.list_workflows(name=name, load_input=False)
        return [
            {
                "id": w.workflow_id,
                "status": w.status,
                "output": w.output,
                "updated_at": w.updated_at,
                "executor": w.executor_id,
            }
            for w in done
        ]

    def run_for(self, opportunity_id: str) -> dict[str, Any]:
        """The latest finished run output for an opportunity (by Salesforce id)."""
        runs = [
            r
            for r in self.settle()
            if isinstance(r["output"], dict)
            and str(r["output"].get("opportunity_id", "")).endswith(opportunity_id)
        ]
        assert runs, f"no run for {opportunity_id}"
        return runs[-1]["output"]

    def provision(self, opportunity_id: str) -> dict[str, Any]:
        """Poll, wait, and return the run of one opportunity."""
        self.poll()
        return self.run_for(opportunity_id)

    def submit(self, data: dict[str, Any], *, ce_id: str, source: str = "test") -> Receipt:
        """Journal an ``opportunity.won`` event directly (a webhook's or the API's path)."""
        event = canonical_event("opportunity.won", data, subject=str(data["id"]))
        event = NewEvent(
            source=source,
            ce_id=ce_id,
            type=event.type,
            subject=event.subject,
            business_key=event.business_key,
            time=None,
            data_json=event.data_json,
        )
        (future,) = self.services.writer.submit([event])
        return future.result(timeout=10)

    def exceptions_for(self, opportunity_id: str) -> list[BusinessException]:
        """Every exception (open or not) filed about an opportunity (by Salesforce id)."""
        with self.services.engine.connect() as conn:
            found = exceptions.list_(
                conn, business_key=f"opportunity:SF-{opportunity_id}", status=None, limit=50
            )
        return list(found)

    # ------------------------------------------------------------------ sandbox state
    def records(self, system: str, obj: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.sandbox.urls[system]}/__sandbox/records/{obj}", timeout=10)
        response.raise_for_status()
        body = response.json()
        return list(body["records"] if isinstance(body, dict) else body)

    def billing_schedule(self, project_id: str, erp: str) -> list[dict[str, Any]]:
        """The ERP billing-plan lines of a project: NetSuite sales order items or BC lines.

        Each line as ``{"key", "amount", "quantity", "date"}`` (the key is the text before
        the first ``:`` of the description), in line order.
        """
        if erp == "netsuite":
            orders = [
                o
                for o in self.records("netsuite", "salesOrder")
                if o.get("externalId") == f"SO-{project_id}"
            ]
            assert len(orders) <= 1, orders
            items = orders[0]["item"]["items"] if orders else []
            return [
                {
                    "key": i["description"].split(":")[0],
                    "amount": Decimal(str(i["amount"])),
                    "quantity": Decimal(str(i["quantity"])),
                    "job": i["job"]["id"],
                    "entity": orders[0]["entity"]["id"],
                }
                for i in items
            ]
        number = bc_number(project_id)
        lines = [
            r
            for r in self.records("business_central", "projectPlanningLines")
            if r.get("projectNumber") == number
        ]
        return [
            {
                "key": r["description"].split(":")[0],
                "amount": Decimal(str(r["lineAmount"])),
                "quantity": Decimal(str(r["quantity"])),
                "date": r["planningDate"],
            }
            for r in sorted(lines, key=lambda r: r["lineNumber"])
        ]

    def duplicates(self) -> dict[str, int]:
        out = {}
        for system, url in self.sandbox.urls.items():
            stats = httpx.get(f"{url}/__sandbox/stats", timeout=10).json()
            out[system] = int(stats["duplicates"])
        return out

    def lineage(self, system: str, type_: str, id_: str) -> dict[str, Any]:
        response = self.api.get(
            "/api/v1/lineage",
            params={"system": system, "type": type_, "id": id_},
            headers={"Authorization": f"Bearer {self.viewer_key}"},
        )
        assert response.status_code == 200, response.text
        return dict(response.json())


def lineage_app(settings: Settings, services: Services) -> FastAPI:
    """The lineage API as ``create_app`` mounts it (only what these tests call)."""
    app = FastAPI()
    app.state.settings = settings
    app.state.services = services
    app.state.key_verifier = KeyVerifier(services.engine, ttl=0)
    install_error_handlers(app)
    app.include_router(lineage_router)
    return app


def by_ref_count(accord: Accord, ref: str) -> int:
    """How many Kantata workspaces carry Accord's external reference ``ref``."""
    refs = accord.records("kantata", "external_references")
    return len(
        {
            r.get("subject_id")
            for r in refs
            if r.get("service_model_ref") == ref and r.get("subject_type") == "Workspace"
        }
    )


def start_accord(
    folder: Path,
    sandbox: SandboxHandle,
    *,
    psa: str,
    tweak: Callable[[dict[str, Any]], None] | None = None,
    **overrides: Any,
) -> Iterator[Accord]:
    """Build, start and (after the module) stop one in-process Accord.

    ``tweak`` changes the ``accord.yaml`` document (see :func:`write_config`); ``overrides``
    are further :class:`Settings` fields (``database_url``, ``intake`` ...).
    """
    config = write_config(folder, sandbox.urls, psa=psa, tweak=tweak)
    settings = Settings(
        **{
            "database_url": f"sqlite:///{folder / 'accord.db'}",
            "worker_id": f"e2e-l2p-{psa}",
            "config_file": config,
            **overrides,
        }
    )
    services = Services.build(settings)
    authorize_sandbox_kantata(services.connections)
    services.start()
    with services.engine.begin() as conn:
        # Start after the firm's seeded opportunities: tests provision only their own.
        cursors.save(
            conn,
            CursorState(
                connection="salesforce",
                resource="Opportunity",
                high_watermark=datetime.now(UTC),
            ),
        )
        _, viewer = keys.create(conn, name="viewer", role=keys.Role.VIEWER, actor="test")
    app = lineage_app(settings, services)
    try:
        yield Accord(services=services, sandbox=sandbox, api=TestClient(app), viewer_key=viewer)
    finally:
        services.stop()


@pytest.fixture(scope="module")
def accord(
    sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Accord]:
    """Accord with the PSA the module asks for (module attribute ``PSA``, default kantata)."""
    psa = getattr(request.module, "PSA", "kantata")
    yield from start_accord(tmp_path_factory.mktemp(f"l2p-{psa}"), sandbox, psa=psa)
