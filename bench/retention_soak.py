"""Soak: 1,000,000 journaled events under a 1-day retention keep the SQLite database bounded.

Simulates ``--days`` days of intake (``--events`` in all, spread evenly, each a realistic
``opportunity.won`` payload) on a fresh SQLite database, and runs the purge Accord runs at the
end of every simulated day (``accord.flows.retention.purge``, journal class, archive first).
SQLite reuses the pages a purge frees, so the file should stop growing once the retention
window is full: the database holds at most about ``retention + 1`` days of events. Records the
file size after each day, the purge time, and the archive's size, into bench/RESULTS.md.

    .venv/bin/python bench/retention_soak.py --events 1000000 --days 10 --retention-days 1
"""

import argparse
import json
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from _common import machine, write_section

from accord.flows.retention import RetentionSettings, purge
from accord.store import create_db_engine, migrate
from accord.store.tables import journal

DAY = timedelta(days=1)
CHUNK = 10_000


def payload(n: int) -> str:
    """An ``opportunity.won`` payload like the CRM's (about 600 bytes of JSON)."""
    return json.dumps(
        {
            "id": f"006{n:012d}",
            "name": f"Global rollout {n}",
            "customer_id": f"001{n % 5000:012d}",
            "stage": "closed_won",
            "won": True,
            "amount": {"amount": f"{120000 + n % 997}.00", "currency": "USD"},
            "service_package": "ROLLOUT-MILESTONE",
            "billing_model": "milestone",
            "close_date": "2026-11-01",
            "start_date": "2026-11-15",
            "end_date": "2027-11-15",
            "practice": "TECH",
            "region": "NA-EAST",
            "legal_entity": "US01",
            "owner_email": f"seller{n % 40}@brightline.example",
            "lines": [
                {"product": "ROLLOUT", "quantity": "1", "unit_price": "120000.00"},
                {"product": "PMO", "quantity": "12", "unit_price": "1500.00"},
            ],
        },
        separators=(",", ":"),
    )


def insert_day(engine: sa.Engine, start: datetime, count: int, first: int) -> None:
    step = DAY / count
    for offset in range(0, count, CHUNK):
        rows = []
        for i in range(offset, min(offset + CHUNK, count)):
            n = first + i
            event_id = uuid.uuid4().hex
            rows.append(
                {
                    "event_id": event_id,
                    "source": "crm/salesforce",
                    "ce_id": f"006{n:012d}@won",
                    "type": "opportunity.won",
                    "subject": f"006{n:012d}",
                    "business_key": f"opportunity:006{n:012d}",
                    "time": start + step * i,
                    "received_at": start + step * i,
                    "data": payload(n),
                }
            )
        with engine.begin() as conn:
            conn.execute(sa.insert(journal), rows)


def size_mib(path: Path) -> float:
    total = sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())
    return total / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--retention-days", type=int, default=1)
    args = parser.parse_args()
    per_day = args.events // args.days
    folder = Path(tempfile.mkdtemp(prefix="accord-soak-"))
    db = folder / "accord.db"
    engine = create_db_engine(f"sqlite:///{db}")
    migrate(engine)
    settings = RetentionSettings(
        archive_dir=folder / "archive",
        periods={"journal": timedelta(days=args.retention_days)},
        configured=True,
    )
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows: list[str] = []
    peak = 0.0
    started = time.monotonic()
    try:
        for day in range(args.days):
            began = time.monotonic()
            insert_day(engine, t0 + DAY * day, per_day, day * per_day)
            inserted_s = time.monotonic() - began
            began = time.monotonic()
            (result,) = purge(engine, settings, classes=["journal"], now=t0 + DAY * (day + 1))
            purge_s = time.monotonic() - began
            with engine.connect() as conn:
                kept = conn.execute(sa.select(sa.func.count()).select_from(journal)).scalar_one()
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            size = size_mib(db)
            peak = max(peak, size)
            archive = sum(p.stat().st_size for p in settings.archive_dir.rglob("*.gz")) / 2**20
            line = (
                f"| {day + 1} | {per_day * (day + 1):,} | {kept:,} | {result.deleted:,} | "
                f"{inserted_s:.1f} | {purge_s:.1f} | {size:.1f} | {archive:.1f} |"
            )
            print(line, flush=True)
            rows.append(line)
    finally:
        engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)
    total_s = time.monotonic() - started
    body = "\n".join(
        [
            "### Retention soak (`bench/retention_soak.py`, issue 20)",
            "",
            f"Machine: {machine()}.",
            f"Command: `.venv/bin/python bench/retention_soak.py --events {args.events} "
            f"--days {args.days} --retention-days {args.retention_days}`",
            f"Setup: a fresh SQLite file (WAL); {per_day:,} `opportunity.won` events "
            "(~600-byte payloads) journaled per simulated day, then the daily purge of the "
            f"journal with a {args.retention_days}-day retention (archive to gzip JSON Lines, "
            "then delete), then a WAL checkpoint. Size is the database file and its WAL.",
            "",
            "| day | events journaled | events kept | purged | insert s | purge s "
            "| database MiB | archive MiB |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            f"Peak database size {peak:.1f} MiB over {args.events:,} events "
            f"({total_s:.0f} s in all). The file stops growing once the retention window is "
            "full: a purge frees the pages of a day and the next day's events reuse them, so "
            f"the database holds at most about {args.retention_days + 1} days of events "
            "(SQLite never shrinks a file by itself; `VACUUM` during a maintenance window "
            "returns the space to the file system). Stated bound: under 200 MiB for 100,000 "
            "events a day at a 1-day retention. Times are wall-clock on a machine shared with "
            "other work.",
        ]
    )
    write_section("retention-soak", body)
    print(body)


if __name__ == "__main__":
    main()
