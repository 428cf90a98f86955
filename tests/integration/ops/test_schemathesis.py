"""``schemathesis run`` against a running Accord, every phase (stateful included), every check.

The API is served as a user runs it (``accord run``, an admin key) and schemathesis runs as a
user runs it (its CLI, with ``tests/schemathesis.toml``, which says what it leaves out and
why). It must report nothing: no undocumented status or content type, no 5xx, no
schema-violating request accepted, no schema-valid request refused.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support import ROOT, accord_cmd, accord_env, create_key, free_port, wait_ready

pytestmark = pytest.mark.slow

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CONFIG = ROOT / "tests" / "schemathesis.toml"


@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis (a dev dependency) missing")
def test_schemathesis_reports_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'accord.db'}"
    key = create_key(url, "admin", name="schemathesis-admin")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "accord.log").open("wb")
    # From the checkout: the process APIs read rules/default.yaml.
    server = subprocess.Popen(
        accord_cmd("run", "--port", str(port)),
        env=accord_env(url, ACCORD_CONFIG_FILE=str(tmp_path / "none.yaml")),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(base, server)
        done = subprocess.run(
            [
                str(SCHEMATHESIS),
                "--config-file",
                str(CONFIG),
                "run",
                f"{base}/api/v1/openapi.json",
                "-H",
                f"Authorization: Bearer {key}",
                # The coverage phase tries every documented shape whatever this says; a few
                # generated cases per operation on top keep the run near two minutes.
                "--max-examples",
                "5",
                "--generation-deterministic",
                "--no-color",
            ],
            cwd=tmp_path,
            env={**os.environ, "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    report = done.stdout
    assert done.returncode == 0, report[-6000:]
    for phase in ("Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in report, report[-3000:]
    assert "Failures:" not in report
