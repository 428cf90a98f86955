"""Business KPIs outside the store: their settings (``kpis:`` in ``accord.yaml``) and gauges.

The gauges are recorded here, in the flows layer, like the other database gauges
(:mod:`accord.flows.instrumentation`).

``accord.yaml`` may carry::

    kpis:
      base_currency: USD          # work in progress and drift amounts are shown in it
      fx_rates:                   # 1 <currency> = <rate> <base currency>; strings keep them exact
        GBP: "1.2700"
        EUR: "1.0800"
      gauge_window_days: 7        # the trailing window of the Prometheus gauges

Without the section the base currency is USD and no rate is known: amounts in other currencies
are reported apart, unconverted, never guessed. The section is read again when the file changes.

:class:`KpiGauges` sets the ``accord_kpi_*`` gauges (defined in
:mod:`accord.observability.metrics`) from :func:`accord.store.kpis.compute` over the trailing
window. The ``/metrics`` handler calls :meth:`KpiGauges.maybe_refresh` before rendering, at
most once per ``ttl_s``, so only a process that is scraped pays for the computation.

What does not belong here: computing the figures (:mod:`accord.store.kpis`).
"""

import logging
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from accord.domain import CurrencyCode
from accord.errors import ConfigError
from accord.flows.config_sections import PerFileCache, read_section
from accord.observability.metrics import Metrics, get_metrics
from accord.store import kpis
from accord.store.util import utc_now

__all__ = ["KpiGauges", "KpiSettings", "kpi_settings", "load_kpi_settings", "set_gauges"]

logger = logging.getLogger(__name__)


class KpiSettings(BaseModel):
    """The ``kpis:`` section of ``accord.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_currency: CurrencyCode = "USD"
    fx_rates: dict[CurrencyCode, Decimal] = Field(default_factory=dict)
    """``currency -> rate``: one unit of the currency is worth ``rate`` of the base currency."""
    gauge_window_days: int = Field(default=7, ge=1, le=366)

    @field_validator("fx_rates", mode="before")
    @classmethod
    def _exact(cls, value: Any) -> Any:  # noqa: ANN401 - raw YAML
        # A YAML float (1.27) is read back through its shortest repr, never its binary value.
        if not isinstance(value, Mapping):
            return value
        out: dict[Any, Decimal] = {}
        for currency, rate in value.items():
            if isinstance(rate, bool) or not isinstance(rate, int | float | str | Decimal):
                raise ValueError(f"rate of {currency} must be a number")  # noqa: TRY004
            try:
                out[currency] = Decimal(str(rate))
            except InvalidOperation as exc:
                raise ValueError(f"rate of {currency} is not a number: {rate!r}") from exc
            if not out[currency].is_finite() or out[currency] <= 0:
                raise ValueError(f"rate of {currency} must be positive")
        return out


def load_kpi_settings(path: Path | None) -> KpiSettings:
    """Read the ``kpis:`` section (defaults when the file or section is missing).

    Raises:
        ConfigError: The file cannot be read or the section is invalid.
    """
    section = read_section(path, "kpis")
    if section is None:
        return KpiSettings()
    try:
        return KpiSettings.model_validate(section)
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid 'kpis' section: {exc}") from exc


_settings = PerFileCache(load_kpi_settings, reload=True)


def kpi_settings(path: Path | None) -> KpiSettings:
    """The ``kpis:`` section of ``path``, read again only when the file changes.

    Raises:
        ConfigError: The file cannot be read or the section is invalid.
    """
    return _settings(path)


def _nan(value: float | None) -> float:
    # "No data" is NaN to Prometheus, not zero (a zero wait would read as a perfect week).
    return float("nan") if value is None else value


class KpiGauges:
    """Keeps the ``accord_kpi_*`` gauges at most ``ttl_s`` old."""

    def __init__(self, engine: sa.Engine, config_file: Path | None, *, ttl_s: float = 60.0) -> None:
        self.engine = engine
        self.config_file = config_file
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._next = 0.0

    def maybe_refresh(self) -> None:
        """Refresh unless a refresh happened less than ``ttl_s`` ago; never raises."""
        with self._lock:
            if time.monotonic() < self._next:
                return
            self._next = time.monotonic() + self.ttl_s
            try:
                self.refresh()
            except (sa.exc.SQLAlchemyError, ConfigError, ValueError):
                get_metrics().collector_errors.inc()
                logger.warning("refreshing the KPI gauges failed", exc_info=True)

    def refresh(self, now: datetime | None = None) -> kpis.KpiReport:
        """Compute the trailing window's KPIs and set the gauges; returns the report."""
        settings = kpi_settings(self.config_file)
        now = now or utc_now()
        last = now.date()
        query = kpis.KpiQuery(
            first=last - timedelta(days=settings.gauge_window_days - 1),
            last=last,
            granularity="day",
            base_currency=settings.base_currency,
            fx_rates=settings.fx_rates,
            now=now,
        )
        with self.engine.connect() as conn:
            report = kpis.compute(conn, query)
        set_gauges(get_metrics(), report, window_days=settings.gauge_window_days)
        return report


def set_gauges(metrics: Metrics, report: kpis.KpiReport, *, window_days: int) -> None:
    """Write a report into the KPI gauges (label sets no longer present are dropped)."""
    metrics.kpi_window_days.set(window_days)
    for gauge, durations in (
        (metrics.kpi_won_to_provisioned, report.provisioning),
        (metrics.kpi_approved_to_posted, report.posting),
        (metrics.kpi_approved_to_invoiced, report.billing),
    ):
        gauge.labels("0.5").set(_nan(durations.p50_seconds))
        gauge.labels("0.9").set(_nan(durations.p90_seconds))
    metrics.kpi_posting_error_ratio.set(_nan(report.quality.error_rate))
    metrics.kpi_first_time_right_ratio.set(_nan(report.quality.first_time_right_rate))
    metrics.kpi_manual_touches.set(_nan(report.touches.per_100_records))
    for gauge in (metrics.kpi_exceptions_opened, metrics.kpi_exceptions_closed):
        gauge.clear()
    for flow in report.exceptions:
        metrics.kpi_exceptions_opened.labels(flow.queue).set(flow.opened)
        metrics.kpi_exceptions_closed.labels(flow.queue).set(flow.closed)
    metrics.kpi_wip.clear()
    currency = report.query.base_currency
    for line in report.wip.by_legal_entity:
        metrics.kpi_wip.labels(line.key, currency).set(float(line.amount.amount))
    for gauge in (metrics.kpi_drift_found, metrics.kpi_drift_open):
        gauge.clear()
    for kind, n in report.drift.found_by_kind.items():
        metrics.kpi_drift_found.labels(kind).set(n)
    for kind, n in report.drift.open_by_kind.items():
        metrics.kpi_drift_open.labels(kind).set(n)
