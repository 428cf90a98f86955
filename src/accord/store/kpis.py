"""Business KPIs: what integration is worth, computed from Accord's own store.

:func:`compute` answers, for a window of whole UTC days cut into days or ISO weeks, the
figures ``docs/kpis.md`` defines: won -> provisioned time, approved -> posted time,
approved -> invoiced time (the billing cycle), posting error and first-time-right rates,
manual touches per 100 records, exceptions opened and closed by queue and age, work in
progress exposure (approved, not yet invoiced) by project and legal entity in the base
currency, and drift found by reconciliation. Every figure is given for the whole window and
for each period of it.

Money is ``Decimal``: amounts are summed exactly per project and currency, converted with the
configured rates (``1 <currency> = rate <base>``) and rounded once per project to the base
currency's minor unit (half up, as the ERPs do); legal-entity and total lines are sums of the
project lines, so every table foots. An amount in a currency without a rate is never guessed:
it is reported apart, unconverted.

The clock (``now``) comes in with the query, so tests give the figures a known history.

What does not belong here: reading settings (base currency, rates) and presenting the figures
(the API, the console, the Prometheus gauges).
"""

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, Literal

import sqlalchemy as sa

from accord.domain import Money
from accord.store import _kpi_facts as facts
from accord.store.postings import HELD, POSTED, REJECTED
from accord.store.util import utc_now

__all__ = [
    "AGE_BUCKETS",
    "MAX_PERIODS",
    "DriftSummary",
    "Durations",
    "ExceptionFlow",
    "Granularity",
    "KpiQuery",
    "KpiReport",
    "ManualTouches",
    "Period",
    "PeriodKpis",
    "PostingQuality",
    "WindowError",
    "Wip",
    "WipLine",
    "compute",
    "percentile",
    "periods",
]

Granularity = Literal["day", "week"]
MAX_PERIODS: Final = 400
"""Periods one report may hold (a year and a month of days, or seven years of weeks)."""
AGE_BUCKETS: Final = (
    ("lt_1h", "under 1 hour", timedelta(hours=1)),
    ("1h_1d", "1 hour to 1 day", timedelta(days=1)),
    ("1d_7d", "1 to 7 days", timedelta(days=7)),
    ("gt_7d", "over 7 days", None),
)
"""Exception age buckets: key, label, upper bound (None: unbounded)."""


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True)
class Period:
    """A day or an ISO week (Monday to Sunday), as ``[start, end)`` in UTC days."""

    start: date
    end: date

    @property
    def start_at(self) -> datetime:
        """The period's first instant (UTC midnight)."""
        return _midnight(self.start)

    @property
    def end_at(self) -> datetime:
        """The instant after the period (UTC midnight of ``end``)."""
        return _midnight(self.end)


class WindowError(ValueError):
    """A window the wrong way round, or too long; ``field`` names the bound to change."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def periods(first: date, last: date, granularity: Granularity) -> list[Period]:
    """The periods covering ``first`` to ``last`` (both included); weeks widen to whole weeks.

    Raises:
        WindowError: ``last`` is before ``first``, or there would be over :data:`MAX_PERIODS`.
    """
    if last < first:
        raise WindowError(f"'to' ({last}) is before 'from' ({first})", field="to")
    step = timedelta(days=1)
    start, end = first, last + step
    if granularity == "week":
        step = timedelta(days=7)
        start = first - timedelta(days=first.weekday())
        end = last + timedelta(days=7 - last.weekday())
    count = (end - start) // step
    if count > MAX_PERIODS:
        raise WindowError(
            f"{count} {granularity}s is more than {MAX_PERIODS}; narrow the window", field="from"
        )
    return [Period(start + i * step, start + (i + 1) * step) for i in range(count)]


@dataclass(frozen=True)
class KpiQuery:
    """What to compute.

    Attributes:
        first: First day of the window (UTC).
        last: Last day of the window, included.
        granularity: ``day`` or ``week`` (ISO weeks, Monday first; the window widens to them).
        base_currency: The currency of work in progress and drift amounts.
        fx_rates: ``currency -> rate`` with ``1 currency = rate base_currency``.
        now: The clock: nothing after it has happened yet.
    """

    first: date
    last: date
    granularity: Granularity = "day"
    base_currency: str = "USD"
    fx_rates: Mapping[str, Decimal] = field(default_factory=dict)
    now: datetime = field(default_factory=utc_now)


# ---------------------------------------------------------------------- figures
@dataclass(frozen=True)
class Durations:
    """How long something took: how many, and the median and 90th percentile in seconds."""

    count: int
    p50_seconds: float | None
    p90_seconds: float | None

    @classmethod
    def of(cls, seconds: Sequence[float]) -> "Durations":
        """From the durations measured."""
        return cls(len(seconds), percentile(seconds, 0.5), percentile(seconds, 0.9))


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile: the smallest value that ``q`` of the values do not exceed."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class PostingQuality:
    """What became of the entries first recorded in the period, on their first pass."""

    attempted: int
    posted_first_time: int
    rejected_first_time: int
    held_first_time: int

    @property
    def error_rate(self) -> float | None:
        """Entries rejected on their first pass, per entry attempted."""
        return _ratio(self.rejected_first_time, self.attempted)

    @property
    def first_time_right_rate(self) -> float | None:
        """Entries posted on their first pass (no exception, no hold, no touch), per entry."""
        return _ratio(self.posted_first_time, self.attempted)


@dataclass(frozen=True)
class ManualTouches:
    """People's actions on exceptions against the records Accord handled."""

    touches: int
    records: int

    @property
    def per_100_records(self) -> float | None:
        """Touches per 100 records."""
        return None if not self.records else self.touches * 100 / self.records


@dataclass(frozen=True)
class ExceptionFlow:
    """One owner queue: exceptions opened and closed in the window, and open now, by age."""

    queue: str
    opened: int = 0
    closed: int = 0
    closed_by_age: dict[str, int] = field(default_factory=dict)
    """Closed in the window, by how long they were open."""
    open_now: int = 0
    open_by_age: dict[str, int] = field(default_factory=dict)
    """Open now, by age."""


@dataclass(frozen=True)
class WipLine:
    """Work in progress of one project or legal entity."""

    key: str
    amount: Money
    """In the base currency (the converted part)."""
    entries: int
    legal_entity: str | None = None
    name: str | None = None
    original: dict[str, Decimal] = field(default_factory=dict)
    """The exact amounts per original currency (converted or not)."""


@dataclass(frozen=True)
class Wip:
    """Approved, not yet invoiced, as of a moment."""

    as_of: datetime
    total: Money
    entries: int
    by_legal_entity: list[WipLine]
    by_project: list[WipLine]
    unconverted: dict[str, Decimal]
    """Amounts in currencies without a rate, left out of ``total``."""


@dataclass(frozen=True)
class DriftSummary:
    """What reconciliation found."""

    found: int
    found_by_kind: dict[str, int]
    open: int
    open_by_kind: dict[str, int]
    open_amount: Money
    """Sum of ``|found - expected|`` of the open items, in the base currency."""
    unconverted: dict[str, Decimal]
    runs: int
    last_run_at: datetime | None
    last_run_status: str | None


@dataclass(frozen=True)
class PeriodKpis:
    """The figures of one period."""

    period: Period
    provisioning: Durations
    posting: Durations
    billing: Durations
    quality: PostingQuality
    touches: ManualTouches
    exceptions_opened: int
    exceptions_closed: int
    wip: Money | None
    """At the period's end (or now, for the current period); None for a future period."""
    drift_found: int


@dataclass(frozen=True)
class KpiReport:
    """Every figure of the window, and per period."""

    query: KpiQuery
    start: date
    end: date
    """The window's end, excluded (the day after the last period)."""
    provisioning: Durations
    posting: Durations
    billing: Durations
    quality: PostingQuality
    touches: ManualTouches
    exceptions: list[ExceptionFlow]
    wip: Wip
    drift: DriftSummary
    periods: list[PeriodKpis]


# ---------------------------------------------------------------------- computing
class _Buckets:
    """Assigns instants (UTC epoch seconds) to the report's periods."""

    def __init__(self, spans: Sequence[Period]) -> None:
        self.spans = spans
        self.starts = [p.start_at.timestamp() for p in spans]
        self.end = spans[-1].end_at.timestamp()

    def index(self, at: float) -> int | None:
        """The period ``at`` falls in, or None outside the window."""
        if at < self.starts[0] or at >= self.end:
            return None
        return bisect.bisect_right(self.starts, at) - 1

    def durations(self, pairs: Iterable[tuple[float, float]]) -> tuple[Durations, list[Durations]]:
        """Whole-window and per-period durations of ``(bucketed at, seconds)`` pairs."""
        every: list[float] = []
        per: list[list[float]] = [[] for _ in self.spans]
        for at, seconds in pairs:
            i = self.index(at)
            if i is not None:
                every.append(seconds)
                per[i].append(seconds)
        return Durations.of(every), [Durations.of(v) for v in per]

    def counts(self, instants: Iterable[datetime]) -> tuple[int, list[int]]:
        """Whole-window and per-period counts of instants."""
        per = [0] * len(self.spans)
        for at in instants:
            i = self.index(at.timestamp())
            if i is not None:
                per[i] += 1
        return sum(per), per


def _wait(later: float, earlier: float) -> float:
    # Clocks of different systems may disagree by a little: a negative wait is no wait. Epoch
    # floats (SQLite keeps milliseconds) give waits to the millisecond.
    return round(max(0.0, later - earlier), 3)


def _age_bucket(age: timedelta) -> str:
    for key, _, bound in AGE_BUCKETS:
        if bound is None or age < bound:
            return key
    return AGE_BUCKETS[-1][0]


def _converter(base: str, rates: Mapping[str, Decimal]) -> Callable[[str], Decimal | None]:
    def rate(currency: str) -> Decimal | None:
        return Decimal(1) if currency == base else rates.get(currency)

    return rate


_Balances = dict[str, dict[str, tuple[Decimal, int]]]
"""Per project and currency: the amount and count of entries in progress."""


def _wip_sweep(
    entries: Sequence[facts.EntryFact],
    invoiced: Mapping[tuple[str, str], float],
    moments: Sequence[float],
    query: KpiQuery,
) -> tuple[_Balances, list[Decimal]]:
    """Totals in progress at each of ``moments`` (epoch seconds, ascending), and the last balances.

    An entry is in progress from its approval until the first invoice naming it. Each project's
    converted amount is rounded on its own, as :func:`_wip` rounds it (``Money`` rounds half
    up), so the totals of the trend foot with the tables.
    """
    rate = _converter(query.base_currency, query.fx_rates)
    quantum = Money.zero(query.base_currency).amount

    def in_base(per_currency: Mapping[str, tuple[Decimal, int]]) -> Decimal:
        converted = Decimal(0)
        for currency, (amount, _) in per_currency.items():
            r = rate(currency)
            if r is not None:
                converted += amount * r
        return converted.quantize(quantum, rounding=ROUND_HALF_UP)

    changes: list[tuple[float, int, str, str, Decimal]] = []
    for e in entries:
        changes.append((e.approved_at, 1, e.project_id, e.currency, e.amount))
        billed = invoiced.get((e.kind, e.entry_id))
        if billed is not None:
            changes.append((max(billed, e.approved_at), -1, e.project_id, e.currency, -e.amount))
    changes.sort(key=lambda c: c[0])
    balances: _Balances = defaultdict(dict)
    value: dict[str, Decimal] = {}
    total = Decimal(0)
    totals: list[Decimal] = []
    i = 0
    for moment in moments:
        while i < len(changes) and changes[i][0] < moment:
            _, step, project, currency, amount = changes[i]
            sums, n = balances[project].get(currency, (Decimal(0), 0))
            balances[project][currency] = (sums + amount, n + step)
            now_value = in_base(balances[project])
            total += now_value - value.get(project, Decimal(0))
            value[project] = now_value
            i += 1
        totals.append(total)
    last = {
        project: {c: v for c, v in per.items() if v[1]}
        for project, per in balances.items()
        if any(v[1] for v in per.values())
    }
    return last, totals


def _wip(
    balances: _Balances,
    info: Mapping[str, facts.ProjectInfo],
    query: KpiQuery,
    at: datetime,
) -> Wip:
    rate = _converter(query.base_currency, query.fx_rates)
    base = query.base_currency
    unconverted: dict[str, Decimal] = defaultdict(Decimal)
    projects: list[WipLine] = []
    for project, per_currency in balances.items():
        converted = Decimal(0)
        for currency, (amount, _) in per_currency.items():
            r = rate(currency)
            if r is None:
                unconverted[currency] += amount
            else:
                converted += amount * r
        about = info.get(project) or facts.ProjectInfo(project_id=project)
        projects.append(
            WipLine(
                key=project,
                amount=Money.of(converted, base),
                entries=sum(n for _, n in per_currency.values()),
                legal_entity=about.legal_entity,
                name=about.name,
                original={c: a for c, (a, _) in sorted(per_currency.items())},
            )
        )
    projects.sort(key=lambda line: (-line.amount.amount, line.key))
    entities: dict[str, list[WipLine]] = defaultdict(list)
    for line in projects:
        entities[line.legal_entity or "(unknown)"].append(line)
    by_entity = [
        WipLine(
            key=entity,
            amount=Money.of(sum((ln.amount.amount for ln in lines), Decimal(0)), base),
            entries=sum(ln.entries for ln in lines),
            legal_entity=entity,
            original=_merge(ln.original for ln in lines),
        )
        for entity, lines in entities.items()
    ]
    by_entity.sort(key=lambda line: (-line.amount.amount, line.key))
    return Wip(
        as_of=at,
        total=Money.of(sum((ln.amount.amount for ln in projects), Decimal(0)), base),
        entries=sum(ln.entries for ln in projects),
        by_legal_entity=by_entity,
        by_project=projects,
        unconverted=dict(sorted(unconverted.items())),
    )


def _merge(parts: Iterable[Mapping[str, Decimal]]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for part in parts:
        for currency, amount in part.items():
            out[currency] += amount
    return dict(sorted(out.items()))


def _drift(
    query: KpiQuery,
    found: Sequence[facts.DriftFact],
    open_: Sequence[facts.DriftFact],
    runs: tuple[int, datetime | None, str | None],
) -> DriftSummary:
    rate = _converter(query.base_currency, query.fx_rates)
    converted = Decimal(0)
    unconverted: dict[str, Decimal] = defaultdict(Decimal)
    for d in open_:
        gap = abs((d.found or Decimal(0)) - (d.expected or Decimal(0)))
        if not gap or d.currency is None:
            continue
        r = rate(d.currency)
        if r is None:
            unconverted[d.currency] += gap
        else:
            converted += gap * r
    return DriftSummary(
        found=len(found),
        found_by_kind=dict(sorted(Counter(d.kind for d in found).items())),
        open=len(open_),
        open_by_kind=dict(sorted(Counter(d.kind for d in open_).items())),
        open_amount=Money.of(converted, query.base_currency),
        unconverted=dict(sorted(unconverted.items())),
        runs=runs[0],
        last_run_at=runs[1],
        last_run_status=runs[2],
    )


def _exception_flows(
    conn: sa.Connection, start: datetime, end: datetime, now: datetime
) -> tuple[list[ExceptionFlow], list[datetime], list[datetime]]:
    """Per queue, and the opening and closing instants (for the per-period counts)."""
    empty = {key: 0 for key, _, _ in AGE_BUCKETS}
    flows: dict[str, ExceptionFlow] = {}

    def flow(queue: str) -> ExceptionFlow:
        if queue not in flows:
            flows[queue] = ExceptionFlow(queue, closed_by_age=dict(empty), open_by_age=dict(empty))
        return flows[queue]

    opened = facts.opened_exceptions(conn, start, end)
    closed = facts.closed_exceptions(conn, start, end)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for queue, _ in opened:
        counts[queue]["opened"] += 1
    for c in closed:
        counts[c.queue]["closed"] += 1
        flow(c.queue).closed_by_age[_age_bucket(c.closed_at - c.opened_at)] += 1
    for queue, at in facts.open_exceptions(conn):
        counts[queue]["open_now"] += 1
        flow(queue).open_by_age[_age_bucket(now - at)] += 1
    out = [
        ExceptionFlow(
            queue,
            opened=counts[queue]["opened"],
            closed=counts[queue]["closed"],
            closed_by_age=flow(queue).closed_by_age,
            open_now=counts[queue]["open_now"],
            open_by_age=flow(queue).open_by_age,
        )
        for queue in sorted(counts)
    ]
    return out, [at for _, at in opened], [c.closed_at for c in closed]


def compute(conn: sa.Connection, query: KpiQuery) -> KpiReport:
    """Every KPI of the query's window, and per period.

    Raises:
        WindowError: The window is the wrong way round or too long (see :func:`periods`).
    """
    spans = periods(query.first, query.last, query.granularity)
    buckets = _Buckets(spans)
    start, end, now = spans[0].start_at, spans[-1].end_at, query.now

    done = facts.provisioned(conn, start, end)
    in_progress = facts.billed_by_entry(conn)
    info = facts.project_info(conn, {p for p, _ in done} | {e.project_id for e in in_progress})
    provisioning, provisioning_per = buckets.durations(
        (at.timestamp(), _wait(at.timestamp(), won.timestamp()))
        for project, at in done
        if (won := info[project].won_at) is not None
    )
    posting, posting_per = buckets.durations(
        (posted, _wait(posted, approved))
        for posted, approved in facts.posting_waits(conn, start, end)
    )
    invoiced = facts.invoiced(conn)
    approved_at = {(e.kind, e.entry_id): e.approved_at for e in in_progress}
    # An invoice may name an entry that is no work in progress (billable time on a fixed fee).
    others = [
        k for k, at in invoiced.items() if k not in approved_at and buckets.index(at) is not None
    ]
    approved_at.update(facts.approvals(conn, others))
    billing, billing_per = buckets.durations(
        (at, _wait(at, approved_at[key])) for key, at in invoiced.items() if key in approved_at
    )

    quality_per: list[Counter[str]] = [Counter() for _ in spans]
    for (day, first), n in facts.first_passes(conn, start, end).items():
        i = buckets.index(_midnight(day).timestamp())
        if i is not None:
            quality_per[i][first] += n
    qualities = [_quality(c) for c in quality_per]

    records_by_day = facts.day_counts(conn, start, end)
    records_per = [
        sum(n for day, n in records_by_day.items() if p.start <= day < p.end) for p in spans
    ]
    touch_total, touches_per = buckets.counts(facts.manual_touches(conn, start, end))
    touches = [ManualTouches(t, r) for t, r in zip(touches_per, records_per, strict=True)]

    flows, opened_at, closed_at = _exception_flows(conn, start, end, now)
    _, opened_per = buckets.counts(opened_at)
    _, closed_per = buckets.counts(closed_at)

    found = facts.drift_found(conn, start, end)
    _, drift_per = buckets.counts(d.found_at for d in found)

    as_of = min(end, now)
    past = [p for p in spans if p.start_at <= now]
    moments = [min(p.end_at, now) for p in past]
    balances, totals = _wip_sweep(
        in_progress, invoiced, [m.timestamp() for m in [*moments, as_of]], query
    )
    wip = _wip(balances, info, query, as_of)
    wip_per: list[Money | None] = [Money.of(t, query.base_currency) for t in totals[: len(moments)]]
    wip_per += [None] * (len(spans) - len(past))
    return KpiReport(
        query=query,
        start=spans[0].start,
        end=spans[-1].end,
        provisioning=provisioning,
        posting=posting,
        billing=billing,
        quality=_quality(sum(quality_per, Counter())),
        touches=ManualTouches(touch_total, sum(records_per)),
        exceptions=flows,
        wip=wip,
        drift=_drift(
            query, found, facts.drift_open(conn), facts.last_reconciliation(conn, start, end)
        ),
        periods=[
            PeriodKpis(
                period=p,
                provisioning=provisioning_per[i],
                posting=posting_per[i],
                billing=billing_per[i],
                quality=qualities[i],
                touches=touches[i],
                exceptions_opened=opened_per[i],
                exceptions_closed=closed_per[i],
                wip=wip_per[i],
                drift_found=drift_per[i],
            )
            for i, p in enumerate(spans)
        ],
    )


def _quality(counts: Counter[str]) -> PostingQuality:
    return PostingQuality(
        attempted=sum(counts.values()),
        posted_first_time=counts[POSTED],
        rejected_first_time=counts[REJECTED],
        held_first_time=counts[HELD],
    )
