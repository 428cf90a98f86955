"""Drift seeded through the systems' own APIs is found, routed to its owner and (where offered)
repaired: a time bill deleted, hours changed in the ERP, a second time bill for one entry
under another external id, a PSA budget changed, an ERP customer renamed against ownership,
a reference whose record was deleted.

Each test makes its own deal (a project of its own); time and contract checks are scoped to
that project, customers and references are checked by full runs whose items are picked out
by the test's own records.
"""

import pytest
from tests.e2e.reconciliation.conftest import Recon, hours

from accord.flows.replay import retry_exception
from accord.store import postings
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

    found = recon.reconcile(project_id=project)

    assert found.status == store.DRIFTED
    (item,) = recon.drift(found)
    assert (item.kind, item.code, item.business_key) == (
        "time_expense",
        "missing_in_erp",
        entries[0],
    )
    assert item.expected is not None and item.expected > 0
    exc = recon.exception(item.exception_id)
    assert (exc.queue, exc.code, exc.flow) == (
        "finance-ops",
        "erp.recon.posting_missing",
        "reconciliation",
    )
    assert exc.run_id is not None and exc.detail["repair"] == "retry"
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
    assert recon.accord.duplicates()["netsuite"] == 0
