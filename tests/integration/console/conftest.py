"""Fixtures for the console tests: an app on its own database, keys of every role, sign-in."""

from collections.abc import Iterator

import pytest
from tests.integration.console.support import local_client, make_app, sign_in

from accord.store import create_db_engine, keys, migrate


@pytest.fixture(scope="module")
def console_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A started app with one key per role; ``clients[role]`` is signed in as that role."""
    folder = tmp_path_factory.mktemp("console")
    db = folder / "accord.db"
    engine = create_db_engine(f"sqlite:///{db}")
    migrate(engine)
    secrets: dict[str, str] = {}
    with engine.begin() as conn:
        for role in keys.Role:
            _, secrets[role.value] = keys.create(conn, name=role.value, role=role, actor="test")
    app, _ = make_app(db)
    with local_client(app) as anonymous:
        clients = {}
        for role in ("viewer", "operator", "admin"):
            c = local_client(app)
            sign_in(c, secrets[role])
            clients[role] = c
        yield {
            "app": app,
            "engine": engine,
            "keys": secrets,
            "anonymous": anonymous,
            "clients": clients,
            "folder": folder,
        }
    engine.dispose()
