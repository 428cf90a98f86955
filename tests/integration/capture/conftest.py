"""Fixtures for the change-capture and webhook tests: a served NetSuite emulator, a runtime."""

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from accord.flows.services import Services
from accord.settings import Settings
from accord_sandbox.netsuite import NetSuiteEmulator
from accord_sandbox.scenario import generate


@contextmanager
def serve(make_app: Callable[[str], Any]) -> Iterator[str]:
    """Serve ``make_app(base_url)`` on 127.0.0.1 under uvicorn in a thread; yield its URL."""
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


@pytest.fixture(scope="module")
def netsuite() -> Iterator[tuple[str, NetSuiteEmulator]]:
    """A seeded NetSuite emulator on a loopback port: (base URL, emulator)."""
    holder: dict[str, NetSuiteEmulator] = {}

    def make_app(base_url: str) -> Any:
        emulator = NetSuiteEmulator(base_url=base_url)
        emulator.seed_firm(generate("small", 7))
        holder["emulator"] = emulator
        return emulator.app

    with serve(make_app) as url:
        yield url, holder["emulator"]


@pytest.fixture(scope="module")
def module_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A database URL and a directory of the test module's own."""
    folder = tmp_path_factory.mktemp("capture")
    return f"sqlite:///{folder / 'accord.db'}", folder


@pytest.fixture(scope="module")
def services(module_db: tuple[str, Path]) -> Iterator[Services]:
    """Launched services (runtime, intake, connections) on the module's database."""
    url, folder = module_db
    svc = Services.build(
        Settings(database_url=url, worker_id="test-capture", config_file=folder / "none.yaml")
    )
    svc.start()
    yield svc
    svc.stop()
