"""The two databases every database-touching suite runs on: SQLite and PostgreSQL.

Each test (or module, for module-scoped fixtures) gets a database of its own: a fresh SQLite
file, or on PostgreSQL a ``CREATE DATABASE`` with a unique name on the server named by
``ACCORD_TEST_POSTGRES_URL`` (``make test`` starts a throw-away one, see ``scripts/pg.sh``),
dropped afterwards. Without that variable the PostgreSQL variants are skipped, unless
``ACCORD_TEST_REQUIRE_POSTGRES=1`` (CI), which turns the skip into a failure.
"""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from accord.store.engine import normalise_url

POSTGRES_URL_ENV = "ACCORD_TEST_POSTGRES_URL"
REQUIRE_ENV = "ACCORD_TEST_REQUIRE_POSTGRES"

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
"""Parameters of the database fixtures; the PostgreSQL one carries the ``postgres`` marker."""

sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
"""For a test about SQLite itself (pragmas, WAL): run it on SQLite only."""


def postgres_admin_url() -> str:
    """The server's URL (its maintenance database), or skip (fail under CI) without one."""
    url = os.environ.get(POSTGRES_URL_ENV, "")
    if not url:
        message = f"no PostgreSQL server: set {POSTGRES_URL_ENV} (make test starts one)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(message)
        pytest.skip(message)
    return normalise_url(url)


def _admin_engine(admin_url: str) -> sa.Engine:
    return sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


@contextmanager
def fresh_database(backend: str, folder: Path) -> Iterator[str]:
    """A new, empty database on ``backend`` ("sqlite" or "postgres"); dropped on exit."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'accord.db'}"
        return
    admin_url = postgres_admin_url()
    name = f"accord_test_{uuid.uuid4().hex[:16]}"
    admin = _admin_engine(admin_url)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        # FORCE: an Accord subprocess a test killed may still hold a connection.
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def is_postgres(url: str) -> bool:
    """Whether a database URL names PostgreSQL."""
    return make_url(url).get_backend_name() == "postgresql"


def runtime_table(url: str, name: str) -> str:
    """The qualified name of a durable-runtime (DBOS) table: schema ``dbos`` on PostgreSQL."""
    return f"dbos.{name}" if is_postgres(url) else name
