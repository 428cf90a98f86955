"""``accord doctor`` against the sandbox: ready, then a field removed, a wrong secret, a bad clock.

The sandbox plays a firm whose systems were set up with the setup kit; the control API removes
a field as an administrator would, and the doctor must name it with its fix and exit 1.
"""

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from tests.support import accord_cmd, accord_env, authorize_sandbox_kantata_in

from accord.connectors.config import load_connections
from accord.doctor import check_connection
from accord.store import create_db_engine, migrate
from accord_sandbox.accord_config import write_accord_config
from accord_sandbox.server import Sandbox, SandboxHandle


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with Sandbox(base_port=0, scenario="small").start_in_thread() as handle:
        yield handle


@pytest.fixture
def firm(sandbox: SandboxHandle, tmp_path: Path) -> tuple[Path, str]:
    config = write_accord_config(tmp_path / "accord.yaml", sandbox.urls)
    return config, f"sqlite:///{tmp_path / 'accord.db'}"


def _doctor(firm: tuple[Path, str], *args: str) -> subprocess.CompletedProcess[str]:
    config, db_url = firm
    return subprocess.run(
        accord_cmd("doctor", *args),
        env=accord_env(db_url, ACCORD_CONFIG_FILE=str(config), COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_doctor_passes_then_names_each_problem_with_its_fix(sandbox, firm):
    config, db_url = firm
    fresh = _doctor(firm, "--connection", "netsuite")
    assert fresh.returncode == 1
    assert "migrated: at revision none" in fresh.stdout
    assert "start accord run once" in fresh.stdout

    engine = create_db_engine(db_url)
    migrate(engine)
    unauthorized = _doctor(firm, "--connection", "kantata")
    assert unauthorized.returncode == 1
    assert "accord connections authorize kantata" in unauthorized.stdout
    # Kantata signs in by a person's consent: `accord connections authorize` keeps its tokens
    # in the database, where the doctor reads them.
    authorize_sandbox_kantata_in(engine, config)
    engine.dispose()
    ready = _doctor(firm)
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert "FAIL" not in ready.stdout
    assert "setup (fields and pages present)" in ready.stdout

    removed = httpx.delete(
        f"{sandbox.urls['salesforce']}/__sandbox/salesforce/fields/Opportunity/Integration_Status__c"
    )
    assert removed.status_code == 204
    document = yaml.safe_load(config.read_text())
    # NetSuite signs in with a certificate (M2M); Business Central's app has a client secret.
    document["connections"]["business-central"]["client_secret"] = "wrong-secret"
    config.write_text(yaml.safe_dump(document))
    broken = _doctor(firm)
    assert broken.returncode == 1
    lines = broken.stdout.splitlines()
    missing = next(i for i, line in enumerate(lines) if "Opportunity.Integration_Status__c" in line)
    assert "FAIL setup: field Opportunity.Integration_Status__c is missing" in lines[missing]
    assert "setup kit" in lines[missing + 1]
    assert "Accord_Integration" in lines[missing + 1]
    refused = next(i for i, line in enumerate(lines) if "authentication: refused" in line)
    assert "client id and secret" in lines[refused + 1]
    assert "problem(s)" in broken.stderr


def test_a_clock_off_by_minutes_is_a_problem(firm):
    config, _ = firm
    netsuite = load_connections(config, {})["netsuite"]
    slow = check_connection(netsuite, clock=lambda: datetime.now(UTC) - timedelta(minutes=5))
    (clock,) = [r for r in slow if r.check == "clock"]
    assert clock.problem is not None
    assert "behind the system's" in clock.problem
    assert "NTP" in clock.fix
    in_step = check_connection(netsuite)
    assert all(r.ok for r in in_step), in_step
