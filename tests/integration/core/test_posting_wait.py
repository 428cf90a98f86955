"""A run waiting for its postings: woken by its own batch's outcome, released when stopping."""

import asyncio
import datetime as dt
import threading
import time
from decimal import Decimal

import pytest

from accord.domain import TimeEntry
from accord.flows.time_to_bill import queue
from accord.flows.time_to_bill.ledger import Submission
from accord.store import postings


def _entry(entry_id: str) -> TimeEntry:
    return TimeEntry(
        id=entry_id,
        project_id="P-1",
        resource_id="R-1",
        date=dt.date(2026, 9, 1),
        hours=Decimal("1.5"),
        billable=True,
    )


def _queued(engine, sub: Submission) -> None:
    rows = [
        postings.Posting(
            kind="time",
            entry_id=e.id,
            submission_id=sub.submission_id,
            project_id=sub.project_id,
            event_id="evt-1",
            run_id="run-1",
            status=postings.QUEUED,
            entry_date=dt.date(2026, 9, 1),
        )
        for e in sub.entries
    ]
    with engine.begin() as conn:
        postings.record_many(conn, rows)


def _wait_in_thread(engine, sub: Submission) -> dict[str, object]:
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["settled"] = queue.wait_settled(engine, sub, timeout=30)
        except BaseException as exc:
            box["raised"] = exc
        box["at"] = time.monotonic()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    box["thread"] = thread
    return box


def test_stopping_ends_the_wait_unrecorded_and_a_new_dispatcher_waits_again(engine):
    sub = Submission("time", "TS-1", "P-1", (_entry("TE-1"),))
    _queued(engine, sub)
    handler = queue.PostingHandler()
    box = _wait_in_thread(engine, sub)
    time.sleep(0.3)
    assert "at" not in box, "the wait must go on while postings are queued"
    stopped = time.monotonic()
    asyncio.run(handler.aclose())
    box["thread"].join(timeout=5)
    assert isinstance(box.get("raised"), queue.StoppingError)
    assert not isinstance(box["raised"], Exception), "DBOS would record an Exception"
    assert box["at"] - stopped < 2

    queue.PostingHandler()  # a restarted dispatcher: runs wait again
    again = _wait_in_thread(engine, sub)
    time.sleep(0.3)
    assert "at" not in again
    with engine.begin() as conn:
        postings.record_many(
            conn,
            [
                postings.Posting(
                    kind="time",
                    entry_id="TE-1",
                    submission_id="TS-1",
                    project_id="P-1",
                    event_id="evt-1",
                    run_id="run-1",
                    status=postings.POSTED,
                    entry_date=dt.date(2026, 9, 1),
                )
            ],
        )
    queue.PostingHandler().settled([queue.batch_id_of(sub)])
    again["thread"].join(timeout=5)
    assert again.get("settled") is True, again


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_outcome_wakes_only_its_own_batch(engine):
    mine = Submission("time", "TS-A", "P-1", (_entry("TE-A"),))
    other = Submission("time", "TS-B", "P-1", (_entry("TE-B"),))
    _queued(engine, mine)
    _queued(engine, other)
    handler = queue.PostingHandler()
    waiting_mine, waiting_other = _wait_in_thread(engine, mine), _wait_in_thread(engine, other)
    time.sleep(0.2)
    with engine.begin() as conn:
        postings.record_many(
            conn,
            [
                postings.Posting(
                    kind="time",
                    entry_id="TE-A",
                    submission_id="TS-A",
                    project_id="P-1",
                    event_id="evt-1",
                    run_id="run-1",
                    status=postings.POSTED,
                    entry_date=dt.date(2026, 9, 1),
                )
            ],
        )
    woken = time.monotonic()
    handler.settled([queue.batch_id_of(mine)])
    waiting_mine["thread"].join(timeout=5)
    # Woken at once, well before the ledger poll (queue._POLL_S) would have noticed.
    assert waiting_mine.get("settled") is True
    assert waiting_mine["at"] - woken < queue._POLL_S
    assert "at" not in waiting_other
    asyncio.run(handler.aclose())
    waiting_other["thread"].join(timeout=5)
