"""Fixtures shared by every suite.

``db_url`` (and ``engine`` and ``settings``, built on it) is parametrised on SQLite and
PostgreSQL, so a test that takes it runs once on each; ``module_db_url`` is the same for
module-scoped fixtures. See :mod:`tests.dbs` for where the PostgreSQL server comes from.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.dbs import BACKENDS, fresh_database

from accord.settings import Settings
from accord.store import create_db_engine, migrate
from accord.store.credentials import CredentialCipher


def pytest_configure(config: pytest.Config) -> None:
    """One credentials key per test process and the processes it starts.

    As a deployment gives every process the same ``ACCORD_CREDENTIALS_KEY``: tokens that a
    test's consent step stores are readable by its workers, and no key file is written into
    the checkout.
    """
    del config
    os.environ.setdefault("ACCORD_CREDENTIALS_KEY", CredentialCipher.generate_key())


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database per test: a SQLite file, or a new PostgreSQL database."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="module", params=BACKENDS)
def module_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh database per test module (and backend), for module-scoped fixtures."""
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """A migrated engine on the test's database."""
    eng = create_db_engine(db_url)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Settings on the test's database."""
    return Settings(database_url=db_url, worker_id="test-worker")
