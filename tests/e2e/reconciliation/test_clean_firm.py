"""No false alarms: after a demo-like run the systems agree, and a full reconciliation says so.

One module, one firm: deals of every billing model in both ERPs are provisioned, time and an
expense are approved in Kantata and posted, NetSuite time is invoiced by a billing clerk (the
demo's) and the invoices come back through cash capture. A full run (time and expense,
contracts, customers, every reference) then finds nothing; so does the API's run, which the
workers carry out. The API answers problem+json for what it cannot do.
"""

import time
from typing import Any

import pytest
from dbos import DBOS
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.e2e.reconciliation.conftest import Recon

from accord.api.auth import KeyVerifier
from accord.api.errors import install_error_handlers
from accord.api.reconciliation import router
from accord.cli.demo_billing import BillingTraffic
from accord.flows.capture import poll_once
from accord.flows.cash.capture import cash_specs
from accord.store import keys
from accord.store import reconciliation as store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def firm(recon: Recon) -> Recon:
    """The demo-like run: every model, both ERPs, time, an expense, invoices."""
    tm = recon.deal()
    recon.log_time(str(tm["psa"]["id"]), (480, 450, 465))
    de = recon.deal(entity="DE01")
    recon.log_time(str(de["psa"]["id"]), (420, 300), currency="EUR")
    recon.deal(entity="UK01", model="Fixed Fee", amount=60000)
    recon.deal(model="Milestone", amount=100000)
    _expense(recon, str(tm["psa"]["id"]))
    # The demo's billing clerk invoices NetSuite time; cash capture brings the invoices back.
    assert BillingTraffic(recon.netsuite()).tick() >= 1
    _capture_invoices(recon)
    return recon


def _expense(recon: Recon, workspace: str) -> None:
    kantata = recon.kantata()
    user = next(
        u
        for u in kantata.read_page("users").records
        if kantata.describe("users", u).external_id and u.get("currency") == "USD"
    )
    expense = kantata.create(
        "expenses",
        {
            "workspace_id": workspace,
            "user_id": user["id"],
            "date": "2026-10-06",
            "category": "Travel",
            "amount_in_cents": 12345,
            "billable": True,
            "notes": "Train to the client",
        },
    ).id
    report = kantata.create(
        "expense_report_submissions", {"user_id": user["id"], "expense_ids": [expense]}
    ).id
    kantata.resolve_submission("expense_report_submissions", report, approve=True)
    recon.capture_approvals()


def _capture_invoices(recon: Recon) -> None:
    services = recon.accord.services
    for spec in cash_specs("netsuite"):
        poll_once(
            services.connections.connector("netsuite"),
            connection=spec.connection,
            resource=spec.resource,
            engine=services.engine,
            runtime=services.runtime,
            to_events=spec.to_events,
            read=spec.read,
            describe=spec.describe,
        )
    recon.settle("cash")


def test_a_clean_firm_reports_nothing(firm: Recon) -> None:
    run = firm.reconcile()

    assert firm.drift(run) == [], [(i.code, i.detail) for i in firm.drift(run)]
    assert run.status == store.AGREED
    checks = {(c["check"], c.get("connection")) for c in run.report["checks"]}
    assert {("time_expense", "netsuite"), ("time_expense", "business-central")} <= checks
    assert {("contract", None), ("customer", None), ("xref", "kantata")} <= checks
    totals = run.report["totals"]
    assert len({t["project_id"] for t in totals}) == 2, totals  # the T&M projects with time
    assert all(t["agree"] for t in totals), totals
    assert any(t["invoiced"] != "0.00" for t in totals), totals
    assert run.checked > 20


@pytest.fixture(scope="module")
def api(firm: Recon) -> tuple[TestClient, str]:
    services = firm.accord.services
    app = FastAPI()
    app.state.settings = services.settings
    app.state.services = services
    app.state.key_verifier = KeyVerifier(services.engine, ttl=0)
    install_error_handlers(app)
    app.include_router(router)
    with services.engine.begin() as conn:
        _, key = keys.create(conn, name="recon-operator", role=keys.Role.OPERATOR, actor="test")
    return TestClient(app), key


def _wait(client: TestClient, key: str, location: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body = client.get(location, headers={"Authorization": f"Bearer {key}"}).json()
        if body["status"] != "running":
            return dict(body)
        time.sleep(0.3)
    pytest.fail(f"{location} did not finish; runs: {DBOS.list_workflows(name='reconciliation')}")


def test_the_api_starts_a_run_the_workers_carry_out(api: tuple[TestClient, str]) -> None:
    client, key = api
    auth = {"Authorization": f"Bearer {key}"}

    started = client.post("/api/v1/reconciliations", json={}, headers=auth)

    assert started.status_code == 202, started.text
    location = started.headers["location"]
    assert location == f"/api/v1/reconciliations/{started.json()['id']}"
    done = _wait(client, key, location)
    assert (done["status"], done["drift"], done["trigger"]) == ("agreed", [], "manual")
    assert done["report"]["mode"] == "full"
    listed = client.get("/api/v1/reconciliations", headers=auth).json()["runs"]
    assert done["id"] in {r["id"] for r in listed}


def test_the_api_answers_problems(api: tuple[TestClient, str]) -> None:
    client, key = api
    auth = {"Authorization": f"Bearer {key}"}

    missing = client.get("/api/v1/reconciliations/999999", headers=auth)
    unknown = client.post("/api/v1/reconciliations", json={"project_id": "PRJ-NONE"}, headers=auth)
    invalid = client.post("/api/v1/reconciliations", json={"since": "yesterday"}, headers=auth)
    anonymous = client.post("/api/v1/reconciliations", json={})

    for answer, status in ((missing, 404), (unknown, 422), (invalid, 422), (anonymous, 401)):
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
