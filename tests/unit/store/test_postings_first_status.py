"""store.postings: a queued entry's first pass is its first outcome (what the KPIs count)."""

import datetime as dt

from accord.store import postings


def _row(entry_id: str, status: str) -> postings.Posting:
    return postings.Posting(
        kind="time",
        entry_id=entry_id,
        submission_id="TS-1",
        project_id="P-1",
        event_id="evt-1",
        run_id="run-1",
        status=status,
        entry_date=dt.date(2026, 9, 1),
    )


def test_the_first_outcome_replaces_queued_and_then_stays(engine):
    with engine.begin() as conn:
        postings.record_many(conn, [_row("A", postings.QUEUED), _row("B", postings.QUEUED)])
    with engine.begin() as conn:
        postings.record_many(conn, [_row("A", postings.POSTED), _row("B", postings.REJECTED)])
    with engine.begin() as conn:
        postings.record_many(conn, [_row("B", postings.POSTED)])  # a retry posts it
        rows = postings.get_many(conn, kind="time", entry_ids=["A", "B"])
    assert rows["A"].first_status == postings.POSTED
    assert rows["B"].first_status == postings.REJECTED
    assert rows["B"].status == postings.POSTED
    assert rows["A"].posted_at is not None
    assert rows["B"].posted_at is not None
