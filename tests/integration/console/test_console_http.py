"""The console over HTTP: sign-in and cookie flags, CSRF, roles, every page, paging, retry."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.integration.console.support import (
    csrf_of,
    local_client,
    record_event_cloud_event,
    sign_in,
)
from tests.support import STRUCTURED

from accord.domain import Money
from accord.store import audit, exceptions, keys
from accord.store.tables import exceptions as exceptions_table

PAGES = [
    "/",
    "/exceptions",
    "/runs",
    "/runs?view=failed",
    "/runs?view=dead",
    "/runs?view=all",
    "/lineage",
    "/lineage?id=nothing-known",
    "/connections",
    "/audit",
    "/audit?verify=1",
]


def _open(
    engine: sa.Engine,
    *,
    queue: str = "finance-ops",
    run_id: str | None = None,
    key: str | None = None,
    age: timedelta | None = None,
) -> int:
    key = key or f"k-{time.monotonic_ns()}"
    with engine.begin() as conn:
        exc = exceptions.open_(
            conn,
            queue=queue,
            flow="record_event",
            run_id=run_id,
            business_key=f"invoice:{key}",
            code="period_closed",
            title=f"Period closed for {key}",
            detail={"error": "accounting period 2026-09 is closed", "entity": "US01"},
            amount=Money(amount=Decimal("1250.00"), currency="USD"),
            dedupe_key=key,
        )
        if age is not None:
            conn.execute(
                sa.update(exceptions_table)
                .where(exceptions_table.c.id == exc.id)
                .values(created_at=exc.created_at - age)
            )
    return exc.id


# ---------------------------------------------------------------------- sign-in
def test_good_key_signs_in_with_a_strict_http_only_cookie(console_env):
    client = local_client(console_env["app"])
    page = client.get("/signin")
    assert page.status_code == 200
    resp = client.post(
        "/signin",
        data={"key": console_env["keys"]["viewer"], "csrf": csrf_of(page.text), "next": "/runs"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    assert resp.headers["location"] == "/runs"
    cookie = next(h for h in resp.headers.get_list("set-cookie") if h.startswith("accord_session="))
    flags = cookie.lower()
    assert "httponly" in flags
    assert "samesite=strict" in flags
    assert "secure" not in flags  # plain http on loopback
    assert console_env["keys"]["viewer"] not in cookie  # the secret never leaves the form
    assert client.get("/runs").status_code == 200


def test_cookie_is_secure_over_https(console_env):
    client = TestClient(console_env["app"], base_url="https://testserver")
    page = client.get("/signin")
    resp = client.post(
        "/signin",
        data={"key": console_env["keys"]["operator"], "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    cookie = next(h for h in resp.headers.get_list("set-cookie") if h.startswith("accord_session="))
    assert "secure" in cookie.lower()


def test_plain_http_from_another_machine_is_refused(console_env):
    client = TestClient(console_env["app"], client=("203.0.113.9", 40000))
    page = client.get("/signin")
    assert "sign in over https" in page.text
    resp = client.post(
        "/signin",
        data={"key": console_env["keys"]["viewer"], "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert resp.status_code == 403
    assert "accord_session" not in resp.cookies


@pytest.mark.parametrize(("key", "status"), [("acc_nope_nope", 401), ("", 401)])
def test_bad_key_is_refused(console_env, key, status):
    client = local_client(console_env["app"])
    page = client.get("/signin")
    resp = client.post(
        "/signin", data={"key": key, "csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert resp.status_code == status
    assert "Unknown or revoked API key" in resp.text
    assert "accord_session" not in resp.cookies
    assert client.get("/", follow_redirects=False).status_code == 303


def test_ingest_key_may_not_sign_in(console_env):
    client = local_client(console_env["app"])
    page = client.get("/signin")
    resp = client.post(
        "/signin",
        data={"key": console_env["keys"]["ingest"], "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert resp.status_code == 403
    assert "only post events" in resp.text


def test_sign_in_without_the_form_token_is_refused(console_env):
    client = local_client(console_env["app"])
    resp = client.post(
        "/signin", data={"key": console_env["keys"]["viewer"]}, follow_redirects=False
    )
    assert resp.status_code == 403
    assert "accord_session" not in resp.cookies


def test_pages_need_a_session_and_come_back_after_sign_in(console_env):
    client = local_client(console_env["app"])
    resp = client.get("/exceptions?queue=finance-ops", follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"].startswith("/signin?next=%2Fexceptions%3Fqueue%3Dfinance-ops")


def test_open_redirects_are_not_followed(console_env):
    client = local_client(console_env["app"])
    page = client.get("/signin")
    resp = client.post(
        "/signin",
        data={
            "key": console_env["keys"]["viewer"],
            "csrf": csrf_of(page.text),
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert resp.headers["location"] == "/"


def test_a_forged_cookie_is_no_session(console_env):
    client = local_client(console_env["app"])
    client.cookies.set("accord_session", "eyJrIjogMSwgImUiOiA5OTk5OTk5OTk5LCAibiI6ICJ4In0.forged")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_revoking_the_key_ends_its_sessions(console_env):
    with console_env["engine"].begin() as conn:
        _, secret = keys.create(conn, name="short-lived", role=keys.Role.VIEWER, actor="test")
    client = sign_in(local_client(console_env["app"]), secret)
    assert client.get("/", follow_redirects=False).status_code == 200
    with console_env["engine"].begin() as conn:
        keys.revoke(conn, name="short-lived", actor="test")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_sign_out_clears_the_session(console_env):
    client = sign_in(local_client(console_env["app"]), console_env["keys"]["viewer"])
    page = client.get("/")
    resp = client.post("/signout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/signin"
    assert client.get("/", follow_redirects=False).status_code == 303


# ---------------------------------------------------------------------- pages and roles
@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_for_a_viewer(console_env, path):
    resp = console_env["clients"]["viewer"].get(path)
    assert resp.status_code == 200, resp.text
    assert "text/html" in resp.headers["content-type"]
    assert resp.headers["cache-control"] == "no-store"
    assert "<nav>" in resp.text


def test_viewer_sees_no_action_buttons_and_operator_does(console_env):
    exc_id = _open(console_env["engine"], run_id="000000000999.0123456789abcdef")
    viewer = console_env["clients"]["viewer"].get(f"/exceptions/{exc_id}").text
    operator = console_env["clients"]["operator"].get(f"/exceptions/{exc_id}").text
    assert 'id="actions"' not in viewer
    assert 'id="retry"' not in viewer
    assert "may read but not act" in viewer
    assert 'id="actions"' in operator
    for action in ("retry", "redate", "assign", "comment", "ignore"):
        assert f'action="/exceptions/{exc_id}/{action}"' in operator
    assert 'type="date"' in operator


def test_actions_without_the_csrf_token_are_refused(console_env):
    exc_id = _open(console_env["engine"])
    operator = console_env["clients"]["operator"]
    for token in (None, "wrong"):
        data = {"text": "hello"} if token is None else {"text": "hello", "csrf": token}
        resp = operator.post(f"/exceptions/{exc_id}/comment", data=data, follow_redirects=False)
        assert resp.status_code == 403
        assert "did not come from the console" in resp.text
    with console_env["engine"].connect() as conn:
        assert exceptions.get(conn, id=exc_id).comments == []


def test_a_viewer_cannot_act_even_with_a_valid_token(console_env):
    exc_id = _open(console_env["engine"])
    viewer = console_env["clients"]["viewer"]
    token = csrf_of(viewer.get("/exceptions").text)
    resp = viewer.post(
        f"/exceptions/{exc_id}/ignore", data={"csrf": token, "reason": "x"}, follow_redirects=False
    )
    assert resp.status_code == 403
    with console_env["engine"].connect() as conn:
        assert exceptions.get(conn, id=exc_id).status.value == "open"


def test_operator_assigns_comments_and_ignores_with_audit(console_env):
    exc_id = _open(console_env["engine"])
    operator = console_env["clients"]["operator"]
    token = csrf_of(operator.get(f"/exceptions/{exc_id}").text)
    base = f"/exceptions/{exc_id}"
    for action, data in (
        ("assign", {"assignee": "dana@firm.example"}),
        ("comment", {"text": "Asked finance to reopen 2026-09"}),
        ("ignore", {"reason": "duplicate of a manual journal"}),
    ):
        resp = operator.post(
            f"{base}/{action}", data={**data, "csrf": token}, follow_redirects=False
        )
        assert resp.status_code == 303, resp.text
        assert resp.headers["location"] == f"{base}?done={action}"
    page = operator.get(base).text
    assert "dana@firm.example" in page
    assert "Asked finance to reopen 2026-09" in page
    assert 'id="actions"' not in page  # closed: nothing left to do
    with console_env["engine"].connect() as conn:
        rows = audit.list_(conn, target=f"exception:{exc_id}")
    assert [r.action for r in rows][::-1] == [
        "exception.assign",
        "exception.comment",
        "exception.ignore",
    ]
    assert {r.actor for r in rows} == {"key:operator"}
    assert (
        operator.post(
            f"{base}/ignore", data={"csrf": token, "reason": "again"}, follow_redirects=False
        ).status_code
        == 409
    )


def test_ignore_needs_a_reason(console_env):
    exc_id = _open(console_env["engine"])
    operator = console_env["clients"]["operator"]
    token = csrf_of(operator.get("/").text)
    resp = operator.post(
        f"/exceptions/{exc_id}/ignore", data={"csrf": token, "reason": " "}, follow_redirects=False
    )
    assert resp.status_code == 400


def test_unknown_exception_is_a_404_page(console_env):
    resp = console_env["clients"]["viewer"].get("/exceptions/999999")
    assert resp.status_code == 404
    assert "There is no exception 999999" in resp.text


# ---------------------------------------------------------------------- exceptions list
def test_queues_show_buckets_and_amount_at_risk_and_paging_is_oldest_first(console_env):
    engine = console_env["engine"]
    ids = [
        _open(engine, queue="delivery-ops", age=timedelta(days=3, minutes=i)) for i in range(120)
    ]
    viewer = console_env["clients"]["viewer"]
    first = viewer.get("/exceptions?queue=delivery-ops")
    assert first.status_code == 200
    rows = first.text.count('class="row-link"')
    assert rows == 50
    # Oldest first: the oldest (3 days and 119 minutes) is on page 1, the newest on page 3.
    assert f'href="/exceptions/{ids[-1]}"' in first.text
    assert f'href="/exceptions/{ids[0]}"' not in first.text
    assert "Page 1 of 3" in first.text
    assert 'rel="next"' in first.text
    last = viewer.get("/exceptions?queue=delivery-ops&page=3")
    assert last.text.count('class="row-link"') == 20
    assert f'href="/exceptions/{ids[0]}"' in last.text
    newest = viewer.get("/exceptions?queue=delivery-ops&sort=newest")
    assert f'href="/exceptions/{ids[0]}"' in newest.text
    assert "USD" in first.text
    assert "older" in first.text


def test_bad_paging_parameters_fall_back_to_page_one(console_env):
    resp = console_env["clients"]["viewer"].get("/exceptions?page=abc&status=bogus&queue=nope")
    assert resp.status_code == 200
    assert "Page 1" in resp.text


# ---------------------------------------------------------------------- retry
def _event_run(console_env) -> str:
    """Post a real event; wait for its record_event run to succeed; return the run id."""
    client = console_env["anonymous"]
    resp = client.post(
        "/api/v1/events",
        json=record_event_cloud_event(),
        headers={**STRUCTURED, "Authorization": f"Bearer {console_env['keys']['ingest']}"},
    )
    assert resp.status_code == 202, resp.text
    run_id = resp.json()["run_id"]
    _wait_status(console_env["engine"], run_id, "SUCCESS")
    return run_id


def _wait_status(engine: sa.Engine, run_id: str, want: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            status = conn.execute(
                sa.text("SELECT status FROM workflow_status WHERE workflow_uuid = :id"),
                {"id": run_id},
            ).scalar_one_or_none()
        if status == want:
            return
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} is {status}, not {want}")


def test_retry_reruns_the_event_and_resolves_the_exception(console_env):
    engine = console_env["engine"]
    run_id = _event_run(console_env)
    exc_id = _open(engine, run_id=run_id)
    operator = console_env["clients"]["operator"]
    token = csrf_of(operator.get(f"/exceptions/{exc_id}").text)
    resp = operator.post(
        f"/exceptions/{exc_id}/retry", data={"csrf": token}, follow_redirects=False
    )
    assert resp.status_code == 303
    _wait_status(engine, f"{run_id}.r1", "SUCCESS")
    page = operator.get(resp.headers["location"]).text
    assert 'id="exception-status">resolved<' in page
    assert f"{run_id}.r1" in page
    with engine.connect() as conn:
        exc = exceptions.get(conn, id=exc_id)
        actions = [r.action for r in audit.list_(conn, target=f"exception:{exc_id}")]
    assert exc.status.value == "resolved"
    assert exc.resolution == f"retry {run_id}.r1 succeeded"
    assert actions[::-1] == ["exception.retry", "exception.auto_resolve"]


def test_redate_retries_with_the_new_date(console_env):
    engine = console_env["engine"]
    run_id = _event_run(console_env)
    exc_id = _open(engine, run_id=run_id)
    operator = console_env["clients"]["operator"]
    token = csrf_of(operator.get(f"/exceptions/{exc_id}").text)
    bad = operator.post(
        f"/exceptions/{exc_id}/redate",
        data={"csrf": token, "new_date": "x"},
        follow_redirects=False,
    )
    assert bad.status_code == 400
    resp = operator.post(
        f"/exceptions/{exc_id}/redate",
        data={"csrf": token, "new_date": "2026-10-01"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    _wait_status(engine, f"{run_id}.r1", "SUCCESS")
    page = operator.get(f"/exceptions/{exc_id}").text
    assert "posting_date = 2026-10-01" in page
    with engine.connect() as conn:
        actions = [r.action for r in audit.list_(conn, target=f"exception:{exc_id}")]
    assert "exception.redate" in actions


def test_retry_of_an_exception_without_a_run_says_why(console_env):
    exc_id = _open(console_env["engine"])
    operator = console_env["clients"]["operator"]
    token = csrf_of(operator.get("/").text)
    resp = operator.post(
        f"/exceptions/{exc_id}/retry", data={"csrf": token}, follow_redirects=False
    )
    assert resp.status_code == 409
    assert "cannot be retried" in resp.text


def test_lineage_search_draws_the_graph(console_env):
    run_id = _event_run(console_env)
    event_id = run_id.split(".", 1)[1]
    page = console_env["clients"]["viewer"].get(f"/lineage?id={event_id}").text
    assert 'id="lineage"' in page
    assert "opportunity.updated" in page


def test_every_page_carries_the_security_headers(console_env):
    from accord.api.security_headers import CONTENT_SECURITY_POLICY

    client = console_env["clients"]["operator"]
    answers = [client.get(path) for path in PAGES]
    answers += [
        console_env["anonymous"].get("/signin"),
        client.get("/static/console/console.css"),
        client.get("/api/v1/keys"),  # JSON: a 401 without a key, headers all the same
    ]
    for answer in answers:
        assert answer.headers["x-frame-options"] == "DENY", answer.url
        assert answer.headers["referrer-policy"] == "no-referrer", answer.url
        assert answer.headers["x-content-type-options"] == "nosniff", answer.url
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, answer.url
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "script-src" not in CONTENT_SECURITY_POLICY  # default-src 'none': no script at all
    # No page relies on an inline style the policy would block.
    assert all(" style=" not in a.text for a in answers[: len(PAGES)])
    docs = client.get("/api/v1/docs")
    assert "content-security-policy" not in docs.headers
    assert docs.headers["x-frame-options"] == "DENY"
