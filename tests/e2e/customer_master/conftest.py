"""Customer master end to end: lead-to-project's harness plus account and ERP customer polls.

A test provisions its own opportunity first (so its customer exists in the ERP and the xref),
then acts as a person would: edits the account in Salesforce, edits the customer in the ERP,
merges accounts (the Salesforce emulator's ``/__sandbox/salesforce/merge``). Capture is driven
by the tests (no schedules: lead-to-project's ``capture_interval_s: 0`` also turns customer
master's polling off), with real polls of ``Account`` and the ERP customers, each starting at
"now" so the firm's seeded records are left alone.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from dbos import DBOS
from tests.e2e.lead_to_project.conftest import Accord, start_accord

from accord.connectors.business_central.mapping import bc_number
from accord.flows.capture import EventMapper, poll_once
from accord.flows.customer_master.capture import account_events, erp_customer_events
from accord.store import cursors, exceptions, lineage, xref
from accord.store.cursors import CursorState
from accord.store.exceptions import BusinessException
from accord_sandbox.server import Sandbox, SandboxHandle

PAIRS: dict[str, tuple[str, str, EventMapper]] = {
    "accounts": ("salesforce", "Account", account_events),
    "netsuite": ("netsuite", "customer", erp_customer_events("netsuite", "netsuite")),
    "bc": (
        "business-central",
        "customers",
        erp_customer_events("business_central", "business-central"),
    ),
}


@dataclass
class CustomerMaster:
    """One in-process Accord (Kantata as the PSA) and helpers for customer master."""

    base: Accord
    config: Path

    # ------------------------------------------------------------------ set-up
    def provision(self, *, entity: str = "US01", parent: str | None = None) -> str:
        """A provisioned customer: its account id (the opportunity is provisioned first)."""
        account = self.base.account(entity=entity, parent=parent)
        opp = self.base.opportunity(account, entity=entity)
        run = self.base.provision(opp)
        assert run["status"] == "provisioned", run
        return account

    def set_drift(self, policy: str) -> None:
        """Switch ``customer_master.erp_drift`` (the flow re-reads the file when it changes)."""
        document = yaml.safe_load(self.config.read_text(encoding="utf-8"))
        document["customer_master"] = {"erp_drift": policy}
        stamp = self.config.stat().st_mtime
        self.config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        while self.config.stat().st_mtime == stamp:  # coarse file-system clocks
            time.sleep(0.01)
            self.config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")

    # ------------------------------------------------------------------ systems
    def connector(self, name: str) -> Any:
        return self.base.services.connections.connector(name)

    def edit_account(self, account: str, **fields: Any) -> None:
        self.connector("salesforce").update("Account", account, fields)

    def merge(self, master: str, loser: str) -> None:
        url = self.base.sandbox.urls["salesforce"]
        response = httpx.post(
            f"{url}/__sandbox/salesforce/merge",
            json={"master_id": master, "loser_id": loser},
            timeout=10,
        )
        response.raise_for_status()

    def customer_id(self, account: str) -> str:
        with self.base.services.engine.connect() as conn:
            found = xref.get_canonical(
                conn, entity_type="customer", connection="salesforce", external_id=account
            )
        assert found is not None, f"account {account} is not in the xref"
        return found

    def erp_id(self, customer_id: str, connection: str = "netsuite") -> str | None:
        with self.base.services.engine.connect() as conn:
            return xref.get_external(
                conn, entity_type="customer", canonical_id=customer_id, connection=connection
            )

    def ns_customer(self, account: str) -> dict[str, Any]:
        erp_id = self.erp_id(self.customer_id(account))
        assert erp_id is not None
        connector = self.connector("netsuite")
        response = connector.send(
            "GET",
            f"/record/v1/customer/{erp_id}",
            resource="customer",
            params={"expandSubResources": "true"},
        )
        response.raise_for_status()
        return dict(response.json())

    def bc_customer(self, account: str) -> dict[str, Any]:
        connector = self.connector("business-central").for_company("DE01")
        found = connector.get_by_external_id("customers", bc_number(self.customer_id(account)))
        assert found is not None
        return dict(found)

    def writes(self, system: str) -> int:
        url = self.base.sandbox.urls[system]
        return int(httpx.get(f"{url}/__sandbox/stats", timeout=10).json()["writes"])

    # ------------------------------------------------------------------ capture and runs
    def poll(self, pair: str) -> int:
        """One real poll of a pair; returns the events journaled."""
        connection, resource, mapper = PAIRS[pair]
        result = poll_once(
            self.connector(connection),
            connection=connection,
            resource=resource,
            engine=self.base.services.engine,
            runtime=self.base.services.runtime,
            to_events=mapper,
            overlap=timedelta(0),
        )
        return result.journaled

    def sync(self) -> list[dict[str, Any]]:
        """Poll accounts and wait for the runs; returns every customer master run output."""
        self.poll("accounts")
        return self.settle()

    def settle(self, timeout: float = 60.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while DBOS.list_workflows(
            status=["PENDING", "ENQUEUED"], name="customer_master", load_input=False
        ):
            if time.monotonic() > deadline:
                pytest.fail("customer master runs did not finish in time")
            time.sleep(0.1)
        done = DBOS.list_workflows(name="customer_master", load_input=False)
        failed = [w.workflow_id for w in done if w.status != "SUCCESS"]
        assert not failed, f"runs failed: {failed}"
        return [dict(w.output) for w in done if isinstance(w.output, dict)]

    def runs_for(self, account: str) -> list[dict[str, Any]]:
        customer_id = self.customer_id(account)
        return [r for r in self.settle() if r.get("customer_id") == customer_id]

    def exceptions_for(self, customer_id: str, code: str) -> list[BusinessException]:
        with self.base.services.engine.connect() as conn:
            found = exceptions.list_(
                conn, business_key=f"customer:{customer_id}", status=None, limit=50
            )
        return [e for e in found if e.code == code]

    def lineage_of(self, customer_id: str) -> list[lineage.Link]:
        with self.base.services.engine.connect() as conn:
            return lineage.list_for(conn, node_type="customer", node_id=customer_id)


def start(folder: Path, sandbox: SandboxHandle, psa: str) -> Iterator[CustomerMaster]:
    """Lead-to-project's Accord with every customer master pair starting now."""
    for base in start_accord(folder, sandbox, psa=psa):
        with base.services.engine.begin() as conn:
            for connection, resource, _ in PAIRS.values():
                cursors.save(
                    conn,
                    CursorState(
                        connection=connection,
                        resource=resource,
                        high_watermark=datetime.now(UTC),
                    ),
                )
        yield CustomerMaster(base=base, config=folder / "accord.yaml")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    """The four emulators on free ports, scenario firm."""
    handle = Sandbox(base_port=0, scenario="firm", seed=7).start_in_thread()
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def cm(
    sandbox: SandboxHandle,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[CustomerMaster]:
    """Accord with the PSA the module asks for (module attribute ``PSA``, default kantata)."""
    psa = getattr(request.module, "PSA", "kantata")
    yield from start(tmp_path_factory.mktemp(f"customer-master-{psa}"), sandbox, psa)
