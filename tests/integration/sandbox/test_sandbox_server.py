"""The sandbox: a real process on real ports, its state file, and the thread mode."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.support import free_ports
from typer.testing import CliRunner

from accord.cli.sandbox_cmd import sandbox_app
from accord_sandbox.server import SYSTEMS, Sandbox, SandboxError

READY_BOUND_S = 20.0
"""Generous: the sandbox starts in about 1-2 s on a 2-core machine."""

# One object each emulator seeds from the firm, and how many records the firm scenario gives.
SEEDED = {
    "salesforce": "Account",
    "kantata": "users",
    "netsuite": "employee",
    "business_central": "employees",
    "dynamics_finance": "Resources",
}


def _urls(base: int) -> dict[str, str]:
    return {s.name: f"http://127.0.0.1:{base + s.port_offset}" for s in SYSTEMS}


def _start(base: int, state: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "120"}
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "accord_sandbox",
                "--base-port",
                str(base),
                "--scenario",
                "firm",
                "--seed",
                "7",
                "--state",
                str(state),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


def _wait_ready(proc: subprocess.Popen[bytes], urls: dict[str, str], log: Path) -> float:
    """Seconds until every system answers ``GET /__sandbox/stats``."""
    start = time.monotonic()
    pending = dict(urls)
    with httpx.Client(timeout=2.0) as client:
        while pending:
            if proc.poll() is not None:
                pytest.fail(f"sandbox exited with {proc.returncode}:\n{log.read_text()}")
            if time.monotonic() - start > READY_BOUND_S:
                pytest.fail(f"sandbox not ready after {READY_BOUND_S} s:\n{log.read_text()}")
            for name, url in list(pending.items()):
                try:
                    response = client.get(f"{url}/__sandbox/stats")
                except httpx.TransportError:
                    continue
                if response.status_code == 200:
                    assert response.json()["system"]
                    del pending[name]
            time.sleep(0.05)
    return time.monotonic() - start


def _stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"sandbox ignored SIGTERM:\n{log.read_text()}")
    assert proc.returncode == 0, log.read_text()


def _records(client: httpx.Client, urls: dict[str, str]) -> dict[str, list[dict[str, object]]]:
    out = {}
    for name, obj in SEEDED.items():
        response = client.get(f"{urls[name]}/__sandbox/records/{obj}")
        assert response.status_code == 200
        body = response.json()
        assert body["object"] == obj
        assert body["count"] == len(body["records"])
        out[name] = body["records"]
    return out


def test_process_starts_serves_saves_and_restores(tmp_path):
    base = free_ports(len(SYSTEMS) + 1)  # base+1..base+4
    urls = _urls(base)
    state = tmp_path / "state.json"
    log = tmp_path / "sandbox.log"

    proc = _start(base, state, log)
    try:
        elapsed = _wait_ready(proc, urls, log)
        assert elapsed < READY_BOUND_S
        with httpx.Client(timeout=5.0) as client:
            before = _records(client, urls)
            for name, rows in before.items():
                assert rows, f"{name} seeded no {SEEDED[name]}"
            # Something only the state file can bring back: a period no scenario seeds.
            for url in urls.values():
                response = client.post(
                    f"{url}/__sandbox/periods",
                    json={"entity": "US01", "period": "2031-01", "status": "closed"},
                )
                assert response.status_code == 200
    finally:
        if proc.poll() is None:
            _stop(proc, log)
    text = log.read_text()
    for system in SYSTEMS:
        assert f"{system.title} emulator listening on {urls[system.name]}" in text
    assert "client id sandbox" in text
    assert "client secret sandbox-secret" in text
    saved = json.loads(state.read_text(encoding="utf-8"))
    assert saved["format"] == "accord-sandbox-state/1"
    assert set(saved["systems"]) == {s.name for s in SYSTEMS}

    proc = _start(base, state, log)
    try:
        _wait_ready(proc, urls, log)
        with httpx.Client(timeout=5.0) as client:
            assert _records(client, urls) == before
            for url in urls.values():
                periods = client.get(f"{url}/__sandbox/periods").json()
                assert {"entity": "US01", "period": "2031-01", "status": "closed"} in periods
    finally:
        if proc.poll() is None:
            _stop(proc, log)


def test_thread_mode_serves_and_persists(tmp_path):
    state = tmp_path / "state.json"
    sandbox = Sandbox(base_port=0, scenario="small", seed=3, state=state)
    with sandbox.start_in_thread() as handle:
        assert set(handle.urls) == {s.name for s in SYSTEMS}
        with httpx.Client(timeout=5.0) as client:
            for name, url in handle.urls.items():
                stats = client.get(f"{url}/__sandbox/stats").json()
                assert stats["system"]
                rows = client.get(f"{url}/__sandbox/records/{SEEDED[name]}").json()
                assert rows["count"] > 0
            client.post(
                f"{handle.urls['netsuite']}/__sandbox/periods",
                json={"entity": "UK01", "period": "2030-05", "status": "closed"},
            )
    assert state.exists()

    restored = Sandbox(base_port=0, scenario="small", seed=3, state=state)
    try:
        assert restored.emulators["netsuite"].periods[("UK01", "2030-05")] == "closed"
    finally:
        restored.close()


def test_busy_port_fails_fast_with_a_clear_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        base = busy.getsockname()[1] - 1  # the Salesforce port is taken
        with pytest.raises(SandboxError, match=r"cannot listen on 127\.0\.0\.1"):
            Sandbox(base_port=base, scenario="small")
        result = CliRunner().invoke(sandbox_app, ["--base-port", str(base), "--scenario", "small"])
    assert result.exit_code == 1
    assert "cannot listen on" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_bad_state_file_is_one_line_error(tmp_path):
    state = tmp_path / "state.json"
    state.write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(
        sandbox_app, ["--base-port", "0", "--scenario", "small", "--state", str(state)]
    )
    assert result.exit_code == 1
    assert "is not valid JSON" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_bad_base_port_is_refused():
    with pytest.raises(SandboxError, match="out of range"):
        Sandbox(base_port=65534)


def test_state_in_a_missing_directory_is_refused(tmp_path):
    with pytest.raises(SandboxError, match="is not a directory"):
        Sandbox(base_port=0, scenario="small", state=tmp_path / "missing" / "state.json")
