"""An API process never executes a run, scheduled ones included; a worker does.

The time-to-bill hold release is a DBOS schedule without a queue of its own, so its ticks go to
DBOS's internal queue, which every launched process serves unless told otherwise. Here an API
process runs alone for a few seconds with the release checked every second: its ticks pile up,
unexecuted. A worker then started on the same database executes them. A run left pending under
the API process's own id (it once ran ``--role all``) goes to the workers too.
"""

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from dbos import DBOS, DBOSClient
from tests.dbs import runtime_table

import accord
from accord.flows.capture import CAPTURE_QUEUE
from accord.flows.services import Services
from accord.settings import Settings

SCHEDULE = "time_to_bill:release-holds"  # accord.flows.billing.hold.SCHEDULE


def _ticks(engine: sa.Engine, table: str) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(f"SELECT workflow_uuid, status, executor_id FROM {table} WHERE name = :n"),
                {"n": "ttb.release_tick"},
            )
        )


def _wait(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached")
        time.sleep(0.2)


def test_api_processes_leave_scheduled_runs_to_the_workers(db_url: str, tmp_path: Path) -> None:
    config = tmp_path / "accord.yaml"
    config.write_text("time_to_bill:\n  hold_check_interval_s: 1\n", encoding="utf-8")
    table = runtime_table(db_url, "workflow_status")

    api = Services.build(
        Settings(database_url=db_url, worker_id="api-1", config_file=config), worker=False
    )
    api.start()
    try:
        assert any(s["schedule_name"] == SCHEDULE for s in DBOS.list_schedules())
        _wait(lambda: len(_ticks(api.engine, table)) >= 3)
        time.sleep(1.5)  # time enough for a serving process to start the ones enqueued
        ticks = _ticks(api.engine, table)
        assert {t.status for t in ticks} == {"ENQUEUED"}, ticks
        assert {t.executor_id for t in ticks} <= {None, ""}
    finally:
        api.stop()

    worker = Services.build(
        Settings(database_url=db_url, worker_id="worker-1", config_file=config), worker=True
    )
    worker.start()
    try:
        _wait(lambda: {t.status for t in _ticks(worker.engine, table)} == {"SUCCESS"})
        assert {t.executor_id for t in _ticks(worker.engine, table)} == {"worker-1"}
    finally:
        worker.stop()


def test_a_run_pending_under_an_api_process_id_goes_to_the_workers(
    db_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "accord.yaml"
    config.write_text("time_to_bill:\n  hold_check_interval_s: 0\n", encoding="utf-8")
    engine = sa.create_engine(db_url)
    table = runtime_table(db_url, "workflow_status")
    # The same id once served as a worker and died with a run in hand.
    first = Services.build(
        Settings(database_url=db_url, worker_id="api-1", config_file=config), worker=True
    )
    first.start()
    try:
        client = DBOSClient(system_database_engine=first.engine)
        try:
            handle = client.enqueue(
                {
                    "workflow_name": "ttb.release_tick",
                    "queue_name": CAPTURE_QUEUE,
                    "app_version": accord.__version__,
                },
                None,
                None,
            )
            run_id = handle.workflow_id
        finally:
            client.destroy()
        _wait(lambda: _status(engine, table, run_id)[0] == "SUCCESS")
    finally:
        first.stop()
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"UPDATE {table} SET status = 'PENDING', executor_id = 'api-1' "
                "WHERE workflow_uuid = :id"
            ),
            {"id": run_id},
        )
    api = Services.build(
        Settings(database_url=db_url, worker_id="api-1", config_file=config), worker=False
    )
    api.start()
    try:
        time.sleep(1.0)
        assert _status(engine, table, run_id)[0] == "ENQUEUED"
    finally:
        api.stop()
    worker = Services.build(
        Settings(database_url=db_url, worker_id="worker-1", config_file=config), worker=True
    )
    worker.start()
    try:
        _wait(lambda: _status(engine, table, run_id) == ("SUCCESS", "worker-1"))
    finally:
        worker.stop()
        engine.dispose()


def _status(engine: sa.Engine, table: str, run_id: str) -> tuple[str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(f"SELECT status, executor_id FROM {table} WHERE workflow_uuid = :id"),
            {"id": run_id},
        ).one()
    return str(row.status), row.executor_id
