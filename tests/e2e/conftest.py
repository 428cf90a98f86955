"""Fixtures the end-to-end suites share (each suite's own ``sandbox`` fixture is used)."""

from collections.abc import Callable, Iterator

import httpx
import pytest

from accord_sandbox.server import SandboxHandle


@pytest.fixture
def faults(sandbox: SandboxHandle) -> Iterator[Callable[..., None]]:
    """``faults(system, **rule)`` adds a rule to an emulator's fault API (``/__sandbox/faults``).

    Every emulator touched gets its default rules back after the test.
    """
    touched: set[str] = set()

    def add(system: str, **rule: object) -> None:
        url = sandbox.urls[system]
        httpx.post(f"{url}/__sandbox/faults", json=rule, timeout=10).raise_for_status()
        touched.add(url)

    yield add
    for url in touched:
        httpx.delete(f"{url}/__sandbox/faults", timeout=10).raise_for_status()
