"""How long the business KPIs take over a quarter-end-sized store (SQLite, in process).

Seeds a fresh SQLite file through the store's own repositories, spread over the last 90 days:
2,000 won and provisioned deals, 77,268 ledger entries (the quarter-end firm's drain) brought by
15,454 approval events, 1,000 invoices naming half the time-and-materials entries, 2,000
exceptions (half closed) and 600 people's actions on them. Then times
``accord.store.kpis.compute`` (what ``/business`` and ``GET /api/v1/kpis`` run) for the last
30 days per day and the last 13 weeks per week, and writes the section ``kpis`` of
bench/RESULTS.md.

    .venv/bin/python bench/kpis.py [--entries 77268] [--repeat 5]
"""

import argparse
import json
import random
import resource
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from _common import machine, write_section

from accord.store import create_db_engine, exceptions, journal, kpis, lineage, migrate, postings
from accord.store.journal import NewEvent
from accord.store.postings import POSTED, REJECTED, Posting

NOW = datetime(2026, 3, 31, 18, 0, tzinfo=UTC)
DAYS = 90
RATES = {"GBP": Decimal("1.27"), "EUR": Decimal("1.08")}
ENTITIES = (("US01", "USD"), ("UK01", "GBP"), ("DE01", "EUR"))


def _at(rng: random.Random) -> datetime:
    return NOW - timedelta(seconds=rng.randrange(DAYS * 86400))


def seed(engine, entries: int, rng: random.Random) -> None:
    projects = 2000
    with engine.begin() as conn:
        for p in range(projects):
            won = _at(rng)
            entity = ENTITIES[p % 3][0]
            journal.insert_many(
                conn,
                [NewEvent("bench", f"won-{p}", "opportunity.won", None, f"opportunity:O{p}",
                          won, json.dumps({"id": f"O{p}", "name": f"Deal {p}",
                                           "legal_entity": entity}))],
                now=won,
            )  # fmt: skip
            lineage.link(conn, from_type="opportunity", from_id=f"O{p}", to_type="psa_project",
                         to_id=f"P{p}", relation="provisioned", status="provisioned", now=won)  # fmt: skip
            lineage.link(conn, from_type="psa_project", from_id=f"P{p}", to_type="erp_project",
                         to_id=f"P{p}", relation="financed_by", status="provisioned",
                         now=won + timedelta(seconds=rng.randrange(5, 600)))  # fmt: skip
    per_event = 5
    billed: list[str] = []
    with engine.begin() as conn:
        for start in range(0, entries, per_event):
            p = rng.randrange(projects)
            currency = ENTITIES[p % 3][1]
            approved = _at(rng)
            (event,) = journal.insert_many(
                conn,
                [NewEvent("bench", f"ts-{start}", "timesheet.approved", None, f"project:P{p}",
                          approved, json.dumps({"id": f"S{start}"}))],
                now=approved + timedelta(seconds=2),
            )  # fmt: skip
            tm = p % 4 == 0
            rows = []
            for i in range(start, min(entries, start + per_event)):
                status = REJECTED if rng.random() < 0.02 else POSTED
                rows.append(
                    Posting(
                        kind="time", entry_id=f"te-{i}", submission_id=f"S{start}",
                        project_id=f"P{p}", event_id=event.event_id, run_id="r", status=status,
                        entry_date=approved.date(), hours=Decimal("7.5"),
                        amount=Decimal("7.5") * Decimal(150 + p % 7 * 25), currency=currency,
                        detail={"plan": {"revenue_billing": "time_entries" if tm else "schedule"}},
                    )
                )  # fmt: skip
                if tm and rng.random() < 0.5:
                    billed.append(f"te-{i}")
            postings.record_many(conn, rows, now=approved + timedelta(seconds=rng.randrange(60)))
    with engine.begin() as conn:
        for n in range(0, len(billed), max(1, len(billed) // 1000)):
            chunk = billed[n : n + max(1, len(billed) // 1000)]
            posted = _at(rng)
            data = {"id": f"INV-{n}", "posted_at": posted.isoformat(),
                    "lines": [{"kind": "time", "source_id": s} for s in chunk]}  # fmt: skip
            journal.insert_many(
                conn,
                [NewEvent("bench", f"inv-{n}", "invoice.posted", None, f"invoice:INV-{n}", None,
                          json.dumps(data))],
                now=posted,
            )  # fmt: skip
        queues = ("finance-ops", "delivery-ops", "sales-ops", "integration")
        for x in range(2000):
            opened = _at(rng)
            found = exceptions.open_(
                conn, queue=queues[x % 4], flow="bench", run_id=None, business_key=f"b:{x}",
                code="c", title="t", detail={}, dedupe_key=f"d{x}", now=opened,
            )  # fmt: skip
            if x % 2:
                exceptions.resolve(conn, id=found.id, resolution="done", actor="key:ops",
                                   now=min(NOW, opened + timedelta(hours=rng.randrange(1, 200))))  # fmt: skip
            elif x % 5 == 0:
                exceptions.comment(conn, id=found.id, text="looking", actor="key:ops",
                                   now=opened + timedelta(minutes=5))  # fmt: skip


def timed(engine, query: kpis.KpiQuery, repeat: int) -> tuple[float, float]:
    seconds = []
    for _ in range(repeat):
        with engine.connect() as conn:
            started = time.perf_counter()
            kpis.compute(conn, query)
            seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), max(seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=77_268)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="accord-bench-kpis-"))
    engine = create_db_engine(f"sqlite:///{folder / 'accord.db'}")
    migrate(engine)
    started = time.perf_counter()
    seed(engine, args.entries, random.Random(7))
    seeded = time.perf_counter() - started
    today = NOW.date()
    cases = [
        ("last 30 days, per day", kpis.KpiQuery(first=today - timedelta(days=29), last=today,
                                                granularity="day", fx_rates=RATES, now=NOW)),
        ("last 13 weeks, per week", kpis.KpiQuery(first=today - timedelta(weeks=13), last=today,
                                                  granularity="week", fx_rates=RATES, now=NOW)),
        ("a year, per day", kpis.KpiQuery(first=date(2025, 4, 1), last=today,
                                          granularity="day", fx_rates=RATES, now=NOW)),
    ]  # fmt: skip
    rows = []
    for name, query in cases:
        median, worst = timed(engine, query, args.repeat)
        rows.append(f"| {name} | {median * 1000:.0f} | {worst * 1000:.0f} |")
        print(name, f"{median:.3f}s", f"{worst:.3f}s")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    body = "\n".join(
        [
            "### Business KPIs over a quarter-end-sized store",
            "",
            f"Machine: {machine()}.",
            f"Command: `.venv/bin/python bench/kpis.py --entries {args.entries} "
            f"--repeat {args.repeat}`",
            f"Setup: SQLite (WAL) in process; {args.entries:,} ledger entries from "
            f"{-(-args.entries // 5):,} approvals over 90 days on 2,000 provisioned projects "
            "(a quarter of them time and materials), 1,000 invoices naming half of those entries, "
            f"2,000 exceptions; seeded in {seeded:.0f} s through the store's repositories. "
            f"`accord.store.kpis.compute` (what `/business` and `GET /api/v1/kpis` run), "
            f"{args.repeat} runs each.",
            "",
            "| window | median ms | worst ms |",
            "|---|---:|---:|",
            *rows,
            "",
            f"Peak RSS of the benchmark process: {rss:.0f} MiB. A report reads every entry billed "
            "by the entry (work in progress needs each one's approval and first invoice) and "
            "every entry posted in the window (approved -> posted); the per-period work in "
            "progress is one sweep over their changes. Most of the time is SQLite joining each "
            "ledger row to its approval event in the journal and Python walking the rows; a "
            "store ten times this size would want daily roll-ups (not built).",
        ]
    )
    write_section("kpis", body)


if __name__ == "__main__":
    main()
