"""OpenTelemetry tracing: one process-wide tracer provider, OTLP/HTTP export when configured.

Runs and steps are traced by the durable runtime itself (DBOS creates a span per workflow and a
child span per step when its ``enable_otlp`` option is on, and keeps a recovered run on its
original trace through the workflow's stored ``otel_carrier``). This module owns the provider
those spans go to, so that there is exactly one: DBOS's own exporter setup is never given an
endpoint. Outbound calls get client spans through :func:`client_span`.

Export happens only when ``ACCORD_OBSERVABILITY__OTLP_ENDPOINT`` is set; spans are still
created without it (they feed the run and step metrics and put a trace id in every log line),
just never sent anywhere. The OTLP exporter connects lazily and logs failures, so a collector
that is down never stops the process from starting.

OpenTelemetry is the optional ``otel`` extra: without it :func:`configure_tracing` returns
False and every helper here is a no-op. What does *not* belong here: metrics (``metrics.py``)
and anything that knows about DBOS's span attributes (``accord.flows.instrumentation``).
"""

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.util import find_spec
from typing import TYPE_CHECKING

from typing_extensions import override

from accord.observability.logging import add_context_provider

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span as ApiSpan

__all__ = [
    "TRACER_NAME",
    "add_exporter",
    "add_span_processor",
    "client_span",
    "configure_tracing",
    "current_trace_id",
    "otel_available",
    "remove_otlp_exporter",
    "remove_span_processor",
    "set_http_status",
    "tracing_enabled",
]

logger = logging.getLogger(__name__)

TRACER_NAME = "accord"
"""Instrumentation scope of the spans Accord creates itself (DBOS's are ``dbos-tracer``)."""
_TRACES_PATH = "/v1/traces"

_lock = threading.RLock()
_provider: "TracerProvider | None" = None
_processors: "tuple[SpanProcessor, ...]" = ()
_exporting_to: "dict[str, SpanProcessor]" = {}


def otel_available() -> bool:
    """Whether the ``otel`` extra (API, SDK and OTLP/HTTP exporter) is installed."""
    return all(
        find_spec(name) is not None
        for name in (
            "opentelemetry.sdk",
            "opentelemetry.exporter.otlp.proto.http",
        )
    )


def tracing_enabled() -> bool:
    """Whether :func:`configure_tracing` installed the provider in this process."""
    return _provider is not None


def _make_fanout() -> "SpanProcessor":
    from opentelemetry.sdk.trace import SpanProcessor  # noqa: PLC0415 - optional extra

    class FanOut(SpanProcessor):
        """Calls the processors in ``_processors``, which may change at run time.

        The SDK's provider only ever adds processors; this one indirection lets a test install
        an in-memory exporter and take it away again without a second global provider.
        """

        @override
        def on_start(self, span: "Span", parent_context: "Context | None" = None) -> None:
            for p in _processors:
                p.on_start(span, parent_context=parent_context)

        @override
        def on_end(self, span: "ReadableSpan") -> None:
            for p in _processors:
                p.on_end(span)

        @override
        def shutdown(self) -> None:
            for p in _processors:
                p.shutdown()

        @override
        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return all(p.force_flush(timeout_millis) for p in _processors)

    return FanOut()


def configure_tracing(
    *, otlp_endpoint: str | None, service_name: str = "accord", service_version: str = ""
) -> bool:
    """Install the process's tracer provider (once) and the OTLP exporter when configured.

    Args:
        otlp_endpoint: The collector's OTLP/HTTP base URL (``http://otel:4318``) or its full
            traces URL (ending in ``/v1/traces``); ``None`` exports nothing.
        service_name: ``service.name`` of the resource.
        service_version: ``service.version`` of the resource.

    Returns:
        True when tracing is on (the ``otel`` extra is installed), False otherwise.
    """
    global _provider  # noqa: PLW0603 - one provider per process (module docstring)
    if not otel_available():
        if otlp_endpoint:
            logger.warning("OTLP endpoint set but the 'otel' extra is not installed: no traces")
        return False
    from opentelemetry import trace  # noqa: PLC0415 - optional extra
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415

    with _lock:
        if _provider is None:
            current = trace.get_tracer_provider()
            if isinstance(current, TracerProvider):
                # Someone (a test harness, an auto-instrumentation agent) got there first:
                # add our processors to theirs rather than fight over the global.
                provider = current
            else:
                provider = TracerProvider(
                    resource=Resource.create(
                        {"service.name": service_name, "service.version": service_version}
                    )
                )
                trace.set_tracer_provider(provider)
            provider.add_span_processor(_make_fanout())
            _provider = provider
            add_context_provider(_log_fields)
        if otlp_endpoint and otlp_endpoint not in _exporting_to:
            _exporting_to[otlp_endpoint] = _add_otlp_exporter(otlp_endpoint)
    return True


def _add_otlp_exporter(endpoint: str) -> "SpanProcessor":
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    url = endpoint.rstrip("/")
    if not url.endswith(_TRACES_PATH):
        url += _TRACES_PATH
    # The exporter opens no connection here; a collector that is down costs dropped batches
    # (logged by the SDK), never a failed start.
    processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=url, timeout=5))
    add_span_processor(processor)
    logger.info("exporting traces to %s", url)
    return processor


def remove_otlp_exporter(endpoint: str) -> None:
    """Stop exporting to ``endpoint`` (tests; the exporter drains on a daemon thread)."""
    with _lock:
        processor = _exporting_to.pop(endpoint, None)
    if processor is not None:
        remove_span_processor(processor)
        # Shutting down flushes: with the collector gone that waits for the export timeout.
        threading.Thread(target=processor.shutdown, daemon=True).start()


def add_span_processor(processor: "SpanProcessor") -> None:
    """Add a span processor (an exporter's, or the run metrics'); used once tracing is on."""
    global _processors  # noqa: PLW0603 - replaced whole, so FanOut never sees a half-update
    with _lock:
        _processors = (*_processors, processor)


def remove_span_processor(processor: "SpanProcessor") -> None:
    """Remove a processor added with :func:`add_span_processor` (no-op when absent)."""
    global _processors  # noqa: PLW0603 - see add_span_processor
    with _lock:
        _processors = tuple(p for p in _processors if p is not processor)


def add_exporter(exporter: "SpanExporter") -> "SpanProcessor":
    """Export every span synchronously to ``exporter`` (tests); returns its processor."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415

    processor = SimpleSpanProcessor(exporter)
    add_span_processor(processor)
    return processor


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits, or None outside a recorded span."""
    if _provider is None:
        return None
    from opentelemetry import trace  # noqa: PLC0415

    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def _log_fields() -> Mapping[str, str]:
    from opentelemetry import trace  # noqa: PLC0415

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


@contextmanager
def client_span(name: str, attributes: Mapping[str, str | int]) -> Iterator["ApiSpan | None"]:
    """A ``CLIENT`` span around one outbound call, child of the current step's span.

    Yields None when tracing is off, so callers write ``if span is not None:`` around
    ``set_attribute`` and never import OpenTelemetry themselves. Exceptions are recorded on
    the span and re-raised.
    """
    if _provider is None:
        yield None
        return
    from opentelemetry import trace  # noqa: PLC0415

    tracer = trace.get_tracer(TRACER_NAME)
    with tracer.start_as_current_span(
        name, kind=trace.SpanKind.CLIENT, attributes=dict(attributes)
    ) as span:
        yield span


def set_http_status(span: "ApiSpan | None", status_code: int) -> None:
    """Record a response status on a client span; 4xx and 5xx mark it as an error."""
    if span is None:
        return
    from opentelemetry.trace import Status, StatusCode  # noqa: PLC0415

    span.set_attribute("http.response.status_code", status_code)
    if status_code >= 400:
        span.set_status(Status(StatusCode.ERROR, f"HTTP {status_code}"))
