"""poll_once against the NetSuite emulator: new changes only, overlap deduplicated, persisted.

Also the durable path: a registered pair polled by the ``capture_changes`` run.
"""

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from accord.connectors.netsuite import NetSuiteConfig, NetSuiteConnector
from accord.flows import capture
from accord.flows.capture import CaptureSpec, canonical_event, poll_once
from accord.store import create_db_engine, cursors
from accord.store.tables import journal
from accord_sandbox.accord_config import connection_settings

CONNECTION = "netsuite-test"
SUBSIDIARY_US = "2"


def to_events(record: dict[str, Any]) -> list:
    """A small stand-in for a flow's mapper: every customer row is a customer.upserted."""
    return [
        canonical_event(
            "customer.upserted",
            {
                "id": f"ns-{record['id']}",
                "name": str(record.get("companyname") or "unnamed"),
                "legal_entity": "US01",
                "bill_to": {"line1": "1 Main St", "city": "Boston", "country": "US"},
                "tax_region": "US-MA",
                "currency": "USD",
            },
        )
    ]


@pytest.fixture(scope="module")
def connector(netsuite):
    url, _ = netsuite
    config = NetSuiteConfig.model_validate(
        connection_settings("netsuite", url) | {"name": CONNECTION, "timeout_s": 10}
    )
    with NetSuiteConnector(config) as conn:
        yield conn


def _poll(services, connector, resource="customer", **kw):
    """Poll until caught up; returns every new record and the summed duplicates."""
    records: list[dict[str, Any]] = []
    duplicates = 0
    for _ in range(50):
        result = poll_once(
            connector,
            connection=CONNECTION,
            resource=resource,
            engine=services.engine,
            runtime=services.runtime,
            to_events=to_events,
            **kw,
        )
        records += result.records
        duplicates += result.duplicates
        if result.new_cursor is None:
            return records, duplicates
    raise AssertionError("the poller never caught up")


def _captured(engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(journal.c.source, journal.c.ce_id).where(
                    journal.c.source == f"accord/capture/{CONNECTION}/customer"
                )
            )
        )


def test_poll_hands_on_new_changes_only_and_persists_its_cursor(
    services, connector, netsuite, module_db
):
    _, emulator = netsuite
    # After every change already held (other tests of the module may have stamped some).
    held = [
        datetime.strptime(r["lastModifiedDate"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        for r in emulator.store.all("customer")
    ]
    start = max([datetime.now(UTC).replace(microsecond=0), *held]) + timedelta(seconds=10)
    emulator.clock = lambda: start

    # First sweep: whatever the emulator holds already, in pages of 5. Other tests of the
    # module may have polled (and journaled) before this one, or not.
    before = {row.ce_id for row in _captured(services.engine)}
    initial, _ = _poll(services, connector, page_size=5, max_pages=2)
    assert len(_captured(services.engine)) == len(before) + len(initial)

    tag = uuid.uuid4().hex[:8]
    created = [
        connector.upsert(
            "customer",
            f"CAP-{tag}-{i}",
            {"companyName": f"Capture {tag} {i}", "subsidiary": {"id": SUBSIDIARY_US}},
        )
        for i in range(3)
    ]
    new, _ = _poll(services, connector, page_size=5)
    assert sorted(r["id"] for r in new) == sorted(w.id for w in created)

    # Modify one, seconds later (NetSuite stamps have one-second precision).
    emulator.clock = lambda: start + timedelta(seconds=5)
    connector.update("customer", created[0].id, {"companyName": f"Capture {tag} renamed"})
    changed, duplicates = _poll(services, connector, page_size=5)
    assert [r["id"] for r in changed] == [created[0].id]
    # The overlap window re-read the two unchanged new records; dedupe dropped them.
    assert duplicates >= len(created) - 1

    again, duplicates = _poll(services, connector, page_size=5)
    assert again == []
    assert duplicates >= 1

    ce_ids = {row.ce_id for row in _captured(services.engine)} - before
    assert len(ce_ids) == len(initial) + len(created) + 1
    assert sum(1 for ce in ce_ids if ce.startswith(f"{created[0].id}@")) == 2

    url, _ = module_db
    fresh = create_db_engine(url)
    try:
        with fresh.connect() as conn:
            state = cursors.get(conn, connection=CONNECTION, resource="customer")
    finally:
        fresh.dispose()
    assert state.cursor is None
    assert state.high_watermark == start + timedelta(seconds=5)
    assert (created[0].id, (start + timedelta(seconds=5)).isoformat()) in state.seen


def test_an_unfinished_sweep_resumes_from_its_cursor(services, connector):
    tag = uuid.uuid4().hex[:8]
    for i in range(5):
        connector.upsert(
            "customer",
            f"RES-{tag}-{i}",
            {"companyName": f"Resume {tag} {i}", "subsidiary": {"id": SUBSIDIARY_US}},
        )
    # A connection key of its own gives this poller a fresh cursor over the same records.
    kw = {
        "connection": "netsuite-resume",
        "resource": "customer",
        "engine": services.engine,
        "runtime": services.runtime,
        "to_events": lambda _record: [],
        "page_size": 2,
        "max_pages": 1,
    }
    first = poll_once(connector, **kw)
    assert first.pages == 1
    assert first.new_cursor is not None
    records = list(first.records)
    for _ in range(50):
        result = poll_once(connector, **kw)
        records += result.records
        if result.new_cursor is None:
            break
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "no record handed on twice across the resume"
    assert len(ids) >= 5


def test_capture_changes_runs_durably_for_a_registered_pair(services, connector, netsuite):
    _, emulator = netsuite
    emulator.clock = lambda: datetime.now(UTC) + timedelta(seconds=30)
    services.connections._configs = {CONNECTION: connector.config}
    spec = CaptureSpec(connection=CONNECTION, resource="customer", to_events=to_events)
    capture.register_capture(spec)
    try:
        created = connector.upsert(
            "customer",
            f"CAP-RUN-{uuid.uuid4().hex[:8]}",
            {"companyName": "Captured by a run", "subsidiary": {"id": SUBSIDIARY_US}},
        )
        run_id = capture.enqueue_capture(services.runtime, CONNECTION, "customer")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(row.ce_id.startswith(f"{created.id}@") for row in _captured(services.engine)):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"capture run {run_id} never journaled the new record")
    finally:
        capture.unregister_capture(CONNECTION, "customer")
