"""``accord demo``: the sandbox and Accord in one process, with won deals streaming through.

The command starts the emulators (scenario ``firm``), writes the ``accord.yaml`` that
points Accord at them, starts Accord itself (durable runtime, change capture and HTTP API on
one SQLite database) and creates an admin key. Once ``/readyz`` answers 200 it prints
``Console: <url>`` and ``Admin key: <key>``; unless ``--no-traffic``, it then wins the firm's
open opportunities through the Salesforce REST API, a few every few seconds, has the firm's
consultants log and approve a week of time on each project Accord provisions (the traffic
lives in :mod:`accord.cli.demo_traffic`), has project managers plan, cost and complete them
(:mod:`accord.cli.demo_delivery`), and shows a running summary read back from Accord's own
store and API and from the ERP emulators (time posted).

Everything the demo writes lives in its data directory (``./var/demo`` by default):
``accord.yaml`` (and the NetSuite M2M key it references), the SQLite database, the credentials
key and ``accord.log``. Logs go to that file rather than the terminal, so that they do not tear
the live table. With Kantata as the PSA, the demo performs ``accord connections authorize
kantata`` itself before the flows start, the sandbox user approving at once.

What does *not* belong here: the flows themselves (:mod:`accord.flows`), the emulators
(:mod:`accord_sandbox`) and the sandbox's ``accord.yaml`` (:mod:`accord_sandbox.accord_config`).
"""

import contextlib
import fcntl
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, Final, TextIO

import httpx
import sqlalchemy as sa
import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from accord.cli.demo_billing import BILLING_INTERVAL_S, BillingTraffic
from accord.cli.demo_delivery import DeliveryStatus, DeliveryTraffic, read_delivery_status
from accord.cli.demo_traffic import BATCH, TimeStatus, TimeTraffic, Traffic, read_time_status
from accord.store import progress

if TYPE_CHECKING:
    import uvicorn
    from dbos import DBOSClient

    from accord.flows.services import Services
    from accord.settings import Settings
    from accord_sandbox.accord_config import PsaChoice
    from accord_sandbox.server import SandboxHandle

__all__ = [
    "DemoError",
    "DemoOptions",
    "DemoStatus",
    "Traffic",
    "demo",
    "read_status",
    "run_demo",
]

logger = logging.getLogger(__name__)

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)

HOST: Final = "127.0.0.1"
"""The demo listens on loopback only: it serves a published admin key and demo credentials."""
WORKER_ID: Final = "demo"
"""The durable runtime's executor id; every start is a fresh database, so it need not vary."""
DB_FILE: Final = "accord.db"
LOG_FILE: Final = "accord.log"
LOCK_FILE: Final = ".lock"
CONFIG_FILE: Final = "accord.yaml"
KEY_FILE: Final = "credentials.key"
BATCH_INTERVAL_S: Final = 4.0
"""Seconds between two batches: the whole open pipeline (56 deals) is won in about 75 s."""
REFRESH_S: Final = 1.0
"""Seconds between two reads of the summary."""
PLAIN_SUMMARY_EVERY_S: Final = 5.0
"""Without a terminal (``make run | tee``), a one-line summary at most this often."""
TIME_THREAD_JOIN_S: Final = 5.0
"""How long Ctrl-C waits for the consultants' thread to finish the PSA call in flight."""
READY_TIMEOUT_S: Final = 120.0
STOP_TIMEOUT_S: Final = 30.0
FLOW: Final = "lead_to_project"
"""The lead-to-project flow's name in exceptions (``accord.flows.lead_to_project.steps.FLOW``)."""
PATH_ORDER: Final = {"opportunity": 0, "customer": 1, "psa_project": 2, "erp_project": 3}
"""Lineage node types on an opportunity's path to its projects, in the flow's order."""
PROVISIONED: Final = "provisioned"
"""Status of the flow's ``psa_project -> erp_project`` lineage edge once all is provisioned."""


# --------------------------------------------------------------------------- options
@dataclass(frozen=True)
class DemoOptions:
    """What ``accord demo`` was asked to do."""

    port: int = 8080
    sandbox_base_port: int = 8800
    psa: "PsaChoice" = "kantata"
    traffic: bool = True
    seed: int = 7
    data_dir: Path = Path("var/demo")
    migrate: str | None = None
    """A legal entity to run with Dynamics 365 Finance as its shadow ERP (docs/migration.md)."""

    @property
    def console_url(self) -> str:
        """The product's address: the console at ``/``."""
        return f"http://{HOST}:{self.port}/"

    @property
    def api_url(self) -> str:
        """Base URL of Accord's HTTP API."""
        return f"http://{HOST}:{self.port}"


class DemoError(Exception):
    """The demo cannot start: a busy port, an unwritable data directory, a failed start."""


# --------------------------------------------------------------------------- status
@dataclass(frozen=True)
class LineageHop:
    """One node of a lineage graph, as the summary shows it."""

    type: str
    systems: dict[str, str]
    status: str | None


@dataclass(frozen=True)
class DemoStatus:
    """What Accord itself says, read from its store and API (never from the traffic's plan)."""

    won: int = 0
    """Opportunities Accord has seen won (journaled, or refused with an exception)."""
    provisioned: int = 0
    """Won opportunities whose lineage says provisioned."""
    needs_attention: int = 0
    """Won opportunities with an open lead-to-project exception."""
    exceptions_open: dict[str, int] = field(default_factory=dict)
    """Open exceptions by owner queue."""
    runs: dict[str, int] = field(default_factory=dict)
    """Event runs by status."""
    last_id: str | None = None
    """The Salesforce id of the latest provisioned opportunity."""
    lineage: tuple[LineageHop, ...] = ()
    """Its lineage, from ``GET /api/v1/lineage``."""
    time: TimeStatus = field(default_factory=TimeStatus)
    """Timesheets approved (journaled by Accord) and posted (in the ERP emulators)."""
    delivery: DeliveryStatus = field(default_factory=DeliveryStatus)
    """Statuses, tasks, people and vendor bills delivery sync carried."""

    def line(self) -> str:
        """The summary as one line, for logs and pipes."""
        runs = ", ".join(f"{k.lower()} {v}" for k, v in sorted(self.runs.items())) or "none"
        return (
            f"won {self.won} · provisioned {self.provisioned} · needs attention "
            f"{self.needs_attention} · exceptions open {sum(self.exceptions_open.values())}"
            f" · timesheets approved {self.time.approvals} · posted {self.time.posted}"
            f" · hours posted {self.time.hours_posted:.2f}"
            f" · recharged {self.time.recharged} · converted {self.time.foreign}"
            f" · statuses synced {self.delivery.statuses} · tasks in ERP {self.delivery.tasks}"
            f" · vendor bills {self.delivery.bills}/{self.delivery.recorded}"
            f" · runs: {runs}"
        )


def read_status(
    engine: sa.Engine,
    *,
    client: "DBOSClient | None" = None,
    api: httpx.Client | None = None,
    urls: Mapping[str, str] | None = None,
) -> DemoStatus:
    """Read the demo's summary from Accord's store, its runtime and its lineage API.

    Args:
        engine: Accord's database.
        client: The runtime's client, for runs by status (omitted: no run counts).
        api: An HTTP client on Accord's API with a viewer (or better) key, for the lineage
            of the latest provisioned opportunity (omitted: no lineage).
        urls: The sandbox's base URLs, to read time posted in the ERP emulators (omitted:
            approvals only).
    """
    with engine.connect() as conn:
        won = progress.opportunities_won(conn, flow=FLOW)
        by_queue = progress.open_by_queue(conn)
        attention = progress.keys_needing_attention(conn, flow=FLOW)
        provisioned = progress.provisioned_opportunities(conn, status=PROVISIONED)
    runs: dict[str, int] = {}
    if client is not None:
        from accord.flows.runtime import RUN_QUEUES

        with contextlib.suppress(Exception):  # a summary must never stop the demo
            statuses = [
                s
                for queue in RUN_QUEUES
                for s in client.list_workflows(
                    queue_name=queue, load_input=False, load_output=False
                )
            ]
            runs = dict(Counter(str(s.status) for s in statuses))
    last_id = provisioned[-1] if provisioned else None
    hops: tuple[LineageHop, ...] = ()
    if api is not None and last_id is not None:
        hops = _lineage(api, last_id)
    time = read_time_status(engine, urls or {})
    return DemoStatus(
        time=time,
        delivery=read_delivery_status(engine),
        won=int(won),
        provisioned=len(provisioned),
        needs_attention=int(attention),
        exceptions_open={str(k): int(v) for k, v in by_queue.items()},
        runs=runs,
        last_id=last_id,
        lineage=hops,
    )


def _lineage(api: httpx.Client, opportunity_id: str) -> tuple[LineageHop, ...]:
    try:
        resp = api.get(
            "/api/v1/lineage",
            params={"system": "salesforce", "type": "Opportunity", "id": opportunity_id},
        )
    except httpx.HTTPError:
        return ()
    if resp.status_code != 200:
        return ()
    nodes: list[dict[str, Any]] = resp.json().get("nodes", [])
    hops = [
        LineageHop(
            type=str(n.get("type")),
            systems={str(k): str(v) for k, v in (n.get("systems") or {}).items()},
            status=n.get("status"),
        )
        for n in nodes
    ]
    # The graph is walked both ways, so it also reaches the customer's other deals and the
    # events; the summary shows this deal's own path, in the order the flow made it.
    own = [
        h
        for h in hops
        if h.type in PATH_ORDER
        and (h.type != "opportunity" or h.systems.get("salesforce") == opportunity_id)
    ]
    return tuple(sorted(own, key=lambda h: PATH_ORDER[h.type]))


def render(status: DemoStatus, *, traffic: Traffic | None, stopping: bool = False) -> Group:
    """The live summary: counters, runs by status and the last provisioned lineage."""
    table = Table(title="Accord demo", title_justify="left", show_header=False, min_width=60)
    table.add_column("what", style="bold")
    table.add_column("value")
    if traffic is not None:
        table.add_row("won (sent to Salesforce)", f"{len(traffic.won)} of {len(traffic.plan)}")
    table.add_row("won (journaled by Accord)", str(status.won))
    table.add_row("provisioned", Text(str(status.provisioned), style="green"))
    table.add_row("needs attention", Text(str(status.needs_attention), style="yellow"))
    exc = ", ".join(f"{q} {n}" for q, n in sorted(status.exceptions_open.items()))
    table.add_row("exceptions open", f"{sum(status.exceptions_open.values())}  {exc}".rstrip())
    runs = ", ".join(f"{k.lower()} {v}" for k, v in sorted(status.runs.items())) or "none yet"
    table.add_row("runs by status", runs)
    table.add_row(
        "timesheets approved (journaled)",
        f"{status.time.approvals}  ({status.time.hours_approved:.2f} h)",
    )
    table.add_row(
        "timesheets posted to the ERP",
        Text(f"{status.time.posted}  ({status.time.hours_posted:.2f} h)", style="green"),
    )
    table.add_row(
        "time entries: cross-entity · foreign currency",
        f"{status.time.recharged} recharged · {status.time.foreign} converted",
    )
    d = status.delivery
    table.add_row("project statuses synced (closed, held)", str(d.statuses))
    table.add_row("tasks in the ERP (people assigned)", f"{d.tasks}  ({d.people})")
    table.add_row(
        "vendor bills (PSA -> ERP, ERP -> PSA)", Text(f"{d.bills}, {d.recorded}", style="green")
    )
    if status.last_id is not None:
        hops = "\n".join(
            f"{h.type.replace('_', ' ')}: "
            + ", ".join(f"{s} {i}" for s, i in sorted(h.systems.items()))
            for h in status.lineage
        )
        table.add_row(f"lineage of {status.last_id}", hops or "(not answered yet)")
    footer = Text("stopping…" if stopping else "Ctrl-C stops everything", style="dim")
    return Group(table, footer)


# --------------------------------------------------------------------------- the command
def demo(
    *,
    port: Annotated[int, typer.Option(help="Port of Accord's API and console.")] = 8080,
    sandbox_base_port: Annotated[
        int,
        typer.Option(help="Sandbox base port: Salesforce on +1, Kantata +2, NetSuite +3, BC +4."),
    ] = 8800,
    psa: Annotated[str, typer.Option(help="PSA to provision projects in: kantata or certinia.")] = (
        "kantata"
    ),
    traffic: Annotated[
        bool, typer.Option("--traffic/--no-traffic", help="Win a stream of opportunities.")
    ] = True,
    seed: Annotated[int, typer.Option(help="Seed of the sandbox's synthetic firm.")] = 7,
    data_dir: Annotated[
        Path,
        typer.Option(help="Where accord.yaml, the database and the log go (fresh every start)."),
    ] = Path("var/demo"),
    migrate: Annotated[
        str | None,
        typer.Option(
            help="Run this legal entity (DE01) with Dynamics 365 Finance as its shadow ERP."
        ),
    ] = None,
) -> None:
    """Run the sandbox and Accord against it, then win opportunities and watch them flow."""
    if psa not in ("kantata", "certinia"):
        _err.print(f"[bold red]error:[/] unknown PSA {psa!r}: use kantata or certinia")
        raise typer.Exit(2)
    if not 1 <= port <= 65535:
        _err.print(f"[bold red]error:[/] port {port} out of range 1..65535")
        raise typer.Exit(2)
    options = DemoOptions(
        port=port,
        sandbox_base_port=sandbox_base_port,
        psa="certinia" if psa == "certinia" else "kantata",
        traffic=traffic,
        seed=seed,
        data_dir=data_dir,
        migrate=migrate,
    )
    try:
        run_demo(options)
    except DemoError as exc:
        _err.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None


class _Stop:
    """SIGINT/SIGTERM set an event the main thread waits on; a second SIGINT hurries it."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.server: uvicorn.Server | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, sig: int, _frame: FrameType | None) -> None:
        if self.event.is_set() and sig == signal.SIGINT and self.server is not None:
            # A second Ctrl-C stops waiting for open HTTP connections.
            self.server.force_exit = True
        self.event.set()


def run_demo(options: DemoOptions) -> None:
    """Start everything, print the console URL and admin key, run until SIGINT/SIGTERM.

    Raises:
        DemoError: something could not start; whatever had started is stopped again.
    """
    stop = _Stop()
    stop.install()
    try:
        with contextlib.ExitStack() as stack:
            # Bound first, before the seconds the sandbox and runtime take: a busy port fails
            # at once (before the data directory is touched), and nothing can take it meanwhile.
            sock = _bind(HOST, options.port)
            stack.callback(sock.close)
            log = stack.enter_context(_prepare_data_dir(options.data_dir))
            _configure_logging(log)
            handle = _start_sandbox(options)
            stack.callback(_stop_sandbox, handle)
            services = _start_accord(options, handle, sock, stop, stack)
            if stop.event.is_set():
                return
            key = _create_admin_key(services.engine)
            _announce(options, handle, key)
            _watch(options, handle, services, key, stop)
    finally:
        stop.restore()


@contextlib.contextmanager
def _prepare_data_dir(data_dir: Path) -> Iterator[TextIO]:
    # Fresh every start: the sandbox is re-seeded on each start (new record ids), so a kept
    # database would hold cross-references and cursors to records that no longer exist.
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        lock = (data_dir / LOCK_FILE).open("w", encoding="utf-8")
    except OSError as exc:
        msg = f"cannot use data directory {data_dir}: {exc.strerror}"
        raise DemoError(msg) from exc
    with lock:
        # Two demos on one data directory would delete each other's database.
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            msg = f"another accord demo is using {data_dir} (try --data-dir)"
            raise DemoError(msg) from exc
        try:
            for name in (DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm"):
                (data_dir / name).unlink(missing_ok=True)
            log = (data_dir / LOG_FILE).open("w", encoding="utf-8")
        except OSError as exc:
            msg = f"cannot use data directory {data_dir}: {exc.strerror}"
            raise DemoError(msg) from exc
        # Not closed here: DBOS's executor threads can still log after the runtime is shut
        # down (runs cut short mid-step), and those lines belong in the file, not on stderr.
        # The process ends right after; the OS closes the file.
        yield log
        log.flush()


def _configure_logging(log: TextIO) -> None:
    from accord.observability.logging import configure_logging

    # INFO unless ACCORD_OBSERVABILITY__LOG_LEVEL says otherwise (DEBUG shows every call).
    configure_logging(os.environ.get("ACCORD_OBSERVABILITY__LOG_LEVEL", "INFO"), json_lines=True)
    # The same handler, filter and JSON format as ``accord run``, but into the data
    # directory: lines on stderr would tear the live table.
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(log)
    # DBOS gives its logger a console handler of its own when it has none; this one keeps it
    # from doing so (records still propagate to the file) until the runtime adopts the logger.
    logging.getLogger("dbos").addHandler(logging.NullHandler())


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # As uvicorn does: a quick restart may reuse a port whose old connections sit in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        msg = f"cannot listen on {host}:{port}: {exc.strerror} (try --port)"
        raise DemoError(msg) from exc
    sock.listen(2048)
    return sock


def _start_sandbox(options: DemoOptions) -> "SandboxHandle":
    from accord_sandbox.server import Sandbox, SandboxError

    try:
        sandbox = Sandbox(
            host=HOST, base_port=options.sandbox_base_port, seed=options.seed, scenario="firm"
        )
        return sandbox.start_in_thread(timeout=60.0)
    except SandboxError as exc:
        msg = f"{exc} (try --sandbox-base-port)" if "listen" in str(exc) else str(exc)
        raise DemoError(msg) from exc


def _stop_sandbox(handle: "SandboxHandle") -> None:
    from accord_sandbox.server import SandboxError

    try:
        handle.stop(timeout=STOP_TIMEOUT_S)
    except SandboxError as exc:
        logger.warning("%s", exc)


def _start_accord(
    options: DemoOptions,
    handle: "SandboxHandle",
    sock: socket.socket,
    stop: _Stop,
    stack: contextlib.ExitStack,
) -> "Services":
    import uvicorn

    from accord.api.app import create_app
    from accord.flows.services import Services
    from accord.settings import ApiSettings, Settings
    from accord_sandbox.accord_config import write_accord_config

    config_file = write_accord_config(
        options.data_dir / CONFIG_FILE,
        handle.urls,
        psa=options.psa,
        seed=options.seed,
        rules=_migration_rules(options) if options.migrate else None,
        # The Business page shows what reconciliation finds while the demo runs.
        reconcile_every_minutes=10,
    )
    try:
        # Explicit values win over ACCORD_* variables: the demo must not touch a real database.
        settings = Settings(
            database_url=f"sqlite:///{(options.data_dir / DB_FILE).resolve()}",
            worker_id=WORKER_ID,
            config_file=config_file.resolve(),
            credentials_key_file=(options.data_dir / KEY_FILE).resolve(),
            api=ApiSettings(host=HOST, port=options.port),
        )
    except ValueError as exc:
        msg = f"invalid settings: {exc}".splitlines()[0]
        raise DemoError(msg) from exc
    services = Services.build(settings, worker=True)
    if options.psa == "kantata":
        _authorize_kantata(services, settings)
    app = create_app(settings, services=services, configure_logs=False)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=HOST,
            port=options.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
        )
    )
    stop.server = server
    # In a thread of its own, uvicorn installs no signal handlers: this thread keeps them, so
    # one Ctrl-C stops the traffic, the API, the runtime and the sandbox in order.
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="accord-api", daemon=True
    )
    thread.start()
    stack.callback(_stop_server, server, thread)
    _wait_ready(options, server, thread, stop)
    return services


def _authorize_kantata(services: "Services", settings: "Settings") -> None:
    """``accord connections authorize kantata`` against the sandbox, before the flows start."""
    from accord.cli.connections_cmd import authorize_connection
    from accord.errors import AccordError
    from accord.store import migrate
    from accord.store.credentials import DatabaseTokenStore
    from accord_sandbox.kantata.auth import sandbox_consent

    store = DatabaseTokenStore.for_settings(services.engine, settings, {})
    try:
        migrate(services.engine)
        authorize_connection(
            services.connections,
            "kantata",
            store=store,
            user_agent=sandbox_consent,
            actor="cli:demo",
        )
    except (AccordError, RuntimeError, httpx.HTTPError) as exc:
        msg = f"authorizing the Kantata connection failed: {exc}"
        raise DemoError(msg) from exc


def _wait_ready(
    options: DemoOptions, server: "uvicorn.Server", thread: threading.Thread, stop: _Stop
) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(base_url=options.api_url, timeout=2.0) as http:
        while not stop.event.is_set():
            if not thread.is_alive():
                msg = f"Accord failed to start; see {options.data_dir / LOG_FILE}"
                raise DemoError(msg)
            if server.started:
                with contextlib.suppress(httpx.HTTPError):
                    if http.get("/readyz").status_code == 200:
                        return
            if time.monotonic() > deadline:
                msg = f"Accord was not ready within {READY_TIMEOUT_S:g} s; see the log"
                raise DemoError(msg)
            stop.event.wait(0.1)


def _stop_server(server: "uvicorn.Server", thread: threading.Thread) -> None:
    # The app's lifespan stops the services (intake writer, runtime, connections) on exit.
    server.should_exit = True
    thread.join(STOP_TIMEOUT_S)
    if thread.is_alive():
        logger.warning("Accord's API did not stop within %g s", STOP_TIMEOUT_S)


def _create_admin_key(engine: sa.Engine) -> str:
    from accord.store import keys

    with engine.begin() as conn:
        _, secret = keys.create(conn, name="demo-admin", role=keys.Role.ADMIN, actor="cli:demo")
    return secret


def _migration_rules(options: DemoOptions) -> Path:
    """The shipped rules with ``options.migrate`` shadowed by Dynamics 365 Finance.

    Raises:
        DemoError: The legal entity is unknown or already books on Dynamics 365 Finance.
    """
    import yaml

    from accord_sandbox.accord_config import default_rules_path

    source = default_rules_path()
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    entity = document["legal_entities"].get(options.migrate)
    if entity is None or entity.get("erp") == "dynamics_finance":
        msg = f"--migrate {options.migrate}: not a legal entity of the rules off Dynamics 365"
        raise DemoError(msg)
    entity["migration"] = {"shadow": "dynamics_finance", "shadow_connection": "dynamics-finance"}
    path = options.data_dir / "rules.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def _announce(options: DemoOptions, handle: "SandboxHandle", key: str) -> None:
    from accord_sandbox.server import SYSTEMS

    table = Table(title="Sandbox (client sandbox / sandbox-secret)", title_justify="left")
    table.add_column("System")
    table.add_column("Base URL")
    for system in SYSTEMS:
        table.add_row(system.title, handle.urls[system.name])
    _out.print(table)
    _out.print(
        f"Data: {options.data_dir} (accord.yaml, {DB_FILE}, {LOG_FILE}); PSA {options.psa}",
        soft_wrap=True,
    )
    # Plain prints, flushed: scripts and tests read these two lines.
    print(f"Console: {options.console_url}", flush=True)  # noqa: T201
    print(f"Admin key: {key}", flush=True)  # noqa: T201
    _out.print(
        "Sign in to the console with the admin key; the API takes it as a Bearer token.",
        style="dim",
        soft_wrap=True,
    )
    if options.migrate:
        _out.print(
            f"Migration: {options.migrate} books on its ERP with Dynamics 365 Finance as shadow. "
            f"With ACCORD_CONFIG_FILE={options.data_dir / CONFIG_FILE} and ACCORD_DATABASE_URL="
            f"sqlite:///{options.data_dir / DB_FILE}: accord migration diff|cutover|carry-over|"
            f"tieout|rollback {options.migrate} (docs/migration.md).",
            soft_wrap=True,
        )


def _watch(
    options: DemoOptions,
    handle: "SandboxHandle",
    services: "Services",
    key: str,
    stop: _Stop,
) -> None:
    """Win opportunities (unless told not to) and show the summary until asked to stop."""
    traffic: Traffic | None = None
    time_traffic: TimeTraffic | None = None
    billing: BillingTraffic | None = None
    delivery: DeliveryTraffic | None = None
    if options.traffic:
        from accord_sandbox.common import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

        traffic = Traffic(handle.urls["salesforce"], DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
        try:
            traffic.load_plan()
        except httpx.HTTPError as exc:
            logger.warning("could not read the open opportunities: %s", exc)
        # The sandbox's accord.yaml names the PSA connection after the PSA.
        time_traffic = TimeTraffic(
            psa=options.psa,
            connector=services.connections.connector(options.psa),
            engine=services.engine,
            connection=options.psa,
            entities=_entities(),
        )
        billing = BillingTraffic(services.connections.connector("netsuite"))
        delivery = DeliveryTraffic(
            psa=options.psa,
            connector=services.connections.connector(options.psa),
            erps={n: services.connections.connector(n) for n in ("netsuite", "business-central")},
            engine=services.engine,
        )
    api = httpx.Client(
        base_url=options.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=5.0
    )
    view = _View(services, api, handle.urls, traffic)
    # Consultants work on a thread of their own: a week of time is dozens of PSA calls, which
    # must not hold up the summary (nor the salespeople).
    logging_time = (
        threading.Thread(
            target=_log_time,
            args=(time_traffic, billing, delivery, stop),
            name="demo-time",
            daemon=True,
        )
        if time_traffic is not None
        else None
    )
    if logging_time is not None:
        logging_time.start()
    try:
        if _out.is_terminal:
            _watch_live(view, stop)
        else:
            _watch_plain(view, stop)
    finally:
        if logging_time is not None:
            # A daemon: a week half logged when Ctrl-C came is left as it is.
            logging_time.join(TIME_THREAD_JOIN_S)
        api.close()
        if traffic is not None:
            traffic.close()


def _entities() -> dict[str, tuple[str, str]]:
    """Legal entity -> (currency, ERP connection) of the rules the demo runs (Accord's own)."""
    from accord.resources import default_rules_path
    from accord.rules import load_rules

    spec = load_rules(default_rules_path()).spec
    return {code: (e.currency, e.connection) for code, e in spec.legal_entities.items()}


@dataclass(frozen=True)
class _View:
    """What the watch loop reads and drives."""

    services: "Services"
    api: httpx.Client
    urls: Mapping[str, str]
    traffic: Traffic | None


def _log_time(
    time_traffic: TimeTraffic,
    billing: BillingTraffic | None,
    delivery: DeliveryTraffic | None,
    stop: _Stop,
) -> None:
    """Every batch interval, consultants log a week on the projects provisioned meanwhile.

    Project managers plan them (and complete some), vendors' costs are booked; every billing
    interval, finance invoices the billable time posted since its last run.
    """
    next_billing = time.monotonic() + BILLING_INTERVAL_S
    while not stop.event.wait(BATCH_INTERVAL_S):
        try:
            time_traffic.tick(cancelled=stop.event.is_set)
            if delivery is not None:
                delivery.tick(cancelled=stop.event.is_set)
            if billing is not None and time.monotonic() >= next_billing:
                next_billing = time.monotonic() + BILLING_INTERVAL_S
                billing.tick(cancelled=stop.event.is_set)
        except Exception:  # a demo thread must not die with a traceback
            if stop.event.is_set():
                # Ctrl-C closed the connections under a half-logged week: expected, quiet.
                return
            logger.warning("logging time failed; trying again next interval", exc_info=True)


def _ticks(view: _View, stop: _Stop) -> Iterator[None]:
    """Yield once per refresh until stopped, winning a batch whenever one is due."""
    next_batch = time.monotonic()
    traffic = view.traffic
    while not stop.event.is_set():
        if traffic is not None and traffic.remaining and time.monotonic() >= next_batch:
            traffic.win_next(BATCH)
            next_batch = time.monotonic() + BATCH_INTERVAL_S
        yield
        stop.event.wait(REFRESH_S)


def _status(view: _View) -> DemoStatus:
    services = view.services
    try:
        return read_status(
            services.engine, client=services.runtime.client, api=view.api, urls=view.urls
        )
    except sa.exc.SQLAlchemyError as exc:
        logger.warning("could not read the summary: %s", exc)
        return DemoStatus()


def _watch_live(view: _View, stop: _Stop) -> None:
    status = DemoStatus()
    traffic = view.traffic
    with Live(render(status, traffic=traffic), console=_out, refresh_per_second=4) as live:
        for _ in _ticks(view, stop):
            status = _status(view)
            live.update(render(status, traffic=traffic))
        live.update(render(status, traffic=traffic, stopping=True))


def _watch_plain(view: _View, stop: _Stop) -> None:
    last_line, last_at = "", 0.0
    for _ in _ticks(view, stop):
        line = _status(view).line()
        if line != last_line and time.monotonic() - last_at >= PLAIN_SUMMARY_EVERY_S:
            print(line, flush=True)  # noqa: T201 - one line per change, for pipes and logs
            last_line, last_at = line, time.monotonic()
    sys.stdout.flush()
