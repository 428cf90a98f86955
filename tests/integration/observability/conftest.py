"""Fixtures for the observability tests: launched services and an in-memory span exporter."""

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from accord.flows.services import Services
from accord.observability import tracing
from accord.settings import Settings


@pytest.fixture(scope="module")
def services(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """Launched services (runtime, intake, connections, collector) on the module's database."""
    folder = tmp_path_factory.mktemp("observability")
    svc = Services.build(
        Settings(
            database_url=module_db_url,
            worker_id="test-observability",
            config_file=folder / "none.yaml",
        )
    )
    svc.start()
    yield svc
    svc.stop()


@pytest.fixture
def spans(services: Services) -> Iterator[InMemorySpanExporter]:
    """Every span finished during the test (tracing is on once services started)."""
    assert tracing.tracing_enabled()
    exporter = InMemorySpanExporter()
    processor = tracing.add_exporter(exporter)
    yield exporter
    tracing.remove_span_processor(processor)
