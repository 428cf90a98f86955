"""Exception actions through the API: each is applied, audited, and leaves the chain intact."""

from accord.store import audit


def _audit_rows(ops, target: str) -> list[audit.AuditRow]:
    with ops.engine.connect() as conn:
        return list(reversed(audit.list_(conn, target=target)))


def _chain_ok(ops) -> bool:
    with ops.engine.connect() as conn:
        return audit.verify(conn) is None


def test_assign_comment_ignore_are_audited_with_before_and_after(ops):
    exc_id = ops.open_exception()
    assigned = ops.post(f"/api/v1/exceptions/{exc_id}/assign", {"assignee": "ann"})
    assert assigned.status_code == 200
    assert assigned.json()["assignee"] == "ann"
    commented = ops.post(f"/api/v1/exceptions/{exc_id}/comment", {"text": "vendor asked"})
    assert commented.json()["comments"][-1]["text"] == "vendor asked"
    assert commented.json()["comments"][-1]["actor"] == "key:operator"
    ignored = ops.post(f"/api/v1/exceptions/{exc_id}/ignore", {"reason": "test data"})
    assert ignored.json()["status"] == "ignored"
    assert ignored.json()["resolution"] == "test data"
    rows = _audit_rows(ops, f"exception:{exc_id}")
    assert [r.action for r in rows] == [
        "exception.assign",
        "exception.comment",
        "exception.ignore",
    ]
    assert {r.actor for r in rows} == {"key:operator"}
    assert rows[0].before["assignee"] is None
    assert rows[0].after["assignee"] == "ann"
    assert rows[2].before["status"] == "open"
    assert rows[2].after["status"] == "ignored"
    assert _chain_ok(ops)


def test_closed_exception_answers_409_and_unknown_404(ops):
    exc_id = ops.open_exception()
    assert ops.post(f"/api/v1/exceptions/{exc_id}/resolve", {"reason": "fixed"}).status_code == 200
    again = ops.post(f"/api/v1/exceptions/{exc_id}/ignore", {"reason": "x"})
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert ops.post(f"/api/v1/exceptions/{exc_id}/retry").status_code == 409
    assert ops.post("/api/v1/exceptions/999999/assign", {"assignee": "x"}).status_code == 404
    assert ops.get("/api/v1/exceptions/999999").status_code == 404
    blank = ops.post(f"/api/v1/exceptions/{exc_id}/comment", {"text": "  "})
    assert blank.status_code == 422


def test_retry_reruns_the_journaled_event_as_a_new_run(ops):
    run_id = ops.completed_run()
    exc_id = ops.open_exception(run_id)
    resp = ops.post(f"/api/v1/exceptions/{exc_id}/retry")
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["run"]["original_run_id"] == run_id
    assert body["run"]["run_id"] == f"{run_id}.r1"
    assert body["exception"]["status"] == "open"  # the flow's success resolves it
    run = ops.wait_run(body["run"]["run_id"])
    assert run["rerun_of"] == run_id
    assert run["flow"] == "record_event"
    assert [s["name"] for s in run["steps"]] == ["record_lineage"]
    # The event was already linked: the idempotent step reports nothing new.
    assert run["output"]["linked"] is False
    second = ops.post(f"/api/v1/exceptions/{exc_id}/retry").json()
    assert second["run"]["run_id"] == f"{run_id}.r2"
    detail = ops.get(f"/api/v1/exceptions/{exc_id}").json()
    assert [r["run_id"] for r in detail["retries"]] == [f"{run_id}.r1", f"{run_id}.r2"]
    rows = _audit_rows(ops, f"exception:{exc_id}")
    assert [r.action for r in rows] == ["exception.retry", "exception.retry"]
    assert rows[0].after["run_id"] == f"{run_id}.r1"
    assert _chain_ok(ops)


def test_retry_of_a_retry_derives_from_the_original_run(ops):
    run_id = ops.completed_run()
    first = ops.post(f"/api/v1/exceptions/{ops.open_exception(run_id)}/retry").json()
    exc_id = ops.open_exception(first["run"]["run_id"])
    second = ops.post(f"/api/v1/exceptions/{exc_id}/retry").json()
    assert second["run"]["run_id"] == f"{run_id}.r2"


def test_redate_stores_the_date_and_passes_it_to_the_retried_run(ops):
    run_id = ops.completed_run()
    exc_id = ops.open_exception(run_id)
    resp = ops.post(f"/api/v1/exceptions/{exc_id}/redate", {"date": "2026-12-01"})
    assert resp.status_code == 202, resp.text
    new_run = resp.json()["run"]["run_id"]
    detail = ops.get(f"/api/v1/exceptions/{exc_id}").json()
    assert detail["overrides"] == {"posting_date": "2026-12-01"}
    run = ops.wait_run(new_run)
    assert run["attributes"]["overrides"] == {"posting_date": "2026-12-01"}
    # A later plain retry keeps the stored date.
    again = ops.post(f"/api/v1/exceptions/{exc_id}/retry").json()
    run2 = ops.wait_run(again["run"]["run_id"])
    assert run2["attributes"]["overrides"] == {"posting_date": "2026-12-01"}
    actions = [r.action for r in _audit_rows(ops, f"exception:{exc_id}")]
    assert actions == ["exception.redate", "exception.retry"]


def test_exception_without_a_run_cannot_be_retried(ops):
    exc_id = ops.open_exception("")
    resp = ops.post(f"/api/v1/exceptions/{exc_id}/retry")
    assert resp.status_code == 409


def test_bulk_actions_report_each_outcome(ops):
    run_id = ops.completed_run()
    ids = [ops.open_exception(run_id) for _ in range(3)]
    ops.post(f"/api/v1/exceptions/{ids[1]}/ignore", {"reason": "dup"})
    resp = ops.post(
        "/api/v1/exceptions/bulk", {"ids": [*ids, 999999], "action": "assign", "assignee": "bo"}
    )
    assert resp.status_code == 200
    body = resp.json()
    assert [r["status"] for r in body["results"]] == [200, 409, 200, 404]
    assert body["succeeded"] == 2
    assert body["failed"] == 2
    retried = ops.post("/api/v1/exceptions/bulk", {"ids": [ids[0], ids[2]], "action": "retry"})
    runs = [r["run_id"] for r in retried.json()["results"]]
    assert runs[0] != runs[1]
    assert all(r.startswith(f"{run_id}.r") for r in runs)
    for r in runs:
        ops.wait_run(r)
    ignored = ops.post(
        "/api/v1/exceptions/bulk", {"ids": [ids[0], ids[2]], "action": "ignore", "reason": "ok"}
    )
    assert ignored.json()["succeeded"] == 2
    missing = ops.post("/api/v1/exceptions/bulk", {"ids": [ids[0]], "action": "ignore"})
    assert missing.status_code == 422
    assert _chain_ok(ops)


def test_list_filters_and_summary(ops):
    from decimal import Decimal

    from accord.domain import Money

    key = "invoice:summary-test"
    ids = [
        ops.open_exception(
            queue="sales-ops",
            business_key=key,
            amount=Money(amount=Decimal("100.50"), currency="EUR"),
        )
        for _ in range(2)
    ]
    listed = ops.get("/api/v1/exceptions", role="viewer", business_key=key).json()
    assert [e["id"] for e in listed["items"]] == ids
    assert listed["items"][0]["age_bucket"] == "lt_1h"
    assert listed["items"][0]["amount"] == {"amount": "100.50", "currency": "EUR"}
    page = ops.get("/api/v1/exceptions", role="viewer", queue="sales-ops", limit=1).json()
    assert len(page["items"]) == 1
    assert page["next_after_id"] == page["items"][0]["id"]
    summary = ops.get("/api/v1/exceptions/summary", role="viewer").json()
    sales = next(q for q in summary["queues"] if q["queue"] == "sales-ops")
    assert sales["count"] >= 2
    assert sales["age_buckets"]["lt_1h"] >= 2
    assert {"amount": "201.00", "currency": "EUR"} in sales["amount_at_risk"]


def test_every_mutation_left_an_audit_row(ops):
    # Its own exception: the audit rows of other tests' mutations may or may not exist yet.
    exc_id = ops.open_exception(ops.completed_run())
    assert ops.post(f"/api/v1/exceptions/{exc_id}/assign", {"assignee": "bo"}).status_code == 200
    assert ops.post(f"/api/v1/exceptions/{exc_id}/comment", {"text": "seen"}).status_code == 200
    assert ops.post(f"/api/v1/exceptions/{exc_id}/retry").status_code == 202
    actions = {r.action for r in _audit_rows(ops, f"exception:{exc_id}")}
    assert {"exception.assign", "exception.comment", "exception.retry"} <= actions
