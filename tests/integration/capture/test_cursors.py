"""The poll-cursor repository: get, save, replace, and what a fresh engine reads back."""

from datetime import UTC, datetime, timedelta

import pytest

from accord.store import create_db_engine, cursors
from accord.store.cursors import CursorState


def test_a_poller_that_never_ran_has_an_empty_state(engine):
    with engine.connect() as conn:
        state = cursors.get(conn, connection="ns", resource="customer")
    assert state == CursorState(connection="ns", resource="customer")


def test_save_then_get_round_trips_every_field_utc_aware(engine, db_url):
    mark = datetime(2026, 3, 1, 12, 30, 15, tzinfo=UTC)
    with engine.begin() as conn:
        saved = cursors.save(
            conn,
            CursorState(
                connection="ns",
                resource="customer",
                cursor="2026-03-01 12:30:15|42",
                high_watermark=mark,
                seen=(("42", mark.isoformat()), ("43", "etag-7")),
            ),
        )
    assert saved.updated_at is not None
    fresh = create_db_engine(db_url)
    try:
        with fresh.connect() as conn:
            state = cursors.get(conn, connection="ns", resource="customer")
    finally:
        fresh.dispose()
    assert state.cursor == "2026-03-01 12:30:15|42"
    assert state.high_watermark == mark
    assert state.high_watermark.tzinfo is not None
    assert state.seen == (("42", mark.isoformat()), ("43", "etag-7"))
    assert state.updated_at == saved.updated_at


def test_save_replaces_the_row_of_the_same_pair_only(engine):
    mark = datetime(2026, 3, 1, tzinfo=UTC)
    with engine.begin() as conn:
        cursors.save(conn, CursorState("ns", "customer", cursor="a", high_watermark=mark))
        cursors.save(conn, CursorState("ns", "invoice", cursor="b"))
        cursors.save(
            conn,
            CursorState("ns", "customer", cursor=None, high_watermark=mark + timedelta(hours=1)),
        )
    with engine.connect() as conn:
        customer = cursors.get(conn, connection="ns", resource="customer")
        invoice = cursors.get(conn, connection="ns", resource="invoice")
    assert customer.cursor is None
    assert customer.high_watermark == mark + timedelta(hours=1)
    assert invoice.cursor == "b"


def test_a_naive_high_watermark_is_refused(engine):
    with engine.begin() as conn, pytest.raises(ValueError, match="timezone-aware"):
        cursors.save(
            conn,
            CursorState("ns", "customer", high_watermark=datetime(2026, 1, 1)),  # noqa: DTZ001
        )
