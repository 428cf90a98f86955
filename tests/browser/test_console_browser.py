"""The console in a real browser: find the oldest finance exception, fix the cause, retry.

Accord runs in process under uvicorn on a free port (with its runtime), beside the sandbox,
and the exception is a real one, opened by the lead-to-project flow itself
(``docs/flows/lead_to_project.md``; the recipe of ``tests/e2e/lead_to_project``'s ERP-refusal
test): the sandbox's NetSuite has its *Data & AI* department made inactive, so when a won
*DATA* opportunity is captured from the sandbox's Salesforce, the flow creates the customer and
the Kantata project, NetSuite refuses the project, and the flow puts the Kantata project on
hold and opens a ``finance-ops`` exception with NetSuite's error. A second such deal, refused
the same way a moment later, is a newer decoy in the same queue.

In Chromium, the operator signs in, opens Exceptions → finance-ops (oldest first) → the first
row, reads NetSuite's error, reactivates the department in the sandbox (the fix), clicks Retry
and waits for "resolved". Retry starts ``<run id>.r1`` of the journaled event; that run finds
the customer and the Kantata project in the xref, creates the NetSuite project, lifts the hold,
writes the ids back and resolves the exception itself (``auto_resolve``). The test then checks
the sandbox: one NetSuite project, no duplicates, the opportunity ``Provisioned``.

The sandbox has no control endpoint for departments (they are read-only over NetSuite's REST
API too), so the department is flipped in the in-process emulator's store, as the e2e test
does. Capture is driven by the test (one real poll, as ``tests/e2e`` do): the schedule is off,
so the sandbox's seeded opportunities are never provisioned.

Screenshots of every page go to ``/tmp/console-*.png``.
"""

import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from tests.e2e.lead_to_project.conftest import Accord as LeadToProject
from tests.e2e.lead_to_project.conftest import by_ref_count, write_config
from tests.support import authorize_sandbox_kantata

from accord.api.app import create_app
from accord.flows.services import Services
from accord.settings import Settings
from accord.store import create_db_engine, cursors, keys, migrate
from accord.store.cursors import CursorState
from accord_sandbox.server import Sandbox, SandboxHandle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path("/tmp")
T = TypeVar("T")
DATA_DEPARTMENT = "103"
"""NetSuite's *Data & AI* department (practice ``DATA`` in ``rules/default.yaml``)."""


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    """The four emulators on free ports (seed 7: the one ``accord_config`` assumes)."""
    with Sandbox(base_port=0, scenario="small", seed=7).start_in_thread() as handle:
        yield handle


@pytest.fixture(scope="module")
def accord(
    tmp_path_factory: pytest.TempPathFactory, sandbox: SandboxHandle
) -> Iterator[dict[str, Any]]:
    """Accord served by uvicorn (lifespan on: migrations, runtime) with two keys."""
    folder = tmp_path_factory.mktemp("console-browser")
    url = f"sqlite:///{folder / 'accord.db'}"
    engine = create_db_engine(url)
    migrate(engine)
    with engine.begin() as conn:
        _, operator = keys.create(conn, name="dana", role=keys.Role.OPERATOR, actor="test")
        _, viewer = keys.create(conn, name="viewer", role=keys.Role.VIEWER, actor="test")
        # Capture starts after the sandbox's seeded opportunities: only the test's are polled.
        cursors.save(
            conn,
            CursorState(
                connection="salesforce", resource="Opportunity", high_watermark=datetime.now(UTC)
            ),
        )
    engine.dispose()
    settings = Settings(
        database_url=url,
        worker_id="test-console-browser",
        config_file=write_config(folder, sandbox.urls, psa="kantata"),
    )
    services = Services.build(settings)
    authorize_sandbox_kantata(services.connections)
    app = create_app(settings, services=services, configure_logs=False)
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
        yield {
            "url": base,
            "operator": operator,
            # The e2e helpers (Salesforce records, one poll, runs, exceptions, sandbox state).
            "l2p": LeadToProject(services=services, sandbox=sandbox, api=None, viewer_key=viewer),
        }
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture
def inactive_department(sandbox: SandboxHandle) -> Iterator[Callable[[], None]]:
    """NetSuite's DATA department made inactive; the returned function reactivates it."""
    store = sandbox.emulators["netsuite"].store
    original = dict(store.get("department", DATA_DEPARTMENT))

    def fix() -> None:
        store.put("department", DATA_DEPARTMENT, original)

    store.put("department", DATA_DEPARTMENT, {**original, "isInactive": True})
    yield fix
    fix()


def _off_loop(call: Callable[[], T]) -> T:
    """Run ``call`` on another thread: DBOS refuses its synchronous calls on a thread with an
    event loop, and Playwright's sync API keeps one running on this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result(timeout=60)


def _refused_deal(l2p: LeadToProject) -> tuple[str, dict[str, Any]]:
    """A won DATA deal in Salesforce, captured and run; returns its id and the run's output."""
    opp = l2p.opportunity(l2p.account(entity="US01"), Practice__c="DATA")
    assert l2p.poll() == 1
    run = _off_loop(lambda: l2p.run_for(opp))
    assert run["status"] == "erp_rejected", run
    return opp, run


def _open_finance(l2p: LeadToProject, opp: str) -> Any:
    (exc,) = [e for e in l2p.exceptions_for(opp) if e.status == "open"]
    assert exc.queue == "finance-ops"
    return exc


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"console-{name}.png"), full_page=True)


def test_find_the_oldest_finance_exception_fix_it_and_retry(
    browser: Any,
    accord: dict[str, Any],
    inactive_department: Callable[[], None],
) -> None:
    l2p: LeadToProject = accord["l2p"]
    opp, run = _refused_deal(l2p)
    oldest = _open_finance(l2p, opp)
    assert oldest.detail["error"]["code"] == "USER_ERROR"
    erp_error = str(oldest.detail["error"]["detail"])
    assert "department" in erp_error
    decoy_opp, _ = _refused_deal(l2p)  # refused a moment later: a newer finance exception
    decoy = _open_finance(l2p, decoy_opp)
    assert decoy.created_at > oldest.created_at
    held = next(w for w in l2p.records("kantata", "workspaces") if w["id"] == run["psa"]["id"])
    assert held["status"]["message"] == "On Hold"

    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    base = accord["url"]
    # The console's Content-Security-Policy forbids inline styles and scripts: a page that
    # used one would show as a console error here (and render wrongly for real users).
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )

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
    rows = page.locator("#exceptions tbody tr")
    assert rows.count() == 2
    assert f">{oldest.id}<" in rows.first.inner_html()
    assert f">{decoy.id}<" in rows.nth(1).inner_html()
    rows.first.locator("a.row-link").click()
    page.wait_for_url(f"{base}/exceptions/{oldest.id}")
    assert page.inner_text("#exception-status") == "open"
    main = page.inner_text("main")
    assert "refused the project" in main
    assert erp_error in main  # NetSuite's own words
    assert f"SF-{opp}" in main
    _shot(page, "exception")

    # The fix, in the target system: reactivate the department. Then Retry (the fourth click).
    inactive_department()
    page.click("#retry")
    page.wait_for_url(f"{base}/exceptions/{oldest.id}?done=*")
    deadline = time.monotonic() + 30
    while page.inner_text("#exception-status") != "resolved":
        assert time.monotonic() < deadline, "the exception was not resolved after the retry"
        time.sleep(0.5)
        page.reload()
    retry_run = f"{oldest.run_id}.r1"
    assert retry_run in page.inner_text("#retries")
    # Resolved by the flow's own success, not by the console's fallback.
    assert f"provisioned by run {retry_run}" in page.inner_text("main")
    _shot(page, "exception-resolved")

    # The sandbox agrees: one NetSuite project, the hold lifted, the ids written back.
    done = _off_loop(lambda: l2p.run_for(opp))
    assert done["status"] == "provisioned", done
    assert done["released"] is True
    jobs = [j for j in l2p.records("netsuite", "job") if j.get("externalId") == f"PRJ-SF-{opp}"]
    assert len(jobs) == 1
    assert by_ref_count(l2p, f"PRJ-SF-{opp}") == 1
    assert set(l2p.duplicates().values()) == {0}
    record = l2p.get("Opportunity", opp)
    assert record["Integration_Status__c"] == "Provisioned"
    assert record["ERP_Project_Id__c"] == jobs[0]["id"] == done["erp"]["id"]
    workspace = next(w for w in l2p.records("kantata", "workspaces") if w["id"] == run["psa"]["id"])
    assert workspace["status"]["message"] == "In Progress"
    # The decoy was not retried: still open, its deal still unprovisioned.
    assert _open_finance(l2p, decoy_opp).id == decoy.id
    decoy_status = l2p.get("Opportunity", decoy_opp)["Integration_Status__c"]
    assert decoy_status.startswith("Needs attention: ERP refused the project: ")

    # The business key links to the deal's lineage; every other page renders too.
    page.click(f"a:text-is('opportunity:SF-{opp}')")
    page.wait_for_url(f"{base}/lineage?id=*")
    assert page.locator("#lineage").count() == 1
    assert f"PRJ-SF-{opp}" in page.inner_text("#lineage")
    assert jobs[0]["id"] in page.inner_text("#lineage")
    _shot(page, "lineage")
    for path, name, marker in (
        ("/runs?view=all", "runs", "#runs"),
        ("/connections", "connections", "#connections"),
        ("/audit?verify=1", "audit", "#chain"),
        ("/business", "business-live", "#business"),
    ):
        page.goto(f"{base}{path}")
        assert page.locator(marker).count() == 1, name
        _shot(page, name)
    # The deal provisioned by the retry counts on the Business page (its wait included).
    assert "· 1 project" in page.inner_text("#kpi-provisioning")
    page.goto(f"{base}/audit?verify=1")
    assert page.inner_text("#chain") == "chain intact"
    assert "exception.retry" in page.inner_text("#audit")

    page.click("button:has-text('Sign out')")
    page.wait_for_url(f"{base}/signin")
    assert violations == []
    context.close()
