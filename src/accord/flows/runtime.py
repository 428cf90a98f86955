"""The durable runtime: DBOS Transact launched on Accord's own database engine.

``application_version`` is pinned to the package version and ``executor_id`` to
``ACCORD_WORKER_ID``, because a restarted worker recovers only the runs of its own executor
id and application version. A release therefore changes the version deliberately: runs
started under the old version must drain (or be handed over with ``accord workers recover``)
before the old workers are retired.

An API process (``worker=False``) launches the runtime to enqueue and read runs but never
executes one: it listens to none of Accord's queues, does not serve DBOS's internal queue
(scheduled runs without a queue of their own), and hands any run pending under its own id to
the workers before launching.
"""

import importlib
import logging
import zlib
from typing import Any

import sqlalchemy as sa
from dbos import DBOS, DBOSClient, DBOSConfig

import accord
from accord.flows import record_event, registry  # record_event: registers its workflow
from accord.flows.context import FlowContext, install_context
from accord.flows.instrumentation import install_tracing
from accord.flows.recovery import hand_over
from accord.observability.logging import adopt_logger
from accord.settings import Settings

__all__ = ["BULK_QUEUE", "EVENTS_QUEUE", "RUN_QUEUES", "Runtime"]

logger = logging.getLogger(__name__)

EVENTS_QUEUE = "accord-events"
"""The queue of event runs that keep an order, partitioned by business-key bucket."""
BULK_QUEUE = "accord-bulk"
"""The queue of order-free event runs (approved time and expenses): a quarter-end backlog of
them waits here, so a provisioning or a contract change on :data:`EVENTS_QUEUE` never queues
behind it for a worker's slot."""
RUN_QUEUES = (EVENTS_QUEUE, BULK_QUEUE)
"""Every queue event runs go on."""

_ = record_event  # imported for its registrations


def _serve_internal_queue(dbos: DBOS, *, serve: bool) -> None:
    """Let this process take runs from DBOS's internal queue, or not (an API process).

    ``DBOS.listen_queues`` leaves out the queues Accord registers, but every launched process
    still serves DBOS's own internal queue: the runs of schedules that name no queue (the
    time-to-bill hold release), forks and resumes without a queue. An API process must not
    execute those either, so its copy of that queue may start none (``worker_concurrency``
    0). DBOS has no public switch for this; ``tests/integration/core/test_api_role.py`` holds
    it to its word on every upgrade. The registry outlives ``DBOS.destroy``, hence the reset
    for a worker.
    """
    queue = dbos._registry.get_internal_queue()
    queue._worker_concurrency = None if serve else 0


def partition_for(business_key: str, partitions: int) -> str:
    """The queue partition of a business key: a stable hash bucket.

    Runs in one partition start one at a time, in run-id (journal) order, so events about the
    same key apply in order. Keys are hashed into a fixed number of buckets rather than used
    as partitions directly, because the queue's dispatcher visits every partition that has
    waiting runs on each poll: thousands of distinct keys would make every poll slow, while
    a few dozen buckets keep polls cheap and still run unrelated keys in parallel.
    """
    return f"p{zlib.crc32(business_key.encode()) % partitions:04d}"


class Runtime:
    """Owns the DBOS lifecycle for one process."""

    def __init__(self, settings: Settings, engine: sa.Engine, *, worker: bool = True) -> None:
        self.settings = settings
        self.engine = engine
        self.worker = worker
        self.client: DBOSClient | None = None
        self.launched = False

    @property
    def app_version(self) -> str:
        """The pinned application version."""
        return accord.__version__

    def launch(self) -> None:
        """Launch DBOS, register queues and open the enqueue client."""
        install_context(FlowContext(engine=self.engine, settings=self.settings))
        # Registers the business flows' workflows before DBOS launches (and recovers them).
        for module in registry.modules():
            importlib.import_module(module)

        config: DBOSConfig = {
            "name": "accord",
            "system_database_engine": self.engine,
            "application_version": self.app_version,
            "executor_id": self.settings.worker_id,
            "run_migrations": True,
        }
        # DBOS traces each run and step into our tracer provider; it is never given an
        # endpoint of its own, so the one exporter (if any) is accord.observability.tracing's.
        if install_tracing(
            otlp_endpoint=self.settings.observability.otlp_endpoint,
            service_version=self.app_version,
        ):
            config["enable_otlp"] = True
            config["otel_attribute_format"] = "semconv"
        # DBOS is a per-process singleton and DBOS(config) silently returns a live instance,
        # still bound to its old database: make sure this launch starts from a clean slate.
        DBOS.destroy(destroy_registry=False)
        if not self.worker:
            self._hand_over_own_runs()
        dbos = DBOS(config=config)
        adopt_logger("dbos", level="WARNING")
        _serve_internal_queue(dbos, serve=self.worker)
        if not self.worker:
            # An API-only process enqueues runs but never dequeues them.
            DBOS.listen_queues([])
        DBOS.launch()
        # DBOS installs a handler of its own at launch; keep one log format and stream.
        adopt_logger("dbos", level="WARNING")
        DBOS.register_queue(
            EVENTS_QUEUE,
            worker_concurrency=self.settings.intake.worker_concurrency,
            partition_concurrency=1,
            polling_interval_sec=0.1,
            on_conflict="always_update",
        )
        DBOS.register_queue(
            BULK_QUEUE,
            worker_concurrency=self.settings.intake.bulk_concurrency,
            polling_interval_sec=0.1,
            on_conflict="always_update",
        )
        self.client = DBOSClient(system_database_engine=self.engine)
        self.launched = True
        logger.info(
            "runtime launched (executor %s, version %s)", self.settings.worker_id, self.app_version
        )

    def _hand_over_own_runs(self) -> None:
        """Put runs pending under this process's id back on their queues before launching.

        DBOS recovers the pending runs of its executor id at launch, in this process. An API
        process never executes runs, so any it finds (the same id once ran ``--role all``, or
        a run was handed to it) go to the workers instead.
        """
        moved = hand_over(self.engine, self.settings.worker_id, app_version=self.app_version)
        if moved.run_ids:
            logger.info(
                "handed %d pending runs of this API process to the workers", len(moved.run_ids)
            )

    def enqueue_options(self, *, event_type: str, run_id: str, business_key: str) -> Any:  # noqa: ANN401 - DBOS's TypedDict
        """Options for the run of one event.

        Runs that need no order go on :data:`BULK_QUEUE`, unpartitioned; the others wait in
        their business key's bucket of :data:`EVENTS_QUEUE`.
        """
        options = {
            "workflow_name": registry.workflow_for(event_type),
            "workflow_id": run_id,
            "app_version": self.app_version,
        }
        if event_type in registry.order_free():
            return {**options, "queue_name": BULK_QUEUE}
        return {
            **options,
            "queue_name": EVENTS_QUEUE,
            "queue_partition_key": partition_for(business_key, self.settings.intake.partitions),
        }

    def shutdown(self) -> None:
        """Stop DBOS (running steps are recovered by the next launch)."""
        if self.client is not None:
            self.client.destroy()
            self.client = None
        if self.launched:
            # Give steps in flight a moment to finish, so a clean stop does not leave them to
            # recovery (harmless, as steps are idempotent, but noisy in the logs).
            DBOS.destroy(destroy_registry=False, workflow_completion_timeout_sec=3)
            self.launched = False
        install_context(None)
