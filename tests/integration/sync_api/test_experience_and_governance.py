"""Experience tier (engagements read model) and governance: versioning, rate limits, OpenAPI."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.sync_api.support import Env, Seeded, running_app

from accord.api.governance import RateLimiter
from accord.api.openapi_export import additions, breaking_changes, dumps
from accord.store import exceptions, lineage, xref

TIER_TAGS = {"system", "process", "experience"}
CHECKED_IN = Path(__file__).resolve().parents[3] / "openapi" / "v1.json"


@pytest.fixture(scope="module")
def env(module_db_url: str, seeded: Seeded) -> Iterator[Env]:
    with running_app(module_db_url, seeded, "test-sync-experience") as running:
        with running.engine.begin() as conn:
            for opp, sf_id in (("opp-a", "006A"), ("opp-b", "006B"), ("opp-c", "006C")):
                xref.link(
                    conn,
                    entity_type="Opportunity",
                    canonical_id=opp,
                    system="salesforce",
                    connection="salesforce",
                    external_id=sf_id,
                )
            for connection, external in (("kantata", "WS-1"), ("netsuite", "JOB-1")):
                xref.link(
                    conn,
                    entity_type="Project",
                    canonical_id="prj-a",
                    system=connection,
                    connection=connection,
                    external_id=external,
                )
            for ft, fid, tt, tid, rel, status in (
                ("Opportunity", "opp-a", "Project", "prj-a", "provisioned", "provisioned"),
                ("Opportunity", "opp-a", "Customer", "cust-acme", "for_customer", "ok"),
                ("Project", "prj-a", "Invoice", "inv-acme-1", "billed", "posted"),
            ):
                lineage.link(
                    conn,
                    from_type=ft,
                    from_id=fid,
                    to_type=tt,
                    to_id=tid,
                    relation=rel,
                    run_id="run-1",
                    event_id="evt-1",
                    status=status,
                )
            exceptions.open_(
                conn,
                queue="finance-ops",
                flow="lead_to_project",
                run_id="run-1",
                business_key="opportunity:opp-b",
                code="erp.rejected",
                title="ERP refused the project",
                detail={},
                dedupe_key="opp-b:erp",
            )
        yield running


# --------------------------------------------------------------------------- engagements
def test_engagements_page_through_a_stable_read_model(env):
    first = env.get("/api/v1/engagements", role="process", params={"limit": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    assert [e["opportunity_id"] for e in page["items"]] == ["opp-a", "opp-b"]
    a, b = page["items"]
    assert a["opportunity_ids"] == {"salesforce": "006A"}
    assert a["customer_id"] == "cust-acme"
    assert a["project"] == {
        "project_id": "prj-a",
        "ids": {"kantata": "WS-1", "netsuite": "JOB-1"},
        "status": "provisioned",
    }
    assert a["billing_status"] == "billed"
    assert a["invoices"] == 1
    assert a["open_exceptions"] == 0
    assert b["project"] is None
    assert b["billing_status"] == "not_provisioned"
    assert b["open_exceptions"] == 1
    assert page["next_cursor"]
    rest = env.get(
        "/api/v1/engagements", role="viewer", params={"limit": 2, "cursor": page["next_cursor"]}
    )
    assert rest.status_code == 403
    rest = env.get(
        "/api/v1/engagements", role="operator", params={"limit": 2, "cursor": page["next_cursor"]}
    )
    assert [e["opportunity_id"] for e in rest.json()["items"]] == ["opp-c"]
    assert rest.json()["next_cursor"] is None


def test_engagements_refuse_bad_paging(env):
    assert env.get("/api/v1/engagements", params={"cursor": "%%%"}).status_code == 400
    assert env.get("/api/v1/engagements", params={"limit": 0}).status_code == 422
    assert env.get("/api/v1/engagements", params={"limit": 1000}).status_code == 422


# --------------------------------------------------------------------------- rate limits
def test_rate_limit_is_per_api_key(env):
    app = env.client.app
    saved = getattr(app.state, "rate_limiter", None)
    # Two requests at once, then one every ~17 minutes: the third request must wait.
    app.state.rate_limiter = RateLimiter(rate=0.001, burst=2)
    try:
        statuses = [env.get("/api/v1/engagements", role="process").status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        limited = env.get("/api/v1/engagements", role="process")
        assert limited.headers["content-type"].startswith("application/problem+json")
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["title"] == "Too many requests"
        # Another key is not affected.
        assert env.get("/api/v1/engagements", role="process-2").status_code == 200
    finally:
        app.state.rate_limiter = saved


# --------------------------------------------------------------------------- versioning
def test_every_tier_route_is_under_api_v1_with_a_response_model(env):
    document = env.client.app.openapi()
    seen = 0
    for path, item in document["paths"].items():
        for operation in item.values():
            if TIER_TAGS & set(operation.get("tags", ())):
                seen += 1
                assert path.startswith("/api/v1/"), path
                ok = [s for s in operation["responses"] if s.startswith("2")]
                assert any("content" in operation["responses"][s] for s in ok), (
                    f"{path} has no response schema"
                )
    assert seen == 9


def test_openapi_has_no_breaking_change_against_the_checked_in_file(env):
    checked_in = json.loads(CHECKED_IN.read_text(encoding="utf-8"))
    problems = breaking_changes(checked_in, env.client.app.openapi())
    assert problems == [], (
        "backward-incompatible API change (bump info.version's major to allow it):\n"
        + "\n".join(problems)
    )


def test_openapi_checked_in_file_is_up_to_date(env):
    checked_in_text = CHECKED_IN.read_text(encoding="utf-8")
    current = env.client.app.openapi()
    new_operations = additions(json.loads(checked_in_text), current)
    assert dumps(current) == checked_in_text, (
        "openapi/v1.json is out of date; re-export it with "
        "`python -m accord.api.openapi_export`"
        + (f" (new operations: {', '.join(new_operations)})" if new_operations else "")
    )


def test_the_checker_catches_a_field_removed_from_the_real_document(env):
    checked_in = json.loads(CHECKED_IN.read_text(encoding="utf-8"))
    broken = json.loads(json.dumps(checked_in))
    del broken["components"]["schemas"]["InvoiceStatusView"]["properties"]["amount_due"]
    problems = breaking_changes(checked_in, broken)
    assert "GET /api/v1/invoices/{invoice_id} 200.amount_due: response field removed" in problems
