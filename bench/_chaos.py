"""The chaos harness: a seeded schedule of faults against a draining Accord, and the verdict.

Shared by ``bench/chaos.py`` (the quarter-end drain) and the short version in the test suite
(``tests/e2e/time_to_bill/test_chaos.py``). The pieces:

- :func:`schedule`: the faults, at seeded random moments of a span: SIGKILLs of worker
  processes, one ERP outage (connections refused for its first half, then 503s), 429 storms,
  windows in which NetSuite commits a write and loses its answer (the emulators'
  ``lose_response_rate``), windows of answers slower than the client's timeout, and database
  restarts (PostgreSQL);
- :class:`ErpFaults`: NetSuite's side, through its fault API (``/__sandbox/faults``) and a
  :class:`~accord_sandbox.gate.TcpGate` in front of it (refused connections);
- :class:`Fleet`: Accord's processes, killed and started again under the same worker id (as a
  supervisor would), and started again if one exits on its own (counted: that is a finding);
- :class:`PgCluster`: a PostgreSQL server of the harness's own, so it can be restarted;
- :class:`Chaos`: a thread that applies the schedule;
- :func:`judge`: the verdict from the ERP emulator's records and counters and Accord's
  database: entries lost, entries doubled (by external id and by business identity), the
  per-project tie-out of hours and amounts to the cent, and how every run ended.
"""

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from _quarter_end import stop_processes
from dbos import DBOSClient

from accord.store import exceptions, postings
from accord_sandbox.gate import TcpGate

KILL = "kill"
OUTAGE = "outage"
STORM = "429-storm"
LOST = "lost-responses"
SLOW = "slow-responses"
DB_RESTART = "db-restart"

TIME_BILLS = "*/record/v1/timeBill/*"
"""The path of NetSuite's time postings (``PUT .../timeBill/eid:<entry id>``)."""
CENT = Decimal("0.01")


# ---------------------------------------------------------------------------- the schedule
@dataclass(frozen=True)
class Fault:
    """One fault of the schedule: when (seconds after the drain starts), what, how long."""

    at_s: float
    kind: str
    duration_s: float = 0.0


@dataclass(frozen=True)
class ChaosSpec:
    """How many faults of each kind, and how long each lasts."""

    kills: int = 20
    outage_s: float = 60.0
    storms: int = 4
    storm_s: float = 15.0
    storm_rate: float = 0.7
    lost: int = 3
    lost_s: float = 20.0
    lose_rate: float = 0.3
    slow: int = 3
    slow_s: float = 10.0
    db_restarts: int = 0


def schedule(seed: int, span_s: float, spec: ChaosSpec) -> list[Fault]:
    """The faults at seeded random moments of ``span_s`` (the same seed, the same schedule).

    The outage starts in the first half (so the drain is still busy when it ends); kills,
    storms, lost and slow windows and database restarts fall anywhere in the span.
    """
    rng = random.Random(seed)
    faults = [Fault(rng.uniform(0.02, 0.95) * span_s, KILL) for _ in range(spec.kills)]
    if spec.outage_s > 0:
        faults.append(Fault(rng.uniform(0.1, 0.5) * span_s, OUTAGE, spec.outage_s))
    windows = ((STORM, spec.storms, spec.storm_s), (LOST, spec.lost, spec.lost_s),
               (SLOW, spec.slow, spec.slow_s))  # fmt: skip
    for kind, count, length in windows:
        faults += [Fault(rng.uniform(0.03, 0.9) * span_s, kind, length) for _ in range(count)]
    faults += [Fault(rng.uniform(0.1, 0.9) * span_s, DB_RESTART) for _ in range(spec.db_restarts)]
    return sorted(faults, key=lambda f: f.at_s)


# ---------------------------------------------------------------------------- the ERP
class ErpFaults:
    """NetSuite misbehaving: rules through its fault API, refused connections at the gate.

    The emulator's fault API adds rules or clears them all, so the board keeps the rules that
    must stay (``base``: the benchmark's latency) plus the active ones, and writes the whole
    set again on each change.
    """

    def __init__(
        self,
        url: str,
        gate: TcpGate,
        *,
        timeout_s: float,
        base: Iterable[dict[str, Any]] = (),
        spec: ChaosSpec = ChaosSpec(),
    ) -> None:
        self.url = url
        self.gate = gate
        self.timeout_s = timeout_s
        self.spec = spec
        self._base = list(base)
        self._active: dict[str, dict[str, Any]] = {}
        self._opened: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()

    def rule(self, kind: str) -> dict[str, Any]:
        """The fault rule of one kind of window."""
        if kind == STORM:
            return {"path": "/services/*", "error_rate": self.spec.storm_rate, "status": 429}
        if kind == LOST:
            return {"method": "PUT", "path": TIME_BILLS, "lose_response_rate": self.spec.lose_rate}
        if kind == SLOW:
            # Past the client's timeout: the write still lands, after the client gave up.
            late = int((self.timeout_s + 1) * 1000)
            return {"method": "PUT", "path": TIME_BILLS, "latency_ms": late, "jitter_ms": 1000}
        if kind == OUTAGE:
            return {"path": "/services/*", "error_rate": 1.0, "status": 503}
        raise ValueError(kind)

    def _write(self) -> None:
        httpx.delete(f"{self.url}/__sandbox/faults", timeout=30).raise_for_status()
        for rule in [*self._base, *self._active.values()]:
            httpx.post(f"{self.url}/__sandbox/faults", json=rule, timeout=30).raise_for_status()

    def _counters(self) -> dict[str, int]:
        stats = httpx.get(f"{self.url}/__sandbox/stats", timeout=30).json()
        return {k: int(stats[k]) for k in ("requests", "writes", "errors", "throttled")}

    def begin(self, name: str, kind: str) -> None:
        """Start a window (``name`` tells overlapping windows of one kind apart)."""
        with self._lock:
            self._active[name] = self.rule(kind)
            self._write()
            self._opened[name] = self._counters()

    def end(self, name: str) -> dict[str, int]:
        """End a window; returns what NetSuite counted meanwhile (all windows together)."""
        with self._lock:
            self._active.pop(name, None)
            self._write()
            before = self._opened.pop(name, None) or {}
            return {k: v - before.get(k, 0) for k, v in self._counters().items()}

    def refuse_connections(self, refused: bool) -> None:
        """Close the gate (connections refused, open ones cut) or open it again."""
        if refused:
            self.gate.close()
        else:
            self.gate.open()

    def restore(self) -> None:
        """Only the base rules, and the gate open."""
        with self._lock:
            self._active.clear()
            self._opened.clear()
            self._write()
        self.gate.open()


# ---------------------------------------------------------------------------- processes
READY_MARKERS = (b"runtime launched", b"worker ready")
"""Log lines that say a process is up (its runtime launched): only then is it killed again."""


@dataclass
class Member:
    """One Accord process of the fleet; ``launch`` starts it (again, under the same id)."""

    name: str
    launch: Callable[[], subprocess.Popen[bytes]]
    killable: bool = True
    log: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    log_offset: int = 0
    """The log's size when the process was last started (its own lines come after)."""
    up_since: float | None = None
    """When (``time.monotonic()``) the running process was first seen up."""

    def start(self) -> None:
        """Start the process (again), noting where its lines begin in the log."""
        self.log_offset = self.log.stat().st_size if self.log and self.log.exists() else 0
        self.up_since = None
        self.proc = self.launch()

    def up_for(self) -> float | None:
        """Seconds since the running process was first seen up; ``None`` while it starts."""
        if self.up_since is None and self.ready:
            self.up_since = time.monotonic()
        return None if self.up_since is None else time.monotonic() - self.up_since

    @property
    def ready(self) -> bool:
        """Whether the running process is up: its log shows a ready line since its start.

        A process killed while it is still starting does no work, so a kill then would test
        nothing (on a loaded machine a start takes tens of seconds).
        """
        if not _alive(self):
            return False
        if self.log is None:
            return True
        with self.log.open("rb") as log:
            log.seek(self.log_offset)
            since = log.read()
        return any(marker in since for marker in READY_MARKERS)


@dataclass
class Fleet:
    """Accord's processes: SIGKILLed on the schedule, started again at once, supervised."""

    members: list[Member]
    clock: Callable[[], float] = time.monotonic
    kills: list[dict[str, Any]] = field(default_factory=list)
    exits: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, ready: Callable[[Member], None] | None = None) -> None:
        """Start every member in order, each after ``ready`` returned for the one before.

        (Processes started at once on a fresh PostgreSQL database race each other through
        the runtime's schema migration: the first one up migrates, the others follow.)
        """
        for member in self.members:
            member.start()
            if ready is not None:
                ready(member)

    def kill(self, rng: random.Random, min_up_s: float = 0.0) -> str | None:
        """SIGKILL one killable member up for ``min_up_s`` and start it again; its name.

        ``None`` when no killable member has been up that long (each is still starting, or
        just started: a process killed before it did any work tests nothing).
        """
        with self._lock:
            running = [m for m in self.members if m.killable and _up_for_at_least(m, min_up_s)]
            if not running:
                return None
            member = rng.choice(running)
            assert member.proc is not None
            os.kill(member.proc.pid, signal.SIGKILL)
            member.proc.wait(timeout=30)
            member.start()
            self.kills.append({"at": round(self.clock(), 1), "process": member.name})
            return member.name

    def supervise(self) -> None:
        """Start again a member that exited on its own (a crash Accord should not have)."""
        with self._lock:
            for member in self.members:
                if member.proc is not None and member.proc.poll() is not None:
                    self.exits.append(
                        {
                            "at": round(self.clock(), 1),
                            "process": member.name,
                            "returncode": member.proc.returncode,
                            "log_tail": _tail(member.log),
                        }
                    )
                    member.start()

    def pids(self) -> list[int]:
        """The running members' process ids."""
        return [m.proc.pid for m in self.members if m.proc is not None and _alive(m)]

    def stop(self) -> None:
        """SIGTERM every member, then SIGKILL what has not stopped within 30 s."""
        with self._lock:
            stop_processes([m.proc for m in self.members if m.proc is not None])


def _up_for_at_least(member: Member, seconds: float) -> bool:
    up = member.up_for()
    return up is not None and up >= seconds


def _alive(member: Member) -> bool:
    return member.proc is not None and member.proc.poll() is None


def _tail(log: Path | None, lines: int = 15) -> str:
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def free_ports(count: int, start: int = 20000, stop: int = 40000) -> int:
    """The first of ``count`` consecutive free loopback ports (other benchmarks may be running).

    Raises:
        RuntimeError: None found.
    """
    rng = random.Random()
    for _ in range(200):
        first = rng.randrange(start, stop - count)
        probes: list[socket.socket] = []
        try:
            for port in range(first, first + count):
                probe = socket.socket()
                probes.append(probe)
                probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
        return first
    raise RuntimeError("no free block of ports")


# ---------------------------------------------------------------------------- PostgreSQL
def postgres_bindir() -> Path | None:
    """Debian's newest PostgreSQL server programs, or ``initdb``/``pg_ctl`` on PATH."""
    for found in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (found / "initdb").exists() and (found / "pg_ctl").exists():
            return found
    ctl = shutil.which("pg_ctl")
    return Path(ctl).parent if ctl and shutil.which("initdb") else None


class PgCluster:
    """A throw-away PostgreSQL server of the harness's own (it restarts it on the schedule).

    As ``scripts/pg.sh`` does: a cluster in a temporary folder on a free loopback port, trust
    authentication, durability off (it is thrown away), owned by ``postgres`` when run as root.
    """

    def __init__(self, bindir: Path, folder: Path | None = None) -> None:
        # A folder of its own under /tmp: the server's user must reach it (a caller's
        # temporary folder is often closed to others).
        self.folder = folder or Path(tempfile.mkdtemp(prefix="accord-chaos-pg-"))
        self.bindir = bindir
        self.data = self.folder / "pgdata"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.restarts: list[dict[str, Any]] = []

    def _as_owner(self, *argv: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)

    @property
    def url(self) -> str:
        """The server's ``postgres`` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Create the cluster and start the server."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        subprocess.run(
            self._as_owner(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                           "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"),
            check=True, capture_output=True,
        )  # fmt: skip
        self._ctl("start")

    def _ctl(self, action: str, *extra: str) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        subprocess.run(
            self._as_owner(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                           str(self.folder / "server.log"), "-w", "-t", "60", action, *extra,
                           "-o", options),
            check=True, capture_output=True,
        )  # fmt: skip

    def restart(self, clock: Callable[[], float] = time.monotonic) -> None:
        """Restart the server: every connection is cut, as in a failover or an operator's
        restart (``pg_ctl restart -m fast``)."""
        started = clock()
        self._ctl("restart", "-m", "fast")
        self.restarts.append({"at": round(started, 1), "took_s": round(clock() - started, 1)})

    def fresh_database(self, name: str) -> str:
        """Create a database and return its URL."""
        admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def stop(self) -> None:
        """Stop the server and remove its files."""
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(
                self._as_owner(str(self.bindir / "pg_ctl"), "-D", str(self.data), "stop",
                               "-m", "fast", "-t", "30"),
                check=True, capture_output=True,
            )  # fmt: skip
        shutil.rmtree(self.folder, ignore_errors=True)


# ---------------------------------------------------------------------------- the thread
@dataclass(frozen=True)
class _Action:
    at_s: float
    kind: str
    what: str
    act: Callable[[], object]
    starts: bool = True
    """Whether this action starts a fault (counted) or ends one."""


class Chaos(threading.Thread):
    """Applies a schedule: each fault at its moment, relative to :meth:`start`.

    A SIGKILL waits until a killable process is up (started again after the previous kill and
    launched its runtime) and has been for ``min_up_s``: killing one that is still starting
    would test nothing. The rest of the schedule moves later by the wait, so that every fault
    keeps its place among the kills (a window with a kill inside lasts longer by that wait).
    """

    READY_TIMEOUT_S = 600.0
    """How long a kill waits for a process to come up before the harness gives up."""

    def __init__(
        self,
        plan: list[Fault],
        *,
        fleet: Fleet,
        erp: ErpFaults,
        db: PgCluster | None = None,
        seed: int = 0,
        min_up_s: float = 0.0,
    ) -> None:
        super().__init__(name="chaos", daemon=True)
        self.min_up_s = min_up_s
        self.plan = plan
        self.fleet = fleet
        self.erp = erp
        self.db = db
        self.rng = random.Random(seed)
        self.applied: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._halt = threading.Event()
        self._t0 = time.monotonic()
        self._shift = 0.0
        """Seconds the schedule moved later while kills waited for a process to be up."""
        self._todo = self._actions()

    def elapsed(self) -> float:
        """Seconds since the schedule started."""
        return time.monotonic() - self._t0

    def _kill(self) -> dict[str, Any] | None:
        """SIGKILL a process once one is up; ``None`` if halted first.

        Raises:
            TimeoutError: No killable process came up within :attr:`READY_TIMEOUT_S`.
        """
        started = time.monotonic()
        while not self._halt.is_set():
            name = self.fleet.kill(self.rng, self.min_up_s)
            waited = time.monotonic() - started
            if name is not None:
                self._shift += waited
                return {"process": name, "waited_s": round(waited, 1)}
            if waited > self.READY_TIMEOUT_S:
                msg = f"no process came up within {self.READY_TIMEOUT_S:.0f} s"
                raise TimeoutError(msg)
            self._halt.wait(0.5)
        return None

    def _restart_db(self) -> None:
        assert self.db is not None
        self.db.restart(self.elapsed)

    def _actions(self) -> list[_Action]:
        erp = self.erp
        out: list[_Action] = []
        for i, fault in enumerate(self.plan):
            name, at, end = f"{fault.kind}-{i}", fault.at_s, fault.at_s + fault.duration_s
            if fault.kind == KILL:
                out.append(_Action(at, KILL, "SIGKILL", self._kill))
            elif fault.kind == DB_RESTART and self.db is not None:
                out.append(_Action(at, DB_RESTART, "database restart", self._restart_db))
            elif fault.kind == OUTAGE:
                half = at + fault.duration_s / 2

                def to_503(n: str = name) -> None:
                    erp.refuse_connections(refused=False)
                    erp.begin(n, OUTAGE)

                out += [
                    _Action(at, OUTAGE, "connections refused",
                            lambda: erp.refuse_connections(refused=True)),
                    _Action(half, OUTAGE, "503s", to_503, starts=False),
                    _Action(end, OUTAGE, "outage over", lambda n=name: erp.end(n), starts=False),
                ]  # fmt: skip
            elif fault.kind in (STORM, LOST, SLOW):
                out += [
                    _Action(at, fault.kind, "begins", lambda n=name, k=fault.kind: erp.begin(n, k)),
                    _Action(end, fault.kind, "ends", lambda n=name: erp.end(n), starts=False),
                ]
        return sorted(out, key=lambda a: a.at_s)

    def start(self) -> None:
        """Start the schedule's clock and its thread."""
        self._t0 = time.monotonic()
        super().start()

    def run(self) -> None:
        """Apply the schedule until it ends or :meth:`halt` is called."""
        for action in self._todo:
            if self._halt.wait(max(0.0, action.at_s + self._shift - self.elapsed())):
                break
            step: dict[str, Any] = {
                "at": round(self.elapsed(), 1),
                "kind": action.kind,
                "what": action.what,
                "starts": action.starts,
            }
            try:
                result = action.act()
            except Exception as exc:
                self.errors.append(f"{action.kind} {action.what} at {step['at']}s: {exc!r}")
                continue
            if self._halt.is_set():
                break  # a kill still waiting for a process when the harness stopped
            if result is not None:
                step["detail"] = result
            self.applied.append(step)

    @property
    def done(self) -> bool:
        """Whether every action of the schedule was applied."""
        return not self.is_alive() and len(self.applied) == len(self._todo)

    def halt(self) -> None:
        """Stop applying faults and put NetSuite back to its base rules."""
        self._halt.set()
        if self.is_alive():
            self.join(timeout=120)
        self.erp.restore()

    @property
    def delayed_s(self) -> float:
        """Seconds the schedule moved later while kills waited for a process to be up."""
        return self._shift

    def summary(self) -> dict[str, int]:
        """Faults applied (started), by kind."""
        return dict(Counter(str(s["kind"]) for s in self.applied if s["starts"]))

    def planned(self) -> dict[str, int]:
        """Faults in the schedule, by kind."""
        return dict(Counter(a.kind for a in self._todo if a.starts))


# ---------------------------------------------------------------------------- the verdict
@dataclass(frozen=True)
class Entry:
    """One approved entry as the workload sent it."""

    id: str
    project: str
    hours: Decimal
    rate: Decimal | None


def entries_of(events: Iterable[dict[str, Any]]) -> list[Entry]:
    """The entries of ``timesheet.approved`` events (CloudEvents or their ``data``)."""
    out = []
    for event in events:
        data = event.get("data", event)
        for e in data["entries"]:
            rate = e.get("bill_rate")
            out.append(
                Entry(
                    id=e["id"],
                    project=e["project_id"],
                    hours=Decimal(str(e["hours"])),
                    rate=Decimal(str(rate["amount"])) if rate and e.get("billable", True) else None,
                )
            )
    return out


def _amount(hours: Decimal, rate: Decimal | None) -> Decimal:
    if rate is None:
        return Decimal(0)
    return (hours * rate).quantize(CENT, ROUND_HALF_UP)


def _runs_table(engine: sa.Engine) -> str:
    return "dbos.workflow_status" if engine.dialect.name == "postgresql" else "workflow_status"


def judge(
    entries: list[Entry],
    ns_url: str,
    engine: sa.Engine,
    *,
    workflows: tuple[str, ...] = ("time_to_bill",),
) -> dict[str, Any]:
    """The verdict of a drain from NetSuite's records and counters and Accord's database.

    - lost: approved entries with no ``timeBill`` of their external id;
    - doubled: ``timeBill`` records beyond the first of one external id, and the emulator's
      duplicate counter (a second record of one business fact under another external id
      counts too: employee, project, date, hours and memo);
    - tie-out: per project, the hours and the amounts (hours x rate to the cent) NetSuite holds
      against the approved ones;
    - runs: every run of ``workflows`` by DBOS status; a run that did not succeed is listed
      with its error (a dead letter); runs that posted nothing must hold an open exception.
    """
    bills = httpx.get(f"{ns_url}/__sandbox/records/timeBill", timeout=600).json()["records"]
    stats = httpx.get(f"{ns_url}/__sandbox/stats", timeout=30).json()
    wanted = {e.id: e for e in entries}
    by_eid: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for bill in bills:
        if str(bill.get("externalId")) in wanted:
            by_eid[str(bill["externalId"])].append(bill)
    lost = sorted(eid for eid in wanted if eid not in by_eid)
    doubled = {eid: len(found) for eid, found in by_eid.items() if len(found) > 1}
    identity = Counter(
        (
            (b.get("employee") or {}).get("id"),
            (b.get("customer") or {}).get("id"),
            b.get("tranDate"),
            str(b.get("hours")),
            b.get("memo"),
        )
        for found in by_eid.values()
        for b in found
    )
    approved: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    posted: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for entry in entries:
        approved[entry.project][0] += entry.hours
        approved[entry.project][1] += _amount(entry.hours, entry.rate)
    for eid, found in by_eid.items():
        for bill in found:
            hours = Decimal(str(bill.get("hours"))).quantize(CENT)
            rate = Decimal(str(bill["rate"])) if bill.get("rate") is not None else None
            project = wanted[eid].project
            posted[project][0] += hours
            posted[project][1] += _amount(hours, rate if wanted[eid].rate is not None else None)
    mismatched = {
        p: {"approved": [str(v) for v in a], "posted": [str(v) for v in posted.get(p, [0, 0])]}
        for p, a in approved.items()
        if posted.get(p) != a
    }
    return {
        "entries": len(entries),
        "time_bills": sum(len(f) for f in by_eid.values()),
        "lost": len(lost),
        "lost_ids": lost[:20],
        "doubled_by_external_id": sum(n - 1 for n in doubled.values()),
        "doubled_ids": dict(list(doubled.items())[:20]),
        "doubled_by_business_identity": sum(n - 1 for n in identity.values() if n > 1),
        "emulator_duplicates": int(stats["duplicates"]),
        "emulator_duplicates_by_identity": dict(stats.get("duplicates_by_identity", {})),
        "projects": len(approved),
        "projects_mismatched": mismatched,
        "approved_amount": str(sum((a[1] for a in approved.values()), Decimal(0))),
        "posted_amount": str(sum((p[1] for p in posted.values()), Decimal(0))),
        "throttled": int(stats["throttled"]),
        "errors": int(stats["errors"]),
        **_runs(engine, workflows),
    }


def _runs(engine: sa.Engine, workflows: tuple[str, ...]) -> dict[str, Any]:
    client = DBOSClient(system_database_engine=engine)
    try:
        runs = client.list_workflows(name=list(workflows), load_input=False)
    finally:
        client.destroy()
    # Through the store (the one door to Accord's tables).
    with engine.connect() as conn:
        opened = exceptions.list_(conn, status="open", limit=100_000)
        ledger = postings.count_by_status(conn)
    outcomes: Counter[str] = Counter()
    dead = []
    for run in runs:
        if run.status != "SUCCESS":
            dead.append(
                {"run": run.workflow_id, "status": run.status, "error": str(run.error)[:300]}
            )
        elif isinstance(run.output, dict):
            outcomes[str(run.output.get("status"))] += 1
    return {
        "runs": dict(Counter(str(r.status) for r in runs)),
        "run_outcomes": dict(outcomes),
        "dead_letters": dead[:20],
        "dead_letter_count": len(dead),
        "open_exceptions": dict(Counter(e.code for e in opened)),
        "ledger": {status: sum(kinds.values()) for status, kinds in ledger.items()},
    }


def unfinished(engine: sa.Engine, workflows: tuple[str, ...] = ("time_to_bill",)) -> int:
    """Runs of ``workflows`` still queued or running (-1 while the database is unreachable)."""
    names = ", ".join(f"'{w}'" for w in workflows)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text(
                        f"SELECT COUNT(*) FROM {_runs_table(engine)} "
                        f"WHERE status IN ('ENQUEUED', 'PENDING') AND name IN ({names})"
                    )
                ).scalar_one()
            )
    except sa.exc.DBAPIError:
        return -1  # restarting: keep waiting


def passed(verdict: dict[str, Any]) -> bool:
    """0 lost, 0 doubled (both ways), every project tied out, every run finished."""
    return (
        verdict["lost"] == 0
        and verdict["doubled_by_external_id"] == 0
        and verdict["doubled_by_business_identity"] == 0
        and verdict["emulator_duplicates"] == 0
        and not verdict["projects_mismatched"]
        and verdict["dead_letter_count"] == 0
    )
