"""The outbox backlog is visible: the console's Connections page, the ops API and ``/metrics``."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from tests.integration.console.support import local_client, sign_in

from accord.api.app import create_app
from accord.flows.instrumentation import refresh_gauges
from accord.flows.services import Services
from accord.observability.metrics import get_metrics
from accord.settings import Settings
from accord.store import keys, outbox
from accord.store.engine import create_db_engine
from accord.store.migrate import migrate
from accord_sandbox.accord_config import write_accord_config

_NOWHERE = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """An API process whose accord.yaml names the sandbox's connections (never called)."""
    folder = tmp_path_factory.mktemp("backlog")
    systems = ("salesforce", "kantata", "netsuite", "business_central")
    config = write_accord_config(folder / "accord.yaml", dict.fromkeys(systems, _NOWHERE))
    engine = create_db_engine(f"sqlite:///{folder / 'accord.db'}")
    migrate(engine)
    with engine.begin() as conn:
        _, viewer = keys.create(conn, name="viewer", role=keys.Role.VIEWER, actor="test")
    settings = Settings(
        database_url=f"sqlite:///{folder / 'accord.db'}",
        worker_id="test-backlog",
        config_file=config,
    )
    # An API process: no dispatcher takes the items this test queues.
    services = Services.build(settings, worker=False)
    app = create_app(settings, services=services, configure_logs=False)
    with local_client(app) as client:
        sign_in(client, viewer)
        yield {"engine": engine, "client": client, "key": viewer}
    engine.dispose()


def _queue(engine, connection: str, lane: str, n: int) -> None:
    items = [
        outbox.OutboxItem(
            connection=connection,
            lane=lane,
            kind="posting",
            batch_id=f"time:backlog-{lane}",
            item_key=f"backlog-{lane}-{i}",
            payload="{}",
        )
        for i in range(n)
    ]
    with engine.begin() as conn:
        outbox.enqueue(conn, items)


def test_the_backlog_shows_per_connection_and_lane(env):
    engine = env["engine"]
    _queue(engine, "netsuite", "bulk", 3)
    _queue(engine, "netsuite", "flow", 1)
    try:
        page = env["client"].get("/connections")
        assert page.status_code == 200, page.text
        row = re.search(r"<tr><td><b>netsuite</b></td>.*?</tr>", page.text, re.DOTALL)
        assert row is not None, page.text
        assert re.search(r'<td class="num backlog">4</td>', row.group(0)), row.group(0)

        listed = env["client"].get(
            "/api/v1/connections", headers={"Authorization": f"Bearer {env['key']}"}
        )
        assert listed.status_code == 200, listed.text
        (netsuite,) = [c for c in listed.json()["items"] if c["name"] == "netsuite"]
        assert netsuite["budget"]["backlog"] == {"bulk": 3, "flow": 1}

        refresh_gauges(engine)
        gauge = get_metrics().outbox_backlog
        assert gauge.labels("netsuite", "bulk")._value.get() == 3
        assert gauge.labels("netsuite", "flow")._value.get() == 1

        taken = outbox.take(engine, "netsuite", "test", limit=10)
        with engine.begin() as conn:
            outbox.complete(conn, [r.id for r in taken])
        refresh_gauges(engine)
        assert gauge.labels("netsuite", "bulk")._value.get() == 0
    finally:
        left = outbox.take(engine, "netsuite", "test", limit=100)
        with engine.begin() as conn:
            outbox.complete(conn, [r.id for r in left])
