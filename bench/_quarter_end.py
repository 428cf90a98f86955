"""The quarter-end drain, shared by ``bench/quarter_end.py`` (SQLite, embedded) and
``bench/scale.py`` (PostgreSQL, one API process plus N worker processes).

What one drain does:

1. generates the ``quarter-end`` firm (seed 7: 7,399 approved timesheets, 77,268 entries) and
   keeps all three legal entities on NetSuite (DE01 is NetSuite subsidiary 4 in the firm), so
   the whole backlog goes to one NetSuite account, as the issue asks;
2. starts the sandbox in its own process with that firm, and sets NetSuite's account limit to
   10 concurrent requests with 50 ms latency (the emulator's maximum is 10 / 0.05 s = 200
   calls/s);
3. starts Accord (subprocesses) on the given database with ``accord.yaml`` pointing at the
   sandbox; lead-to-project polls the CRM and provisions the Closed Won engagements;
4. once the running engagements' ERP projects exist, resets NetSuite's counters and submits
   every timesheet as a ``timesheet.approved`` CloudEvent (batch mode, 100 per request);
5. waits until every run has finished, then reads NetSuite's counters and its ``timeBill``
   records and checks them against the approved hours, per project, to the cent.

With ``scenario="quarter-end-large"`` (250 engagements, 60,000+ entries) DE01 stays on Business
Central: its postings go to the BC emulator (50 ms per request and per ``$batch`` operation,
6,000 operations per 5 minutes), the others to NetSuite as above, and the report adds BC's
throughput as a ratio of its limit, its duplicates and its half of the per-project tie-out
(``bench/_qe_business_central.py``).

Nothing here is timed inside the test suite; the suite has its own 500-entry correctness test.
"""

import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import _qe_business_central as bc
import httpx
import sqlalchemy as sa
import yaml
from _common import (
    ROOT,
    authorize_kantata,
    cpu_seconds,
    create_key,
    peak_rss_mib,
    set_latency,
    start_accord,
)

from accord.connectors.salesforce.records import canonical_id
from accord.flows.shared.plan import project_id_for
from accord_sandbox.accord_config import write_accord_config
from accord_sandbox.firm import Firm
from accord_sandbox.scenario import ScenarioName, generate

LATENCY_MS = 50
CONCURRENCY = 10
BATCH = 100


def max_calls_per_s(concurrency: int) -> float:
    """The emulator's maximum: ``concurrency`` requests of :data:`LATENCY_MS` each at once."""
    return concurrency / (LATENCY_MS / 1000)


@dataclass
class Drain:
    """A drain in progress, as the hooks of :func:`drain` see it."""

    folder: Path
    db_url: str
    urls: dict[str, str]
    api: str
    """Accord's API base URL."""
    firm: Firm
    procs: dict[str, subprocess.Popen[bytes]]
    """Accord's processes by name (``accord``, or ``api`` and ``worker-<i>``)."""
    killed: dict[str, float] = field(default_factory=dict)
    """Processes a hook killed on purpose -> their CPU seconds just before (see :meth:`kill`)."""

    def kill(self, name: str) -> float:
        """SIGKILL one of Accord's processes (the drain goes on without it); when, epoch s."""
        proc = self.procs[name]
        self.killed[name] = cpu_seconds(proc.pid)
        at = time.time()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        return at

    def cpu(self) -> dict[str, float]:
        """CPU seconds of each process so far (a killed one's as it was when killed)."""
        return {
            name: self.killed[name] if name in self.killed else cpu_seconds(p.pid)
            for name, p in self.procs.items()
        }


Hook = Callable[[Drain], None]
"""Called with the drain once Accord is up and the projects are provisioned (``idle``)."""
DuringHook = Callable[[Drain, threading.Event], None]
"""Runs in a thread from the first submit until the backlog is drained (the event is set)."""


def bench_firm(seed: int = 7, scenario: ScenarioName = "quarter-end") -> Firm:
    """The scenario's firm; ``quarter-end`` with every legal entity kept on NetSuite."""
    firm = generate(scenario, seed)
    if scenario != "quarter-end":
        return firm  # DE01 on Business Central, as the firm has it
    entities = tuple(e.model_copy(update={"erp": "netsuite"}) for e in firm.legal_entities)
    return firm.model_copy(update={"legal_entities": entities})


def _on_business_central(firm: Firm) -> bool:
    return any(e.erp == "business_central" for e in firm.legal_entities)


def _bench_rules(folder: Path, *, netsuite_only: bool) -> Path:
    """``rules/default.yaml``, with DE01 routed to NetSuite (subsidiary 4) when ``netsuite_only``."""
    rules = yaml.safe_load((ROOT / "rules" / "default.yaml").read_text(encoding="utf-8"))
    de01 = rules["legal_entities"]["DE01"]
    if netsuite_only:
        de01["erp"] = "netsuite"
        de01["connection"] = "netsuite"
    path = folder / "rules.yaml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


_SANDBOX_MAIN = """
import asyncio, json, sys
from pathlib import Path
from accord_sandbox.firm import Firm
from accord_sandbox.server import Sandbox
firm = Firm.model_validate_json(Path(sys.argv[1]).read_text())
box = Sandbox(base_port=int(sys.argv[2]), firm=firm, scenario="quarter-end")
netsuite = box.emulators["netsuite"]
if len(sys.argv) > 4:  # NetSuite reached through a gate: the account's URL is the gate's
    netsuite.base_url = sys.argv[4]
netsuite.concurrency_limit = int(sys.argv[3])  # the account's limit, kept after a reset
netsuite.clear_faults()
for spec in netsuite.default_faults():
    netsuite.add_fault(spec)
asyncio.run(box.serve())
"""


def start_sandbox(
    folder: Path,
    firm: Firm,
    base_port: int,
    concurrency: int = CONCURRENCY,
    *,
    netsuite_url: str | None = None,
) -> subprocess.Popen[bytes]:
    """The sandbox in a process of its own, so its CPU is not counted as Accord's.

    ``netsuite_url``: the URL Accord reaches NetSuite at, when not the emulator's own (a gate
    in front of it); token assertions name it as their audience.
    """
    firm_file = folder / "firm.json"
    firm_file.write_text(firm.model_dump_json(), encoding="utf-8")
    log = (folder / "sandbox.log").open("wb")
    argv = [
        str(firm_file),
        str(base_port),
        str(concurrency),
        *([netsuite_url] if netsuite_url else []),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-c", _SANDBOX_MAIN, *argv],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    url = f"http://127.0.0.1:{base_port + 3}/__sandbox/stats"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sandbox exited with {proc.returncode}; see {folder}/sandbox.log")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise TimeoutError("sandbox did not start")


def sandbox_urls(base_port: int) -> dict[str, str]:
    """Each emulator's base URL."""
    return {
        "salesforce": f"http://127.0.0.1:{base_port + 1}",
        "kantata": f"http://127.0.0.1:{base_port + 2}",
        "netsuite": f"http://127.0.0.1:{base_port + 3}",
        "business_central": f"http://127.0.0.1:{base_port + 4}",
    }


def limit_netsuite(ns_url: str, concurrency: int = CONCURRENCY) -> None:
    """50 ms per NetSuite request, on top of the account's limit (10 unless given; set at start).

    Raises:
        RuntimeError: The emulator's active limits are not the ones this benchmark needs.
    """
    active = set_latency(ns_url, "/services/*", LATENCY_MS)
    limits = [f["concurrency"] for f in active if f.get("concurrency")]
    if limits != [concurrency]:
        raise RuntimeError(f"NetSuite's concurrency limits are {limits}, not [{concurrency}]")


def write_config(
    folder: Path,
    urls: dict[str, str],
    concurrency: int = CONCURRENCY,
    *,
    netsuite_only: bool = True,
) -> Path:
    """``accord.yaml`` for the sandbox: NetSuite's (and BC's) budget matches its limit."""
    rules = _bench_rules(folder, netsuite_only=netsuite_only)
    path = write_accord_config(folder / "accord.yaml", urls, rules=rules)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["connections"]["netsuite"].update(
        {"concurrency": concurrency, "rate_per_s": 2 * max_calls_per_s(concurrency)}
    )
    if not netsuite_only:
        document["connections"]["business-central"].update(bc.connection_settings())
    for name in ("salesforce", "kantata"):
        document["connections"][name].update({"concurrency": 8, "rate_per_s": 50})
    document["lead_to_project"]["capture_interval_s"] = 2
    document.setdefault("time_to_bill", {})["closed_period_policy"] = "redate"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def _rates(firm: Firm) -> dict[tuple[str, str], Decimal]:
    """(currency, role) -> bill rate: the sandbox's standard rate card of each currency."""
    rates: dict[tuple[str, str], Decimal] = {}
    for c in sorted(firm.consultants, key=lambda c: c.id):
        rates.setdefault((c.currency, c.role), c.bill_rate)
    return rates


def project_ids(sf_url: str) -> dict[str, str]:
    """Firm opportunity key -> the canonical id of its project, as lead-to-project names it.

    Seeded opportunities carry no ``Accord_Id__c``, so their canonical id is ``SF-`` + their
    Salesforce id (the emulator publishes firm key -> Salesforce id)."""
    firm_ids = httpx.get(f"{sf_url}/__sandbox/salesforce/firm_ids", timeout=30).json()
    return {
        key: project_id_for(canonical_id(sf_id, None))
        for key, sf_id in firm_ids.items()
        if key.startswith("OPP-")
    }


def timesheet_events(
    firm: Firm, projects: dict[str, str], limit: int | None = None
) -> list[dict[str, Any]]:
    """Every approved timesheet as a ``timesheet.approved`` CloudEvent (JSON-ready)."""
    opportunities = {o.id: o for o in firm.opportunities}
    consultants = {c.id: c for c in firm.consultants}
    rates = _rates(firm)
    events: list[dict[str, Any]] = []
    entries = 0
    # Approvals arrive week by week across every engagement, not one engagement at a time.
    for sheet in sorted(firm.timesheets, key=lambda t: (t.week_start, t.id)):
        if limit is not None and entries >= limit:
            break
        if sheet.opportunity_id not in projects:
            continue  # its project was refused at provisioning (see wait_provisioned)
        opp = opportunities[sheet.opportunity_id]
        person = consultants[sheet.consultant_id]
        project = projects[opp.id]
        rate = rates.get((opp.currency, person.role), person.bill_rate)
        approved = f"{sheet.week_start.isoformat()}T18:00:00Z"
        data = {
            "id": sheet.id,
            "resource_id": person.id,
            "project_id": project,
            "week_start": sheet.week_start.isoformat(),
            "status": "approved",
            "approved_at": approved,
            "entries": [
                {
                    "id": e.id,
                    "project_id": project,
                    "resource_id": person.id,
                    "date": e.date.isoformat(),
                    "hours": str(e.hours),
                    "billable": e.billable,
                    "bill_rate": {"amount": str(rate), "currency": opp.currency}
                    if e.billable
                    else None,
                    "role": person.role,
                    "notes": e.notes,
                }
                for e in sheet.entries
            ],
        }
        entries += len(sheet.entries)
        events.append(
            {
                "specversion": "1.0",
                "id": f"bench-{sheet.id}",
                "source": "bench/kantata",
                "type": "timesheet.approved",
                "time": approved,
                "subject": sheet.id,
                "datacontenttype": "application/json",
                "data": data,
            }
        )
    return events


def approved_hours(events: list[dict[str, Any]]) -> dict[str, Decimal]:
    """Approved hours per canonical project."""
    out: dict[str, Decimal] = defaultdict(Decimal)
    for event in events:
        for e in event["data"]["entries"]:
            out[e["project_id"]] += Decimal(e["hours"])
    return dict(out)


def _runs(engine: sa.Engine) -> str:
    """DBOS's run table: in schema ``dbos`` on PostgreSQL."""
    return "dbos.workflow_status" if engine.dialect.name == "postgresql" else "workflow_status"


def wait_provisioned(engine: sa.Engine, ns_url: str, won: int, timeout: float = 600) -> set[str]:
    """Wait until lead-to-project has run for every won deal; the projects NetSuite accepted.

    In this all-NetSuite firm one customer family spans two subsidiaries, and NetSuite refuses
    a project whose customer belongs to another subsidiary (a finance-ops exception, as in
    production): that engagement's timesheets are left out of the drain, and the report says
    how many engagements were drained.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            done = conn.execute(
                sa.text(
                    f"SELECT COUNT(*) FROM {_runs(engine)} "
                    "WHERE name = 'lead_to_project' AND status IN ('SUCCESS', 'ERROR')"
                )
            ).scalar_one()
        if done >= won:
            jobs = httpx.get(f"{ns_url}/__sandbox/records/job", timeout=30).json()["records"]
            return {str(j.get("externalId")) for j in jobs}
        time.sleep(2)
    raise TimeoutError("lead-to-project did not finish the won deals in time")


def _provisioned(
    engine: sa.Engine, urls: dict[str, str], won: int, *, with_bc: bool
) -> dict[str, str]:
    """Firm opportunity key -> canonical project, of the projects an ERP accepted."""
    accepted = wait_provisioned(engine, urls["netsuite"], won)
    candidates = project_ids(urls["salesforce"])
    if with_bc:
        accepted |= bc.provisioned(urls["business_central"], candidates.values())
    return {k: v for k, v in candidates.items() if v in accepted}


async def _submit(base: str, key: str, events: list[dict[str, Any]]) -> None:
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/cloudevents-batch+json",
    }
    async with httpx.AsyncClient(base_url=base, timeout=120, headers=headers) as client:
        queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
        for i in range(0, len(events), BATCH):
            queue.put_nowait(events[i : i + BATCH])

        async def worker() -> None:
            while not queue.empty():
                batch = queue.get_nowait()
                response = await client.post("/api/v1/events", content=json.dumps(batch))
                if response.status_code not in (200, 202):
                    raise RuntimeError(f"intake said {response.status_code}: {response.text}")

        await asyncio.gather(*(worker() for _ in range(4)))


def _unfinished(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    f"SELECT COUNT(*) FROM {_runs(engine)} WHERE status IN "
                    "('ENQUEUED', 'PENDING') AND name IN ('time_to_bill', 'expense_to_bill')"
                )
            ).scalar_one()
        )


def _statuses(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                f"SELECT status, COUNT(*) FROM {_runs(engine)} WHERE name = 'time_to_bill' "
                "GROUP BY status"
            )
        ).all()
    return {str(s): int(n) for s, n in rows}


def netsuite_time_bills(ns_url: str) -> list[dict[str, Any]]:
    """Every ``timeBill`` record in the emulator."""
    body = httpx.get(f"{ns_url}/__sandbox/records/timeBill", timeout=300).json()
    return list(body["records"])


def posted_hours(bills: list[dict[str, Any]], job_projects: dict[str, str]) -> dict[str, Decimal]:
    """Posted hours per canonical project (by the job each bill is booked to)."""
    out: dict[str, Decimal] = defaultdict(Decimal)
    for bill in bills:
        job = bill.get("customer") or {}
        project = job_projects.get(str(job.get("id")), f"job:{job.get('id')}")
        out[project] += Decimal(str(bill.get("hours"))).quantize(Decimal("0.01"))
    return dict(out)


def _netsuite_outcome(ns: str) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Decimal]]:
    """NetSuite's counters, its time bills, and the posted hours per project."""
    stats = httpx.get(f"{ns}/__sandbox/stats", timeout=10).json()
    bills = netsuite_time_bills(ns)
    jobs = httpx.get(f"{ns}/__sandbox/records/job", timeout=30).json()["records"]
    job_projects = {str(j["id"]): str(j.get("externalId")) for j in jobs}
    return stats, bills, posted_hours(bills, job_projects)


def drain(
    *,
    db_url: str,
    workers: int,
    limit: int | None,
    base_port: int = 18900,
    api_port: int = 18880,
    keep: Path | None = None,
    scenario: ScenarioName = "quarter-end",
    concurrency: int = CONCURRENCY,
    idle: Hook | None = None,
    during: DuringHook | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run one quarter-end drain (see the module docstring); returns the measurements.

    Args:
        db_url: Accord's database. SQLite runs one ``accord run`` (API and worker); any other
            database runs one API process and ``workers`` worker processes.
        workers: Worker processes (ignored on SQLite).
        limit: Stop adding timesheets once this many entries are in (``None``: all).
        base_port: The sandbox's base port.
        api_port: Accord's API port.
        keep: Keep logs and files here instead of a temporary folder.
        scenario: ``quarter-end`` (every entity on NetSuite) or ``quarter-end-large`` (DE01
            on Business Central).
        concurrency: NetSuite's concurrency limit (the account's, and Accord's budget).
        idle: Called once the projects are provisioned, before any timesheet is submitted.
        during: Run in a thread while the backlog drains (see :data:`DuringHook`).
        env: More environment for Accord's processes.
    """
    folder = keep or Path(tempfile.mkdtemp(prefix="accord-qe-"))
    folder.mkdir(parents=True, exist_ok=True)
    firm = bench_firm(scenario=scenario)
    with_bc = _on_business_central(firm)
    urls = sandbox_urls(base_port)
    ns, bc_url = urls["netsuite"], urls["business_central"]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    sandbox = start_sandbox(folder, firm, base_port, concurrency)
    state = Drain(folder, db_url, urls, f"http://127.0.0.1:{api_port}", firm, procs)
    try:
        if with_bc:
            bc.limit_business_central(bc_url)
        key = _launch(
            state,
            api_port,
            concurrency=concurrency,
            workers=workers,
            env=env or {},
            netsuite_only=not with_bc,
        )
        engine = sa.create_engine(db_url)
        won = sum(1 for o in firm.opportunities if o.stage == "Closed Won")
        projects = _provisioned(engine, urls, won, with_bc=with_bc)
        events = timesheet_events(firm, projects, limit)
        approved = approved_hours(events)
        entries = sum(len(e["data"]["entries"]) for e in events)
        if idle is not None:
            idle(state)
        time_bills_before = len(netsuite_time_bills(ns))
        httpx.post(f"{ns}/__sandbox/stats/reset", timeout=10).raise_for_status()
        ledger_before = bc.reset(bc_url) if with_bc else 0
        cpu_before = state.cpu()
        submitted, drain_s = _submit_and_drain(engine, state, key, events, during)
        # VmHWM is the process's own high-water mark: no sampling needed.
        peak = {n: peak_rss_mib(p.pid) for n, p in procs.items() if n not in state.killed}
        cpu_by_proc = {n: c - cpu_before[n] for n, c in state.cpu().items()}
        cpu = sum(cpu_by_proc.values())
        statuses = _statuses(engine)
        engine.dispose()
        stats, bills, posted = _netsuite_outcome(ns)
        extra = bc.report(bc_url, approved, posted, drain_s, ledger_before) if with_bc else {}
    finally:
        stop_processes([*procs.values(), sandbox])
    calls = int(stats["requests"])
    mismatched = {
        p: (str(approved[p]), str(posted.get(p, Decimal(0))))
        for p in approved
        if posted.get(p, Decimal(0)) != approved[p]
    }
    bill_ids = [str(b.get("externalId")) for b in bills]
    return {
        "scenario": scenario,
        **extra,
        "timesheets": len(events),
        "engagements": f"{len(approved)} of {len({t.opportunity_id for t in firm.timesheets})}",
        "entries": entries,
        "time_bills": len(bills) - time_bills_before,
        "doubled_external_ids": len(bill_ids) - len(set(bill_ids)),
        "submit_s": submitted,
        "drain_s": drain_s,
        "entries_per_s": entries / drain_s,
        "calls": calls,
        "calls_per_s": calls / drain_s,
        "max_calls_per_s": max_calls_per_s(concurrency),
        "ratio": calls / drain_s / max_calls_per_s(concurrency),
        "throttled": int(stats["throttled"]),
        "duplicates": int(stats["duplicates"]),
        # By the identity that matched: the external id, or the business fact under another.
        "duplicates_by_identity": dict(stats.get("duplicates_by_identity", {})),
        "errors": int(stats["errors"]),
        "max_in_flight": int(stats["max_in_flight"]),
        "cpu_s_per_1000": cpu / entries * 1000,
        "cpu_s": cpu,
        "cpu_by_proc": cpu_by_proc,
        "peak_mib": peak,
        "runs": statuses,
        "hours_mismatched": mismatched,
        "folder": str(folder),
    }


def _launch(
    state: Drain,
    api_port: int,
    *,
    concurrency: int,
    workers: int,
    env: dict[str, str],
    netsuite_only: bool = True,
) -> str:
    """Limit NetSuite, configure and start Accord; returns an ingest key."""
    limit_netsuite(state.urls["netsuite"], concurrency)
    config = write_config(state.folder, state.urls, concurrency, netsuite_only=netsuite_only)
    env = {
        "ACCORD_CONFIG_FILE": str(config),
        "ACCORD_INTAKE__WORKER_CONCURRENCY": "16",
        **env,
    }
    authorize_kantata(state.db_url, config)
    key = create_key(state.db_url, role="ingest")
    sqlite = state.db_url.startswith("sqlite")
    started = _start(state.db_url, api_port, state.folder, sqlite=sqlite, workers=workers, env=env)
    state.procs.update(started)
    return key


def _submit_and_drain(
    engine: sa.Engine,
    state: Drain,
    key: str,
    events: list[dict[str, Any]],
    during: DuringHook | None,
) -> tuple[float, float]:
    """Submit every event, wait for the drain (``during`` alongside); submit and drain times."""
    drained = threading.Event()
    hook = None
    if during is not None:
        hook = threading.Thread(target=during, args=(state, drained), name="during")
    started = time.monotonic()
    if hook is not None:
        hook.start()
    try:
        asyncio.run(_submit(state.api, key, events))
        submitted = time.monotonic() - started
        _wait_drained(engine, state)
        return submitted, time.monotonic() - started
    finally:
        drained.set()
        if hook is not None:
            hook.join()


def _wait_drained(engine: sa.Engine, state: Drain) -> None:
    """Until no posting run is left; a process that exits (and was not killed) is an error."""
    time.sleep(2)
    while _unfinished(engine):
        if any(p.poll() is not None for n, p in state.procs.items() if n not in state.killed):
            raise RuntimeError(f"an accord process exited; see {state.folder}")
        time.sleep(0.5)


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each process, then SIGKILL what has not stopped within 30 s."""
    for proc in procs:
        proc.send_signal(signal.SIGTERM)  # a no-op for one that already exited
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_running(proc: subprocess.Popen[bytes], log: Path, timeout: float = 240) -> None:
    """A worker serves no HTTP: wait for its "running" log line instead of /readyz."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode}; see {log}")
        if b" running" in log.read_bytes():
            return
        time.sleep(0.2)
    raise TimeoutError(f"worker not running after {timeout}s; see {log}")


def _start(
    db_url: str, api_port: int, folder: Path, *, sqlite: bool, workers: int, env: dict[str, str]
) -> dict[str, subprocess.Popen[bytes]]:
    if sqlite:
        return {"accord": start_accord(db_url, api_port, folder / "accord.log", **env)}
    procs = {
        "api": start_accord(
            db_url,
            api_port,
            folder / "api.log",
            "--role",
            "api",
            ACCORD_WORKER_ID="bench-api",
            **env,
        )
    }
    for i in range(workers):
        log = folder / f"worker-{i}.log"
        proc = start_accord(
            db_url,
            api_port + 1 + i,
            log,
            "--role",
            "worker",
            wait=False,
            ACCORD_WORKER_ID=f"bench-worker-{i}",
            **env,
        )
        _wait_running(proc, log)
        procs[f"worker-{i}"] = proc
    return procs


def describe(result: dict[str, Any]) -> str:
    """The measurements as Markdown table rows (metric | value)."""
    peak = ", ".join(f"{n} {v:.0f}" for n, v in result["peak_mib"].items())
    rows = [
        ("engagements drained", result["engagements"]),
        ("timesheets / entries", f"{result['timesheets']:,} / {result['entries']:,}"),
        ("timeBill records written", f"{result['time_bills']:,}"),
        ("submit time (intake, batches of 100)", f"{result['submit_s']:.1f} s"),
        ("drain time (first submit to last run done)", f"{result['drain_s']:.1f} s"),
        ("entries per second", f"{result['entries_per_s']:.1f}"),
        ("NetSuite calls per second", f"{result['calls_per_s']:.1f}"),
        (
            f"ratio to the emulator's maximum ({result['max_calls_per_s']:.0f} calls/s)",
            f"**{result['ratio']:.2f}** (target >= 0.95)",
        ),
        ("429s received", f"{result['throttled']:,}"),
        ("duplicates at NetSuite", f"**{result['duplicates']}** (must be 0)"),
        ("timeBill external ids written twice", str(result["doubled_external_ids"])),
        (
            "duplicates by identity (external id / business fact)",
            json.dumps(result["duplicates_by_identity"], sort_keys=True),
        ),
        ("other errors at NetSuite", f"{result['errors']:,}"),
        ("Accord CPU seconds per 1,000 entries", f"{result['cpu_s_per_1000']:.2f}"),
        (
            "CPU seconds per Accord process",
            ", ".join(f"{n} {c:.1f}" for n, c in result["cpu_by_proc"].items()),
        ),
        ("peak memory per Accord process (MiB)", peak),
        ("runs by status", json.dumps(result["runs"])),
        (
            "projects whose posted hours differ from approved",
            str(len(result["hours_mismatched"])),
        ),
    ]
    if "bc_ratio" in result:
        rows[-1:-1] = bc.rows(result)
    return "\n".join(f"| {name} | {value} |" for name, value in rows)
