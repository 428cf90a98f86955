"""Everything one Accord process runs, built from settings and started in order.

The API (``accord run``) and the CLI commands that need the runtime build one
:class:`Services`; tests build their own on a temporary database.
"""

import logging
import os
from dataclasses import dataclass, field

import sqlalchemy as sa

from accord.flows import capture
from accord.flows.connections import CONTEXT_KEY, Connections
from accord.flows.context import flow_context
from accord.flows.intake import IntakeWriter
from accord.flows.runtime import Runtime
from accord.settings import Settings
from accord.store import create_db_engine, migrate

__all__ = ["Services"]

logger = logging.getLogger(__name__)


@dataclass
class Services:
    """Engine, durable runtime and intake writer of one process."""

    settings: Settings
    engine: sa.Engine
    runtime: Runtime
    writer: IntakeWriter
    connections: Connections
    started: bool = field(default=False)

    @classmethod
    def build(cls, settings: Settings, *, worker: bool = True) -> "Services":
        """Create (but do not start) the services for these settings."""
        engine = create_db_engine(settings.database_url)
        runtime = Runtime(settings, engine, worker=worker)
        writer = IntakeWriter(
            engine,
            runtime,
            max_batch=settings.intake.max_batch,
            max_wait_ms=settings.intake.max_wait_ms,
        )
        # Connections read accord.yaml lazily: a process that never touches one never fails on it.
        connections = Connections(
            engine, holder=settings.worker_id, config_file=settings.config_file, env=os.environ
        )
        return cls(
            settings=settings,
            engine=engine,
            runtime=runtime,
            writer=writer,
            connections=connections,
        )

    def start(self) -> None:
        """Migrate the database, launch the runtime, start the intake writer."""
        migrate(self.engine)
        self.runtime.launch()
        extras = flow_context().extras
        extras[CONTEXT_KEY] = self.connections
        extras[capture.RUNTIME_KEY] = self.runtime
        capture.start_capture(self.connections)
        self.writer.start()
        self.started = True

    def stop(self) -> None:
        """Stop in reverse order; queued events are committed first."""
        if self.started:
            self.writer.stop()
            self.runtime.shutdown()
            self.connections.close()
            self.started = False
        self.engine.dispose()
