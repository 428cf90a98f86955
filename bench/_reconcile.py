"""The quarter-end firm, drained, with the PSA holding what was approved; then reconciled.

What one benchmark does (``bench/reconcile.py``):

1. the quarter-end drain of ``bench/_quarter_end.py`` (seed 7, all three legal entities on
   NetSuite, NetSuite at 10 concurrent requests and 50 ms per request while it drains), with
   one difference: the approved time is **also in the PSA**. Once lead-to-project has
   provisioned the workspaces, each timesheet's entries are loaded into the Kantata emulator as
   approved time entries (through a loader the benchmark adds to the sandbox process: seeding
   77,268 entries through the API would take longer than the drain) and the
   ``timesheet.approved`` events carry those entries (``kantata-te-<id>``, hours as Kantata
   keeps them: whole minutes). Approval capture is off: the events come through the intake
   API, as in the quarter-end benchmark;
2. the sandbox saves its state and Accord its database in a folder (``--keep``), so that the
   reconciliation can be measured again without draining again (``--reuse``);
3. the sandbox is started again from that state at the emulators' default latency (no
   injected delay; NetSuite's account limit of 10), Accord's process is not running, and
   ``accord reconcile --json`` runs against the database: its wall time is the figure.
"""

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import yaml
from _common import accord_env, authorize_kantata, create_key, peak_rss_mib
from _quarter_end import (
    CONCURRENCY,
    _rates,
    _start,
    _statuses,
    _stop,
    _submit,
    _unfinished,
    bench_firm,
    limit_netsuite,
    project_ids,
    sandbox_urls,
    wait_provisioned,
    write_config,
)

from accord_sandbox.firm import Firm

BASE_PORT = 18950
API_PORT = 18930
_MINUTE = Decimal(60)
_CENT = Decimal("0.01")

_SANDBOX_MAIN = """
import asyncio, sys
from pathlib import Path
from fastapi import Request
from accord_sandbox.firm import Firm
from accord_sandbox.server import Sandbox
firm = Firm.model_validate_json(Path(sys.argv[1]).read_text())
box = Sandbox(base_port=int(sys.argv[2]), firm=firm, scenario="quarter-end", state=Path(sys.argv[4]))
netsuite = box.emulators["netsuite"]
netsuite.concurrency_limit = int(sys.argv[3])  # the account's limit, kept after a reset
netsuite.clear_faults()
for spec in netsuite.default_faults():
    netsuite.add_fault(spec)
kantata = box.emulators["kantata"]

async def load(request: Request) -> list[str]:
    # Approved time entries, stored as the API stores them (benchmark seeding only).
    ids = []
    for attrs in await request.json():
        record = kantata._insert("time_entries", attrs)
        ids.append(record["id"])
    return ids

async def keep(request: Request) -> int:
    # Keep only these time entries (a drain stopped early: what Accord never took in goes).
    wanted = set(await request.json())
    gone = [r["id"] for r in kantata.store.all("time_entries") if r["id"] not in wanted]
    for record_id in gone:
        kantata.store.delete("time_entries", record_id)
    return len(gone)

kantata.app.add_api_route("/__bench/time_entries", load, methods=["POST"])
kantata.app.add_api_route("/__bench/time_entries/keep", keep, methods=["POST"])
asyncio.run(box.serve())
"""


def start_sandbox(folder: Path, firm: Firm) -> subprocess.Popen[bytes]:
    """The sandbox in a process of its own, restoring ``folder/sandbox.json`` if there."""
    firm_file = folder / "firm.json"
    firm_file.write_text(firm.model_dump_json(), encoding="utf-8")
    log = (folder / "sandbox.log").open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _SANDBOX_MAIN,
            str(firm_file),
            str(BASE_PORT),
            str(CONCURRENCY),
            str(folder / "sandbox.json"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"{sandbox_urls(BASE_PORT)['netsuite']}/__sandbox/stats"
    deadline = time.monotonic() + 600  # restoring 150,000 records takes a while
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sandbox exited with {proc.returncode}; see {folder}/sandbox.log")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise TimeoutError("sandbox did not start")


def _workspaces(kantata: str) -> dict[str, str]:
    """Canonical project -> its Kantata workspace (Accord's external reference on it)."""
    refs = httpx.get(f"{kantata}/__sandbox/records/external_references", timeout=60).json()
    return {
        str(r["service_model_ref"]): str(r["subject_id"])
        for r in refs["records"]
        if r.get("subject_type") == "Workspace"
    }


def _users(kantata: str) -> dict[str, str]:
    users = httpx.get(f"{kantata}/__sandbox/records/users", timeout=60).json()["records"]
    return {str(u["email_address"]): str(u["id"]) for u in users}


def load_psa(
    firm: Firm, projects: dict[str, str], urls: dict[str, str], limit: int | None = None
) -> list[dict[str, Any]]:
    """Put the firm's approved time into Kantata; the ``timesheet.approved`` events for it.

    ``limit``: stop adding timesheets once this many entries are in (a quick try).
    """
    kantata = urls["kantata"]
    workspaces, users = _workspaces(kantata), _users(kantata)
    opportunities = {o.id: o for o in firm.opportunities}
    consultants = {c.id: c for c in firm.consultants}
    rates = _rates(firm)
    sheets = [
        s
        for s in sorted(firm.timesheets, key=lambda t: (t.week_start, t.id))
        if s.opportunity_id in projects and projects[s.opportunity_id] in workspaces
    ]
    if limit is not None:
        kept, count = [], 0
        for sheet in sheets:
            if count >= limit:
                break
            kept.append(sheet)
            count += len(sheet.entries)
        sheets = kept
    attrs: list[dict[str, Any]] = []
    for sheet in sheets:
        opp, person = opportunities[sheet.opportunity_id], consultants[sheet.consultant_id]
        rate = rates.get((opp.currency, person.role), person.bill_rate)
        for e in sheet.entries:
            attrs.append(
                {
                    "workspace_id": workspaces[projects[opp.id]],
                    "user_id": users[person.email],
                    "date_performed": e.date.isoformat(),
                    "time_in_minutes": int((e.hours * _MINUTE).to_integral_value(ROUND_HALF_UP)),
                    "billable": e.billable,
                    "notes": e.notes,
                    "rate_in_cents": int(rate * 100),
                    "currency": opp.currency,
                    "approved": True,
                    "user_can_edit": False,
                }
            )
    ids: list[str] = []
    with httpx.Client(timeout=600) as client:
        for start in range(0, len(attrs), 10_000):
            answer = client.post(
                f"{kantata}/__bench/time_entries", json=attrs[start : start + 10_000]
            )
            answer.raise_for_status()
            ids += answer.json()
    events: list[dict[str, Any]] = []
    at = 0
    for sheet in sheets:
        opp, person = opportunities[sheet.opportunity_id], consultants[sheet.consultant_id]
        project = projects[opp.id]
        rate = rates.get((opp.currency, person.role), person.bill_rate)
        entries = []
        for e in sheet.entries:
            minutes = Decimal(attrs[at]["time_in_minutes"])
            entries.append(
                {
                    "id": f"kantata-te-{ids[at]}",
                    "project_id": project,
                    "resource_id": person.id,
                    "date": e.date.isoformat(),
                    "hours": str((minutes / _MINUTE).quantize(_CENT, ROUND_HALF_UP)),
                    "billable": e.billable,
                    "bill_rate": {"amount": str(rate), "currency": opp.currency}
                    if e.billable
                    else None,
                    "role": person.role,
                    "notes": e.notes,
                }
            )
            at += 1
        approved = f"{sheet.week_start.isoformat()}T18:00:00Z"
        events.append(
            {
                "specversion": "1.0",
                "id": f"bench-recon-{sheet.id}",
                "source": "bench/kantata",
                "type": "timesheet.approved",
                "time": approved,
                "subject": sheet.id,
                "datacontenttype": "application/json",
                "data": {
                    "id": f"kantata-ts-{sheet.id}",
                    "resource_id": person.id,
                    "project_id": project,
                    "week_start": sheet.week_start.isoformat(),
                    "status": "approved",
                    "approved_at": approved,
                    "entries": entries,
                },
            }
        )
    return events


def configure(folder: Path, urls: dict[str, str]) -> Path:
    """``accord.yaml`` of the drain, with approval capture and scheduled runs off."""
    path = write_config(folder, urls)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["approvals"]["capture_interval_s"] = 0
    document["reconciliation"] = {"interval_minutes": 0, "settle_minutes": 0}
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def drain(folder: Path, limit: int | None = None) -> dict[str, Any]:
    """Steps 1 and 2 of the module docstring; returns what was drained."""
    firm = bench_firm()
    urls = sandbox_urls(BASE_PORT)
    db_url = f"sqlite:///{folder / 'accord.db'}"
    sandbox = start_sandbox(folder, firm)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        limit_netsuite(urls["netsuite"])
        config = configure(folder, urls)
        env = {"ACCORD_CONFIG_FILE": str(config), "ACCORD_INTAKE__WORKER_CONCURRENCY": "16"}
        authorize_kantata(db_url, config)
        key = create_key(db_url, role="ingest")
        procs += _start(db_url, API_PORT, folder, sqlite=True, workers=1, env=env)
        engine = sa.create_engine(db_url)
        won = sum(1 for o in firm.opportunities if o.stage == "Closed Won")
        accepted = wait_provisioned(engine, urls["netsuite"], won)
        projects = {k: v for k, v in project_ids(urls["salesforce"]).items() if v in accepted}
        events = load_psa(firm, projects, urls, limit)
        started = time.monotonic()
        asyncio.run(_submit(f"http://127.0.0.1:{API_PORT}", key, events))
        time.sleep(2)
        while _unfinished(engine):
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"accord exited; see {folder}")
            time.sleep(1)
        drained = time.monotonic() - started
        statuses = _statuses(engine)
        engine.dispose()
    finally:
        _stop(procs)
        stop_sandbox(sandbox)  # it saves its state as it stops
    return {
        "timesheets": len(events),
        "entries": sum(len(e["data"]["entries"]) for e in events),
        "drain_s": drained,
        "runs": statuses,
    }


def in_ledger(folder: Path) -> list[str]:
    """Kantata ids of the time entries Accord's ledger holds (posted or queued)."""
    engine = sa.create_engine(f"sqlite:///{folder / 'accord.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT entry_id FROM accord_postings WHERE kind = 'time'")
            ).all()
    finally:
        engine.dispose()
    prefix = "kantata-te-"
    return [str(r[0])[len(prefix) :] for r in rows if str(r[0]).startswith(prefix)]


def reconcile(folder: Path, *, trim: bool = False) -> dict[str, Any]:
    """Step 3: ``accord reconcile --json`` against the drained firm, timed.

    ``trim``: the drain was stopped before it finished; first remove from Kantata the
    approved entries Accord never took in, so that the firm reconciled is consistent (what
    was approved was posted) and only smaller.
    """
    sandbox = start_sandbox(folder, bench_firm())
    trimmed = None
    try:
        urls = sandbox_urls(BASE_PORT)
        ns = urls["netsuite"]
        httpx.delete(f"{ns}/__sandbox/faults", timeout=10).raise_for_status()  # no latency
        if trim:
            answer = httpx.post(
                f"{urls['kantata']}/__bench/time_entries/keep", json=in_ledger(folder), timeout=600
            )
            answer.raise_for_status()
            trimmed = int(answer.json())
        env = accord_env(
            f"sqlite:///{folder / 'accord.db'}", ACCORD_CONFIG_FILE=str(folder / "accord.yaml")
        )
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "accord.cli", "reconcile", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=(folder / "reconcile.log").open("wb"),
        )
        peak = 0.0
        while proc.poll() is None:
            with contextlib.suppress(OSError):
                peak = max(peak, peak_rss_mib(proc.pid))
            time.sleep(0.5)
        out = proc.stdout.read() if proc.stdout else b""
        wall = time.monotonic() - started
    finally:
        stop_sandbox(sandbox)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"accord reconcile exited {proc.returncode}; see {folder}")
    report = json.loads(out)
    return {
        "wall_s": wall,
        "exit": proc.returncode,
        "peak_mib": peak,
        "run": report,
        "trimmed": trimmed,
    }


def stop_sandbox(proc: subprocess.Popen[bytes]) -> None:
    """Stop the sandbox and let it save 150,000 records (longer than other processes)."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()


def describe(drained: dict[str, Any] | None, result: dict[str, Any]) -> str:
    """The measurements as Markdown table rows (metric | value)."""
    run = result["run"]
    totals = run["report"]["totals"]
    checks = ", ".join(
        f"{c['check']}"
        + (f" ({c['connection']})" if c.get("connection") else "")
        + f": {c['checked']:,}"
        for c in run["report"]["checks"]
    )
    drain_row = (
        "reused"
        + (
            f" (drain stopped early: {result['trimmed']:,} approved entries Accord never "
            "took in removed from Kantata)"
            if result.get("trimmed") is not None
            else ""
        )
        if drained is None
        else f"{drained['entries']:,} entries, {drained['timesheets']:,} timesheets, "
        f"{drained['drain_s']:.0f} s, runs {json.dumps(drained['runs'])}"
    )
    rows = [
        ("drain", drain_row),
        (
            "`accord reconcile` wall time, whole firm",
            f"**{result['wall_s']:.1f} s** (target <= 60 s)",
        ),
        ("run status / exit code", f"{run['status']} / {result['exit']}"),
        ("records compared", f"{run['checked']:,}"),
        ("drift items", str(len(run["drift"]))),
        ("projects with totals / all agree", f"{len(totals)} / {all(t['agree'] for t in totals)}"),
        ("records compared per check", checks),
        ("peak memory of `accord reconcile` (MiB)", f"{result['peak_mib']:.0f}"),
    ]
    return "\n".join(f"| {name} | {value} |" for name, value in rows)
