"""Milestone billing end to end: fixtures (the harness is in ``tests/e2e/cash/harness.py``)."""

from collections.abc import Iterator

import pytest
from tests.e2e.cash.harness import CashAccord, start

from accord_sandbox.server import Sandbox, SandboxHandle


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    """The four emulators on free ports, scenario firm."""
    handle = Sandbox(base_port=0, scenario="firm", seed=7).start_in_thread()
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def cash(sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CashAccord]:
    """Accord (Kantata as the PSA) with ERP and PSA polls starting now."""
    yield from start(tmp_path_factory.mktemp("milestones"), sandbox)


@pytest.fixture(scope="module")
def certinia(
    sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CashAccord]:
    """Accord with Certinia as the PSA (a module of its own: one runtime per module)."""
    yield from start(tmp_path_factory.mktemp("milestones-certinia"), sandbox, psa="certinia")


@pytest.fixture(autouse=True)
def _drained(request: pytest.FixtureRequest) -> None:
    """Each test starts with nothing left unpolled by the tests before it (any order)."""
    for name in ("cash", "certinia"):
        if name in request.fixturenames:
            request.getfixturevalue(name).drain()
