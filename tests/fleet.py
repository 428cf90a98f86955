"""Several ``accord run`` processes on one database, as a deployment runs them (test helper).

A :class:`Fleet` starts API and worker processes with their own ``ACCORD_WORKER_ID``, posts
events to the API processes, reads run states from the durable runtime's tables and stops
every process it started, killed or not.
"""

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from tests.dbs import runtime_table
from tests.support import STRUCTURED, accord_cmd, accord_env, free_port, wait_ready

from accord.flows.runtime import BULK_QUEUE, EVENTS_QUEUE


@dataclass
class Proc:
    """One started process."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    base_url: str | None = None


@dataclass
class Fleet:
    """API and worker processes on one database."""

    db_url: str
    folder: Path
    procs: dict[str, Proc] = field(default_factory=dict)
    engine: sa.Engine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = sa.create_engine(self.db_url, pool_size=4)
        self.status_table = runtime_table(self.db_url, "workflow_status")

    # ------------------------------------------------------------------ processes
    def start(self, name: str, role: str, *, worker_id: str | None = None, **env: str) -> Proc:
        """Start ``accord run --role ROLE`` as ``name`` (its worker id unless given)."""
        log = self.folder / f"{name}.log"
        args = ["run", "--role", role]
        base_url = None
        if role in ("api", "all"):
            port = free_port()
            args += ["--port", str(port)]
            base_url = f"http://127.0.0.1:{port}"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                accord_cmd(*args),
                env=accord_env(self.db_url, ACCORD_WORKER_ID=worker_id or name, **env),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        proc = Proc(name=name, popen=popen, log=log, base_url=base_url)
        self.procs[name] = proc
        return proc

    def wait_ready(self, proc: Proc, timeout: float = 60) -> None:
        """Wait for an API's /readyz, or for a worker's "running" line."""
        if proc.base_url is not None:
            wait_ready(proc.base_url, proc.popen, timeout=timeout)
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}")
            if b" running" in proc.log.read_bytes():
                return
            time.sleep(0.1)
        raise TimeoutError(f"{proc.name} not running after {timeout}s")

    def kill(self, name: str) -> None:
        """SIGKILL a process and reap it."""
        proc = self.procs[name]
        proc.popen.send_signal(signal.SIGKILL)
        proc.popen.wait(timeout=30)

    def stop(self) -> None:
        """Stop every process still running (SIGTERM, then SIGKILL), and the engine."""
        for proc in self.procs.values():
            if proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(timeout=10)
        self.engine.dispose()

    def accord(self, *args: str, worker_id: str = "operator") -> subprocess.CompletedProcess[str]:
        """Run an ``accord`` CLI command on the fleet's database."""
        return subprocess.run(
            accord_cmd(*args),
            env=accord_env(self.db_url, ACCORD_WORKER_ID=worker_id),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    # ------------------------------------------------------------------ events
    def post_all(
        self, key: str, events: Iterable[tuple[str, dict[str, Any]]], *, threads: int = 8
    ) -> dict[str, httpx.Response]:
        """POST events concurrently, each to the API process named with it; responses by id."""
        clients: dict[str, httpx.Client] = {}
        lock = threading.Lock()
        out: dict[str, httpx.Response] = {}

        def client(api: str) -> httpx.Client:
            with lock:
                if api not in clients:
                    base = self.procs[api].base_url
                    assert base is not None
                    clients[api] = httpx.Client(
                        base_url=base,
                        headers={"Authorization": f"Bearer {key}", **STRUCTURED},
                        timeout=30,
                    )
                return clients[api]

        def post(item: tuple[str, dict[str, Any]]) -> None:
            api, event = item
            resp = client(api).post("/api/v1/events", content=json.dumps(event))
            with lock:
                out[f"{api}/{event['id']}"] = resp

        try:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(post, events))
        finally:
            for c in clients.values():
                c.close()
        return out

    # ------------------------------------------------------------------ run states
    def runs(self) -> dict[str, dict[str, Any]]:
        """Every event run: id -> status, executor id, partition key.

        Only the events queue's runs: scheduled workflows (the hold release of time-to-bill)
        and capture polls are not events.
        """
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT workflow_uuid, status, executor_id, queue_partition_key"
                    f" FROM {self.status_table} WHERE queue_name IN (:queue, :bulk)"
                ),
                {"queue": EVENTS_QUEUE, "bulk": BULK_QUEUE},
            ).all()
        return {r[0]: {"status": r[1], "executor": r[2], "partition": r[3]} for r in rows}

    def wait_for(self, predicate: Any, timeout: float = 90, what: str = "condition") -> None:
        """Poll ``predicate(runs)`` until true."""
        deadline = time.monotonic() + timeout
        while True:
            runs = self.runs()
            if predicate(runs):
                return
            if time.monotonic() > deadline:
                counts: dict[str, int] = {}
                for r in runs.values():
                    counts[r["status"]] = counts.get(r["status"], 0) + 1
                raise TimeoutError(f"{what} not reached after {timeout}s; run states {counts}")
            time.sleep(0.25)
