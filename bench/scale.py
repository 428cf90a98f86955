"""Scale-out benchmark: the quarter-end drain on PostgreSQL with one and with two workers.

One ``accord run --role api`` process takes the events; one, then two ``--role worker``
processes (each its own ``ACCORD_WORKER_ID``) drain them into a NetSuite emulator limited to
40 concurrent requests with 50 ms latency (800 calls/s at most), so that the ERP is not the
bound and the workers are. Each run gets a fresh database. Needs a PostgreSQL server:
``bash scripts/pg.sh .venv/bin/python bench/scale.py`` starts a throw-away one and exports
``ACCORD_TEST_POSTGRES_URL``; or pass ``--database-url``.

In the dispatcher world (docs/posting-engine.md) the two workers do not share the same work:
both run time-to-bill runs (validate, write ledger rows and outbox items), while only the
holder of ``dispatch:netsuite`` sends postings and records their outcomes. So each process's
CPU is recorded by name with the lease holder marked, and ``--profile SECONDS`` samples every
Accord process with py-spy (if installed) mid-drain: the top functions show where CPU goes.

    bash scripts/pg.sh .venv/bin/python bench/scale.py [--entries N] [--workers 1 2]
        [--profile SECONDS] [--no-record]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import fresh_postgres_database, machine, write_section
from _quarter_end import Drain, describe, drain

from accord.store import create_db_engine, leases

CONCURRENCY = 40
_TOP = 12
_OURS = ("accord/", "dbos/")


class Watcher:
    """Mid-drain: who holds the lease, the load average, and (maybe) a py-spy profile."""

    def __init__(self, folder: Path, profile_s: int) -> None:
        self.folder = folder
        self.profile_s = profile_s
        self.holders: Counter[str] = Counter()
        self.load: list[str] = []
        self.profiles: dict[str, Path] = {}

    def during(self, state: Drain, drained: threading.Event) -> None:
        """Sample the lease holder every second; profile once, 20 s into the drain."""
        engine = create_db_engine(state.db_url)
        started = time.monotonic()
        profiler: threading.Thread | None = None
        try:
            while not drained.wait(1.0):
                holder = leases.holder_of(engine, "dispatch:netsuite")
                self.holders[holder or "-"] += 1
                if int(time.monotonic() - started) % 30 == 0:
                    one, five, fifteen = os.getloadavg()
                    self.load.append(f"{one:.1f}/{five:.1f}/{fifteen:.1f}")
                if profiler is None and self.profile_s and time.monotonic() - started > 20:
                    profiler = threading.Thread(target=self._profile, args=(state,))
                    profiler.start()
        finally:
            engine.dispose()
            if profiler is not None:
                profiler.join()

    def _profile(self, state: Drain) -> None:
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(spy).exists():
            return
        runs = []
        for name, proc in state.procs.items():
            out = self.folder / f"profile-{name}.txt"
            # --gil: only the thread holding the GIL is sampled, so idle waits (a socket read,
            # a condition) do not count and the shares are shares of Python CPU.
            cmd = [spy, "record", "--nonblocking", "--gil", "--pid", str(proc.pid)]
            cmd += ["--duration", str(self.profile_s), "--format", "raw", "--output", str(out)]
            runs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            self.profiles[name] = out
        for run in runs:
            run.wait()


def _samples(path: Path) -> list[tuple[list[str], int]]:
    """A py-spy raw profile's stacks (outermost frame first) and their sample counts."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            out.append((stack.split(";"), int(count)))
    return out


def _shares(counts: Counter[str], total: int, top: int) -> list[tuple[str, float]]:
    return [(name, n / total) for name, n in counts.most_common(top)] if total else []


def top_functions(path: Path, top: int = _TOP) -> list[tuple[str, float]]:
    """The functions most samples were in (own time), as shares of the process's samples."""
    samples = _samples(path)
    own: Counter[str] = Counter()
    for frames, count in samples:
        own[_short(frames[-1])] += count
    return _shares(own, sum(c for _, c in samples), top)


def top_accord(path: Path, top: int = _TOP) -> list[tuple[str, float]]:
    """Accord's own functions by inclusive time (what they and their callees cost)."""
    samples = _samples(path)
    inclusive: Counter[str] = Counter()
    for frames, count in samples:
        # py-spy names a frame's file by its module path: "fn (accord/flows/x.py:12)".
        for name in {_short(f) for f in frames if f.partition(" (")[2].startswith(_OURS)}:
            inclusive[name] += count
    return _shares(inclusive, sum(c for _, c in samples), top)


def _short(frame: str) -> str:
    """``function (path/to/module.py:line)`` -> ``function (module.py)``."""
    name, _, where = frame.partition(" (")
    file = where.split(":", 1)[0].rsplit("/", 1)[-1]
    return f"{name} ({file})" if file else name


def _section(workers: int, result: dict[str, Any], watcher: Watcher) -> str:
    holders = ", ".join(f"{h}: {n} s" for h, n in watcher.holders.most_common())
    lines = [
        f"### {workers} worker process(es)",
        "",
        "| metric | value |",
        "|---|---|",
        describe(result),
        f"| `dispatch:netsuite` holder (seconds sampled) | {holders} |",
        f"| load average during the drain (1/5/15 min, every 30 s) | {'; '.join(watcher.load)} |",
    ]
    for name, path in watcher.profiles.items():
        functions = top_functions(path)
        if functions:
            lines += ["", f"py-spy, {name}, own time (top {_TOP}):", ""]
            lines += [f"- {share:.1%} {fn}" for fn, share in functions]
            lines += ["", f"py-spy, {name}, Accord and DBOS functions, inclusive (top 20):", ""]
            lines += [f"- {share:.1%} {fn}" for fn, share in top_accord(path, 20)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("ACCORD_TEST_POSTGRES_URL"))
    parser.add_argument("--entries", type=int, default=None, help="stop after N entries")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--profile", type=int, default=0, help="py-spy every process N s")
    parser.add_argument("--base-port", type=int, default=19600, help="the sandbox's base port")
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    if not args.database_url:
        parser.error("no PostgreSQL: pass --database-url or run under scripts/pg.sh")
    sections = []
    rates: dict[int, float] = {}
    per_cpu: dict[int, float] = {}
    for workers in args.workers:
        folder = Path(tempfile.mkdtemp(prefix=f"accord-scale-{workers}-"))
        watcher = Watcher(folder, args.profile)
        result = drain(
            db_url=fresh_postgres_database(args.database_url, "accord_scale"),
            workers=workers,
            limit=args.entries,
            keep=folder,
            base_port=args.base_port,
            api_port=args.base_port - 20,
            concurrency=CONCURRENCY,
            during=watcher.during,
        )
        rates[workers] = result["entries_per_s"]
        per_cpu[workers] = result["entries"] / result["cpu_s"]
        sections.append(_section(workers, result, watcher))
        print(sections[-1], flush=True)
    summary = ""
    if 1 in rates and 2 in rates:
        summary = (
            f"Two workers / one: **{rates[2] / rates[1]:.2f}x** entries per second "
            f"(target >= 1.6x); entries per Accord CPU second {per_cpu[1]:.0f} -> "
            f"{per_cpu[2]:.0f} ({per_cpu[2] / per_cpu[1] - 1:+.0%}; must not fall > 10%)."
        )
        print(summary)
    if args.no_record:
        return
    command = "bash scripts/pg.sh .venv/bin/python bench/scale.py" + (
        f" --entries {args.entries}" if args.entries else ""
    )
    body = "\n".join(sections)
    write_section(
        "scale",
        f"""## Scale-out on PostgreSQL (`bench/scale.py`, issue 15)

Machine: {machine()}. Command: `{command}`, {time.strftime("%Y-%m-%d")}. One API process and
N worker processes on one PostgreSQL (Debian's, a throw-away cluster on loopback); the
quarter-end drain of `bench/quarter_end.py` into NetSuite limited to {CONCURRENCY} concurrent
requests with 50 ms latency.

{body}
{summary}
""",
    )


if __name__ == "__main__":
    main()
