"""Traces: one run of record_event is a run span with a step child; calls get client spans."""

import json
import logging
import time
import uuid

import httpx
from fastapi import FastAPI, Request, Response
from opentelemetry.trace import SpanKind
from tests.support import serve

from accord.domain import EVENT_TYPES
from accord.flows import instrumentation
from accord.flows.instrumentation import InstrumentedTransport
from accord.flows.registry import workflow_for
from accord.observability import tracing
from accord.observability.logging import JsonFormatter, _ContextFilter
from accord.store import runs
from accord.store.journal import NewEvent


def _record_event_type() -> str:
    """An event type no business flow has claimed, so its run is ``record_event``."""
    return next(t for t in EVENT_TYPES if workflow_for(t) == "record_event")


def _submit(services, event_type=None, key=None) -> str:
    event_type = event_type or _record_event_type()
    key = key or f"opportunity:{uuid.uuid4().hex[:10]}"
    event = NewEvent(
        source="test/obs",
        ce_id=uuid.uuid4().hex,
        type=event_type,
        subject=None,
        business_key=key,
        time=None,
        data_json="{}",
    )
    (future,) = services.writer.submit([event])
    return future.result(timeout=20).run_id


def _wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_a_run_is_one_trace_with_a_step_child_and_its_trace_id_is_recorded(services, spans):
    run_id = _submit(services)

    def run_span():
        for s in spans.get_finished_spans():
            if (s.attributes or {}).get("dbos.operation.workflow_id") == run_id and (
                s.attributes or {}
            ).get("dbos.operation.type") == "workflow":
                return s
        return None

    root = _wait_for(run_span)
    assert root.name == "record_event"
    steps = [
        s
        for s in spans.get_finished_spans()
        if s.parent is not None and s.parent.span_id == root.context.span_id
    ]
    assert [s.name for s in steps] == ["record_lineage"]
    assert steps[0].context.trace_id == root.context.trace_id

    instrumentation.RUN_TRACES.flush(services.engine)
    with services.engine.connect() as conn:
        assert runs.trace_id(conn, run_id) == format(root.context.trace_id, "032x")


def test_an_outbound_call_is_a_client_span_under_the_current_span(services, spans):
    transport = InstrumentedTransport(
        httpx.MockTransport(lambda request: httpx.Response(200, json={"ok": True})),
        connection="mock-conn",
    )
    from opentelemetry import trace

    with (
        trace.get_tracer("test").start_as_current_span("step") as parent,
        httpx.Client(transport=transport, base_url="http://crm.test") as client,
    ):
        assert client.get("/things?access_token=secret123").status_code == 200
    (call,) = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert call.parent.span_id == parent.get_span_context().span_id
    assert call.name == "GET mock-conn"
    assert call.attributes["http.response.status_code"] == 200
    assert "secret123" not in call.attributes["url.full"]


def test_log_lines_inside_a_span_carry_the_trace_id(services, spans):
    from opentelemetry import trace

    record = logging.LogRecord("t", logging.INFO, __file__, 1, "hello", None, None)
    with trace.get_tracer("test").start_as_current_span("work") as span:
        _ContextFilter().filter(record)
        assert tracing.current_trace_id() == format(span.get_span_context().trace_id, "032x")
    line = json.loads(JsonFormatter().format(record))
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert len(line["span_id"]) == 16


def test_spans_are_exported_over_otlp_http_when_an_endpoint_is_set(services):
    received: list[tuple[str, bytes]] = []

    def make_app(_base_url: str) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/traces")
        async def traces(request: Request) -> Response:
            received.append((request.headers.get("content-type", ""), await request.body()))
            return Response(status_code=200)

        return app

    with serve(make_app) as url:
        assert tracing.configure_tracing(otlp_endpoint=url)
        try:
            run_id = _submit(services)
            _wait_for(lambda: instrumentation.RUN_TRACES.flush(services.engine) or True)
            _wait_for(lambda: received, timeout=30)
        finally:
            tracing.remove_otlp_exporter(url)
    content_type, body = received[0]
    assert content_type == "application/x-protobuf"
    assert body
    assert run_id


def test_a_collector_that_is_down_never_fails_start_up(services):
    # The exporter opens no connection when configured: a dead endpoint is accepted, and
    # spans sent to it are dropped (the SDK logs that), never raised into the run.
    dead = "http://127.0.0.1:9"
    assert tracing.configure_tracing(otlp_endpoint=dead)
    tracing.remove_otlp_exporter(dead)


def test_step_retries_and_failures_are_counted_from_the_step_spans(services):
    # DBOS marks each failed attempt of a step with a "Step attempt N failed" span event and
    # the run's outcome with the span status; spans shaped the same drive the metrics.
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    from accord.observability.metrics import get_metrics

    flow = f"flow_{uuid.uuid4().hex[:6]}"
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span(flow) as run:
        run.set_attribute("dbos.operation.type", "workflow")
        run.set_attribute("dbos.operation.workflow_id", f"wf-{flow}")
        with tracer.start_as_current_span("post_time_bill") as step:
            step.set_attribute("dbos.operation.type", "step")
            step.set_attribute("dbos.operation.workflow_id", f"wf-{flow}")
            step.add_event("Step attempt 0 failed", {"error": "429"})
            step.add_event("Step attempt 1 failed", {"error": "503"})
        run.set_status(Status(StatusCode.ERROR, "gave up"))
    metrics = get_metrics()
    assert metrics.step_retries.labels(flow=flow, step="post_time_bill")._value.get() == 2
    assert (
        metrics.steps.labels(flow=flow, step="post_time_bill", outcome="success")._value.get() == 1
    )
    assert metrics.runs.labels(flow=flow, outcome="error")._value.get() == 1
