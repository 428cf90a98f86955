"""Shared benchmark plumbing: start ``accord`` as a subprocess, sample its CPU and memory,
and write results into bench/RESULTS.md between markers."""

import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
CREDENTIALS_KEY = os.environ.get("ACCORD_CREDENTIALS_KEY") or Fernet.generate_key().decode()
"""One credentials key for every accord process a benchmark starts (as a deployment has)."""


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def cpu_seconds(pid: int) -> float:
    """User+system CPU of a process and its threads, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def accord_env(db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env.update(
        {
            "ACCORD_DATABASE_URL": db_url,
            "ACCORD_WORKER_ID": "bench",
            "ACCORD_CREDENTIALS_KEY": CREDENTIALS_KEY,
            **extra,
        }
    )
    return env


def authorize_kantata(db_url: str, config: Path) -> None:
    """``accord connections authorize kantata`` against the sandbox (its user approves at once).

    Done before Accord starts, as an operator does once; the token is stored in the database
    under :data:`CREDENTIALS_KEY`.
    """
    from pydantic import SecretStr

    from accord.cli.connections_cmd import authorize_connection
    from accord.flows.connections import Connections
    from accord.store import create_db_engine, migrate
    from accord.store.credentials import DatabaseTokenStore
    from accord_sandbox.kantata.auth import sandbox_consent

    engine = create_db_engine(db_url)
    try:
        migrate(engine)
        store = DatabaseTokenStore(engine, key=SecretStr(CREDENTIALS_KEY))
        connections = Connections(engine, config_file=config, token_store=store, instrument=False)
        try:
            authorize_connection(
                connections, "kantata", store=store, user_agent=sandbox_consent, actor="bench"
            )
        finally:
            connections.close()
    finally:
        engine.dispose()


def create_key(db_url: str, role: str = "ingest") -> str:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "accord.cli",
            "keys",
            "create",
            "--role",
            role,
            "--name",
            f"bench-{time.time_ns()}",
        ],
        env=accord_env(db_url),
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def start_accord(
    db_url: str, port: int, log: Path, *args: str, wait: bool = True, **env: str
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "accord.cli", "run", "--port", str(port), *args],
        env=accord_env(db_url, **env),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    if not wait:
        return proc
    # Minutes, not seconds: on a loaded shared machine imports and migrations take a while.
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"accord exited with {proc.returncode}; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise TimeoutError("accord did not become ready")


def set_latency(url: str, path: str, latency_ms: int) -> list[dict[str, object]]:
    """Clear an emulator's injected faults, add ``latency_ms`` on ``path``; the active rules.

    The emulator's own limits (its vendor's) stay, and are among the rules returned.
    """
    httpx.delete(f"{url}/__sandbox/faults", timeout=10).raise_for_status()
    httpx.post(
        f"{url}/__sandbox/faults", json={"path": path, "latency_ms": latency_ms}, timeout=10
    ).raise_for_status()
    active: list[dict[str, object]] = httpx.get(f"{url}/__sandbox/faults", timeout=10).json()[
        "active"
    ]
    return active


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section between <!-- name:start --> and <!-- name:end -->."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    text = (
        pattern.sub(lambda _m: block, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + block + "\n"
    )
    RESULTS.write_text(text)


def fresh_postgres_database(server_url: str, prefix: str = "accord_bench") -> str:
    """Create an empty database on a PostgreSQL server; its URL."""
    import uuid

    import sqlalchemy as sa

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = sa.make_url(server_url)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def win_opportunity(sf_config: Any, opportunity: dict[str, Any]) -> dict[str, Any]:
    """Mark a CRM opportunity Closed Won; its canonical form, for ``POST /api/v1/projects``."""
    from accord.connectors.registry import create_connector
    from accord.connectors.salesforce import mapping as sf_mapping

    with create_connector(sf_config) as sf:
        sf.update("Opportunity", opportunity["Id"], {"StageName": "Closed Won"})
        raw = sf.get("Opportunity", opportunity["Id"])
    return sf_mapping.opportunity_to_canonical(raw).model_dump(mode="json")


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]
