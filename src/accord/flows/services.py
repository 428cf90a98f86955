"""Everything one Accord process runs, built from settings and started in order.

The API (``accord run``) and the CLI commands that need the runtime build one
:class:`Services`; tests build their own on a temporary database.
"""

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from accord.alerts.config import load_alerts_config
from accord.alerts.engine import AlertEngine
from accord.alerts.notify import Notifier
from accord.connectors.aio import observe_calls
from accord.errors import ConfigError
from accord.flows import capture, registry
from accord.flows.connections import CONTEXT_KEY, Connections
from accord.flows.context import flow_context
from accord.flows.dispatcher import Dispatcher, OutboxHandler
from accord.flows.instrumentation import CONNECTION_HEALTH, Collector, observe_call
from accord.flows.intake import IntakeWriter
from accord.flows.runtime import RUN_QUEUES, Runtime
from accord.flows.shared.settings import flow_settings, rules_for
from accord.settings import Settings
from accord.store import create_db_engine, migrate
from accord.store import exceptions as exc_repo
from accord.store.budget import DatabaseBudget
from accord.store.credentials import DatabaseTokenStore
from accord.store.util import write_lock

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
    collector: Collector | None = None
    """Refreshes the database gauges (every process: the API serves ``/metrics`` too)."""
    alerts: AlertEngine | None = None
    """Evaluates alert rules; worker processes only (see :mod:`accord.alerts.engine`)."""
    dispatcher: Dispatcher | None = None
    """Sends the outbox of the connections whose dispatch lease this process holds (workers)."""
    _rules_warned: bool = field(default=False, repr=False)

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
            engine,
            holder=settings.worker_id,
            config_file=settings.config_file,
            env=os.environ,
            token_store=DatabaseTokenStore.for_settings(engine, settings, os.environ),
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
        if self.runtime.worker:
            # Slots a killed predecessor under this worker id still holds would stall every call.
            DatabaseBudget(self.engine, holder=self.settings.worker_id).release_held()
        self.runtime.launch()
        extras = flow_context().extras
        extras[CONTEXT_KEY] = self.connections
        extras[capture.RUNTIME_KEY] = self.runtime
        # Each business flow polls its source systems when their connections are configured.
        registry.enable_captures(self.connections, self.settings.config_file)
        capture.start_capture(self.connections)
        self.writer.start()
        self.collector = Collector(self.engine, queues=(*RUN_QUEUES, capture.CAPTURE_QUEUE))
        self.collector.start()
        if self.runtime.worker:
            self.alerts = self._alert_engine()
            if self.alerts is not None:
                self.alerts.start()
            # Workers send the outbox: one of them holds each connection's dispatch lease.
            observe_calls(observe_call)
            handlers: list[OutboxHandler] = [
                registry.resolve(target)() for target in registry.outbox_handlers()
            ]
            self.dispatcher = Dispatcher(
                self.engine,
                self.connections.connector,
                {h.kind: h for h in handlers},
                holder=self.settings.worker_id,
            )
            self.dispatcher.start()
        self.started = True

    def _alert_engine(self) -> AlertEngine | None:
        config = load_alerts_config(self.settings.config_file, os.environ)
        if not config.enabled:
            return None
        notifier = Notifier(self.engine, config.webhook) if config.webhook else None
        return AlertEngine(
            self.engine,
            config,
            auth=CONNECTION_HEALTH.snapshot,
            notifier=notifier,
            escalate=self.escalate,
        )

    def escalate(self, now: datetime) -> list[str]:
        """Escalate exceptions past their queue's SLA (the rules file's ``queues:``).

        The rules are read on every pass (reloaded when the file changes), so a changed SLA
        applies without a restart. They are read before the escalation's transaction takes
        the write lock: the first read in a process adopts the rules file in a transaction of
        its own, which on SQLite would otherwise wait for this one until the busy timeout.

        Without a readable rules file nothing is escalated (said once in the log).
        """
        try:
            queues = rules_for(flow_settings(self.settings.config_file)).spec.queues
        except ConfigError as exc:
            if not self._rules_warned:
                self._rules_warned = True
                logger.warning("exceptions are not escalated: %s", exc)
            return []
        done: list[str] = []
        with self.engine.begin() as conn:
            write_lock(conn)
            for queue, spec in queues.items():
                escalated = exc_repo.escalate_overdue(
                    conn,
                    queue=queue.value,
                    owner=spec.escalation_owner,
                    older_than=timedelta(hours=spec.sla_hours),
                    now=now,
                )
                done += [f"exception {e.id} ({queue.value}) to {e.escalated_to}" for e in escalated]
        return done

    def stop(self) -> None:
        """Stop in reverse order; queued events are committed first."""
        if self.started:
            if self.alerts is not None:
                self.alerts.stop()
                self.alerts = None
            if self.dispatcher is not None:
                self.dispatcher.stop()
                self.dispatcher = None
            self.writer.stop()
            self.runtime.shutdown()
            # After the runtime, so the trace ids of the last runs are written too.
            if self.collector is not None:
                self.collector.stop()
                self.collector = None
            self.connections.close()
            self.started = False
        self.engine.dispose()
