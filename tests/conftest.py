"""Fixtures shared by every suite."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from accord.settings import Settings
from accord.store import create_db_engine, migrate


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh SQLite database file per test."""
    return f"sqlite:///{tmp_path / 'accord.db'}"


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
