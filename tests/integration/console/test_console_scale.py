"""The console stays fast at scale: 100,000 runs and 10,000 open exceptions.

Rows are inserted directly (DBOS's ``workflow_status`` after the runtime created it, and the
exceptions table), then every page is rendered with the number of SQL statements counted and
its time measured, and the plans of the paged queries are checked to use indexes.
"""

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from tests.integration.console.support import count_queries, local_client, make_app, sign_in

from accord.store import create_db_engine, exceptions, keys, migrate, runs
from accord.store.tables import exceptions as exceptions_table

RUNS = 100_000
EXCEPTIONS = 10_000
MAX_QUERIES = 16
"""Statements one page may run (session lookup, counts, one page of rows, aggregates)."""
MAX_SECONDS = 3.0
"""Generous: the pages render in tens of milliseconds on a laptop."""

STATUSES = (
    ["SUCCESS"] * 88
    + ["ERROR"] * 5
    + ["MAX_RECOVERY_ATTEMPTS_EXCEEDED"] * 2
    + ["ENQUEUED"] * 3
    + ["PENDING"] * 2
)


def _seed_runs(engine: sa.Engine, now_ms: int) -> None:
    rng = random.Random(7)
    rows = []
    for i in range(RUNS):
        created = now_ms - rng.randrange(0, 7 * 24 * 3600 * 1000)
        status = rng.choice(STATUSES)
        done = status in {"SUCCESS", "ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"}
        rows.append(
            {
                "id": f"{i + 1:012d}.{i:032x}",
                "status": status,
                "name": rng.choice(["record_event", "lead_to_project", "post_approved_time"]),
                "queue": "accord-events",
                "created": created,
                "updated": created + 500,
                "completed": created + rng.randrange(50, 5000) if done else None,
                "attempts": 6 if status == "MAX_RECOVERY_ATTEMPTS_EXCEEDED" else 1,
                "error": "ConnectorError: upstream said no" if status == "ERROR" else None,
            }
        )
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO workflow_status (workflow_uuid, status, name, queue_name, created_at,"
                " updated_at, completed_at, recovery_attempts, error, priority, executor_id,"
                " application_version) VALUES (:id, :status, :name, :queue, :created, :updated,"
                " :completed, :attempts, :error, 0, 'elsewhere', '0.0.0-seeded')"
            ),
            rows,
        )


def _seed_exceptions(engine: sa.Engine, now: datetime) -> None:
    rng = random.Random(11)
    queues = sorted(exceptions.QUEUES)
    rows = []
    for i in range(EXCEPTIONS):
        at = now - timedelta(minutes=rng.randrange(0, 5 * 24 * 60))
        rows.append(
            {
                "queue": queues[i % 4],
                "status": "open",
                "severity": "medium",
                "flow": "seeded",
                "run_id": None,
                "business_key": f"invoice:{i}",
                "dedupe_key": f"seed:{i}",
                "code": "period_closed",
                "title": f"Seeded exception {i}",
                "detail": '{"data": {"error": "closed"}, "comments": [], "occurrences": 1}',
                "amount": rng.randrange(100, 100_000),
                "currency": rng.choice(["USD", "GBP", "EUR"]),
                "assignee": None,
                "created_at": at,
                "updated_at": at,
            }
        )
    with engine.begin() as conn:
        conn.execute(sa.insert(exceptions_table), rows)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    folder = tmp_path_factory.mktemp("console-scale")
    db = folder / "accord.db"
    engine = create_db_engine(f"sqlite:///{db}")
    migrate(engine)
    with engine.begin() as conn:
        _, secret = keys.create(conn, name="viewer", role=keys.Role.VIEWER, actor="test")
    app, _ = make_app(db)
    with local_client(app) as client:  # the runtime creates the DBOS tables at start
        now = datetime.now(UTC)
        _seed_runs(engine, int(now.timestamp() * 1000))
        _seed_exceptions(engine, now)
        sign_in(client, secret)
        yield {"client": client, "engine": engine, "app": app}
    engine.dispose()


PAGES = [
    "/",
    "/exceptions",
    "/exceptions?queue=finance-ops",
    "/exceptions?queue=finance-ops&page=50",
    "/exceptions?queue=finance-ops&sort=newest&page=3",
    "/exceptions/1",
    "/exceptions/9999",
    "/runs",
    "/runs?view=stuck&page=20",
    "/runs?view=failed",
    "/runs?view=failed&page=90",
    "/runs?view=dead",
    "/runs?view=all",
    "/runs?view=all&page=1500",
    "/audit",
    "/connections",
]


@pytest.mark.slow
@pytest.mark.parametrize("path", PAGES)
def test_each_page_renders_with_bounded_queries_and_time(big, path):
    engine = big["app"].state.services.engine
    with count_queries(engine) as counted:
        started = time.perf_counter()
        resp = big["client"].get(path)
        elapsed = time.perf_counter() - started
    assert resp.status_code == 200, resp.text[:500]
    assert 0 < counted["n"] <= MAX_QUERIES, f"{path} ran {counted['statements']}"
    assert elapsed < MAX_SECONDS, f"{path} took {elapsed:.2f}s"
    print(f"{path}: {counted['n']} statements, {elapsed * 1000:.0f} ms")


@pytest.mark.slow
def test_pages_show_the_scale(big):
    client = big["client"]
    page = client.get("/exceptions?queue=finance-ops").text
    assert "Page 1 of 50" in page
    assert "2500 in all" in page
    runs = client.get("/runs?view=failed").text
    assert 'class="count"' in runs
    assert client.get("/runs?view=all&page=2000").text.count('<tr><td class="mono">') == 50


@pytest.mark.slow
@pytest.mark.parametrize(
    ("view", "index"),
    [
        ("stuck", "idx_workflow_status_in_flight"),
        ("failed", "idx_workflow_status_failed"),
        ("dead", "idx_workflow_status_failed"),
        ("all", "workflow_status_created_at_index"),
    ],
)
def test_run_queries_use_indexes(big, view, index):
    with big["engine"].connect() as conn:
        q = runs.runs_select(conn, view=view, offset=500)
        sql = str(q.compile(conn, compile_kwargs={"literal_binds": True}))
        plan = " | ".join(r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert f"USING INDEX {index}" in plan, plan


@pytest.mark.slow
def test_exception_queries_use_indexes(big):
    with big["engine"].connect() as conn:
        q = (
            sa.select(exceptions_table)
            .where(exceptions_table.c.queue == "finance-ops", exceptions_table.c.status == "open")
            .order_by(exceptions_table.c.created_at, exceptions_table.c.id)
            .limit(50)
            .offset(2000)
        )
        sql = str(q.compile(conn, compile_kwargs={"literal_binds": True}))
        plan = " | ".join(r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert "ix_exceptions_queue_status_created" in plan, plan
