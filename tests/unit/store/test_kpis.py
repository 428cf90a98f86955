"""Business KPIs over a known history (``tests/kpi_history.py``), on SQLite and PostgreSQL.

Every expected value is worked out by hand from the history's timestamps and amounts.
"""

from datetime import date
from decimal import Decimal

import pytest
from tests import kpi_history as h

from accord.domain import Money
from accord.store import kpis, lineage, postings, reconciliation
from accord.store.kpis import Durations, KpiQuery, WindowError


def _report(engine, granularity="week", **over):
    query = KpiQuery(
        first=over.pop("first", h.FIRST),
        last=over.pop("last", h.LAST),
        granularity=granularity,
        base_currency="USD",
        fx_rates=h.RATES,
        now=over.pop("now", h.NOW),
    )
    with engine.connect() as conn:
        return kpis.compute(conn, query)


@pytest.fixture
def history(engine):
    h.seed(engine)
    return engine


def test_cycle_times_are_nearest_rank_percentiles_per_window_and_week(history):
    r = _report(history)
    assert [(p.period.start, p.period.end) for p in r.periods] == [
        (date(2026, 3, 2), date(2026, 3, 9)),
        (date(2026, 3, 9), date(2026, 3, 16)),
    ]
    w1, w2 = r.periods
    # Won -> provisioned: A 3,600 s, B 1,800 s (from the CRM's updated_at), C 86,400 s (the
    # earliest of its two won events); D never provisioned, E before the window.
    assert r.provisioning == Durations(3, 3600.0, 86400.0)
    assert w1.provisioning == Durations(2, 1800.0, 3600.0)
    assert w2.provisioning == Durations(1, 86400.0, 86400.0)
    # Approved -> posted: 60, 300, 600, 600, 1,200, 1,200, 1,800, 57,600 (t3's retry),
    # 432,000 (t4 held five days) seconds.
    assert r.posting == Durations(9, 1200.0, 432000.0)
    assert w1.posting == Durations(4, 600.0, 57600.0)
    assert w2.posting == Durations(5, 1200.0, 432000.0)
    # Approved -> invoiced: t1 and t2 2 d 19 h, t5 7 d 23 h.
    assert r.billing == Durations(3, 241200.0, 687600.0)
    assert w1.billing == Durations(2, 241200.0, 241200.0)
    assert w2.billing == Durations(1, 687600.0, 687600.0)


def test_posting_quality_counts_each_entry_by_its_first_pass(history):
    r = _report(history)
    assert (r.quality.attempted, r.quality.posted_first_time) == (9, 7)
    assert (r.quality.rejected_first_time, r.quality.held_first_time) == (1, 1)
    assert r.quality.error_rate == pytest.approx(1 / 9)
    assert r.quality.first_time_right_rate == pytest.approx(7 / 9)
    w1, w2 = r.periods
    assert (w1.quality.attempted, w1.quality.error_rate, w1.quality.first_time_right_rate) == (
        5, 0.2, 0.6,
    )  # fmt: skip
    assert (w2.quality.attempted, w2.quality.first_time_right_rate) == (4, 1.0)


def test_manual_touches_are_peoples_exception_actions_per_100_records(history):
    r = _report(history)
    # Ignore X4, comment and assign X2 (W1); resolve X2, comment X3, resolve X5 (W2). Not
    # counted: Accord's auto-resolution of X1 and a replay (no exception action).
    assert (r.touches.touches, r.touches.records) == (6, 13)
    assert r.touches.per_100_records == pytest.approx(600 / 13)
    w1, w2 = r.periods
    assert (w1.touches.touches, w1.touches.records, w1.touches.per_100_records) == (3, 5, 60.0)
    assert (w2.touches.touches, w2.touches.records, w2.touches.per_100_records) == (3, 8, 37.5)


def test_exceptions_opened_and_closed_by_queue_and_age(history):
    r = _report(history)
    flows = {f.queue: f for f in r.exceptions}
    assert list(flows) == ["delivery-ops", "finance-ops", "integration", "sales-ops"]
    fin = flows["finance-ops"]
    assert (fin.opened, fin.closed, fin.open_now) == (2, 2, 0)
    assert fin.closed_by_age == {"lt_1h": 0, "1h_1d": 1, "1d_7d": 1, "gt_7d": 0}
    assert (flows["integration"].opened, flows["integration"].closed) == (0, 1)
    assert flows["integration"].closed_by_age["gt_7d"] == 1
    assert flows["delivery-ops"].closed_by_age["lt_1h"] == 1
    sales = flows["sales-ops"]
    assert (sales.opened, sales.closed, sales.open_now) == (1, 0, 1)
    assert sales.open_by_age["1d_7d"] == 1  # open 2 d 2 h at NOW
    assert [(p.exceptions_opened, p.exceptions_closed) for p in r.periods] == [(2, 2), (2, 2)]


def test_wip_is_exact_per_project_converted_and_foots(history):
    r = _report(history)
    wip = r.wip
    # PRJ-A: t3 300.00 + billable expense x1 250.00 (t1, t2 invoiced; x2 not billable).
    # PRJ-B: t4 GBP 750 x 1.2345 = 925.875 -> 925.88 (t5 invoiced). PRJ-C bills by schedule.
    # PRJ-J: JPY 50,000 has no rate: unconverted, out of the total.
    assert wip.as_of == h.at(16)
    assert wip.total == Money.of("1475.88", "USD")
    assert wip.unconverted == {"JPY": Decimal(50000)}
    by_project = {ln.key: ln for ln in wip.by_project}
    assert set(by_project) == {"PRJ-A", "PRJ-B", "PRJ-J"}
    assert by_project["PRJ-A"].amount == Money.of("550.00", "USD")
    assert by_project["PRJ-A"].entries == 2
    assert by_project["PRJ-A"].name == "Deal A"
    assert by_project["PRJ-B"].original == {"GBP": Decimal(750)}
    assert [(ln.key, ln.amount.amount) for ln in wip.by_legal_entity] == [
        ("UK01", Decimal("925.88")),
        ("US01", Decimal("550.00")),
        ("(unknown)", Decimal("0.00")),
    ]
    assert sum(ln.amount.amount for ln in wip.by_legal_entity) == wip.total.amount
    assert wip.entries == 4
    # End of W1: t3 300 + (t4 750 + t5 100) GBP = 850 x 1.2345 = 1,049.325 -> 1,049.33.
    assert [p.wip for p in r.periods] == [
        Money.of("1349.33", "USD"),
        Money.of("1475.88", "USD"),
    ]


def test_drift_counts_new_disagreements_once(history):
    r = _report(history)
    d = r.drift
    assert (d.found, d.found_by_kind) == (3, {"contract": 1, "time_expense": 1, "xref": 1})
    assert (d.open, d.open_by_kind) == (2, {"contract": 1, "xref": 1})
    assert d.open_amount == Money.of("2469.00", "USD")  # |12,000 - 10,000| GBP x 1.2345
    assert (d.runs, d.last_run_at, d.last_run_status) == (2, h.at(12, 2), reconciliation.DRIFTED)
    assert [p.drift_found for p in r.periods] == [1, 2]


def test_days_and_the_present(history):
    r = _report(history, granularity="day", first=date(2026, 3, 3), last=date(2026, 3, 17))
    by_day = {p.period.start: p for p in r.periods}
    assert by_day[date(2026, 3, 3)].provisioning == Durations(1, 1800.0, 1800.0)
    assert by_day[date(2026, 3, 4)].posting == Durations(1, 57600.0, 57600.0)
    # Today's WIP is as of now; tomorrow has not happened.
    assert by_day[date(2026, 3, 16)].wip == Money.of("1475.88", "USD")
    assert by_day[date(2026, 3, 17)].wip is None
    assert r.wip.as_of == h.NOW


def test_weeks_widen_to_whole_iso_weeks_and_bad_windows_are_refused():
    spans = kpis.periods(date(2026, 3, 4), date(2026, 3, 10), "week")
    assert [(p.start, p.end) for p in spans] == [
        (date(2026, 3, 2), date(2026, 3, 9)),
        (date(2026, 3, 9), date(2026, 3, 16)),
    ]
    with pytest.raises(WindowError) as before:
        kpis.periods(date(2026, 3, 4), date(2026, 3, 3), "day")
    assert before.value.field == "to"
    with pytest.raises(WindowError) as long:
        kpis.periods(date(2020, 1, 1), date(2026, 1, 1), "day")
    assert long.value.field == "from"
    assert kpis.percentile([], 0.5) is None
    assert kpis.percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.0


def test_ledger_keeps_first_status_and_first_posting_time(history):
    with history.connect() as conn:
        rows = {p.entry_id: p for p in postings.list_(conn, project_id="PRJ-B")}
        counts = postings.count_by_status(conn)
    assert (rows["t4"].first_status, rows["t4"].status) == ("held", "posted")
    assert rows["t4"].posted_at == h.at(10, 10)
    assert rows["t5"].posted_at == h.at(5, 10, 5)
    assert counts == {"posted": {"time": 7, "expense": 2}}


def test_a_link_remembers_when_it_reached_its_status(engine):
    with engine.begin() as conn:
        for status, when in (("created", h.at(2, 9)), ("created", h.at(2, 10)),
                             ("provisioned", h.at(2, 11))):  # fmt: skip
            lineage.link(
                conn, from_type="psa_project", from_id="P", to_type="erp_project", to_id="P",
                relation="financed_by", status=status, now=when,
            )  # fmt: skip
        (edge,) = lineage.list_for(conn, node_type="psa_project", node_id="P")
    assert (edge.status, edge.created_at, edge.status_at) == (
        "provisioned",
        h.at(2, 9),
        h.at(2, 11),
    )
