"""Serving an emulator's ASGI app on a loopback port for the contract suites.

A sync ``httpx.Client`` cannot drive an ASGI app in process, so each emulator runs under
uvicorn in a daemon thread on a socket bound to port 0 (no race for a free port).
"""

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn


@contextmanager
def serve(make_app: Callable[[str], Any]) -> Iterator[str]:
    """Serve ``make_app(base_url)`` on 127.0.0.1; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        make_app(base_url), log_level="warning", lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("emulator did not start")
        time.sleep(0.01)
    try:
        yield base_url
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()


@pytest.fixture(scope="session")
def serve_asgi() -> Callable[[Callable[[str], Any]], Any]:
    """:func:`serve`, for module-scoped emulator fixtures."""
    return serve
