"""``accord demo`` as a newcomer runs it: a real subprocess, its stdout, its ports, Ctrl-C.

The demo starts the sandbox and Accord in one process. These tests read the two lines it
promises (``Console:`` and ``Admin key:``), use the key against the API, watch the sandbox's
Salesforce for an opportunity that Accord has provisioned (the "Done when" minute of issue 5),
ask Accord for its lineage, watch the sandbox's NetSuite for the time the demo's consultants
logged and approved in Kantata, posted by time-to-bill (issue 6), and then check that SIGINT
stops everything with exit code 0.
"""

import os
import queue
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from tests.support import accord_cmd, free_port, free_ports

pytestmark = pytest.mark.slow

READY_WITHIN_S = 60.0
DONE_WITHIN_S = 60.0
"""Issue 5: within a minute, won opportunities are provisioned and lineage answers."""
STOP_WITHIN_S = 20.0
POSTED_WITHIN_S = 150.0
"""Issue 6: time approved in Kantata on a provisioned project is posted in the ERP.

Generous: the approvals queue behind the burst of won deals' provisioning runs, and the
suite shares two cores."""


def free_base_port() -> int:
    """A base port whose +1..+4 are all free (the sandbox's four systems)."""
    for _ in range(50):
        base = free_port()
        if base > 65000:
            continue
        socks: list[socket.socket] = []
        try:
            for offset in range(1, 5):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return base
    raise RuntimeError("no free block of four ports")


AUDIT_KEY = "demo-audit-key-0f7c2b9e5d4a41c6b8e3"
SESSION_SECRET = "demo-console-session-secret-4e1d9a7c2b"
"""Secrets given to the demo through its settings: no log line or answer may show them."""


class Demo:
    """``accord demo`` in a subprocess, its stdout read line by line on a thread."""

    def __init__(self, tmp_path: Path, *extra: str) -> None:
        self.data_dir = tmp_path / "demo"
        self.port = free_port()
        self.base = free_ports(5)  # base+1..base+4: the sandbox's systems
        self.salesforce = f"http://127.0.0.1:{self.base + 1}"
        self.netsuite = f"http://127.0.0.1:{self.base + 3}"
        self.business_central = f"http://127.0.0.1:{self.base + 4}"
        self.stderr_path = tmp_path / "demo.stderr"
        self._stderr = self.stderr_path.open("w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
        env.update(
            ACCORD_AUDIT__KEY=AUDIT_KEY,
            ACCORD_CONSOLE__SESSION_SECRET=SESSION_SECRET,
            # Every outbound call logged: the secrets scan below reads them all.
            ACCORD_OBSERVABILITY__LOG_LEVEL="DEBUG",
        )
        self.proc = subprocess.Popen(
            accord_cmd(
                "demo",
                "--port",
                str(self.port),
                "--sandbox-base-port",
                str(self.base),
                "--data-dir",
                str(tmp_path / "demo"),
                *extra,
            ),
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        # Drained continuously: a full pipe would block the demo's prints.
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def summary(self) -> str:
        """The latest one-line summary printed so far (stdout is not a terminal here)."""
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                break
        return next((line for line in reversed(self.seen) if line.startswith("won ")), "")

    def wait_line(self, prefix: str, timeout: float) -> str:
        """The rest of the first stdout line starting with ``prefix``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.seen.append(line)
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        pytest.fail(f"no {prefix!r} line; stdout so far: {self.seen!r}; {self.stderr_tail()}")

    def stderr_tail(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text()[-2000:]

    def interrupt(self) -> int:
        """SIGINT, as Ctrl-C; the exit code."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=STOP_WITHIN_S)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._stderr.close()


@pytest.fixture
def start_demo(tmp_path: Path) -> Iterator[Callable[..., Demo]]:
    started: list[Demo] = []

    def start(*extra: str) -> Demo:
        demo = Demo(tmp_path, *extra)
        started.append(demo)
        return demo

    yield start
    for demo in started:
        demo.close()


def opportunities(salesforce: str) -> list[dict]:
    """Every opportunity in the sandbox's Salesforce (control API: no token, not counted)."""
    resp = httpx.get(f"{salesforce}/__sandbox/records/Opportunity", timeout=10)
    resp.raise_for_status()
    return resp.json()["records"]


def posted_time(netsuite: str, business_central: str) -> list[dict]:
    """Time the demo's Kantata approvals posted in the ERP emulators (control API)."""
    found: list[dict] = []
    for url, obj, key in (
        (netsuite, "timeBill", "externalId"),
        (business_central, "postedJournalLines", "externalDocumentNumber"),
    ):
        resp = httpx.get(f"{url}/__sandbox/records/{obj}", timeout=10)
        resp.raise_for_status()
        found += [
            r
            for r in resp.json()["records"]
            if str(r.get(key) or "").lower().startswith("kantata-te-")
        ]
    return found


def test_demo_provisions_won_opportunities_with_lineage_and_stops_on_ctrl_c(start_demo):
    demo = start_demo()
    console = demo.wait_line("Console: ", READY_WITHIN_S)
    key = demo.wait_line("Admin key: ", READY_WITHIN_S)
    assert console == f"http://127.0.0.1:{demo.port}/"
    assert key.startswith("acc_")
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{demo.port}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert api.get("/readyz").status_code == 200

    # Done when: within a minute, a won opportunity is provisioned and written back.
    deadline = time.monotonic() + DONE_WITHIN_S
    provisioned: list[dict] = []
    while not provisioned and time.monotonic() < deadline:
        provisioned = [
            o
            for o in opportunities(demo.salesforce)
            if o.get("Integration_Status__c") == "Provisioned"
        ]
        if not provisioned:
            time.sleep(1)
    won = [o for o in opportunities(demo.salesforce) if o["StageName"] == "Closed Won"]
    assert provisioned, (
        f"no opportunity provisioned within {DONE_WITHIN_S:g} s "
        f"({len(won)} Closed Won in Salesforce); {demo.stderr_tail()}"
    )

    opp = provisioned[0]
    resp = api.get(
        "/api/v1/lineage", params={"system": "salesforce", "type": "Opportunity", "id": opp["Id"]}
    )
    assert resp.status_code == 200, resp.text
    graph = resp.json()
    assert graph["root"], graph
    ids = {ext for node in graph["nodes"] for ext in node["systems"].values()}
    assert opp["Id"] in ids
    types = {node["type"].casefold() for node in graph["nodes"]}
    assert any("project" in t for t in types), types

    # Done when (issue 6): consultants log and approve a week in Kantata on the provisioned
    # projects; Accord captures the approvals and posts the time to the ERP.
    deadline = time.monotonic() + POSTED_WITHIN_S
    posted: list[dict] = []
    while not posted and time.monotonic() < deadline:
        posted = posted_time(demo.netsuite, demo.business_central)
        if not posted:
            time.sleep(1)
    assert posted, f"no time posted within {POSTED_WITHIN_S:g} s; {demo.summary()!r}"
    assert all(r.get("hours") or r.get("quantity") for r in posted)
    # The summary line reads the same back (approvals journaled, time posted).
    deadline = time.monotonic() + 30
    while " · posted 0 " in demo.summary() and time.monotonic() < deadline:
        time.sleep(1)
    line = demo.summary()
    assert "timesheets approved 0 " not in line, line
    assert " · posted 0 " not in line, line

    # Every answer the API and the console give, and (below) every log line, is free of the
    # configured secrets.
    answers = _every_answer(api, key, {"opportunity": opp["Id"]})

    assert demo.interrupt() == 0
    assert "Traceback" not in demo.stderr_tail()
    logs = (demo.data_dir / "accord.log").read_text(encoding="utf-8").splitlines()
    logs += demo.stderr_path.read_text(encoding="utf-8").splitlines()
    assert len(logs) > 100, "the demo logged almost nothing: the scan would prove nothing"
    secrets = [*_configured_secrets(demo.data_dir / "accord.yaml"), AUDIT_KEY, SESSION_SECRET, key]
    leaks = [
        (where, secret[:6] + "...")
        for where, text in [*(("log", line) for line in logs), *answers]
        for secret in secrets
        if secret in text
    ]
    assert leaks == [], leaks[:10]


def _configured_secrets(config: Path) -> list[str]:
    """Every secret value of the demo's connections (each line of a key file or PEM)."""
    from pydantic import SecretStr

    from accord.connectors.config import load_connections

    found: set[str] = set()
    for conn in load_connections(config, os.environ).values():
        for name in type(conn).model_fields:
            value = getattr(conn, name)
            if isinstance(value, SecretStr):
                found.update(
                    part.strip()
                    for part in value.get_secret_value().splitlines()
                    if len(part.strip()) >= 12 and not part.startswith("-----")
                )
    assert found, "no configured secret found: the scan would prove nothing"
    return sorted(found)


def _every_answer(api: httpx.Client, key: str, ids: dict[str, str]) -> list[tuple[str, str]]:
    """GET every operation of the OpenAPI document (path ids from list answers) and every
    console page, signed in; ``(where, headers and body)`` of each answer."""
    spec = api.get("/api/v1/openapi.json").json()
    runs = api.get("/api/v1/runs", params={"limit": 5}).json()["items"]
    exceptions = api.get("/api/v1/exceptions", params={"limit": 5}).json()["items"]
    connections = api.get("/api/v1/connections").json()["items"]
    values = {
        "run_id": runs[0]["run_id"] if runs else "none",
        "exception_id": str(exceptions[0]["id"]) if exceptions else "1",
        "name": connections[0]["name"],
        "connection": connections[0]["name"],
        "system": "salesforce",
        "resource": "Opportunity",
        "record_id": ids["opportunity"],
        "id": ids["opportunity"],
        "key": "demo-admin",
    }
    answers: list[tuple[str, str]] = []
    paths = sorted(p for p, ops in spec["paths"].items() if "get" in ops)
    paths += ["/metrics", "/healthz", "/readyz"]
    for template in paths:
        path = template
        for name, value in values.items():
            path = path.replace("{" + name + "}", value)
        answer = api.get(path, params={"system": "salesforce", "type": "Opportunity"})
        answers.append((f"GET {path} {answer.status_code}", f"{answer.headers}\n{answer.text}"))
    console = httpx.Client(base_url=str(api.base_url), timeout=10)
    page = console.get("/signin")
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    signed = console.post("/signin", data={"key": key, "csrf": token, "next": "/"})
    assert signed.status_code in (200, 303), signed.text
    for path in ("/", "/exceptions", "/runs?view=all", "/connections", "/audit?verify=1"):
        answer = console.get(path)
        assert answer.status_code == 200, path
        answers.append((f"console {path}", f"{answer.headers}\n{answer.text}"))
    console.close()
    return answers


def test_no_traffic_wins_nothing(start_demo):
    demo = start_demo("--no-traffic")
    demo.wait_line("Console: ", READY_WITHIN_S)
    demo.wait_line("Admin key: ", READY_WITHIN_S)
    before = {o["Id"] for o in opportunities(demo.salesforce) if o["StageName"] == "Closed Won"}
    # Longer than two of the traffic's batch intervals: a stream would have won some by now.
    time.sleep(10)
    after = {o["Id"] for o in opportunities(demo.salesforce) if o["StageName"] == "Closed Won"}
    assert after == before
    assert len(before) == 14  # scenario firm: only the seeded Closed Won deals

    assert demo.interrupt() == 0
    assert "Traceback" not in demo.stderr_tail()


def test_busy_port_fails_at_once_with_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        out = subprocess.run(
            accord_cmd(
                "demo",
                "--port",
                str(port),
                "--sandbox-base-port",
                str(free_ports(5)),
                "--data-dir",
                str(tmp_path / "demo"),
            ),
            env={k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert out.returncode != 0
    assert time.monotonic() - started < 15
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert f"127.0.0.1:{port}" in lines[0]
    assert "Console:" not in out.stdout
