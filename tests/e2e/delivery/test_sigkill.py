"""SIGKILL of the worker while vendor costs flow both ways: after a restart, nothing twice.

The worker is a real subprocess (lead-to-project's ``worker.py``) polling everything itself:
it provisions a DE01 project (Kantata and Business Central), then carries Kantata's approved
vendor expenses to Business Central purchase invoices (verified before they are created, then
posted) and purchase invoices keyed in Business Central back to Kantata as project expenses.
Business Central's writes are slowed so that the kill lands mid-way, between creating an
invoice and posting it included; the restarted worker (same worker id) recovers its runs and
ends with every expense billed once and every keyed invoice recorded once.
"""

import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from tests.contract.sandbox_auth import sandbox_connector
from tests.e2e.lead_to_project.conftest import write_config
from tests.e2e.time_to_bill.test_sigkill import _start
from tests.support import authorize_sandbox_kantata_in

from accord.connectors.business_central import BusinessCentralConnector
from accord.connectors.kantata import KantataConnector
from accord.connectors.salesforce import SalesforceConfig, SalesforceConnector
from accord.store import create_db_engine, cursors, migrate, xref
from accord.store.cursors import CursorState
from accord_sandbox.scenario import generate
from accord_sandbox.server import Sandbox

pytestmark = pytest.mark.slow

COSTS = 6
"""Vendor expenses approved in Kantata, and purchase invoices keyed in Business Central."""


def _wait(check: object, proc: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, log.read_text()
        assert proc.poll() is None, log.read_text()
        time.sleep(0.2)


def _records(url: str, entity_set: str) -> list[dict]:
    return httpx.get(f"{url}/__sandbox/records/{entity_set}", timeout=10).json()["records"]


def test_sigkill_while_vendor_costs_flow_bills_and_records_each_once(tmp_path: Path) -> None:
    with Sandbox(base_port=0, scenario="firm", seed=7).start_in_thread() as sandbox:
        config = write_config(tmp_path, sandbox.urls, psa="kantata")
        document = yaml.safe_load(config.read_text())
        document["lead_to_project"]["capture_interval_s"] = 1
        document["delivery"]["capture_interval_s"] = 1
        for section in ("approvals", "cash", "milestones"):
            document[section]["capture_interval_s"] = 0
        config.write_text(yaml.safe_dump(document))
        db_url = f"sqlite:///{tmp_path / 'accord.db'}"
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
        account = sf.create(
            "Account",
            {"Name": f"Kill GmbH {time.time_ns()}", "BillingStreet": "Domkloster 4",
             "BillingCity": "Köln", "BillingCountry": "DE", "CurrencyIsoCode": "EUR",
             "Legal_Entity__c": "DE01", "Tax_Region__c": "EU-VAT"},
        ).id  # fmt: skip
        opp = sf.create(
            "Opportunity",
            {"Name": f"Kill deal {time.time_ns()}", "AccountId": account,
             "StageName": "Closed Won", "Amount": 90000, "CurrencyIsoCode": "EUR",
             "CloseDate": "2026-05-20", "Service_Package__c": "ADVISORY-TM",
             "Billing_Model__c": "Time and Materials", "Legal_Entity__c": "DE01",
             "Practice__c": "TECH", "Region__c": "DACH", "Start_Date__c": "2026-06-01"},
        ).id  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
        env |= {
            "ACCORD_CREDENTIALS_KEY": os.environ["ACCORD_CREDENTIALS_KEY"],
            "ACCORD_DATABASE_URL": db_url,
            "ACCORD_WORKER_ID": "delivery-kill",
            "ACCORD_CONFIG_FILE": str(config),
            "ACCORD_OBSERVABILITY__LOG_JSON": "false",
        }
        log = tmp_path / "worker.log"
        proc = _start(env, log)
        bc_url, kantata_url = sandbox.urls["business_central"], sandbox.urls["kantata"]
        try:
            _wait(lambda: sf.get("Opportunity", opp).get("Integration_Status__c") == "Provisioned",
                  proc, log, 120)  # fmt: skip
            project = f"PRJ-SF-{opp}"
            with engine.connect() as conn:
                workspace = xref.get_external(
                    conn, entity_type="psa_project", canonical_id=project, connection="kantata"
                )
                number = xref.get_external(
                    conn,
                    entity_type="erp_project",
                    canonical_id=project,
                    connection="business-central",
                )
            assert workspace
            assert number
            for fault in (
                {"method": "POST", "path": "*/purchaseInvoices", "latency_ms": 400},
                {"method": "POST", "path": "*Microsoft.NAV.post", "latency_ms": 400},
            ):
                httpx.post(f"{bc_url}/__sandbox/faults", json=fault, timeout=10).raise_for_status()
            _make_costs(sandbox.urls, workspace, number)

            def billed() -> list[dict]:
                return [
                    r for r in _records(bc_url, "purchaseInvoices")
                    if str(r.get("vendorInvoiceNumber", "")).startswith("VB-")
                ]  # fmt: skip

            _wait(lambda: len(billed()) >= 2, proc, log, 120)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            assert len([b for b in billed() if b["status"] == "Open"]) < COSTS, "killed too late"
            httpx.delete(f"{bc_url}/__sandbox/faults", timeout=10)
            proc = _start(env, log)

            def recorded() -> list[dict]:
                return [
                    r for r in _records(kantata_url, "external_references")
                    if str(r.get("service_model_ref", "")).startswith("bc-vb-")
                ]  # fmt: skip

            _wait(
                lambda: (
                    len([b for b in billed() if b["status"] == "Open"]) == COSTS
                    and len(recorded()) == COSTS
                ),
                proc,
                log,
                180,
            )
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for url in sandbox.urls.values():
            assert httpx.get(f"{url}/__sandbox/stats", timeout=10).json()["duplicates"] == 0
        numbers = [b["vendorInvoiceNumber"] for b in billed()]
        assert len(numbers) == len(set(numbers)) == COSTS
        refs = [r["service_model_ref"] for r in recorded()]
        assert len(refs) == len(set(refs)) == COSTS
        engine.dispose()
        sf.close()


def _make_costs(urls: dict[str, str], workspace: str, number: str) -> None:
    """Approve vendor expenses in Kantata and key purchase invoices in Business Central."""
    companies = {e.code: e.bc_company_id for e in generate("small", 7).legal_entities}
    with (
        sandbox_connector("kantata", urls["kantata"], name="kantata") as kantata,
        sandbox_connector(
            "business_central", urls["business_central"], name="business-central",
            tenant="sandbox-tenant", company_id=companies["DE01"], companies=companies,
            api_host=urls["business_central"], login_host=urls["business_central"],
        ) as bc,
    ):  # fmt: skip
        assert isinstance(kantata, KantataConnector)
        assert isinstance(bc, BusinessCentralConnector)
        _approve_and_key(kantata, bc, workspace, number)


def _approve_and_key(
    kantata: KantataConnector, bc: BusinessCentralConnector, workspace: str, number: str
) -> None:
    vendor = kantata.get_by_external_id("vendors", "VEND-DE01-1")
    assert vendor is not None
    expenses = [
        kantata.create(
            "expenses",
            {"workspace_id": workspace, "date": "2026-10-14", "category": "Other",
             "amount_in_cents": 10_000 * (n + 1), "vendor_id": vendor["id"],
             "notes": f"Subcontract {n}"},
        ).id
        for n in range(COSTS)
    ]  # fmt: skip
    report = kantata.create("expense_report_submissions", {"expense_ids": expenses}).id
    kantata.resolve_submission("expense_report_submissions", report, approve=True)
    for n in range(COSTS):
        draft = bc.create(
            "purchaseInvoices",
            {"vendorNumber": "VEND-DE01-2", "vendorInvoiceNumber": f"CDS-K{n}-{time.time_ns()}",
             "invoiceDate": "2026-10-15",
             "purchaseInvoiceLines": [{"lineType": "Account", "description": f"Licence {n}",
                                       "quantity": 1, "directUnitCost": 100.0 + n,
                                       "projectNumber": number}]},
        ).id  # fmt: skip
        assert bc.post_document("purchaseInvoices", draft)
