"""Governed change in a real browser: propose, a refused self-approval, a second admin's
approval, activation.

Accord runs under uvicorn on a free port (runtime on, nothing polled) in environment
``production``, where approval is required. Alice, an admin, pastes a rules document with one
changed mapping and proposes it; the proposal page lists exactly that field. Her own Approve is
refused with the reason. Bob, another admin, signs in, approves and activates; the governance
page then shows the proposal's version as active, and the audit log has every step.

Screenshots go to ``/tmp/governance-*.png``.
"""

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from tests.integration.governance.conftest import changed_document, create_keys, write_environment

from accord.api.app import create_app
from accord.settings import Settings
from accord.store.keys import Role

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path("/tmp")


@pytest.fixture(scope="module")
def accord(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Accord served by uvicorn with two admin keys."""
    folder = tmp_path_factory.mktemp("governance-browser")
    url = f"sqlite:///{folder / 'accord.db'}"
    secrets = create_keys(url, alice=Role.ADMIN, bob=Role.ADMIN)
    settings = Settings(
        database_url=url,
        worker_id="test-governance-browser",
        config_file=write_environment(folder, "production", approval=True),
    )
    app = create_app(settings, configure_logs=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("Accord did not start")
        time.sleep(0.05)
    try:
        yield {"url": f"http://127.0.0.1:{sock.getsockname()[1]}", **secrets}
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def _sign_in(browser: Any, base: str, key: str) -> Any:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/governance")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/governance")
    return page


def test_propose_refused_self_approval_second_admin_approves_and_activates(
    browser: Any, accord: dict[str, Any]
) -> None:
    base = accord["url"]
    page = _sign_in(browser, base, accord["alice"])
    assert page.inner_text("#environment") == "PRODUCTION"
    assert "need a second admin's approval" in page.inner_text("#environments")
    bootstrap = page.inner_text("#active-version")
    page.screenshot(path=str(SHOTS / "governance-page.png"), full_page=True)

    page.fill("#document", yaml.safe_dump(changed_document("109")))
    page.fill("#reason", "TECH moves to department 109")
    page.click("#submit-proposal")
    page.wait_for_url(f"{base}/governance/proposals/*?done=proposed")
    proposal_url = page.url.split("?")[0]
    assert page.inner_text("#proposal-status") == "proposed"
    rows = page.locator("#changes tbody tr")
    assert rows.count() == 1
    assert rows.first.inner_text().split() == [
        "practices.TECH.netsuite_department_id",
        "102",
        "109",
    ]
    page.screenshot(path=str(SHOTS / "governance-proposal.png"), full_page=True)

    page.click("#approve")
    assert "a second admin (not the proposer) must approve it" in page.inner_text("main")
    page.context.close()

    page = _sign_in(browser, base, accord["bob"])
    page.goto(proposal_url)
    page.click("#approve")
    page.wait_for_url(f"{proposal_url}?done=approved")
    assert page.inner_text("#proposal-status") == "approved"
    page.click("#activate")
    page.wait_for_url(f"{proposal_url}?done=activated")
    assert page.inner_text("#proposal-status") == "active"
    page.screenshot(path=str(SHOTS / "governance-activated.png"), full_page=True)

    page.click("nav >> text=Governance")
    page.wait_for_url(f"{base}/governance")
    version = page.inner_text("#active-version")
    assert version != bootstrap
    assert "key:bob" in page.inner_text("#active")
    page.goto(f"{base}/audit?verify=1")
    assert page.inner_text("#chain") == "chain intact"
    trail = page.inner_text("#audit")
    for action in ("rules.propose", "rules.approve_refused", "rules.approve", "rules.activate"):
        assert action in trail
    page.context.close()
