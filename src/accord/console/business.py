"""The console's Business page: what integration is worth, for the people who run the firm.

``/business`` shows the KPIs of :mod:`accord.store.kpis` for a window (the last 30 days by
default) in plain words: headline tiles, trend charts per day or week, work in progress by
legal entity and project, exceptions by queue. ``/business.csv`` downloads one table of the
same report (the API's CSV, behind the console's session). Every figure is read through the
store; ``docs/kpis.md`` defines each one.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Final, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from markupsafe import Markup
from starlette.responses import Response

from accord.api.kpis import CSV_TABLES, build_query, compute, csv_response, settings_of
from accord.console.trend_charts import columns, trend
from accord.console.web import engine_of, render, session_of
from accord.domain import Money
from accord.store import kpis

__all__ = ["human_duration", "money", "percent", "router"]

router = APIRouter(include_in_schema=False)

MEDIAN: Final = "median"
P90: Final = "9 in 10 within"
COLOURS: Final = {
    MEDIAN: "#2563eb",
    P90: "#93c5fd",
    "right first time": "#16a34a",
    "errors": "#dc2626",
    "opened": "#dc2626",
    "closed": "#16a34a",
    "work in progress": "#7c3aed",
    "touches": "#d97706",
    "drift": "#db2777",
}
TOP_PROJECTS: Final = 10

_UNITS: Final = ((120.0, 1.0, "s"), (7200.0, 60.0, "min"), (172_800.0, 3600.0, "h"))
_RUN_STATUS: Final = {
    "agreed": "everything agreed",
    "drift": "found drift",
    "failed": "could not finish",
    "running": "still running",
}


def _unit(seconds: float) -> tuple[float, str]:
    for below, size, name in _UNITS:
        if seconds < below:
            return size, name
    return 86400.0, "days"


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:.1f}"


def _tick(value: float) -> str:
    # Axis ticks fall on quarters of a round top (1.25, 3.75): two decimals, no trailing zeros.
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def human_duration(seconds: float | None) -> str:
    """A duration people read at a glance: ``45 s``, ``12 min``, ``2.5 h``, ``6.2 days``."""
    if seconds is None:
        return "—"
    size, name = _unit(seconds)
    value = _number(seconds / size)
    return f"{value} {'day' if value == '1' else name}"


def percent(ratio: float | None) -> str:
    """``0.975`` -> ``97.5%`` (``—`` when there is nothing to measure)."""
    return "—" if ratio is None else f"{ratio * 100:.1f}%"


def money(value: Money | None) -> str:
    """``USD 1,234.50``."""
    return "—" if value is None else f"{value.currency} {value.amount:,.2f}"


def _compact(value: float) -> str:
    for size, suffix in ((1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return _tick(value)


@dataclass(frozen=True)
class Tile:
    """A headline figure: what, how much, and a line saying what it rests on."""

    key: str
    title: str
    value: str
    note: str
    tone: str = ""


def _many(n: int, one: str, more: str) -> str:
    return f"{n:,} {one if n == 1 else more}"


def _wait_tile(key: str, title: str, d: kpis.Durations, what: tuple[str, str], none: str) -> Tile:
    if not d.count:
        return Tile(key, title, "—", none)
    return Tile(
        key,
        title,
        human_duration(d.p50_seconds),
        f"median · 9 in 10 within {human_duration(d.p90_seconds)} · {_many(d.count, *what)}",
    )


def _tiles(r: kpis.KpiReport) -> list[Tile]:
    q, t, wip, drift = r.quality, r.touches, r.wip, r.drift
    if drift.last_run_at is None:
        drift_note = "reconciliation has not run yet"
    else:
        drift_note = (
            f"{drift.open:,} open ({money(drift.open_amount)}) · last run "
            f"{drift.last_run_at:%d %b %H:%M} UTC: "
            f"{_RUN_STATUS.get(drift.last_run_status or '', drift.last_run_status)}"
        )
    return [
        _wait_tile(
            "provisioning", "Deal won → project ready", r.provisioning, ("project", "projects"),
            "no project was provisioned in this window",
        ),
        _wait_tile(
            "posting", "Approved time → in the ERP", r.posting, ("entry", "entries"),
            "nothing was posted in this window",
        ),
        _wait_tile(
            "billing", "Billing cycle: approved → invoiced", r.billing, ("entry", "entries"),
            "no ERP invoice named approved work in this window",
        ),
        Tile(
            "first-time-right", "Posted right first time", percent(q.first_time_right_rate),
            f"{q.posted_first_time:,} of {_many(q.attempted, 'entry', 'entries')}; "
            f"{q.held_first_time:,} waited for a closed period"
            if q.attempted
            else "no entry was recorded in this window",
            "good" if (q.first_time_right_rate or 0) >= 0.95 else "",
        ),
        Tile(
            "errors", "Posting errors", percent(q.error_rate),
            f"{q.rejected_first_time:,} of {_many(q.attempted, 'entry', 'entries')} rejected "
            "on the first try"
            if q.attempted
            else "no entry was recorded in this window",
            _error_tone(q.error_rate),
        ),
        Tile(
            "touches", "Manual touches",
            "—" if t.per_100_records is None else f"{t.per_100_records:.1f} per 100",
            f"{_many(t.touches, 'action', 'actions')} by people on exceptions · "
            f"{_many(t.records, 'record', 'records')}",
        ),
        Tile(
            "wip", "Approved, not yet invoiced", money(wip.total),
            f"{_many(wip.entries, 'entry', 'entries')} billed by the hour or expense · "
            f"as of {wip.as_of:%d %b %H:%M} UTC",
        ),
        Tile(
            "drift", "Drift found by reconciliation", f"{drift.found:,}", drift_note,
            "bad" if drift.open else "",
        ),
    ]  # fmt: skip


def _error_tone(rate: float | None) -> str:
    if rate is None:
        return ""
    return "good" if rate <= 0.01 else ("bad" if rate > 0.05 else "")


def _label(p: kpis.Period, granularity: str) -> str:
    return f"w/c {p.start:%d %b}" if granularity == "week" else f"{p.start:%d %b}"


def _wait_chart(
    title: str, labels: list[str], per: Sequence[kpis.Durations], overall: kpis.Durations
) -> Markup:
    size, name = _unit(overall.p90_seconds or 0.0)

    def scaled(values: list[float | None]) -> list[float | None]:
        return [None if v is None else v / size for v in values]

    return trend(
        # The 90th percentile first, so the median is drawn over it where they meet.
        {
            P90: scaled([d.p90_seconds for d in per]),
            MEDIAN: scaled([d.p50_seconds for d in per]),
        },
        labels,
        title=title,
        fmt=lambda v: f"{_tick(v)} {name}",
        colours=COLOURS,
    )


def _charts(r: kpis.KpiReport) -> dict[str, Markup]:
    ps = r.periods
    labels = [_label(p.period, r.query.granularity) for p in ps]
    base = r.query.base_currency

    def pct(v: float) -> str:
        return f"{v:.0f}%"

    def count(v: float) -> str:
        return _tick(v)

    def hundred(values: list[float | None]) -> list[float | None]:
        return [None if v is None else v * 100 for v in values]

    return {
        "provisioning": _wait_chart(
            "Deal won → project ready", labels, [p.provisioning for p in ps], r.provisioning
        ),
        "posting": _wait_chart(
            "Approved time → in the ERP", labels, [p.posting for p in ps], r.posting
        ),
        "billing": _wait_chart(
            "Billing cycle", labels, [p.billing for p in ps], r.billing
        ),
        "quality": trend(
            {
                "right first time": hundred([p.quality.first_time_right_rate for p in ps]),
                "errors": hundred([p.quality.error_rate for p in ps]),
            },
            labels, title="Postings right first time, and errors", fmt=pct, colours=COLOURS,
            top=100.0,
        ),
        "wip": columns(
            {
                "work in progress": [
                    None if p.wip is None else float(p.wip.amount) for p in ps
                ]
            },
            labels, title=f"Approved, not yet invoiced ({base})",
            fmt=lambda v: f"{base} {_compact(v)}", colours=COLOURS,
        ),
        "exceptions": columns(
            {
                "opened": [float(p.exceptions_opened) for p in ps],
                "closed": [float(p.exceptions_closed) for p in ps],
            },
            labels, title="Exceptions opened and closed", fmt=count, colours=COLOURS,
        ),
        "touches": columns(
            {"touches": [p.touches.per_100_records for p in ps]},
            labels, title="Manual touches per 100 records",
            fmt=_tick, colours=COLOURS,
        ),
        "drift": columns(
            {"drift": [float(p.drift_found) for p in ps]},
            labels, title="Drift found by reconciliation", fmt=count, colours=COLOURS,
            empty="No drift found in this window",
        ),
    }  # fmt: skip


def _day(raw: str | None) -> tuple[date | None, str | None]:
    if not raw:
        return None, None
    try:
        return date.fromisoformat(raw.strip()[:10]), None
    except ValueError:
        return None, f"{raw[:20]!r} is not a date (YYYY-MM-DD)"


def _window(request: Request) -> tuple[kpis.KpiQuery, str | None]:
    """The page's query from its form; a bad value falls back to the default and says why."""
    params = request.query_params
    per: Literal["day", "week"] = "week" if params.get("per") == "week" else "day"
    first, bad_first = _day(params.get("from"))
    last, bad_last = _day(params.get("to"))
    problem = bad_first or bad_last
    settings = settings_of(request)
    try:
        return build_query(first, last, per, settings), problem
    except kpis.WindowError as exc:
        return build_query(None, None, per, settings), str(exc)


def _links(today: date) -> list[tuple[str, str]]:
    def href(days: int, per: str) -> str:
        first = today - timedelta(days=days - 1)
        return "/business?" + urlencode({"from": first, "to": today, "per": per})

    return [
        ("Last 7 days", href(7, "day")),
        ("Last 30 days", href(30, "day")),
        ("Last 12 weeks", href(84, "week")),
    ]


@router.get("/business")
def business_page(request: Request) -> Response:
    """KPI tiles, trends, work in progress and exceptions for the chosen window."""
    session = session_of(request)
    query, problem = _window(request)
    report = compute(engine_of(request), query)
    params = {"from": report.start, "to": report.end - timedelta(days=1)}
    csv = {
        table: "/business.csv?" + urlencode({**params, "per": query.granularity, "table": table})
        for table in CSV_TABLES
    }
    return render(
        request,
        "business.html",
        session,
        r=report,
        last_day=report.end - timedelta(days=1),
        problem=problem,
        tiles=_tiles(report),
        charts=_charts(report),
        projects=report.wip.by_project[:TOP_PROJECTS],
        more_projects=max(0, len(report.wip.by_project) - TOP_PROJECTS),
        buckets=kpis.AGE_BUCKETS,
        csv=csv,
        windows=_links(query.now.date()),
        colours=COLOURS,
        originals=_originals,
    )


def _originals(amounts: dict[str, Decimal]) -> str:
    return ", ".join(f"{c} {a:,.2f}" for c, a in amounts.items())


@router.get("/business.csv")
def business_csv(request: Request) -> Response:
    """One table of the page's report as CSV (``table``: periods, wip_projects, ...)."""
    session_of(request)
    query, _ = _window(request)
    table = request.query_params.get("table", "periods")
    if table not in CSV_TABLES:
        table = "periods"
    return csv_response(compute(engine_of(request), query), table)
