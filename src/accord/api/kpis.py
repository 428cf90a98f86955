"""``/api/v1/kpis``: the business KPIs as JSON, and as CSV for a spreadsheet.

``GET /api/v1/kpis?from=2026-11-01&to=2026-11-30&granularity=day`` answers every figure of
``docs/kpis.md`` for the window (both days included, UTC) and for each day or ISO week of it;
``GET /api/v1/kpis.csv`` gives one table of the same report (``table=periods``, the
default, one row per period; ``wip_projects``; ``wip_entities``; ``exceptions``). Money is a
``{"amount": "<decimal>", "currency": "<ISO>"}`` object (amounts are strings, exact); ratios
are numbers between 0 and 1; durations are seconds.

Without ``from`` and ``to``: the last 30 days (``day``) or the last 12 weeks (``week``) up to
today. A window the wrong way round, or longer than 400 periods, is a 422 problem+json.
Any key but ``ingest`` may read.

What does not belong here: computing the figures (:mod:`accord.store.kpis`).
"""

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from accord.api.errors import PROBLEM_JSON, Problem
from accord.api.ops.common import PROBLEMS, IsoDate, Reader, engine_of
from accord.domain import Money
from accord.flows.reporting import KpiSettings, kpi_settings
from accord.store import kpis
from accord.store.util import utc_now

__all__ = [
    "CSV_TABLES",
    "KpiReportOut",
    "build_query",
    "csv_response",
    "csv_text",
    "router",
    "settings_of",
]

CSV_TABLES: Final = ("periods", "wip_projects", "wip_entities", "exceptions")
"""The tables ``/api/v1/kpis.csv`` can export."""
DEFAULT_SPAN: Final = {"day": timedelta(days=29), "week": timedelta(weeks=12) - timedelta(days=1)}

router = APIRouter(prefix="/api/v1", tags=["kpis"], responses=PROBLEMS)

FromDay = Annotated[
    IsoDate | None,
    Query(alias="from", description="First day (UTC, YYYY-MM-DD); default: 'to' minus 29 days"),
]
ToDay = Annotated[
    IsoDate | None, Query(alias="to", description="Last day, included (UTC); default: today")
]
Per = Annotated[
    Literal["day", "week"],
    Query(description="Trend periods: days, or ISO weeks (the window widens to whole weeks)"),
]
Table = Annotated[Literal["periods", "wip_projects", "wip_entities", "exceptions"], Query()]


# ---------------------------------------------------------------------- models
class DurationsOut(BaseModel):
    """How long something took: how many, median and 90th percentile (nearest rank)."""

    count: int
    p50_seconds: float | None
    p90_seconds: float | None


class PostingQualityOut(BaseModel):
    """Entries first recorded in the period, by the outcome of their first pass."""

    attempted: int
    posted_first_time: int
    rejected_first_time: int
    held_first_time: int
    error_rate: float | None = Field(description="rejected_first_time / attempted")
    first_time_right_rate: float | None = Field(description="posted_first_time / attempted")


class ManualTouchesOut(BaseModel):
    """People's actions on exceptions against the events journaled."""

    touches: int
    records: int
    per_100_records: float | None


class ExceptionFlowOut(BaseModel):
    """One owner queue: opened and closed in the window, open now; ages by bucket."""

    queue: str
    opened: int
    closed: int
    closed_by_age: dict[str, int] = Field(description="closed in the window, by time open")
    open_now: int
    open_by_age: dict[str, int]


class WipLineOut(BaseModel):
    """Work in progress of one project or legal entity."""

    key: str = Field(description="the project id, or the legal entity code")
    name: str | None = Field(description="the deal's name (projects)")
    legal_entity: str | None
    amount: Money = Field(description="in the base currency")
    entries: int
    original: dict[str, Decimal] = Field(description="exact amounts per original currency")


class WipOut(BaseModel):
    """Approved time and expenses billed by the entry that no invoice names yet."""

    as_of: datetime
    total: Money
    entries: int
    by_legal_entity: list[WipLineOut]
    by_project: list[WipLineOut]
    unconverted: dict[str, Decimal] = Field(
        description="amounts in currencies without a rate (not in the total)"
    )


class DriftOut(BaseModel):
    """What reconciliation found."""

    found: int
    found_by_kind: dict[str, int]
    open: int
    open_by_kind: dict[str, int]
    open_amount: Money = Field(description="sum of |found - expected| of open items")
    unconverted: dict[str, Decimal]
    runs: int
    last_run_at: datetime | None
    last_run_status: str | None


class PeriodOut(BaseModel):
    """The figures of one day or week."""

    first_day: date
    last_day: date
    won_to_provisioned: DurationsOut
    approved_to_posted: DurationsOut
    approved_to_invoiced: DurationsOut
    postings: PostingQualityOut
    manual_touches: ManualTouchesOut
    exceptions_opened: int
    exceptions_closed: int
    wip: Money | None = Field(description="at the period's end (now for the current period)")
    drift_found: int


class KpiReportOut(BaseModel):
    """Every business KPI of the window, and per period (``docs/kpis.md``)."""

    first_day: date
    last_day: date
    granularity: Literal["day", "week"]
    base_currency: str
    fx_rates: dict[str, Decimal]
    generated_at: datetime
    won_to_provisioned: DurationsOut
    approved_to_posted: DurationsOut
    approved_to_invoiced: DurationsOut
    postings: PostingQualityOut
    manual_touches: ManualTouchesOut
    exceptions: list[ExceptionFlowOut]
    wip: WipOut
    drift: DriftOut
    periods: list[PeriodOut]

    @classmethod
    def of(cls, r: kpis.KpiReport) -> "KpiReportOut":
        """From the read model."""
        q = r.query
        return cls(
            first_day=r.start,
            last_day=r.end - timedelta(days=1),
            granularity=q.granularity,
            base_currency=q.base_currency,
            fx_rates=dict(sorted(q.fx_rates.items())),
            generated_at=q.now,
            won_to_provisioned=_durations(r.provisioning),
            approved_to_posted=_durations(r.posting),
            approved_to_invoiced=_durations(r.billing),
            postings=_quality(r.quality),
            manual_touches=_touches(r.touches),
            exceptions=[ExceptionFlowOut(**f.__dict__) for f in r.exceptions],
            wip=WipOut(
                as_of=r.wip.as_of,
                total=r.wip.total,
                entries=r.wip.entries,
                by_legal_entity=[WipLineOut(**ln.__dict__) for ln in r.wip.by_legal_entity],
                by_project=[WipLineOut(**ln.__dict__) for ln in r.wip.by_project],
                unconverted=r.wip.unconverted,
            ),
            drift=DriftOut(**r.drift.__dict__),
            periods=[
                PeriodOut(
                    first_day=p.period.start,
                    last_day=p.period.end - timedelta(days=1),
                    won_to_provisioned=_durations(p.provisioning),
                    approved_to_posted=_durations(p.posting),
                    approved_to_invoiced=_durations(p.billing),
                    postings=_quality(p.quality),
                    manual_touches=_touches(p.touches),
                    exceptions_opened=p.exceptions_opened,
                    exceptions_closed=p.exceptions_closed,
                    wip=p.wip,
                    drift_found=p.drift_found,
                )
                for p in r.periods
            ],
        )


def _durations(d: kpis.Durations) -> DurationsOut:
    return DurationsOut.model_validate(d, from_attributes=True)


def _quality(q: kpis.PostingQuality) -> PostingQualityOut:
    return PostingQualityOut.model_validate(q, from_attributes=True)


def _touches(t: kpis.ManualTouches) -> ManualTouchesOut:
    return ManualTouchesOut.model_validate(t, from_attributes=True)


# ---------------------------------------------------------------------- shared with the console
def settings_of(request: Request) -> KpiSettings:
    """The ``kpis:`` settings of this process's ``accord.yaml``."""
    return kpi_settings(request.app.state.settings.config_file)


def build_query(
    first: date | None,
    last: date | None,
    granularity: Literal["day", "week"],
    settings: KpiSettings,
    *,
    now: datetime | None = None,
) -> kpis.KpiQuery:
    """The query of a request: defaults filled in, the window checked.

    Raises:
        WindowError: The window is the wrong way round or too long.
    """
    now = now or utc_now()
    last = last or (first + DEFAULT_SPAN[granularity] if first else now.date())
    first = first or last - DEFAULT_SPAN[granularity]
    kpis.periods(first, last, granularity)  # raises on a bad window
    return kpis.KpiQuery(
        first=first,
        last=last,
        granularity=granularity,
        base_currency=settings.base_currency,
        fx_rates=settings.fx_rates,
        now=now,
    )


def compute(engine: sa.Engine, query: kpis.KpiQuery) -> kpis.KpiReport:
    """Run the query on a connection of its own."""
    with engine.connect() as conn:
        return kpis.compute(conn, query)


def _hours(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / 3600:.4f}"


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _periods_table(r: kpis.KpiReport) -> Iterator[list[Any]]:
    yield [
        "first_day", "last_day",
        "won_to_provisioned_count", "won_to_provisioned_p50_hours", "won_to_provisioned_p90_hours",
        "approved_to_posted_count", "approved_to_posted_p50_hours", "approved_to_posted_p90_hours",
        "approved_to_invoiced_count", "approved_to_invoiced_p50_hours",
        "approved_to_invoiced_p90_hours",
        "entries_recorded", "posted_first_time", "rejected_first_time", "held_first_time",
        "posting_error_rate", "first_time_right_rate",
        "manual_touches", "records", "manual_touches_per_100_records",
        "exceptions_opened", "exceptions_closed",
        f"wip_{r.query.base_currency}", "drift_found",
    ]  # fmt: skip
    for p in r.periods:
        q, t = p.quality, p.touches
        yield [
            p.period.start, p.period.end - timedelta(days=1),
            p.provisioning.count, _hours(p.provisioning.p50_seconds),
            _hours(p.provisioning.p90_seconds),
            p.posting.count, _hours(p.posting.p50_seconds), _hours(p.posting.p90_seconds),
            p.billing.count, _hours(p.billing.p50_seconds), _hours(p.billing.p90_seconds),
            q.attempted, q.posted_first_time, q.rejected_first_time, q.held_first_time,
            _rate(q.error_rate), _rate(q.first_time_right_rate),
            t.touches, t.records, _rate(t.per_100_records),
            p.exceptions_opened, p.exceptions_closed,
            "" if p.wip is None else p.wip.amount, p.drift_found,
        ]  # fmt: skip


def _wip_table(lines: list[kpis.WipLine], base: str, *, projects: bool) -> Iterator[list[Any]]:
    currencies = sorted({c for ln in lines for c in ln.original})
    head = ["project_id", "name", "legal_entity"] if projects else ["legal_entity"]
    yield [*head, f"amount_{base}", "entries", *(f"original_{c}" for c in currencies)]
    for ln in lines:
        key = [ln.key, ln.name or "", ln.legal_entity or ""] if projects else [ln.key]
        yield [*key, ln.amount.amount, ln.entries, *(ln.original.get(c, "") for c in currencies)]


def _exceptions_table(r: kpis.KpiReport) -> Iterator[list[Any]]:
    buckets = [key for key, _, _ in kpis.AGE_BUCKETS]
    yield [
        "queue", "opened", "closed", *(f"closed_after_{b}" for b in buckets),
        "open_now", *(f"open_{b}" for b in buckets),
    ]  # fmt: skip
    for f in r.exceptions:
        yield [
            f.queue, f.opened, f.closed, *(f.closed_by_age.get(b, 0) for b in buckets),
            f.open_now, *(f.open_by_age.get(b, 0) for b in buckets),
        ]  # fmt: skip


def csv_text(report: kpis.KpiReport, table: str) -> str:
    """One table of the report as CSV (a header row, then one row per line)."""
    base = report.query.base_currency
    rows = {
        "periods": lambda: _periods_table(report),
        "wip_projects": lambda: _wip_table(report.wip.by_project, base, projects=True),
        "wip_entities": lambda: _wip_table(report.wip.by_legal_entity, base, projects=False),
        "exceptions": lambda: _exceptions_table(report),
    }[table]()
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def csv_response(report: kpis.KpiReport, table: str) -> Response:
    """One table of the report as a CSV download named after it and its window."""
    name = f"accord-kpis-{table}-{report.start}-{report.end - timedelta(days=1)}.csv"
    return Response(
        csv_text(report, table),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def _report(request: Request, first: date | None, last: date | None, per: str) -> kpis.KpiReport:
    granularity: Literal["day", "week"] = "week" if per == "week" else "day"
    try:
        query = build_query(first, last, granularity, settings_of(request))
    except kpis.WindowError as exc:
        raise Problem(
            422, "Invalid request", str(exc), errors=[{"field": exc.field, "message": str(exc)}]
        ) from exc
    return compute(engine_of(request), query)


# ---------------------------------------------------------------------- routes
class ProblemOut(BaseModel):
    """An error answer (RFC 9457 ``application/problem+json``)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, str]] = Field(
        default_factory=list, description="{field, message} per invalid query parameter"
    )


_BAD_WINDOW: Final[dict[int | str, dict[str, Any]]] = {
    422: {
        "description": "A malformed date, or a window the wrong way round or too long "
        "(problem+json; errors name the parameter)",
        # Inline (no $defs): the schema stands alone under the problem+json media type.
        "content": {PROBLEM_JSON: {"schema": ProblemOut.model_json_schema()}},
    },
}


@router.get(
    "/kpis",
    response_model=KpiReportOut,
    responses=_BAD_WINDOW,
    summary="Business KPIs of a window, with trends per day or week",
)
def get_kpis(
    request: Request,
    _: Reader,
    first: FromDay = None,
    last: ToDay = None,
    granularity: Per = "day",
) -> KpiReportOut:
    """Cycle times, posting quality, manual touches, exceptions, WIP and drift (docs/kpis.md)."""
    return KpiReportOut.of(_report(request, first, last, granularity))


@router.get(
    "/kpis.csv",
    response_class=Response,
    responses={
        200: {"description": "One table of the report", "content": {"text/csv": {}}},
        **_BAD_WINDOW,
    },
    summary="Business KPIs as CSV",
)
def get_kpis_csv(
    request: Request,
    _: Reader,
    first: FromDay = None,
    last: ToDay = None,
    granularity: Per = "day",
    table: Table = "periods",
) -> Response:
    """One table of the report: ``periods``, ``wip_projects``, ``wip_entities``, ``exceptions``."""
    return csv_response(_report(request, first, last, granularity), table)
