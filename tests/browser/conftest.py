"""Fixtures for the browser tests: Debian's Chromium (installed with apt-get when missing).

No browser download is possible here (``playwright install`` fetches its own build), so
Playwright drives ``/usr/bin/chromium`` from Debian's ``chromium`` package. The session
fixture installs it with ``apt-get`` when it is missing, and skips only when there is no
``apt-get`` at all (or the ``playwright`` package is not installed).
"""

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    # Running as root in a container needs --no-sandbox; the rest keep Chromium from calling
    # Google's services, which this machine's closed network refuses (slowly, many at once).
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's Chromium, installed with apt-get on first use when missing."""
    if CHROMIUM.exists():
        return CHROMIUM
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.skip(f"{CHROMIUM} is missing and apt-get is unavailable to install 'chromium'")
    sudo = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if sudo is None:
        pytest.skip(f"{CHROMIUM} is missing and installing it needs root (no sudo)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in ([*sudo, apt, "update"], [*sudo, apt, "install", "-y", "chromium"]):
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    if not CHROMIUM.exists():
        pytest.fail(f"apt-get installed 'chromium' but {CHROMIUM} is still missing")
    return CHROMIUM


# Module scope, not session: Playwright's sync API keeps an event loop running on the main
# thread while it is open, which breaks every asyncio-based test that runs after it.
@pytest.fixture(scope="module")
def browser(chromium_path: Path) -> Iterator[object]:
    """A headless Chromium driven by Playwright (which gives it a fresh, empty profile)."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the 'playwright' package (a dev dependency) is missing"
    )
    with sync_api.sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=str(chromium_path),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            yield launched
        finally:
            launched.close()
