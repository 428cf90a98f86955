"""Serving an emulator's ASGI app on a loopback port for the contract suites.

A sync ``httpx.Client`` cannot drive an ASGI app in process, so each emulator runs under
uvicorn in a daemon thread on a socket bound to port 0 (no race for a free port).
"""

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from tests.support import serve

from accord.connectors.testing import SandboxControl
from accord_sandbox.scenario import generate

FIRM = generate("small", 7)
"""The synthetic firm the role suites' emulators are seeded with (rules/default.yaml fits)."""


@pytest.fixture(scope="session")
def serve_asgi() -> Callable[[Callable[[str], Any]], Any]:
    """:func:`serve`, for module-scoped emulator fixtures."""
    return serve


def serve_firm(serve_asgi: Callable[..., Any], emulator_class: Any) -> Iterator[str]:
    """Serve one emulator seeded with :data:`FIRM`; yields its base URL."""

    def make_app(base_url: str) -> Any:
        emulator = emulator_class(base_url=base_url)
        emulator.seed_firm(FIRM)
        return emulator.app

    with serve_asgi(make_app) as url:
        yield url


def control(url: str) -> Iterator[SandboxControl]:
    """The control API of the emulator at ``url``, for a ``sandbox`` fixture."""
    with httpx.Client(base_url=url, timeout=10) as client:
        yield SandboxControl(client)
