"""A billed milestone the PSA refuses to mark: the invoice stays, delivery ops retry forward."""

import httpx
from tests.e2e.cash.harness import CashAccord
from tests.e2e.milestones.test_milestone_billing import _milestones, _ns_invoices, _set_state

from accord.flows.bill_milestone.steps import mark_dedupe_key
from accord.flows.replay import retry_exception


def test_psa_refusal_keeps_the_invoice_and_a_retry_marks_the_milestone(
    cash: CashAccord, faults
) -> None:
    ids = cash.provision(entity="US01", package="ROLLOUT-MILESTONE", model="Milestone",
                         amount=60000.0)  # fmt: skip
    first = _milestones(cash, ids["psa_project"])[0]
    key = f"{ids['project']}-M1"
    faults("kantata", method="POST", path="*/external_references*", error_rate=1.0, status=422)
    _set_state(cash, first["id"], "completed")
    assert cash.poll("kantata_stories") == 1
    (run,) = cash.runs_about("milestone_id", key)
    assert run["status"] == "psa_refused", run
    assert run["compensated"] == []  # ms.bill is kept: the invoice is a financial document
    (invoice,) = _ns_invoices(cash, f"MS-{key}")
    (opened,) = [
        e
        for e in cash.exceptions(f"project:{ids['project']}")
        if e.dedupe_key == mark_dedupe_key(key)
    ]
    assert (opened.queue, opened.code) == ("delivery-ops", "psa.milestone_invoiced.refused")
    assert opened.detail["invoice_id"] == f"MS-{key}"

    httpx.delete(f"{cash.base.sandbox.urls['kantata']}/__sandbox/faults", timeout=10)
    services = cash.base.services
    with services.engine.begin() as conn:
        retry_exception(
            conn,
            services.runtime,
            services.runtime.client,
            exception_id=opened.id,
            actor="delivery@test",
        )
    runs = cash.runs_about("milestone_id", key)
    assert [r["status"] for r in runs] == ["psa_refused", "already_billed"]
    assert _ns_invoices(cash, f"MS-{key}") == [invoice]  # billed once
    refs = [
        r
        for r in cash.base.records("kantata", "external_references")
        if r.get("subject_id") == first["id"] and r.get("service_model") == "invoice"
    ]
    assert [r["service_model_ref"] for r in refs] == [f"MS-{key}"]
    (after,) = [
        e
        for e in cash.exceptions(f"project:{ids['project']}")
        if e.dedupe_key == mark_dedupe_key(key)
    ]
    assert after.status.value == "resolved"
