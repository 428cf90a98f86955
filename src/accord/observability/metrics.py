"""Every Prometheus instrument Accord exports, defined once.

Workflow functions are module-level (DBOS registers them by name), so they cannot be handed
a metrics object; :func:`get_metrics` returns the one process-wide instance, created on first
use rather than at import time. Tests read values through the same instance.
"""

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics", "get_metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The instruments, on a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events_received = Counter(
            "accord_events_received_total",
            "Events accepted into the journal.",
            ["type"],
            registry=r,
        )
        self.events_deduplicated = Counter(
            "accord_events_deduplicated_total",
            "Redelivered events answered with their original receipt.",
            ["type"],
            registry=r,
        )
        self.events_rejected = Counter(
            "accord_events_rejected_total",
            "Events refused at intake.",
            ["type", "reason"],
            registry=r,
        )
        self.intake_latency = Histogram(
            "accord_intake_latency_seconds",
            "Time from request to receipt for accepted events.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.intake_batch_size = Histogram(
            "accord_intake_batch_size",
            "Events committed per intake transaction.",
            buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500),
            registry=r,
        )
        self.runs = Counter(
            "accord_runs_total", "Flow runs finished, by outcome.", ["flow", "outcome"], registry=r
        )
        self.run_duration = Histogram(
            "accord_run_duration_seconds",
            "Flow run duration.",
            ["flow"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.step_retries = Counter(
            "accord_step_retries_total", "Step attempts retried.", ["flow", "step"], registry=r
        )
        self.connector_calls = Counter(
            "accord_connector_calls_total",
            "Outbound calls by connection and outcome.",
            ["connection", "outcome"],
            registry=r,
        )
        self.connector_throttled = Counter(
            "accord_connector_throttled_total",
            "429s and quota refusals received.",
            ["connection"],
            registry=r,
        )
        self.budget_in_use = Gauge(
            "accord_budget_in_use",
            "Concurrency slots in use per connection (this process's view).",
            ["connection"],
            registry=r,
        )
        self.budget_rate = Gauge(
            "accord_budget_rate_per_second",
            "Current adaptive request rate per connection.",
            ["connection"],
            registry=r,
        )
        self.exceptions_open = Gauge(
            "accord_exceptions_open", "Open business exceptions.", ["queue"], registry=r
        )
        self.queue_depth = Gauge(
            "accord_queue_depth", "Runs waiting in a queue.", ["queue"], registry=r
        )
        self._define_run_and_step(r)
        self._define_connector_and_store(r)
        self._define_alerts(r)
        self._define_kpis(r)

    def _define_run_and_step(self, r: CollectorRegistry) -> None:
        # Recorded from the durable runtime's own spans (accord.flows.instrumentation), so
        # every workflow and step is measured without each flow calling a metric itself.
        self.steps = Counter(
            "accord_steps_total",
            "Steps finished, by outcome (after their retries).",
            ["flow", "step", "outcome"],
            registry=r,
        )
        self.step_duration = Histogram(
            "accord_step_duration_seconds",
            "Step duration, retries and their waits included.",
            ["flow", "step"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

    def _define_connector_and_store(self, r: CollectorRegistry) -> None:
        self.connector_call_duration = Histogram(
            "accord_connector_call_duration_seconds",
            "Outbound call latency (until the response headers), by connection.",
            ["connection"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.connector_errors = Counter(
            "accord_connector_errors_total",
            "Failed outbound calls by connection and error class "
            "(auth, throttled, client, server, timeout, transport).",
            ["connection", "error_class"],
            registry=r,
        )
        self.budget_in_flight = Gauge(
            "accord_budget_in_flight",
            "Requests in flight per connection across every process (budget leases).",
            ["connection"],
            registry=r,
        )
        self.budget_lane_calls = Gauge(
            "accord_budget_lane_calls",
            "Calls granted by the shared budget per connection and lane "
            "(interactive, flow, bulk, background), cumulative.",
            ["connection", "lane"],
            registry=r,
        )
        self.budget_day_used = Gauge(
            "accord_budget_day_used",
            "Calls made today (UTC) against a connection's daily allowance.",
            ["connection"],
            registry=r,
        )
        self.outbox_backlog = Gauge(
            "accord_outbox_backlog",
            "Items waiting in the outbox for a connection's dispatcher, by lane.",
            ["connection", "lane"],
            registry=r,
        )
        self.exceptions_open_by_age = Gauge(
            "accord_exceptions_open_by_age",
            "Open business exceptions by owner queue and age bucket.",
            ["queue", "age"],
            registry=r,
        )
        self.exceptions_oldest_age = Gauge(
            "accord_exceptions_oldest_age_seconds",
            "Age of the oldest open exception per owner queue.",
            ["queue"],
            registry=r,
        )
        self.collector_errors = Counter(
            "accord_collector_errors_total",
            "Background gauge refreshes that failed.",
            registry=r,
        )

    def _define_alerts(self, r: CollectorRegistry) -> None:
        self.alerts_firing = Gauge(
            "accord_alerts_firing", "Alert instances firing, by rule.", ["rule"], registry=r
        )
        self.alert_notifications = Counter(
            "accord_alert_notifications_total",
            "Alert webhook deliveries, by rule, kind (firing, resolved) and outcome.",
            ["rule", "kind", "outcome"],
            registry=r,
        )

    def _define_kpis(self, r: CollectorRegistry) -> None:
        # Business KPIs over a trailing window (accord.flows.reporting sets them when
        # /metrics is scraped; docs/kpis.md defines each figure). NaN: nothing to measure yet.
        self.kpi_window_days = Gauge(
            "accord_kpi_window_days", "Days of the trailing window of the KPI gauges.", registry=r
        )
        self.kpi_won_to_provisioned = Gauge(
            "accord_kpi_won_to_provisioned_seconds",
            "Won opportunity to provisioned project (PSA and ERP), by quantile.",
            ["quantile"],
            registry=r,
        )
        self.kpi_approved_to_posted = Gauge(
            "accord_kpi_approved_to_posted_seconds",
            "Time or expense approved in the PSA to posted in the ERP, by quantile.",
            ["quantile"],
            registry=r,
        )
        self.kpi_approved_to_invoiced = Gauge(
            "accord_kpi_approved_to_invoiced_seconds",
            "Billing cycle: entry approved to the first ERP invoice naming it, by quantile.",
            ["quantile"],
            registry=r,
        )
        self.kpi_posting_error_ratio = Gauge(
            "accord_kpi_posting_error_ratio",
            "Entries rejected on their first posting pass, per entry recorded.",
            registry=r,
        )
        self.kpi_first_time_right_ratio = Gauge(
            "accord_kpi_first_time_right_ratio",
            "Entries posted on their first pass, per entry recorded.",
            registry=r,
        )
        self.kpi_manual_touches = Gauge(
            "accord_kpi_manual_touches_per_100_records",
            "People's actions on exceptions per 100 events journaled.",
            registry=r,
        )
        self.kpi_exceptions_opened = Gauge(
            "accord_kpi_exceptions_opened",
            "Exceptions opened in the window.",
            ["queue"],
            registry=r,
        )
        self.kpi_exceptions_closed = Gauge(
            "accord_kpi_exceptions_closed",
            "Exceptions resolved or ignored in the window.",
            ["queue"],
            registry=r,
        )
        self.kpi_wip = Gauge(
            "accord_kpi_wip_exposure",
            "Approved work not yet invoiced, in the base currency, by legal entity.",
            ["legal_entity", "currency"],
            registry=r,
        )
        self.kpi_drift_found = Gauge(
            "accord_kpi_drift_found",
            "Disagreements first found by reconciliation in the window.",
            ["kind"],
            registry=r,
        )
        self.kpi_drift_open = Gauge(
            "accord_kpi_drift_open", "Reconciliation drift still open.", ["kind"], registry=r
        )

    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)


_lock = threading.Lock()
_instance: Metrics | None = None


def get_metrics() -> Metrics:
    """The process-wide metrics (created on first use)."""
    global _instance  # noqa: PLW0603 - one registry per process, by design (module docstring)
    with _lock:
        if _instance is None:
            _instance = Metrics()
        return _instance
