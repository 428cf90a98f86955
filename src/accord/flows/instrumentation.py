"""Metrics and traces for runs, steps and outbound calls, recorded from the flows layer.

Three pieces, each installed by the runtime or :class:`~accord.flows.services.Services`:

* :class:`RunSpanMetrics`, a span processor on the durable runtime's own spans: every DBOS
  workflow span is a run (``accord_runs_total``, ``accord_run_duration_seconds``), every step
  span a step (``accord_steps_total``, ``accord_step_duration_seconds``, and its
  ``Step attempt N failed`` events count ``accord_step_retries_total``). It also queues each
  run's trace id to be written into the run's DBOS ``attributes`` (``trace_id`` and the
  ``otel_carrier`` DBOS reads back on recovery, so a recovered run stays on its trace).
* :class:`InstrumentedTransport`, an ``httpx`` transport wrapped around each connection's own:
  a client span and call, latency, error-class and 429 metrics per request. Connectors never
  import Prometheus or OpenTelemetry; :class:`~accord.flows.connections.Connections` passes
  them this transport. It also keeps each connection's last authentication outcome
  (:data:`CONNECTION_HEALTH`), which the ``connection_auth`` alert rule reads.
* :class:`Collector`, a daemon thread refreshing the gauges read from the database
  (exceptions by queue and age, queue depth, budget usage) every ``interval_s`` and flushing
  run trace ids every second.
"""

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
import sqlalchemy as sa
from typing_extensions import override

from accord.alerts.engine import AuthView
from accord.connectors.config import ConnectorConfig
from accord.connectors.http import redact_url
from accord.observability import tracing
from accord.observability.metrics import get_metrics
from accord.store import budget, outbox, runs
from accord.store import exceptions as exc_repo
from accord.store.util import utc_now

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

__all__ = [
    "CONNECTION_HEALTH",
    "Collector",
    "ConnectionHealth",
    "InstrumentedTransport",
    "RunTraces",
    "install_tracing",
    "instrument_transport",
    "observe_call",
    "refresh_gauges",
]

logger = logging.getLogger(__name__)

_RETRY_EVENT = "Step attempt"


# ---------------------------------------------------------------------- connection health
class ConnectionHealth:
    """Per-connection authentication state, as seen by this process's outbound calls."""

    def __init__(self) -> None:
        self._state: dict[str, AuthView] = {}
        self._lock = threading.Lock()

    def record(self, connection: str, *, failing: bool, status_code: int | None = None) -> None:
        """Note an outcome; ``since`` moves only when the state flips."""
        with self._lock:
            prev = self._state.get(connection)
            if prev is None or prev.failing != failing:
                self._state[connection] = AuthView(failing, utc_now(), status_code)

    def snapshot(self) -> dict[str, AuthView]:
        """Every connection this process has called, with its state."""
        with self._lock:
            return dict(self._state)

    def clear(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._state.clear()


CONNECTION_HEALTH = ConnectionHealth()
"""The process's connection health (outbound calls write it, alert rules read it)."""


# ---------------------------------------------------------------------- outbound calls
def _error_class(status: int) -> str | None:
    if status < 400:
        return None
    if status in {401, 403}:
        return "auth"
    if status == httpx.codes.TOO_MANY_REQUESTS:
        return "throttled"
    if status in {408, 504}:
        return "timeout"
    return "server" if status >= 500 else "client"


def observe_call(
    connection: str,
    status: int | None,
    seconds: float,
    failure: str | None,
    health: ConnectionHealth | None = None,
) -> None:
    """The connector metrics of one call (and the connection's health on auth failures).

    Shared by the synchronous transport below and the dispatchers' asynchronous I/O
    (:mod:`accord.connectors.aio`), so every call to a system is counted once, the same way.
    """
    metrics = get_metrics()
    metrics.connector_call_duration.labels(connection).observe(seconds)
    if status is None:
        metrics.connector_calls.labels(connection, "error").inc()
        metrics.connector_errors.labels(connection, failure or "transport").inc()
        return
    error_class = _error_class(status)
    metrics.connector_calls.labels(connection, "success" if error_class is None else "error").inc()
    if error_class is not None:
        metrics.connector_errors.labels(connection, error_class).inc()
    tracker = health or CONNECTION_HEALTH
    if error_class == "auth":
        tracker.record(connection, failing=True, status_code=status)
    elif status < 400:
        tracker.record(connection, failing=False, status_code=status)


class InstrumentedTransport(httpx.BaseTransport):
    """Wraps a connection's transport with a client span and the connector metrics.

    Latency is measured until the response headers arrive (the connector reads the body
    after), which is what a slow or throttled system shows up in. 429s are counted as
    ``error_class="throttled"`` here; ``accord_connector_throttled_total`` is counted where the
    budget is penalised.
    """

    def __init__(
        self,
        inner: httpx.BaseTransport,
        *,
        connection: str,
        health: ConnectionHealth = CONNECTION_HEALTH,
    ) -> None:
        self.inner = inner
        self.connection = connection
        self.health = health

    @override
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        attributes: dict[str, str | int] = {
            "http.request.method": request.method,
            "url.full": redact_url(str(request.url)),
            "server.address": request.url.host,
            "accord.connection": self.connection,
        }
        started = time.perf_counter()
        with tracing.client_span(f"{request.method} {self.connection}", attributes) as span:
            try:
                response = self.inner.handle_request(request)
            except httpx.TransportError as exc:
                kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "transport"
                observe_call(self.connection, None, time.perf_counter() - started, kind)
                raise
            status = response.status_code
            tracing.set_http_status(span, status)
        observe_call(self.connection, status, time.perf_counter() - started, None, self.health)
        return response

    @override
    def close(self) -> None:
        self.inner.close()


def instrument_transport(
    config: ConnectorConfig, transport: httpx.BaseTransport | None
) -> httpx.BaseTransport:
    """The connection's transport (the real network when None), instrumented."""
    inner = transport if transport is not None else httpx.HTTPTransport()
    return InstrumentedTransport(inner, connection=config.name)


# ---------------------------------------------------------------------- runs and steps
def _attr(span: "ReadableSpan", *names: str) -> str | None:
    attributes = span.attributes or {}
    for name in names:
        value = attributes.get(name)
        if isinstance(value, str):
            return value
    return None


class RunTraces:
    """Run id -> trace context, queued by the span processor and written in batches.

    The write is a JSON merge into DBOS's ``workflow_status.attributes``: ``trace_id`` for
    people and the console, ``otel_carrier`` for DBOS, which parents a recovered run's span
    to it. One transaction per flush keeps the cost off the run's own path.
    """

    def __init__(self) -> None:
        self._pending: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def add(self, run_id: str, trace_id: str, traceparent: str) -> None:
        """Queue one run's trace."""
        with self._lock:
            self._pending[run_id] = (trace_id, traceparent)

    def flush(self, engine: sa.Engine) -> int:
        """Write the queued traces; returns how many runs were updated."""
        with self._lock:
            batch, self._pending = self._pending, {}
        if not batch:
            return 0
        try:
            with engine.begin() as conn:
                runs.record_traces(conn, batch)
        except sa.exc.SQLAlchemyError:
            logger.warning("recording the trace ids of %d run(s) failed", len(batch), exc_info=True)
            with self._lock:
                self._pending = {**batch, **self._pending}
            return 0
        return len(batch)


RUN_TRACES = RunTraces()
"""The process's queue of run trace ids waiting to be written."""


def _make_processor(traces: RunTraces) -> "SpanProcessor":
    from opentelemetry.sdk.trace import SpanProcessor  # noqa: PLC0415 - optional extra

    class RunSpanMetrics(SpanProcessor):
        """Run and step metrics from DBOS's workflow and step spans (module docstring)."""

        def __init__(self) -> None:
            self.names: dict[int, str] = {}
            """Names of the spans still open, by span id."""
            self.recorded: set[int] = set()
            """Run span ids whose trace is already queued (until the run span ends)."""

        def _record(self, run_id: str | None, trace_id: int, span_id: int, flags: int) -> None:
            if not run_id or span_id in self.recorded:
                return
            self.recorded.add(span_id)
            tid = format(trace_id, "032x")
            traces.add(run_id, tid, f"00-{tid}-{span_id:016x}-{flags:02x}")

        @override
        def on_start(self, span: "Span", parent_context: "Context | None" = None) -> None:
            # DBOS sets its attributes after the span starts, so only the name is known here
            # (a step's flow is its parent's name); the run's trace is recorded when its first
            # step (or the run itself) ends.
            self.names[span.context.span_id] = span.name

        @override
        def on_end(self, span: "ReadableSpan") -> None:
            if span.context is not None:
                self.names.pop(span.context.span_id, None)
            kind = _attr(span, "dbos.operation.type", "operationType")
            if kind not in {"workflow", "step"} or span.start_time is None:
                return
            from opentelemetry.trace import StatusCode  # noqa: PLC0415

            outcome = "error" if span.status.status_code is StatusCode.ERROR else "success"
            seconds = ((span.end_time or span.start_time) - span.start_time) / 1e9
            metrics = get_metrics()
            run_id = _attr(span, "dbos.operation.workflow_id", "operationUUID")
            if kind == "workflow":
                ctx = span.get_span_context()
                if ctx is not None:
                    self._record(run_id, ctx.trace_id, ctx.span_id, int(ctx.trace_flags))
                    self.recorded.discard(ctx.span_id)
                metrics.runs.labels(flow=span.name, outcome=outcome).inc()
                metrics.run_duration.labels(flow=span.name).observe(seconds)
                return
            parent = span.parent
            if parent is not None:
                self._record(run_id, parent.trace_id, parent.span_id, int(parent.trace_flags))
            flow = self.names.get(parent.span_id, "unknown") if parent is not None else "unknown"
            metrics.steps.labels(flow=flow, step=span.name, outcome=outcome).inc()
            metrics.step_duration.labels(flow=flow, step=span.name).observe(seconds)
            retries = sum(1 for e in span.events if e.name.startswith(_RETRY_EVENT))
            if retries:
                metrics.step_retries.labels(flow=flow, step=span.name).inc(retries)

    return RunSpanMetrics()


_installed = False
_install_lock = threading.Lock()


def install_tracing(*, otlp_endpoint: str | None, service_version: str = "") -> bool:
    """Configure tracing and (once) the run metrics processor; True when spans are on.

    The runtime passes the result to DBOS as ``enable_otlp``: without the ``otel`` extra DBOS
    creates no spans, and the run and step metrics are not recorded.
    """
    global _installed  # noqa: PLW0603 - once per process
    enabled = tracing.configure_tracing(
        otlp_endpoint=otlp_endpoint, service_version=service_version
    )
    with _install_lock:
        if enabled and not _installed:
            tracing.add_span_processor(_make_processor(RUN_TRACES))
            logging.getLogger("dbos").addFilter(_no_log_exporter_warning)
            _installed = True
    return enabled


def _no_log_exporter_warning(record: logging.LogRecord) -> bool:
    # enable_otlp also asks DBOS to export logs; we never give it a log endpoint, so its
    # warning about the missing logger provider at every launch says nothing useful.
    return not record.getMessage().startswith("OTLP is enabled but logger provider not set")


# ---------------------------------------------------------------------- database gauges
class _GaugeSets:
    """Label sets set on the last refresh, so a queue that empties drops to 0."""

    def __init__(self) -> None:
        self.seen: dict[str, set[tuple[str, ...]]] = {}

    def update(self, name: str, values: Mapping[tuple[str, ...], float], gauge: Any) -> None:  # noqa: ANN401 - prometheus_client's Gauge
        for labels in self.seen.get(name, set()) - set(values):
            gauge.labels(*labels).set(0)
        for labels, value in values.items():
            gauge.labels(*labels).set(value)
        self.seen[name] = set(values)


_GAUGES = _GaugeSets()


def refresh_gauges(
    engine: sa.Engine, *, queues: Sequence[str] = (), now: datetime | None = None
) -> None:
    """Read exceptions, queue depth and budget usage from the database into the gauges.

    Args:
        engine: The database.
        queues: Queues always reported (as 0 when empty), so dashboards have a series.
        now: Current time, for the exception ages.
    """
    now = now or utc_now()
    metrics = get_metrics()
    with engine.connect() as conn:
        aging = exc_repo.aging(conn, buckets=exc_repo.AGE_BUCKETS, now=now)
        depth: dict[tuple[str, ...], float] = {
            (queue,): float(n) for queue, n in runs.queue_depth(conn).items() if queue
        }
        states = budget.states(conn)
        rates: dict[tuple[str, ...], float] = {
            (name,): row.rate_per_s for name, row in states.items()
        }
        lanes: dict[tuple[str, ...], float] = {
            (name, lane): float(calls) for name, row in states.items() for lane, calls in row.lanes
        }
        day_used: dict[tuple[str, ...], float] = {
            (name,): float(row.day_used) for name, row in states.items()
        }
        in_flight: dict[tuple[str, ...], float] = {
            (name,): float(n) for name, n in budget.in_flight(conn).items()
        }
        backlog: dict[tuple[str, ...], float] = {
            key: float(n) for key, n in outbox.backlog(conn).items()
        }
    by_age: dict[tuple[str, ...], float] = {
        (queue, name): float(n) for queue, q in aging.items() for name, n in q.buckets.items()
    }
    open_: dict[tuple[str, ...], float] = {(q,): float(a.count) for q, a in aging.items()}
    oldest: dict[tuple[str, ...], float] = {
        (q,): max(0.0, (now - a.oldest_created_at).total_seconds()) if a.oldest_created_at else 0.0
        for q, a in aging.items()
    }
    _GAUGES.update("exceptions_by_age", by_age, metrics.exceptions_open_by_age)
    _GAUGES.update("exceptions_oldest", oldest, metrics.exceptions_oldest_age)
    _GAUGES.update("exceptions_open", open_, metrics.exceptions_open)
    _GAUGES.update("queue_depth", {(q,): 0.0 for q in queues} | depth, metrics.queue_depth)
    _GAUGES.update("budget_rate", rates, metrics.budget_rate)
    _GAUGES.update("budget_lane_calls", lanes, metrics.budget_lane_calls)
    _GAUGES.update("budget_day_used", day_used, metrics.budget_day_used)
    _GAUGES.update("outbox_backlog", backlog, metrics.outbox_backlog)
    _GAUGES.update(
        "budget_in_flight",
        {k: in_flight.get(k, 0.0) for k in {*rates, *in_flight}},
        metrics.budget_in_flight,
    )


class Collector:
    """Refreshes the database gauges every ``interval_s`` and flushes run traces every second.

    Started by :class:`~accord.flows.services.Services` in every process (the API's
    ``/metrics`` needs the gauges too); a failed refresh is logged and counted, never fatal.
    """

    def __init__(
        self, engine: sa.Engine, *, queues: Sequence[str] = (), interval_s: float = 15.0
    ) -> None:
        self.engine = engine
        self.queues = tuple(queues)
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="accord-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and flush what is queued."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        RUN_TRACES.flush(self.engine)

    def tick(self) -> None:
        """One refresh of everything (tests call this instead of waiting)."""
        RUN_TRACES.flush(self.engine)
        try:
            refresh_gauges(self.engine, queues=self.queues)
        except sa.exc.SQLAlchemyError:
            get_metrics().collector_errors.inc()
            logger.warning("refreshing the database gauges failed", exc_info=True)

    def _loop(self) -> None:
        next_refresh = 0.0
        while not self._stop.wait(1.0 if next_refresh else 0.0):
            if time.monotonic() >= next_refresh:
                self.tick()
                next_refresh = time.monotonic() + self.interval_s
            else:
                RUN_TRACES.flush(self.engine)
