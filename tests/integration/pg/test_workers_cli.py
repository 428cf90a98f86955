"""``accord workers recover`` with nothing to recover (the hand-over itself: tests/e2e)."""

import subprocess

from tests.support import accord_cmd, accord_env


def test_recover_with_nothing_pending_hands_over_nothing(db_url):
    out = subprocess.run(
        accord_cmd("workers", "recover", "worker-gone"),
        env=accord_env(db_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == []
    assert "handed over 0 pending runs of worker worker-gone" in " ".join(out.stderr.split())


def test_recover_refuses_an_empty_id(tmp_path):
    out = subprocess.run(
        accord_cmd("workers", "recover", " "),
        env=accord_env(f"sqlite:///{tmp_path / 'accord.db'}"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 1
    assert "DEAD_ID must not be empty" in out.stderr
    assert "Traceback" not in out.stderr
