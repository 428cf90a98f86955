"""What pinning costs a run: the first rules read of a run (pin) and every later one (cached).

Each event run pins the rules version it first reads (``accord.governance.resolve``): a read of
its pin, a read of the active version and an insert, once per run; every later read in the same
process is answered from memory. This measures both on a fresh database:

    .venv/bin/python bench/rules_pinning.py --runs 2000                 # SQLite
    .venv/bin/python bench/rules_pinning.py --runs 2000 --postgres URL  # PostgreSQL too
"""

import argparse
import tempfile
import time
from pathlib import Path

from _common import ROOT, machine, percentile, write_section

from accord.governance.resolve import RulesResolver
from accord.governance.settings import GovernanceSettings
from accord.store import create_db_engine, migrate

RULES = ROOT / "rules" / "default.yaml"


def measure(db_url: str, runs: int) -> dict[str, list[float]]:
    engine = create_db_engine(db_url)
    migrate(engine)
    resolver = RulesResolver(engine, governance=lambda: GovernanceSettings(approval_required=True))
    resolver.current(RULES)  # bootstrap: not part of a run's cost
    first: list[float] = []
    later: list[float] = []
    for n in range(runs):
        run_id = f"{n + 1:012d}.bench-{n}"
        t0 = time.perf_counter()
        resolver.for_run(run_id, RULES)
        t1 = time.perf_counter()
        resolver.for_run(run_id, RULES)
        t2 = time.perf_counter()
        first.append((t1 - t0) * 1000)
        later.append((t2 - t1) * 1000)
    engine.dispose()
    return {"first read of a run (pins it)": first, "later reads of the run": later}


def rows(backend: str, results: dict[str, list[float]]) -> list[str]:
    out = []
    for name, samples in results.items():
        ordered = sorted(samples)
        out.append(
            f"| {backend} | {name} | {len(ordered)} | {percentile(ordered, 50):.3f} | "
            f"{percentile(ordered, 99):.3f} |"
        )
    return out


def main() -> None:
    """Measure and record in bench/RESULTS.md."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--postgres", help="a PostgreSQL database URL (its tables are created)")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        table = rows("SQLite", measure(f"sqlite:///{Path(tmp) / 'accord.db'}", args.runs))
    if args.postgres:
        table += rows("PostgreSQL", measure(args.postgres, args.runs))
    command = f".venv/bin/python bench/rules_pinning.py --runs {args.runs}"
    if args.postgres:
        command += " --postgres URL"
    text = "\n".join(
        [
            "## Rules pinning (`bench/rules_pinning.py`, issue #18)",
            "",
            f"Machine: {machine()}.",
            f"Command: `{command}`",
            "Setup: one process, a fresh database, the default rules bootstrapped; each run id "
            "reads its rules twice, in sequence, as a flow's steps do. The first read pins the "
            "run (its pin and the active version read, the pin inserted in its own "
            "transaction); later reads are answered from the process's memory.",
            "",
            "| database | read | runs | p50 ms | p99 ms |",
            "|---|---|---:|---:|---:|",
            *table,
            "",
            "Reading: pinning adds one small write per run, on the step that first reads the "
            "rules; a lead-to-project or time-to-bill run makes several remote calls of tens of "
            "milliseconds each (see the quarter-end section), so the pin is a few percent of a "
            "run at most. The machine is shared, so p99 includes other work's stalls.",
        ]
    )
    print(text)
    if not args.no_record:
        write_section("rules-pinning", text)


if __name__ == "__main__":
    main()
