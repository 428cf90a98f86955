"""Drift seeded through the systems' own APIs is found, routed to its owner and (where offered)
repaired: a time bill deleted, hours changed in the ERP, a second time bill for one entry
under another external id, a PSA budget changed, an ERP customer renamed against ownership,
a reference whose record was deleted.

Each test makes its own deal (a project of its own); time and contract checks are scoped to
that project, customers and references are checked by full runs whose items are picked out
by the test's own records.
"""

import json
import subprocess
from decimal import Decimal

import pytest
from tests.e2e.reconciliation.conftest import Recon, hours
from tests.support import accord_cmd, accord_env

from accord.flows.replay import retry_exception
from accord.store import exceptions, kpis, postings, xref
from accord.store import reconciliation as store

pytestmark = pytest.mark.slow


def _posted(recon: Recon, minutes: tuple[int, ...] = (480, 450)) -> tuple[dict, list[str]]:
    run = recon.deal()
    entries = recon.log_time(str(run["psa"]["id"]), minutes)
    assert set(recon.time_bills(entries)) == set(entries)
    return run, entries


def test_a_deleted_time_bill_is_found_routed_and_repaired(recon: Recon) -> None:
    run, entries = _posted(recon)
    project = run["plan"]["project_id"]
    assert recon.reconcile(project_id=project).status == store.AGREED
    gone = recon.time_bills(entries)[entries[0]]
    recon.netsuite().delete("timeBill", str(gone["id"]))

    duplicates = recon.accord.duplicates()["netsuite"]
    found = recon.reconcile(project_id=project)

    assert found.status == store.DRIFTED
    (item,) = recon.drift(found)
    assert (item.kind, item.code, item.business_key) == (
        "time_expense",
        "missing_in_erp",
        entries[0],
    )
    assert item.expected is not None
    assert item.expected > 0
    exc = recon.exception(item.exception_id)
    assert (exc.queue, exc.code, exc.flow) == (
        "finance-ops",
        "erp.recon.posting_missing",
        "reconciliation",
    )
    assert exc.run_id is not None
    assert exc.detail["repair"] == "retry"
    with recon.engine.connect() as conn:
        row = postings.get_many(conn, kind="time", entry_ids=[entries[0]])[entries[0]]
    assert (row.status, row.code) == ("rejected", "erp.recon.posting_missing")

    # The one click: retry the submission's run; only the missing entry posts again.
    services = recon.accord.services
    with recon.engine.begin() as conn:
        retry_exception(
            conn, services.runtime, services.runtime.client, exception_id=exc.id, actor="test"
        )
    recon.settle("time_to_bill")
    bills = recon.time_bills(entries)
    assert set(bills) == set(entries)
    assert bills[entries[0]]["id"] != gone["id"]

    again = recon.reconcile(project_id=project)
    assert again.status == store.AGREED
    assert recon.item(item.id).status == store.REPAIRED
    assert recon.exception(exc.id).status.value == "resolved"
    assert recon.accord.duplicates()["netsuite"] == duplicates


def test_hours_changed_in_the_erp_are_routed_to_finance_and_an_ignore_sticks(recon: Recon) -> None:
    run, entries = _posted(recon)
    project = run["plan"]["project_id"]
    bill = recon.time_bills(entries)[entries[1]]
    recon.netsuite().update("timeBill", str(bill["id"]), {"hours": float(hours(bill) + 1)})

    found = recon.reconcile(project_id=project)

    (item,) = recon.drift(found)
    assert (item.code, item.business_key, item.record_id) == (
        "changed_in_erp",
        entries[1],
        str(bill["id"]),
    )
    assert item.detail["hours"] == {"ledger": "7.50", "erp": "8.5"}
    exc = recon.exception(item.exception_id)
    assert (exc.queue, exc.code, exc.run_id) == ("finance-ops", "erp.recon.posting_changed", None)
    (totals,) = found.report["totals"]
    assert totals["project_id"] == project
    assert not totals["agree"]
    assert Decimal(totals["erp"]) > Decimal(totals["posted"]) == Decimal(totals["psa"])

    with recon.engine.begin() as conn:
        exceptions.ignore(conn, id=exc.id, reason="agreed with the customer", actor="test")
    again = recon.reconcile(project_id=project)
    assert again.status == store.AGREED, (recon.drift(again), again.report)
    assert recon.item(item.id).status == store.IGNORED
    assert recon.drift(again) == []


def test_a_second_time_bill_under_another_id_is_a_duplicate(recon: Recon) -> None:
    run, entries = _posted(recon, (480,))
    project = run["plan"]["project_id"]
    bill = recon.time_bills(entries)[entries[0]]
    copy = {k: bill[k] for k in ("employee", "customer", "tranDate", "hours", "rate", "isBillable")}
    extra = recon.netsuite().upsert("timeBill", f"CLERK-{bill['id']}", copy).id

    found = recon.reconcile(project_id=project)

    (item,) = recon.drift(found)
    assert (item.code, item.record_id) == ("duplicate_in_erp", extra)
    assert item.detail["duplicates_key"] == entries[0]
    exc = recon.exception(item.exception_id)
    assert (exc.queue, exc.code) == ("finance-ops", "erp.recon.posting_duplicate")
    # Never deleted automatically: both records are still there.
    assert {b["id"] for b in recon.accord.records("netsuite", "timeBill")} >= {bill["id"], extra}

    # `accord reconcile` says the same from its own process: exit 1 and the item, as JSON.
    cli = _cli(recon, "--project", project, "--json")
    assert cli.returncode == 1, cli.stderr
    document = json.loads(cli.stdout)
    assert document["status"] == store.DRIFTED
    assert [(d["code"], d["record_id"]) for d in document["drift"]] == [("duplicate_in_erp", extra)]


def _cli(recon: Recon, *args: str) -> subprocess.CompletedProcess[str]:
    settings = recon.accord.services.settings
    env = accord_env(settings.database_url, ACCORD_CONFIG_FILE=str(settings.config_file))
    return subprocess.run(
        accord_cmd("reconcile", *args), env=env, capture_output=True, text=True, timeout=300
    )


def test_a_psa_budget_changed_is_routed_to_delivery(recon: Recon) -> None:
    run = recon.deal(model="Fixed Fee", amount=120000)
    project = run["plan"]["project_id"]
    assert recon.reconcile(project_id=project).status == store.AGREED
    recon.kantata().update("workspaces", str(run["psa"]["id"]), {"price_in_cents": 9_900_000})

    found = recon.reconcile(project_id=project)

    (item,) = recon.drift(found)
    assert (item.kind, item.code) == ("contract", "psa_budget_differs")
    assert (item.expected, item.found) == (Decimal(run["plan"]["budget"]), Decimal(99000))
    exc = recon.exception(item.exception_id)
    assert (exc.queue, exc.code) == ("delivery-ops", "project.recon.psa_budget")

    # The Business page's drift figures read what the run wrote: the item is open, and
    # its amount (|found - expected|) counts in the open amount.
    today = found.started_at.date()
    with recon.engine.connect() as conn:
        drift = kpis.compute(conn, kpis.KpiQuery(first=today, last=today)).drift
    assert drift.found_by_kind.get("contract", 0) >= 1
    assert drift.open_by_kind.get("contract", 0) >= 1
    assert drift.open_amount.amount >= abs(item.found - item.expected)
    assert drift.last_run_status == store.DRIFTED


def test_an_erp_customer_renamed_against_ownership_is_found(recon: Recon) -> None:
    run = recon.deal()
    customer = run["plan"]["customer_id"]
    with recon.engine.connect() as conn:
        erp_id = xref.get_external(
            conn, entity_type="customer", canonical_id=customer, connection="netsuite"
        )
    assert erp_id is not None
    recon.netsuite().update("customer", erp_id, {"companyName": "Renamed By Finance Inc"})

    found = recon.reconcile()

    (item,) = [i for i in recon.drift(found, code="fields_differ") if i.business_key == customer]
    assert item.detail["fields"]["name"]["erp"] == "Renamed By Finance Inc"
    assert item.record_id == erp_id
    exc = recon.exception(item.exception_id)
    assert (exc.queue, exc.code) == ("finance-ops", "erp.recon.customer_fields")


def test_a_reference_whose_record_was_deleted_is_found(recon: Recon) -> None:
    run = recon.deal(model="Fixed Fee", amount=80000)
    schedule = str(run["erp"]["billing_schedule"])
    recon.netsuite().delete("salesOrder", schedule)

    found = recon.reconcile()

    dangling = [i for i in recon.drift(found, code="dangling_xref") if i.record_id == schedule]
    (item,) = dangling
    assert item.detail["entity_type"] == "erp_billing_schedule"
    assert item.business_key == run["plan"]["project_id"]
    exc = recon.exception(item.exception_id)
    assert (exc.queue, exc.code) == ("integration", "recon.xref_dangling")
    plan = recon.drift(found, code="plan_total_differs")
    assert [i.project_id for i in plan] == [run["plan"]["project_id"]]
