"""Helpers for the console tests: sign-in through the form, app factory, query counting."""

import re
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.support import cloud_event

from accord.api.app import create_app
from accord.flows.registry import workflow_for
from accord.settings import Settings

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
LOOPBACK = ("127.0.0.1", 50000)
"""The client address of a browser on the same machine (plain http sign-in is allowed there)."""


def local_client(app: object, **kw: object) -> TestClient:
    """A TestClient that calls from loopback, as a browser on the console's own machine does.

    Starlette's default client host is the name ``testclient``, which the console rightly
    does not take for loopback.
    """
    return TestClient(app, client=LOOPBACK, **kw)  # type: ignore[arg-type]


def csrf_of(html: str) -> str:
    """The first CSRF token in a page."""
    found = CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(client: TestClient, secret: str) -> TestClient:
    """Sign a client in through the form; returns it (its cookie jar holds the session)."""
    page = client.get("/signin")
    resp = client.post(
        "/signin",
        data={"key": secret, "csrf": csrf_of(page.text), "next": "/"},
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text
    return client


def record_event_cloud_event() -> dict:
    """A valid event of a type no business flow claims, so ``record_event`` runs it.

    The console's retry tests need a run that succeeds when re-run without any connection.
    """
    event = cloud_event()
    assert workflow_for(event["type"]) == "record_event", "pick a type no flow claims"
    return event


def make_app(db: Path, *, config_file: Path | None = None):
    url = f"sqlite:///{db}"
    settings = Settings(
        database_url=url,
        worker_id=f"test-console-{db.parent.name}",
        config_file=config_file or db.parent / "none.yaml",
    )
    app = create_app(settings, configure_logs=False)
    return app, url


def count_queries(engine: sa.Engine):
    """A context manager counting statements that request handlers run on ``engine``.

    The engine is shared with DBOS and the background loops, whose statements run on
    threads of their own; route handlers run on AnyIO's worker threads (sync routes) or the
    event loop's thread, so only statements from those are counted.
    """
    import threading
    from contextlib import contextmanager

    @contextmanager
    def counting():
        box = {"n": 0, "statements": []}

        def before(_conn, _cursor, statement, *_args, **_kw):
            if threading.current_thread().name.startswith("AnyIO worker thread"):
                box["n"] += 1
                box["statements"].append(statement[:120])

        sa.event.listen(engine, "before_cursor_execute", before)
        try:
            yield box
        finally:
            sa.event.remove(engine, "before_cursor_execute", before)

    return counting()
