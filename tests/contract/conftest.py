"""Serving an emulator's ASGI app on a loopback port for the contract suites.

A sync ``httpx.Client`` cannot drive an ASGI app in process, so each emulator runs under
uvicorn in a daemon thread on a socket bound to port 0 (no race for a free port).
"""

from collections.abc import Callable
from typing import Any

import pytest
from tests.support import serve


@pytest.fixture(scope="session")
def serve_asgi() -> Callable[[Callable[[str], Any]], Any]:
    """:func:`serve`, for module-scoped emulator fixtures."""
    return serve
