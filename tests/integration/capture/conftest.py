"""Fixtures for the change-capture and webhook tests: a served NetSuite emulator, a runtime."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support import serve

from accord.flows.services import Services
from accord.settings import Settings
from accord_sandbox.netsuite import NetSuiteEmulator
from accord_sandbox.scenario import generate


@pytest.fixture(scope="module")
def netsuite(module_db_url: str) -> Iterator[tuple[str, NetSuiteEmulator]]:
    """A seeded NetSuite emulator on a loopback port: (base URL, emulator).

    It depends on the module's database so that each backend's pass gets a fresh emulator:
    the tests change the emulator's records and read the cursors they leave.
    """
    holder: dict[str, NetSuiteEmulator] = {}

    def make_app(base_url: str) -> Any:
        emulator = NetSuiteEmulator(base_url=base_url)
        emulator.seed_firm(generate("small", 7))
        holder["emulator"] = emulator
        return emulator.app

    with serve(make_app) as url:
        yield url, holder["emulator"]


@pytest.fixture(scope="module")
def module_db(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A database URL (SQLite or PostgreSQL) and a directory of the test module's own."""
    return module_db_url, tmp_path_factory.mktemp("capture")


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
