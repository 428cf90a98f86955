"""Shared harness of the cash and milestone end-to-end tests.

It builds on lead-to-project's (sandbox in a thread, one in-process Accord per module): a
test provisions its own project through lead-to-project first, then acts in the ERP or PSA
as a finance user or a project manager would, through the same REST APIs, and drives capture
with real polls (:meth:`CashAccord.poll`). Capture schedules are off (no ``cash:`` /
``milestones:`` sections), and each polled pair starts at "now" so the firm's seeded records
are left alone.
"""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from dbos import DBOS
from fastapi.testclient import TestClient
from tests.e2e.lead_to_project.conftest import Accord, lineage_app, write_config
from tests.support import authorize_sandbox_kantata

from accord.flows.bill_milestone.capture import milestone_spec
from accord.flows.capture import CaptureSpec, poll_once
from accord.flows.cash.capture import cash_specs
from accord.flows.services import Services
from accord.settings import Settings
from accord.store import cursors, exceptions, keys, xref
from accord.store.cursors import CursorState
from accord.store.exceptions import BusinessException
from accord_sandbox.server import SandboxHandle

REPO = Path(__file__).resolve().parents[3]

WORKFLOWS = ("cash", "bill_milestone")

PAIRS: dict[str, str] = {
    "ns_invoices": "netsuite",
    "ns_payments": "netsuite",
    "bc_invoices": "business-central",
    "kantata_stories": "kantata",
    "certinia_milestones": "certinia",
}
RESOURCES = {
    "ns_invoices": "invoice",
    "ns_payments": "customerPayment",
    "bc_invoices": "salesInvoices",
    "kantata_stories": "stories",
    "certinia_milestones": "pse__Milestone__c",
}
MILESTONE_PAIRS = ("kantata_stories", "certinia_milestones")


@dataclass
class CashAccord:
    """Lead-to-project's harness plus polls of the ERPs and the PSA."""

    base: Accord
    psa: str = "kantata"
    de01_erp: str = "business-central"
    """The connection DE01 books on (the rules may move it to Dynamics 365 Finance)."""

    def connector(self, name: str) -> Any:
        return self.base.services.connections.connector(name)

    def provision(
        self, *, entity: str = "US01", package: str = "IMPL-FIXED", model: str = "Fixed Fee",
        amount: float = 100000.0,
    ) -> dict[str, Any]:  # fmt: skip
        """A fresh account and won opportunity, provisioned; returns the run and the ids."""
        account = self.base.account(entity=entity)
        opp = self.base.opportunity(account, entity=entity, package=package, model=model,
                                    amount=amount)  # fmt: skip
        run = self.base.provision(opp)
        assert run["status"] == "provisioned", run
        project = f"PRJ-SF-{opp}"
        customer = f"SF-{account}"
        erp = "netsuite" if entity != "DE01" else self.de01_erp
        return {
            "account": account,
            "opportunity": opp,
            "project": project,
            "customer": customer,
            "run": run,
            "erp_customer": self.external("customer", customer, erp),
            "erp_project": self.external("erp_project", project, erp),
            "psa_project": self.external("psa_project", project, self.psa),
        }

    def external(self, entity_type: str, canonical_id: str, connection: str) -> str:
        with self.base.services.engine.connect() as conn:
            found = xref.get_external(
                conn, entity_type=entity_type, canonical_id=canonical_id, connection=connection
            )
        assert found is not None, (entity_type, canonical_id, connection)
        return found

    def spec(self, pair: str) -> CaptureSpec:
        """The capture pair the flows register for ``pair``."""
        connection = PAIRS[pair]
        specs = [milestone_spec(connection)] if pair in MILESTONE_PAIRS else cash_specs(connection)
        (spec,) = [s for s in specs if s.resource == RESOURCES[pair]]
        return spec

    def poll(self, pair: str) -> int:
        """One real poll of a pair (its mapper, journal, run starts); returns events journaled."""
        spec = self.spec(pair)
        result = poll_once(
            self.connector(spec.connection),
            connection=spec.connection,
            resource=spec.resource,
            engine=self.base.services.engine,
            runtime=self.base.services.runtime,
            to_events=spec.to_events,
            overlap=timedelta(seconds=5),
            read=spec.read,
            describe=spec.describe,
        )
        return result.journaled

    def drain(self) -> None:
        """Poll every pair of this harness until caught up, then let the runs finish.

        The tests of a module share one harness: what an earlier test changed and did not poll
        must not land in the next test's counts, whichever order the tests run in.
        """
        for pair, connection in PAIRS.items():
            if connection in ("kantata", "certinia") and connection != self.psa:
                continue
            while self.poll(pair):
                pass
        self.settle()

    def settle(self, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Wait until no cash or milestone run is queued or running; return all outputs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = [
                w
                for name in WORKFLOWS
                for w in DBOS.list_workflows(
                    status=["PENDING", "ENQUEUED"], name=name, load_input=False
                )
            ]
            if not busy:
                break
            time.sleep(0.1)
        else:
            pytest.fail("cash / milestone runs did not finish in time")
        done = [w for name in WORKFLOWS for w in DBOS.list_workflows(name=name, load_input=False)]
        return [
            {"id": w.workflow_id, "name": w.name, "status": w.status, "output": w.output}
            for w in done
        ]

    def runs_about(self, key: str, value: str) -> list[dict[str, Any]]:
        """Finished run outputs whose ``key`` is ``value``, oldest first."""
        return [
            r["output"]
            for r in sorted(self.settle(), key=lambda r: r["id"])
            if isinstance(r["output"], dict) and r["output"].get(key) == value
        ]

    def exceptions(self, business_key: str) -> list[BusinessException]:
        with self.base.services.engine.connect() as conn:
            return list(exceptions.list_(conn, business_key=business_key, status=None, limit=50))

    def account_fields(self, account_id: str) -> dict[str, Any]:
        return self.base.get("Account", account_id)


def start(
    folder: Path,
    sandbox: SandboxHandle,
    *,
    psa: str = "kantata",
    edit_rules: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[CashAccord]:
    """One in-process Accord whose ERP and PSA polls are driven by the tests, starting now.

    ``edit_rules`` may change the rules document before Accord starts (an entity's ERP).
    """
    config = write_config(folder, sandbox.urls, psa=psa)
    document = yaml.safe_load(config.read_text(encoding="utf-8"))
    de01_erp = "business-central"
    if edit_rules is not None:
        rules = folder / "rules.yaml"
        spec = yaml.safe_load((REPO / "rules" / "default.yaml").read_text(encoding="utf-8"))
        edit_rules(spec)
        rules.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        document["lead_to_project"]["rules"] = str(rules)
        de01_erp = str(spec["legal_entities"]["DE01"]["connection"])
    # The tests poll themselves: a scheduled poll of the same pair would race them.
    for section in ("cash", "milestones"):
        document[section] = {**document.get(section, {}), "capture_interval_s": 0}
    config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    settings = Settings(
        database_url=f"sqlite:///{folder / 'accord.db'}",
        worker_id=f"e2e-cash-{folder.name}",
        config_file=config,
    )
    services = Services.build(settings)
    authorize_sandbox_kantata(services.connections)
    services.start()
    with services.engine.begin() as conn:
        for pair, connection in PAIRS.items():
            if connection in ("kantata", "certinia") and connection != psa:
                continue
            cursors.save(
                conn,
                CursorState(
                    connection=connection,
                    resource=RESOURCES[pair],
                    high_watermark=datetime.now(UTC),
                ),
            )
        cursors.save(
            conn,
            CursorState(
                connection="salesforce", resource="Opportunity", high_watermark=datetime.now(UTC)
            ),
        )
        _, viewer = keys.create(conn, name="viewer", role=keys.Role.VIEWER, actor="test")
    api = TestClient(lineage_app(settings, services))
    try:
        yield CashAccord(
            base=Accord(services=services, sandbox=sandbox, api=api, viewer_key=viewer),
            psa=psa,
            de01_erp=de01_erp,
        )
    finally:
        services.stop()
