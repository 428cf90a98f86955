"""store.outbox: an item queued twice is queued once; the count says how many were new."""

from accord.store import outbox


def _items(keys: list[str]) -> list[outbox.OutboxItem]:
    return [
        outbox.OutboxItem(
            connection="netsuite",
            lane="bulk",
            kind="posting",
            batch_id="time:TS-1",
            item_key=key,
            payload="{}",
        )
        for key in keys
    ]


def test_enqueue_adds_only_what_is_not_queued_yet(engine):
    with engine.begin() as conn:
        assert outbox.enqueue(conn, _items(["a", "b"])) == 2
    with engine.begin() as conn:
        assert outbox.enqueue(conn, _items(["a", "b", "c"])) == 1
        assert outbox.enqueue(conn, []) == 0
        assert outbox.backlog(conn) == {("netsuite", "bulk"): 3}
