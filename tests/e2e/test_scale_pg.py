"""The crash test on PostgreSQL with two workers: one is SIGKILLed while it holds runs.

One ``--role api`` process and two ``--role worker`` processes (``worker-a``, ``worker-b``)
share a fresh PostgreSQL database. Events are posted part before, part during and part after
the kill. To make sure the kill finds ``worker-a`` in the middle of runs, the test holds a
lock on the lineage table for a moment (every run's one step writes there), so runs stay
``PENDING`` until it is released.

While ``worker-a`` is dead, ``worker-b`` goes on with everything else, but leaves the dead
worker's runs alone, and the runs queued behind them for the same key wait (per-key order).
Then the dead worker's runs are recovered, either by restarting ``worker-a`` under the same id
or by an operator's ``accord workers recover worker-a`` (both return them to their queue, where
a live worker takes them), and every answered event must have
one journal row, one successful run and one lineage entry: nothing lost, nothing doubled.
"""

import time

import pytest
import sqlalchemy as sa
from tests.dbs import fresh_database
from tests.fleet import Fleet
from tests.support import cloud_event, create_key

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

BEFORE, DURING, AFTER = 40, 40, 40


@pytest.fixture
def pg_url(tmp_path):
    with fresh_database("postgres", tmp_path) as url:
        yield url


def _events(start: int, stop: int) -> list[tuple[str, dict]]:
    return [("api", cloud_event(id=f"scale-{i:04d}")) for i in range(start, stop)]


@pytest.mark.parametrize("recovery", ["restart", "handover"])
def test_a_killed_worker_loses_nothing_and_doubles_nothing(pg_url, tmp_path, recovery):
    key = create_key(pg_url, "ingest")
    fleet = Fleet(pg_url, tmp_path)
    try:
        fleet.wait_ready(fleet.start("api", "api"))
        for name in ("worker-a", "worker-b"):
            fleet.start(name, "worker", ACCORD_INTAKE__WORKER_CONCURRENCY="4")
        for name in ("worker-a", "worker-b"):
            fleet.wait_ready(fleet.procs[name])

        answered = fleet.post_all(key, _events(0, BEFORE))

        # Hold the runs' one write, so the kill finds worker-a with runs in hand.
        blocker = fleet.engine.connect()
        tx = blocker.begin()
        blocker.execute(sa.text("LOCK TABLE accord_lineage IN SHARE ROW EXCLUSIVE MODE"))
        try:
            answered |= fleet.post_all(key, _events(BEFORE, BEFORE + DURING))
            fleet.wait_for(
                lambda runs: any(
                    r["executor"] == "worker-a" and r["status"] == "PENDING" for r in runs.values()
                ),
                timeout=30,
                what="worker-a holding a run",
            )
            fleet.kill("worker-a")
        finally:
            tx.rollback()
            blocker.close()
        assert fleet.procs["worker-a"].popen.returncode == -9

        answered |= fleet.post_all(key, _events(BEFORE + DURING, BEFORE + DURING + AFTER))
        assert all(r.status_code == 202 for r in answered.values())
        run_ids = {r.json()["run_id"] for r in answered.values()}
        assert len(run_ids) == BEFORE + DURING + AFTER

        runs = fleet.runs()
        dead = {rid for rid, r in runs.items() if r["executor"] == "worker-a"}
        dead = {rid for rid in dead if runs[rid]["status"] == "PENDING"}
        assert dead, "the kill found no run of worker-a to recover"
        blocked = {runs[rid]["partition"] for rid in dead}

        # worker-b finishes everything except the dead worker's runs and those queued behind
        # them on the same partitions (their keys must wait: per-key order).
        fleet.wait_for(
            lambda runs: all(
                r["status"] == "SUCCESS" for r in runs.values() if r["partition"] not in blocked
            ),
            what="worker-b draining the other partitions",
        )
        time.sleep(1.0)  # a few more polls of worker-b: it must still leave them alone
        runs = fleet.runs()
        assert {rid for rid in dead if runs[rid]["status"] == "PENDING"} == dead
        assert all(runs[rid]["executor"] == "worker-a" for rid in dead)
        # Run ids sort in journal order: nothing after a dead run on its partition has run.
        first_dead = {}
        for rid in sorted(dead):
            first_dead.setdefault(runs[rid]["partition"], rid)
        behind = [
            r["status"]
            for rid, r in runs.items()
            if r["partition"] in first_dead and rid > first_dead[r["partition"]]
        ]
        assert "SUCCESS" not in behind

        if recovery == "restart":
            fleet.start("worker-a-again", "worker", worker_id="worker-a")
        else:
            dry = fleet.accord("workers", "recover", "worker-a", "--dry-run", worker_id="worker-b")
            assert dry.returncode == 0, dry.stderr
            assert set(dry.stdout.split()) == dead
            assert fleet.runs()[next(iter(dead))]["status"] == "PENDING"  # dry run: untouched
            listed = fleet.accord("workers", "list")
            assert "worker-a" in listed.stdout
            done = fleet.accord("workers", "recover", "worker-a", worker_id="worker-b")
            assert done.returncode == 0, done.stderr
            assert set(done.stdout.split()) == dead
            assert f"handed over {len(dead)} pending runs" in " ".join(done.stderr.split())

        fleet.wait_for(
            lambda runs: all(runs.get(rid, {}).get("status") == "SUCCESS" for rid in run_ids),
            what="every answered event's run completing",
        )
        runs = fleet.runs()
        # Recovery puts the runs back on their queue: on restart either live worker may take
        # them; handed over, only worker-b is alive to.
        live = {"worker-a", "worker-b"} if recovery == "restart" else {"worker-b"}
        assert {runs[rid]["executor"] for rid in dead} <= live
        if recovery == "handover":
            again = fleet.accord("workers", "recover", "worker-a", worker_id="worker-b")
            assert again.returncode == 0, again.stderr
            assert again.stdout.split() == []  # nothing left: a repeat is harmless

        with fleet.engine.connect() as conn:
            journal_ids = conn.execute(sa.text("SELECT event_id FROM accord_journal")).scalars()
            journal_ids = list(journal_ids)
            links = dict(
                conn.execute(
                    sa.text("SELECT event_id, count(*) FROM accord_lineage GROUP BY event_id")
                ).all()
            )
        event_ids = {r.json()["event_id"] for r in answered.values()}
        # Nothing lost: every answered event journaled, run and linked. Nothing doubled: one
        # journal row, one run, one lineage entry each.
        assert sorted(journal_ids) == sorted(event_ids)
        assert set(links) == event_ids
        assert set(links.values()) == {1}
        assert len(runs) == len(event_ids)
        assert all(r["status"] == "SUCCESS" for r in runs.values())
    finally:
        fleet.stop()
