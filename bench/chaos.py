"""Chaos benchmark: the quarter-end drain while processes die, the ERP fails and answers lie.

The ``quarter-end`` drain of ``bench/quarter_end.py`` (or its first ``--entries`` entries), with
NetSuite behind a TCP gate and a client timeout of 5 s, once without faults and once on a
seeded random schedule (``bench/_chaos.py``) of: 20 SIGKILLs of worker processes (started
again at once, under the same worker id), a 60 s NetSuite outage (connections refused, then
503s), 429 storms, windows in which NetSuite commits a write and loses its answer, windows of
answers slower than the client's timeout, and on PostgreSQL restarts of the database server.

The verdict comes from NetSuite's own records and duplicate counters: entries lost, entries
doubled (by external id and by business identity), the per-project tie-out of hours and amounts
to the cent, how every run ended, and the drain time against the fault-free drain. Recorded in
``bench/RESULTS.md``.

    .venv/bin/python bench/chaos.py [--entries N] [--database sqlite|postgres] [--workers 2]
                                    [--seed 7] [--kills 20] [--no-baseline] [--no-record]

On PostgreSQL the benchmark runs a server of its own (it restarts it), from Debian's
``postgresql`` package (``scripts/pg.sh`` installs it).
"""

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import yaml
from _chaos import (
    Chaos,
    ChaosSpec,
    ErpFaults,
    Fleet,
    Member,
    PgCluster,
    entries_of,
    free_ports,
    judge,
    passed,
    postgres_bindir,
    schedule,
    unfinished,
)
from _common import accord_env, authorize_kantata, create_key, machine, write_section
from _quarter_end import (
    LATENCY_MS,
    _submit,
    bench_firm,
    limit_netsuite,
    project_ids,
    sandbox_urls,
    start_sandbox,
    timesheet_events,
    wait_provisioned,
    write_config,
)

from accord_sandbox.firm import Firm
from accord_sandbox.gate import TcpGate

TIMEOUT_S = 5.0
"""NetSuite's client timeout in this benchmark (the slow windows answer past it)."""


def _launcher(db_url: str, port: int, log: Path, *args: str, **env: str) -> tuple[Any, Path]:
    """Start ``accord run`` (appending to its log, so restarts keep what came before)."""

    def launch() -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            out.write(f"\n----- started at {time.strftime('%H:%M:%S')}\n".encode())
        return subprocess.Popen(
            [sys.executable, "-m", "accord.cli", "run", "--port", str(port), *args],
            env=accord_env(db_url, **env),
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    return launch, log


def _fleet(db_url: str, api_port: int, folder: Path, *, sqlite: bool, workers: int,
           env: dict[str, str]) -> Fleet:  # fmt: skip
    if sqlite:
        # The embedded default: one process is the API and the worker; it is what dies.
        launch, log = _launcher(db_url, api_port, folder / "accord.log", **env)
        return Fleet([Member("accord", launch, killable=True, log=log)])
    launch, log = _launcher(
        db_url, api_port, folder / "api.log", "--role", "api", ACCORD_WORKER_ID="bench-api", **env
    )
    members = [Member("api", launch, killable=False, log=log)]
    for i in range(workers):
        launch, log = _launcher(
            db_url, api_port + 1 + i, folder / f"worker-{i}.log", "--role", "worker",
            ACCORD_WORKER_ID=f"bench-worker-{i}", **env,
        )  # fmt: skip
        members.append(Member(f"worker-{i}", launch, killable=True, log=log))
    return Fleet(members)


def _ready(api_port: int, fleet: Fleet, timeout: float = 180) -> Callable[[Member], None]:
    """Waits until a member is up: the API answers ``/readyz``, a worker logs "running"."""

    def wait(member: Member) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fleet.supervise()
            if fleet.exits:
                raise RuntimeError(f"accord exited while starting: {fleet.exits}")
            if member.killable and member.name != "accord":
                assert member.log is not None
                if b" running" in member.log.read_bytes():
                    return
            else:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{api_port}/readyz", timeout=2).is_success:
                        return
            time.sleep(0.5)
        raise TimeoutError(f"{member.name} did not become ready; see {member.log}")

    return wait


def _database(database: str) -> tuple[str | None, PgCluster | None]:
    """A PostgreSQL server of the benchmark's own (and a database on it), or SQLite (None)."""
    if database != "postgres":
        return None, None
    bindir = postgres_bindir()
    if bindir is None:
        raise RuntimeError("no PostgreSQL server programs (apt-get install postgresql)")
    pg = PgCluster(bindir)
    pg.start()
    return pg.fresh_database("accord"), pg


def _config(folder: Path, urls: dict[str, str], gate: TcpGate) -> Path:
    """The quarter-end ``accord.yaml``, NetSuite through the gate with a 5 s client timeout."""
    config = write_config(folder, {**urls, "netsuite": gate.url})
    document = yaml.safe_load(config.read_text(encoding="utf-8"))
    document["connections"]["netsuite"]["timeout_s"] = TIMEOUT_S
    config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return config


def _workload(
    firm: Firm,
    engine: sa.Engine,
    urls: dict[str, str],
    limit: int | None,
) -> list[dict[str, Any]]:
    """Once lead-to-project provisioned the won deals: the timesheets of the accepted ones."""
    won = sum(1 for o in firm.opportunities if o.stage == "Closed Won")
    accepted = wait_provisioned(engine, urls["netsuite"], won)
    projects = {k: v for k, v in project_ids(urls["salesforce"]).items() if v in accepted}
    return timesheet_events(firm, projects, limit)


def _wait_drained(engine: sa.Engine, fleet: Fleet, deadline: float) -> bool:
    """Wait until no posting run is queued or running; False when the deadline passed."""
    time.sleep(2)
    while unfinished(engine):  # -1 while the database restarts: keep waiting
        fleet.supervise()
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    return True


def drain(
    *,
    database: str,
    workers: int,
    limit: int | None,
    spec: ChaosSpec | None,
    span_s: float,
    seed: int,
    folder: Path,
    min_up_s: float = 0.0,
) -> dict[str, Any]:
    """One quarter-end drain, under the schedule of ``spec`` (``None``: no faults)."""
    folder.mkdir(parents=True, exist_ok=True)
    # Free ports: other benchmarks may hold the usual ones (18880, 18900).
    base_port, api_port = free_ports(5), free_ports(workers + 1)
    firm = bench_firm()
    urls = sandbox_urls(base_port)
    ns = urls["netsuite"]
    gate = TcpGate(ns)
    sandbox: subprocess.Popen[bytes] | None = None
    fleet: Fleet | None = None
    db_url, pg = _database(database)
    try:
        db_url = db_url or f"sqlite:///{folder / 'accord.db'}"
        sandbox = start_sandbox(folder, firm, base_port, netsuite_url=gate.url)
        gate.open()
        limit_netsuite(ns)
        config = _config(folder, urls, gate)
        env = {"ACCORD_CONFIG_FILE": str(config), "ACCORD_INTAKE__WORKER_CONCURRENCY": "16"}
        authorize_kantata(db_url, config)
        key = create_key(db_url, role="ingest")
        fleet = _fleet(db_url, api_port, folder, sqlite=pg is None, workers=workers, env=env)
        fleet.start(_ready(api_port, fleet))
        engine = sa.create_engine(db_url, pool_pre_ping=True)
        events = _workload(firm, engine, urls, limit)
        httpx.post(f"{ns}/__sandbox/stats/reset", timeout=10).raise_for_status()
        base = [{"path": "/services/*", "latency_ms": LATENCY_MS}]
        erp = ErpFaults(ns, gate, timeout_s=TIMEOUT_S, base=base, spec=spec or ChaosSpec())
        plan = schedule(seed, span_s, spec) if spec is not None else []
        chaos = Chaos(plan, fleet=fleet, erp=erp, db=pg, seed=seed, min_up_s=min_up_s)
        fleet.clock = chaos.elapsed
        started = time.monotonic()
        asyncio.run(_submit(f"http://127.0.0.1:{api_port}", key, events))
        submitted = time.monotonic() - started
        chaos.start()
        drained = _wait_drained(engine, fleet, started + 3 * span_s + 1800)
        drain_s = time.monotonic() - started
        chaos.halt()
        fleet.supervise()
        verdict = judge(entries_of(events), ns, engine)
        engine.dispose()
    finally:
        if fleet is not None:
            fleet.stop()
        if sandbox is not None:
            sandbox.terminate()
            sandbox.wait(timeout=30)
        gate.close()
        if pg is not None:
            pg.stop()
    return {
        "database": database,
        "workers": workers if pg is not None else 1,
        "timesheets": len(events),
        "engagements": f"{len({e['data']['project_id'] for e in events})} of "
        f"{len({t.opportunity_id for t in firm.timesheets})}",
        "submit_s": submitted,
        "drain_s": drain_s,
        "stuck": not drained,
        "faults_planned": chaos.planned(),
        "faults_applied": chaos.summary(),
        "fault_errors": chaos.errors,
        "fault_log": chaos.applied,
        "schedule_delayed_s": chaos.delayed_s,
        "windows_with_traffic": _windows_with_traffic(chaos.applied),
        "kills": fleet.kills,
        "exits": fleet.exits,
        "db_restarts": pg.restarts if pg is not None else [],
        "verdict": verdict,
        # Every planned fault applied: a drain that ended before the schedule did tested less
        # (run more --entries).
        "passed": passed(verdict)
        and drained
        and not fleet.exits
        and chaos.summary() == chaos.planned(),
        "folder": str(folder),
    }


def _windows_with_traffic(applied: list[dict[str, Any]]) -> list[int]:
    """[windows in which NetSuite received requests, windows that ended] (the fault log).

    A window in which no request arrived tested nothing (Accord was down or idle).
    """
    ended = [s for s in applied if not s["starts"] and isinstance(s.get("detail"), dict)]
    return [sum(1 for s in ended if s["detail"]["requests"] > 0), len(ended)]


def describe(result: dict[str, Any], baseline: dict[str, Any] | None, spec: ChaosSpec) -> str:
    """The measurements as Markdown table rows (metric | value)."""
    v = result["verdict"]
    applied, planned = result["faults_applied"], result["faults_planned"]

    def fault(kind: str, what: str) -> str:
        return f"{applied.get(kind, 0)} of {planned.get(kind, 0)} {what}"

    tied = v["projects"] - len(v["projects_mismatched"])
    rows = [
        ("engagements drained", result["engagements"]),
        ("timesheets / entries", f"{result['timesheets']:,} / {v['entries']:,}"),
        ("SIGKILLs (process started again at once; killed again once up for the --min-up)", fault("kill", "")),
        ("NetSuite outage", fault("outage", f"({spec.outage_s:.0f} s: refused, then 503s)")),
        ("429 storms", fault("429-storm", f"({spec.storm_s:.0f} s at {spec.storm_rate:.0%})")),
        ("answers lost after the commit", fault("lost-responses", f"windows ({spec.lost_s:.0f} s at {spec.lose_rate:.0%} of time postings)")),
        ("answers past the 5 s client timeout", fault("slow-responses", f"windows ({spec.slow_s:.0f} s)")),
        ("database restarts", fault("db-restart", "(`pg_ctl restart -m fast`)")),
        ("processes that exited on their own", str(len(result["exits"]))),
        ("fault windows NetSuite received requests in", "{} of {}".format(*result["windows_with_traffic"])),
        ("schedule moved later while kills waited for a process to be up", f"{result['schedule_delayed_s']:.0f} s"),
        ("entries lost", f"**{v['lost']}** (must be 0)"),
        ("entries doubled, by external id", f"**{v['doubled_by_external_id']}** (must be 0)"),
        ("entries doubled, by business identity", f"**{v['doubled_by_business_identity']}** (must be 0)"),
        ("NetSuite's duplicate counter", f"{v['emulator_duplicates']} {json.dumps(v['emulator_duplicates_by_identity'])}"),
        ("projects tied out to the cent (hours and amounts)", f"{tied} of {v['projects']}"),
        ("amount approved / posted", f"{v['approved_amount']} / {v['posted_amount']}"),
        ("runs by status", json.dumps(v["runs"])),
        ("run outcomes", json.dumps(v["run_outcomes"])),
        ("open exceptions", json.dumps(v["open_exceptions"])),
        ("429s and errors NetSuite answered", f"{v['throttled']:,} / {v['errors']:,}"),
        ("drain time under chaos", f"{result['drain_s']:.1f} s"),
    ]  # fmt: skip
    if baseline is not None:
        rows.append(("fault-free drain (same setup)", f"{baseline['drain_s']:.1f} s"))
        rows.append(("chaos / fault-free", f"{result['drain_s'] / baseline['drain_s']:.2f}x"))
    rows.append(("verdict", "**passed**" if result["passed"] else "**FAILED**"))
    return "\n".join(f"| {name} | {value} |" for name, value in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=None, help="stop after N entries")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (PostgreSQL)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--db-restarts", type=int, default=2, help="PostgreSQL only")
    parser.add_argument(
        "--min-up",
        type=float,
        default=15.0,
        help="seconds a process is up (runtime launched) before it may be killed again",
    )
    parser.add_argument(
        "--baseline-s", type=float, default=None, help="fault-free drain time (skip measuring it)"
    )
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--keep", type=Path, default=None, help="keep logs in this folder")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="accord-chaos-"))
    spec = ChaosSpec(
        kills=args.kills, db_restarts=args.db_restarts if args.database == "postgres" else 0
    )
    common = {"database": args.database, "workers": args.workers, "limit": args.entries,
              "seed": args.seed}  # fmt: skip
    baseline = None
    if args.baseline_s is None:
        baseline = drain(**common, spec=None, span_s=0, folder=root / "baseline")
        print(f"fault-free drain: {baseline['drain_s']:.1f} s, passed={baseline['passed']}")
        span = baseline["drain_s"]
    else:
        span = args.baseline_s
    # Faults fall within the fault-free drain's length: the drain under chaos lasts longer,
    # so every fault lands while there is work in flight.
    result = drain(
        **common, spec=spec, span_s=0.8 * span, folder=root / "chaos", min_up_s=args.min_up
    )
    if baseline is None:
        baseline = {"drain_s": span}
    table = describe(result, baseline, spec)
    print(table)
    (root / "result.json").write_text(json.dumps(result, indent=2, default=str))
    print(f"details: {root / 'result.json'}")
    if args.no_record:
        return
    layout = (
        "one `accord run` (API and worker in one process) on SQLite"
        if args.database == "sqlite"
        else f"one API process and {args.workers} worker processes on PostgreSQL (a server of "
        "the benchmark's own)"
    )
    command = "python bench/chaos.py" + "".join(
        f" --{k} {v}"
        for k, v in (
            ("entries", args.entries),
            ("database", args.database),
            ("seed", args.seed),
            ("kills", args.kills),
            ("min-up", args.min_up),
        )
        if v is not None
    )
    write_section(
        f"chaos-{args.database}",
        f"""## Chaos: the quarter-end drain under faults (`bench/chaos.py`, issue 24), {args.database}

Machine: {machine()}. Command: `{command}`, {time.strftime("%Y-%m-%d")}. Layout: {layout};
the sandbox in its own process; NetSuite limited to 10 concurrent requests with 50 ms latency,
reached through a TCP gate, client timeout {TIMEOUT_S:.0f} s. Schedule seeded ({args.seed}), within
the first 80% of the fault-free drain's length. Judged from NetSuite's records and duplicate
counters and Accord's database (`bench/_chaos.py`).

| metric | value |
|---|---|
{table}
""",
    )
    if not result["passed"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
