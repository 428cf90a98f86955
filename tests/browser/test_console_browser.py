"""The console in a real browser: find the oldest finance exception, fix the cause, retry.

Accord runs in process under uvicorn on a free port (with its runtime), beside the sandbox.
The exception is about a closed accounting period in the sandbox's NetSuite: the test closes
the period, puts the exception in finance-ops (the oldest there, among newer ones), then, in
Chromium, signs in, opens Exceptions → finance-ops (oldest first) → the first row, reopens the
period through the sandbox's control API (the fix), clicks Retry and waits for "resolved".

Until a business flow opens this exception by itself, the exception is opened on the run of a
real journaled event that ``record_event`` handles, so Retry really re-runs that event
(``<run id>.r1``); the browser steps and the "resolved" check are the same when the flow's own
success resolves it.

Screenshots of every page go to ``/tmp/console-*.png``.
"""

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from tests.integration.console.support import record_event_cloud_event
from tests.support import STRUCTURED

from accord.api.app import create_app
from accord.domain import Money
from accord.settings import Settings
from accord.store import create_db_engine, exceptions, keys, migrate
from accord.store.tables import exceptions as exceptions_table
from accord_sandbox.server import Sandbox

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path("/tmp")
ENTITY, PERIOD = "US01", "2026-09"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[dict[str, str]]:
    """The four emulators on free ports."""
    with Sandbox(base_port=0, scenario="small", seed=3).start_in_thread() as handle:
        yield dict(handle.urls)


def _config(folder: Path, urls: dict[str, str]) -> Path:
    """``accord.yaml`` pointing at the sandbox, when this checkout can write one."""
    path = folder / "accord.yaml"
    try:
        from accord_sandbox.accord_config import write_accord_config
    except ImportError:
        return path  # no file: Accord runs with no connections
    return write_accord_config(path, urls)


@pytest.fixture(scope="module")
def accord(
    tmp_path_factory: pytest.TempPathFactory, sandbox: dict[str, str]
) -> Iterator[dict[str, object]]:
    """Accord served by uvicorn (lifespan on: migrations, runtime) with two keys."""
    folder = tmp_path_factory.mktemp("console-browser")
    url = f"sqlite:///{folder / 'accord.db'}"
    engine = create_db_engine(url)
    migrate(engine)
    with engine.begin() as conn:
        _, operator = keys.create(conn, name="dana", role=keys.Role.OPERATOR, actor="test")
        _, ingest = keys.create(conn, name="intake", role=keys.Role.INGEST, actor="test")
    settings = Settings(
        database_url=url, worker_id="test-console-browser", config_file=_config(folder, sandbox)
    )
    app = create_app(settings, configure_logs=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("Accord did not start")
        time.sleep(0.05)
    try:
        yield {"url": base, "engine": engine, "operator": operator, "ingest": ingest}
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
        engine.dispose()


def _set_period(sandbox: dict[str, str], status: str) -> None:
    resp = httpx.post(
        f"{sandbox['netsuite']}/__sandbox/periods",
        json={"entity": ENTITY, "period": PERIOD, "status": status},
        timeout=10,
    )
    resp.raise_for_status()


def _run_status(engine: sa.Engine, run_id: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT status FROM workflow_status WHERE workflow_uuid = :id"), {"id": run_id}
        ).scalar_one_or_none()


def _journaled_run(accord: dict[str, object]) -> str:
    """Post a real event through intake and wait for its run to finish; return its run id."""
    resp = httpx.post(
        f"{accord['url']}/api/v1/events",
        json=record_event_cloud_event(),
        headers={**STRUCTURED, "Authorization": f"Bearer {accord['ingest']}"},
        timeout=10,
    )
    assert resp.status_code == 202, resp.text
    run_id = str(resp.json()["run_id"])
    deadline = time.monotonic() + 30
    while _run_status(accord["engine"], run_id) != "SUCCESS":  # type: ignore[arg-type]
        assert time.monotonic() < deadline, f"run {run_id} did not finish"
        time.sleep(0.1)
    return run_id


def _finance_exception(
    accord: dict[str, object], *, run_id: str | None, age: timedelta, key: str, amount: str
) -> int:
    engine: sa.Engine = accord["engine"]  # type: ignore[assignment]
    with engine.begin() as conn:
        exc = exceptions.open_(
            conn,
            queue="finance-ops",
            flow="post_approved_time",
            run_id=run_id,
            business_key=f"timesheet:{key}",
            code="erp.period_closed",
            title=f"NetSuite refused the time bill: period {PERIOD} is closed for {ENTITY}",
            detail={
                "error": f"Accounting period {PERIOD} is closed for subsidiary {ENTITY}",
                "target": "netsuite",
                "record": {"timesheet": key, "posting_date": f"{PERIOD}-30", "hours": "37.5"},
            },
            severity="high",
            amount=Money(amount=Decimal(amount), currency="USD"),
            dedupe_key=f"browser:{key}",
        )
        conn.execute(
            sa.update(exceptions_table)
            .where(exceptions_table.c.id == exc.id)
            .values(created_at=exc.created_at - age)
        )
    return exc.id


def _shot(page: object, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"console-{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_find_the_oldest_finance_exception_fix_it_and_retry(browser, accord, sandbox):
    _set_period(sandbox, "closed")
    run_id = _journaled_run(accord)
    oldest = _finance_exception(
        accord, run_id=run_id, age=timedelta(days=3, hours=2), key="TS-1001", amount="5625.00"
    )
    for i, hours in enumerate((5, 30)):  # newer finance exceptions, and one elsewhere
        _finance_exception(
            accord, run_id=None, age=timedelta(hours=hours), key=f"TS-20{i}", amount="900.00"
        )
    with accord["engine"].begin() as conn:  # type: ignore[attr-defined]
        exceptions.open_(
            conn,
            queue="delivery-ops",
            flow="lead_to_project",
            run_id=None,
            business_key="opportunity:006X",
            code="psa.template_missing",
            title="No project template for service package ADVISORY-XL",
            detail={"error": "unknown service package"},
            dedupe_key="browser:delivery",
        )

    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    base = accord["url"]

    page.goto(f"{base}/")
    assert "/signin" in page.url
    _shot(page, "signin")
    page.fill("#key", str(accord["operator"]))
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    _shot(page, "overview")

    # Click 1: Exceptions. Click 2: the finance-ops queue (oldest first). Click 3: open.
    page.click("nav >> text=Exceptions")
    page.wait_for_url(f"{base}/exceptions")
    page.click("a.queue:has(h2:text-is('finance-ops'))")
    page.wait_for_url("**/exceptions?queue=finance-ops*")
    _shot(page, "exceptions")
    first = page.locator("#exceptions tbody tr").first
    assert f">{oldest}<" in first.inner_html()
    first.locator("a.row-link").click()
    page.wait_for_url(f"{base}/exceptions/{oldest}")
    assert page.inner_text("#exception-status") == "open"
    assert "closed" in page.inner_text("main")
    _shot(page, "exception")

    # The fix, in the target system: reopen the period. Then Retry (the fourth click).
    _set_period(sandbox, "open")
    page.click("#retry")
    page.wait_for_url(f"{base}/exceptions/{oldest}?done=*")
    deadline = time.monotonic() + 30
    while page.inner_text("#exception-status") != "resolved":
        assert time.monotonic() < deadline, "the exception was not resolved after the retry"
        time.sleep(0.5)
        page.reload()
    assert f"{run_id}.r1" in page.inner_text("#retries")
    _shot(page, "exception-resolved")

    # Every other page renders in the browser too.
    for path, name, marker in (
        ("/runs?view=all", "runs", "#runs"),
        (f"/lineage?id={run_id.split('.', 1)[1]}", "lineage", "#lineage"),
        ("/connections", "connections", "#connections"),
        ("/audit?verify=1", "audit", "#chain"),
    ):
        page.goto(f"{base}{path}")
        assert page.locator(marker).count() == 1, name
        _shot(page, name)
    assert page.inner_text("#chain") == "chain intact"
    assert "exception.retry" in page.inner_text("#audit")

    page.click("button:has-text('Sign out')")
    page.wait_for_url(f"{base}/signin")
    context.close()
