"""Helpers shared by the test suites (not fixtures: plain functions and classes)."""

import fcntl
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parents[1]


_PORT_RANGE = range(20_000, 32_000)
"""Ports handed to subprocesses: below Linux's ephemeral range (32768+), so no ``bind(0)`` of
any process on the machine lands on one of them."""
_PORT_LOCKS = Path(tempfile.gettempdir()) / "accord-test-ports"
_held: dict[int, int] = {}
_held_lock = threading.Lock()


def _reserve(port: int) -> bool:
    """Take the machine-wide reservation of ``port`` for the rest of this process, if free.

    A ``flock`` on one file per port is what makes this race-free: two pytest workers (or two
    checkouts' suites) never hold the same port at once, and the kernel drops the lock when the
    holder exits, however it exits. The bind probe skips ports that some other program uses.
    """
    fd = os.open(_PORT_LOCKS / str(port), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))
    except OSError:
        os.close(fd)
        return False
    _held[port] = fd
    return True


def free_ports(count: int = 1) -> int:
    """The first of ``count`` consecutive loopback ports reserved for this test process.

    For a subprocess that binds the port itself (``accord run --port``, the sandbox's base+1..
    base+4): unlike bind-then-close on port 0, no other worker can be handed the same port
    before the subprocess binds it. Reservations last as long as this process.
    """
    _PORT_LOCKS.mkdir(exist_ok=True)
    span = len(_PORT_RANGE) - count
    start = random.Random().randrange(span)  # a fresh generator: pytest-randomly reseeds random
    with _held_lock:
        for step in range(span):
            first = _PORT_RANGE.start + (start + step) % span
            block = range(first, first + count)
            if any(p in _held for p in block):
                continue
            taken: list[int] = []
            for port in block:
                if not _reserve(port):
                    break
                taken.append(port)
            if len(taken) == count:
                return first
            for port in taken:
                os.close(_held.pop(port))
    raise RuntimeError(f"no {count} consecutive free ports in {_PORT_RANGE}")


def free_port() -> int:
    """One loopback TCP port reserved for this test process (see :func:`free_ports`)."""
    return free_ports(1)


def opportunity(opp_id: str | None = None, **over: Any) -> dict[str, Any]:
    """A valid canonical opportunity payload (won)."""
    data: dict[str, Any] = {
        "id": opp_id or f"006{uuid.uuid4().hex[:12]}",
        "name": "Global rollout",
        "customer_id": "001A000001",
        "stage": "closed_won",
        "won": True,
        "amount": {"amount": "120000.00", "currency": "USD"},
        "service_package": "ADVISORY-TM",
        "billing_model": "time_and_materials",
        "close_date": "2026-11-01",
        "start_date": "2026-11-15",
        "practice": "TECH",
        "region": "NA-EAST",
        "legal_entity": "US01",
    }
    data.update(over)
    return data


def cloud_event(data: dict[str, Any] | None = None, **attrs: Any) -> dict[str, Any]:
    """A structured-mode CloudEvent of type opportunity.updated.

    ``opportunity.updated`` is still handled by the ``record_event`` run, so tests of the
    intake and the runtime need no connections; ``opportunity.won`` starts lead-to-project.
    """
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": uuid.uuid4().hex,
        "source": "test/crm",
        "type": "opportunity.updated",
        "time": "2026-11-27T10:00:00Z",
        "data": data if data is not None else opportunity(),
    }
    event.update(attrs)
    return event


STRUCTURED = {"content-type": "application/cloudevents+json"}
BATCH = {"content-type": "application/cloudevents-batch+json"}


def accord_env(db_url: str, **extra: str) -> dict[str, str]:
    """Environment for an ``accord`` subprocess on a given database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env.update(
        {
            "ACCORD_DATABASE_URL": db_url,
            "ACCORD_WORKER_ID": "test-worker",
            # The test process's key (tests/conftest.py): no key file lands in the checkout.
            "ACCORD_CREDENTIALS_KEY": os.environ["ACCORD_CREDENTIALS_KEY"],
            **extra,
        }
    )
    return env


def accord_cmd(*args: str) -> list[str]:
    """The command line running the ``accord`` CLI of this checkout's environment."""
    return [sys.executable, "-m", "accord.cli", *args]


def create_key(db_url: str, role: str, name: str | None = None) -> str:
    """Create an API key with the real CLI; returns the secret (last stdout line)."""
    out = subprocess.run(
        accord_cmd(
            "keys", "create", "--role", role, "--name", name or f"{role}-{uuid.uuid4().hex[:6]}"
        ),
        env=accord_env(db_url),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip().splitlines()[-1]


def wait_ready(
    base_url: str, proc: subprocess.Popen[Any] | None = None, timeout: float = 60
) -> None:
    """Poll /readyz until 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{base_url} not ready after {timeout}s")


def dumps(obj: Any) -> str:
    return json.dumps(obj)


@contextmanager
def serve(make_app: Callable[[str], Any]) -> Iterator[str]:
    """Serve ``make_app(base_url)`` on 127.0.0.1 under uvicorn in a daemon thread; yield its URL.

    A sync ``httpx.Client`` cannot drive an ASGI app in process, so emulators (and apps) run
    on a socket bound to port 0, which leaves no race for a free port.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        make_app(base_url), log_level="warning", lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.01)
    try:
        yield base_url
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()


def authorize_sandbox_kantata(connections: Any) -> None:
    """``accord connections authorize kantata`` against the sandbox, as ``accord demo`` does.

    ``connections`` is a :class:`~accord.flows.connections.Connections` with a database token
    store (``Services.connections``). The sandbox user approves at once; the token goes into
    the database, encrypted with ``ACCORD_CREDENTIALS_KEY``. Does nothing when no ``kantata``
    connection is configured.
    """
    from accord.cli.connections_cmd import authorize_connection
    from accord.store import migrate
    from accord.store.credentials import DatabaseTokenStore
    from accord_sandbox.kantata.auth import sandbox_consent

    if "kantata" not in connections.names():
        return
    store = connections.token_store
    assert isinstance(store, DatabaseTokenStore)
    migrate(connections.engine)
    authorize_connection(
        connections, "kantata", store=store, user_agent=sandbox_consent, actor="test"
    )


def authorize_sandbox_kantata_in(engine: Any, config_file: Path) -> None:
    """:func:`authorize_sandbox_kantata` for a database that Accord will be started on later."""
    from pydantic import SecretStr

    from accord.flows.connections import Connections
    from accord.store.credentials import DatabaseTokenStore

    key = SecretStr(os.environ["ACCORD_CREDENTIALS_KEY"])
    store = DatabaseTokenStore(engine, key=key)
    connections = Connections(engine, config_file=config_file, token_store=store, instrument=False)
    try:
        authorize_sandbox_kantata(connections)
    finally:
        connections.close()
