"""Per-key ordering and dedupe hold across processes on PostgreSQL.

One deployment for the module: two ``--role api`` processes and two ``--role worker``
processes on a fresh PostgreSQL database. (Connection budgets across processes are proved by
``tests/integration/core/test_budget_db.py``, which runs on PostgreSQL too.)
"""

import itertools
from collections import defaultdict
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from tests.dbs import fresh_database
from tests.fleet import Fleet
from tests.support import cloud_event, create_key, opportunity

pytestmark = pytest.mark.postgres

KEYS, PER_KEY = 8, 10


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, str]]:
    folder = tmp_path_factory.mktemp("fleet")
    with fresh_database("postgres", folder) as url:
        key = create_key(url, "ingest")
        fleet = Fleet(url, folder)
        try:
            fleet.wait_ready(fleet.start("api-1", "api"))
            fleet.start("api-2", "api")
            fleet.start("worker-1", "worker")
            fleet.start("worker-2", "worker")
            for name in ("api-2", "worker-1", "worker-2"):
                fleet.wait_ready(fleet.procs[name])
            yield fleet, key
        finally:
            fleet.stop()


def test_events_of_one_key_apply_in_journal_order_across_two_workers(fleet):
    fleet, key = fleet
    opps = [opportunity(f"006ORDER{k:04d}") for k in range(KEYS)]
    # Interleaved: key 0, key 1, ..., key 7, key 0, ... posted from eight threads at once.
    events = [
        ("api-1", cloud_event(opps[k], id=f"order-{i:03d}-{k}"))
        for i in range(PER_KEY)
        for k in range(KEYS)
    ]
    answered = fleet.post_all(key, events)
    assert all(r.status_code == 202 for r in answered.values())
    run_ids = {r.json()["run_id"] for r in answered.values()}
    fleet.wait_for(
        lambda runs: all(runs.get(rid, {}).get("status") == "SUCCESS" for rid in run_ids),
        what="every run completing",
    )
    with fleet.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT j.seq, j.business_key, l.id, l.run_id, w.executor_id,"
                " w.started_at_epoch_ms, w.completed_at"
                f" FROM accord_journal j JOIN accord_lineage l ON l.event_id = j.event_id"
                f" JOIN {fleet.status_table} w ON w.workflow_uuid = l.run_id"
                " WHERE j.ce_id LIKE 'order-%' ORDER BY j.seq"
            )
        ).all()
    assert len(rows) == KEYS * PER_KEY
    by_key: dict[str, list] = defaultdict(list)
    for row in rows:
        by_key[row.business_key].append(row)
    assert len(by_key) == KEYS
    for runs in by_key.values():
        # In journal order, each run started, wrote its lineage and finished after the
        # previous one of its key.
        for before, after in itertools.pairwise(runs):
            assert after.id > before.id
            assert after.started_at_epoch_ms >= before.started_at_epoch_ms
            assert after.completed_at >= before.completed_at
    # Both workers took part, so the order held across processes, not inside one.
    assert {r.executor_id for r in rows} == {"worker-1", "worker-2"}


def test_the_same_event_posted_to_two_api_processes_at_once_is_journaled_once(fleet):
    fleet, key = fleet
    events = [cloud_event(id=f"dupe-{i:03d}") for i in range(30)]
    # Each event to both API processes, side by side, so the two posts race.
    answered = fleet.post_all(key, [(api, e) for e in events for api in ("api-1", "api-2")])
    for e in events:
        first, second = answered[f"api-1/{e['id']}"], answered[f"api-2/{e['id']}"]
        assert sorted([first.status_code, second.status_code]) == [200, 202]
        assert first.json() == second.json()
    run_ids = {r.json()["run_id"] for r in answered.values()}
    assert len(run_ids) == len(events)
    fleet.wait_for(
        lambda runs: all(runs.get(rid, {}).get("status") == "SUCCESS" for rid in run_ids),
        what="every run completing",
    )
    with fleet.engine.connect() as conn:
        journaled = conn.execute(
            sa.text(
                "SELECT ce_id, count(*) FROM accord_journal WHERE ce_id LIKE 'dupe-%'"
                " GROUP BY ce_id"
            )
        ).all()
        journal_total = conn.execute(sa.text("SELECT count(*) FROM accord_journal")).scalar_one()
    assert dict(journaled) == {e["id"]: 1 for e in events}
    # One run per journal row in the whole database: the losing post started none.
    assert len(fleet.runs()) == journal_total
