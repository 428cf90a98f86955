"""Quarter-end benchmark: drain the ``quarter-end`` backlog into a rate-limited NetSuite.

Drives the sandbox's ``quarter-end`` scenario (7,399 approved timesheets, 77,268 entries, all
three legal entities on NetSuite) through Accord's intake into a NetSuite emulator limited to
10 concurrent requests with 50 ms latency, on the embedded default (one ``accord run`` on
SQLite), and records in ``bench/RESULTS.md``: drain time, entries per second, achieved calls
per second against the emulator's maximum of 200, 429s, duplicates, Accord's CPU seconds per
1,000 entries and peak memory. See ``bench/_quarter_end.py`` for the steps.

``--scenario quarter-end-large`` drains 250 engagements (60,000+ entries) with DE01 on Business
Central (its emulator's limit: 6,000 operations per 5 minutes) and adds BC's throughput as a
ratio of that limit, its duplicates and its projects to the tie-out.

    .venv/bin/python bench/quarter_end.py [--scenario quarter-end-large] [--entries N] [--no-record]
"""

import argparse
import tempfile
import time
from pathlib import Path

from _common import machine, write_section
from _quarter_end import describe, drain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenario", choices=("quarter-end", "quarter-end-large"), default="quarter-end"
    )
    parser.add_argument("--entries", type=int, default=None, help="stop after N entries")
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--keep", type=Path, default=None, help="keep logs in this folder")
    parser.add_argument(
        "--base-port", type=int, default=18900, help="the sandbox's base port (a shared machine)"
    )
    parser.add_argument("--api-port", type=int, default=18880, help="Accord's API port")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="accord-qe-"))
    db_url = f"sqlite:///{folder / 'accord.db'}"
    result = drain(
        db_url=db_url,
        workers=1,
        limit=args.entries,
        keep=folder,
        scenario=args.scenario,
        base_port=args.base_port,
        api_port=args.api_port,
    )
    table = describe(result)
    print(table)
    if result["hours_mismatched"]:
        print("MISMATCHED (project: approved, posted):", result["hours_mismatched"])
    if args.no_record:
        return
    command = "python bench/quarter_end.py" + (f" --entries {args.entries}" if args.entries else "")
    if args.scenario == "quarter-end-large":
        _record_large(f"{command} --scenario quarter-end-large", table)
        return
    write_section(
        "quarter-end",
        f"""## Quarter-end drain (`bench/quarter_end.py`, issue #6)

Machine: {machine()}. Command: `{command}`, {time.strftime("%Y-%m-%d")}. Embedded default:
one `accord run` (API and worker in one process) on SQLite; the sandbox in its own process;
NetSuite limited to {10} concurrent requests with 50 ms latency (maximum 200 calls/s).

| metric | value |
|---|---|
{table}
""",
    )


def _record_large(command: str, table: str) -> None:
    write_section(
        "quarter-end-large",
        f"""## Quarter-end, large: 250 engagements, DE01 on Business Central (issue 15)

Machine: {machine()}. Command: `{command}`, {time.strftime("%Y-%m-%d")}. Embedded default:
one `accord run` on SQLite; the sandbox in its own process. US01 and UK01 post to NetSuite
({10} concurrent requests, 50 ms); DE01 posts to Business Central: 50 ms per request and per
`$batch` operation, and BC's own limit of 6,000 operations per 5 minutes (a `$batch` counts
its operations), which Accord paces at (`rate_per_s` 20, in operations).

| metric | value |
|---|---|
{table}
""",
    )


if __name__ == "__main__":
    main()
