"""The built wheel, installed as a newcomer installs it, runs from any directory.

The wheel is built from this checkout, installed with pip into a fresh virtual environment in a
temporary directory outside the repository (dependencies pinned by ``constraints.txt``), and
``accord run`` is started there, in that directory, against the sandbox. Account validation
needs the default rules, which the wheel must carry as package data: before it did, a plain
``accord run`` answered 503 "no rules file is configured".
"""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests.support import ROOT, free_port, wait_ready

from accord_sandbox.accord_config import write_accord_config
from accord_sandbox.server import Sandbox

pytestmark = pytest.mark.slow


def _pip(*args: str) -> None:
    # The checkout's pip drives the new environment (--python), so the environment needs no pip
    # of its own; --no-compile skips byte-compiling what one test run never imports twice.
    subprocess.run(
        [sys.executable, "-m", "pip", *args], check=True, capture_output=True, timeout=600
    )


def _env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCORD_", "PYTHON"))}
    env.update(
        {
            "ACCORD_DATABASE_URL": f"sqlite:///{workdir / 'var' / 'accord.db'}",
            "ACCORD_CONFIG_FILE": str(workdir / "accord.yaml"),
            "ACCORD_WORKER_ID": "wheel-test",
        }
    )
    return env


def test_wheel_installs_and_validates_an_account(tmp_path):
    assert ROOT not in tmp_path.parents
    dist, venv, workdir = tmp_path / "dist", tmp_path / "venv", tmp_path / "firm"
    workdir.mkdir()
    _pip("wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT))
    (wheel,) = dist.glob("accord-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    _pip(
        "--python",
        str(python),
        "install",
        "-q",
        "--no-compile",
        "-c",
        str(ROOT / "constraints.txt"),
        str(wheel),
    )
    env = _env(workdir)
    where = subprocess.run(
        [str(python), "-c", "import accord.resources as r; print(r.default_rules_path())"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(venv), "rules must come from the wheel"

    accord = str(venv / "bin" / "accord")
    with Sandbox(base_port=0, scenario="small").start_in_thread() as sandbox:
        write_accord_config(workdir / "accord.yaml", sandbox.urls)
        key = (
            subprocess.run(
                [accord, "keys", "create", "--role", "process", "--name", "portal"],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        port = free_port()
        proc = subprocess.Popen(
            [accord, "run", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, proc, timeout=120)
            accounts = httpx.get(f"{sandbox.urls['salesforce']}/__sandbox/records/Account").json()
            account = accounts["records"][0]["Id"]
            resp = httpx.post(
                f"{base}/api/v1/accounts/validate",
                json={"crm_account_id": account},
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
            )
        finally:
            proc.terminate()
            _, stderr = proc.communicate(timeout=30)
    assert resp.status_code == 200, (resp.text, stderr.decode()[-2000:])
    body = resp.json()
    assert body["customer_id"]
    assert {c["name"] for c in body["checks"]} >= {"legal_entity_valid", "tax_region_known"}
