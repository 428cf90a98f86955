"""Failover benchmark: SIGKILL the process holding NetSuite's dispatch lease mid-drain.

The quarter-end drain of ``bench/quarter_end.py`` (NetSuite 10 concurrent / 50 ms) on
PostgreSQL with one API process and two worker processes. Once the drain is under way, the
worker holding ``dispatch:netsuite`` (``accord_leases``) is SIGKILLed. Measured:

- **lease takeover**: from the kill until the lease names the other worker (the lease row,
  polled every 50 ms);
- **posting gap**: from the last ``timeBill`` write NetSuite received before the kill to the
  first one after it (the emulator's request log; its clock is matched to ours by a probe
  request sent just before the kill);
- **nothing lost or doubled**: NetSuite's records against the approved entries, as
  ``bench/quarter_end.py`` judges them (one ``timeBill`` per entry, no duplicate, posted hours
  per project equal to approved).

The dead worker's runs (a run waits while its postings are sent) are handed to the live worker
with ``accord workers recover`` once the lease has moved, as an operator (or a supervisor that
restarts the worker under its id) would; until then the new dispatcher sends whatever the dead
worker's runs had already queued. Nothing is written to ``bench/RESULTS.md``: figures print.

    bash scripts/pg.sh .venv/bin/python bench/failover.py [--entries 30000] [--kill-after 4000]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from _common import accord_env, fresh_postgres_database, machine
from _quarter_end import Drain, describe, drain

from accord.store import create_db_engine, leases

LEASE = "dispatch:netsuite"
_PROBE = "/services/rest/record/v1/timeBill/eid:failover-clock-probe"


class Failover:
    """The kill and what follows it, measured from inside the drain."""

    def __init__(self, kill_after: int) -> None:
        self.kill_after = kill_after
        self.figures: dict[str, Any] = {}

    def during(self, state: Drain, drained: threading.Event) -> None:
        """Wait for ``kill_after`` NetSuite calls, kill the lease holder, watch the takeover."""
        ns = state.urls["netsuite"]
        engine = create_db_engine(state.db_url)
        try:
            while not drained.is_set():
                calls = int(httpx.get(f"{ns}/__sandbox/stats", timeout=10).json()["requests"])
                if calls >= self.kill_after:
                    break
                time.sleep(0.2)
            else:
                raise RuntimeError("the drain ended before the kill")
            holder = leases.holder_of(engine, LEASE)
            deadline = time.monotonic() + 60
            while holder is None or not holder.startswith("bench-worker-"):
                # Between holders (a lease that lapsed): kill the next one.
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{LEASE} is held by {holder!r}, not a bench worker")
                time.sleep(0.05)
                holder = leases.holder_of(engine, LEASE)
            self.figures["lease_changes_before_kill"] = _changes(state.folder)
            name = holder.removeprefix("bench-")
            local, emulator = _clock_offset(ns)
            emulator_kill = emulator + (time.monotonic() - local)
            killed_at = state.kill(name)
            self.figures |= {"killed": holder, "load_at_kill": os.getloadavg()}
            new_holder = None
            while new_holder in (None, holder):
                time.sleep(0.05)
                new_holder = leases.holder_of(engine, LEASE)
                if time.time() - killed_at > 120:
                    raise RuntimeError("nobody took the lease over in 120 s")
            self.figures |= {"takeover_s": time.time() - killed_at, "new_holder": new_holder}

            recovered = subprocess.run(
                [sys.executable, "-m", "accord.cli", "workers", "recover", holder],
                env=accord_env(state.db_url, ACCORD_WORKER_ID="bench-operator"),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            self.figures["recovered_runs"] = len(recovered.stdout.split())
            if recovered.returncode != 0:
                raise RuntimeError(f"workers recover failed: {recovered.stderr}")
            time.sleep(5)  # the new holder posts for a while: the first writes are in the log
            log = httpx.get(f"{ns}/__sandbox/requests", params={"limit": 10_000}, timeout=30)
            self._gap(log.json()["requests"], emulator_kill)
        finally:
            engine.dispose()

    def _gap(self, requests: list[dict[str, Any]], emulator_kill: float) -> None:
        """The last write before the kill and the first after, on the emulator's clock."""
        writes = [
            r for r in requests if r["method"] == "PUT" and "/record/v1/timeBill/" in r["path"]
        ]
        before = [r["at"] for r in writes if r["at"] <= emulator_kill]
        after = [r["at"] for r in writes if r["at"] > emulator_kill]
        if not before or not after:
            raise RuntimeError(f"the log does not span the kill ({len(before)}, {len(after)})")
        last, first = max(before), min(after)
        seen: dict[str, int] = {}
        for r in writes:
            seen[r["path"]] = seen.get(r["path"], 0) + 1
        self.figures |= {
            "last_write_before_kill_s": emulator_kill - last,
            "first_write_after_kill_s": first - emulator_kill,
            "gap_s": first - last,
            "writes_sent_twice_in_log": sum(1 for n in seen.values() if n > 1),
        }


def _changes(folder: Path) -> int:
    """How often a worker took the lease over so far (its log's "holding" lines), less one."""
    lines = 0
    for log in folder.glob("worker-*.log"):
        lines += log.read_text(errors="replace").count("dispatcher: holding netsuite")
    return max(0, lines - 1)


def _clock_offset(ns: str) -> tuple[float, float]:
    """(our monotonic time, the emulator's) of one moment, from a probe request it logs."""
    sent = time.monotonic()
    httpx.get(f"{ns}{_PROBE}", timeout=10)  # refused (no token): it is logged all the same
    back = time.monotonic()
    log = httpx.get(f"{ns}/__sandbox/requests", params={"limit": 2000}, timeout=30).json()
    at = max(r["at"] for r in log["requests"] if r["path"].endswith("failover-clock-probe"))
    return (sent + back) / 2, at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("ACCORD_TEST_POSTGRES_URL"))
    parser.add_argument("--entries", type=int, default=30000, help="entries in the drain")
    parser.add_argument(
        "--kill-after", type=int, default=4000, help="NetSuite calls before the kill"
    )
    parser.add_argument("--keep", type=Path, default=None, help="keep logs in this folder")
    parser.add_argument("--base-port", type=int, default=19500, help="the sandbox's base port")
    args = parser.parse_args()
    if not args.database_url:
        parser.error("no PostgreSQL: pass --database-url or run under scripts/pg.sh")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="accord-failover-"))
    failover = Failover(args.kill_after)
    result = drain(
        db_url=fresh_postgres_database(args.database_url, "accord_failover"),
        workers=2,
        limit=args.entries,
        keep=folder,
        base_port=args.base_port,
        api_port=args.base_port - 20,
        during=failover.during,
    )
    print(f"Machine: {machine()}. Logs: {folder}")
    figures = failover.figures
    figures["lease_changes_in_the_drain"] = _changes(folder)
    print(
        "| measure | value |\n|---|---|\n"
        + "\n".join(f"| {k} | {json.dumps(v, default=str)} |" for k, v in figures.items())
    )
    takeover = figures.get("takeover_s", float("nan"))
    print(
        f"\nLease takeover: **{takeover:.1f} s** (target <= 10 s); posting gap "
        f"{figures.get('gap_s', float('nan')):.1f} s."
    )
    print("\n| metric | value |\n|---|---|\n" + describe(result))


if __name__ == "__main__":
    main()
