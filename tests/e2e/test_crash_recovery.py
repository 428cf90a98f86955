"""SIGKILL ``accord run`` part-way through 300 events: every 202 gets exactly one completed run.

The process is a real subprocess on a fresh database (a SQLite file, or PostgreSQL); events are
posted from several threads; the kill lands while requests are in flight. After a restart under
the same worker id the runtime recovers what was pending, and the database must show, for every
event that was answered 202, one journal row, one successful run and one lineage entry.
"""

import json
import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa
from tests.dbs import runtime_table
from tests.support import (
    STRUCTURED,
    accord_cmd,
    accord_env,
    cloud_event,
    create_key,
    free_port,
    wait_ready,
)

pytestmark = pytest.mark.slow

TOTAL = 300


def _start(db_url: str, port: int, log) -> subprocess.Popen:
    return subprocess.Popen(
        accord_cmd("run", "--port", str(port)),
        # One run at a time, so that the kill finds runs still pending.
        env=accord_env(db_url, ACCORD_INTAKE__WORKER_CONCURRENCY="1"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def test_sigkill_mid_stream_loses_nothing_and_doubles_nothing(db_url, tmp_path):
    workflow_status = runtime_table(db_url, "workflow_status")
    key = create_key(db_url, "ingest")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "accord.log").open("w")
    proc = _start(db_url, port, log)
    try:
        wait_ready(base, proc)
        answered: dict[str, dict] = {}
        lock = threading.Lock()
        killed = threading.Event()
        client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}", **STRUCTURED}, timeout=10
        )

        def post(i: int) -> None:
            event = cloud_event(id=f"crash-{i:04d}")
            try:
                resp = client.post("/api/v1/events", content=json.dumps(event))
            except httpx.HTTPError:
                return
            if resp.status_code == 202:
                with lock:
                    answered[event["id"]] = resp.json()
                    if len(answered) == TOTAL // 2 and not killed.is_set():
                        killed.set()
                        os.kill(proc.pid, signal.SIGKILL)

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(post, range(TOTAL)))
        proc.wait(timeout=30)
        assert killed.is_set()
        assert proc.returncode == -signal.SIGKILL
        assert len(answered) >= TOTAL // 2

        engine = sa.create_engine(db_url)
        run_ids = {r["run_id"] for r in answered.values()}
        with engine.connect() as conn:
            finished_before = conn.execute(
                sa.text(
                    f"SELECT count(*) FROM {workflow_status} "
                    "WHERE status = 'SUCCESS' AND name = 'record_event'"
                )
            ).scalar_one()
        assert finished_before < len(run_ids), "the kill found no pending run to recover"

        proc = _start(db_url, port, log)
        wait_ready(base, proc)
        deadline = time.monotonic() + 90
        while True:
            with engine.connect() as conn:
                statuses = dict(
                    conn.execute(
                        # Event runs only: scheduled workflows (hold release) run here too.
                        sa.text(
                            f"SELECT workflow_uuid, status FROM {workflow_status} "
                            "WHERE name = 'record_event'"
                        )
                    ).all()
                )
            done = {rid for rid in run_ids if statuses.get(rid) == "SUCCESS"}
            if done == run_ids or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert done == run_ids, f"{len(run_ids - done)} answered events have no completed run"
        with engine.connect() as conn:
            journal_ids = [r[0] for r in conn.execute(sa.text("SELECT ce_id FROM accord_journal"))]
            links = conn.execute(
                sa.text("SELECT event_id, count(*) FROM accord_lineage GROUP BY event_id")
            ).all()
        # Nothing lost: every answered event is journaled; nothing doubled: one row, one run,
        # one lineage entry per event (the journal may also hold events the kill left unanswered).
        assert set(answered) <= set(journal_ids)
        assert len(journal_ids) == len(set(journal_ids))
        assert all(count == 1 for _, count in links)
        linked = {event_id for event_id, _ in links}
        assert {r["event_id"] for r in answered.values()} <= linked
        assert sum(1 for s in statuses.values() if s == "SUCCESS") == len(journal_ids)
        engine.dispose()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
