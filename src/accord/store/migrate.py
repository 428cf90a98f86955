"""Apply Alembic migrations at start, and report whether the schema is at head.

Several processes may start together (API and workers on PostgreSQL); on PostgreSQL an
advisory lock serialises them, on SQLite the IMMEDIATE transaction does.
"""

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

__all__ = ["current_revision", "head_revision", "known_revisions", "migrate"]

_VERSION_TABLE = "accord_alembic_version"
_LOCK_ID = 0x4143434F5244  # "ACCORD"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


def head_revision() -> str:
    """The newest revision shipped with this version of Accord."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        msg = "no migrations found"
        raise RuntimeError(msg)
    return head


def known_revisions() -> frozenset[str]:
    """Every revision this version of Accord ships (a database at another is newer)."""
    return frozenset(s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions())


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the database is at, or None when never migrated."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": _VERSION_TABLE})
        return ctx.get_current_revision()


def migrate(engine: sa.Engine) -> None:
    """Upgrade the database to head (idempotent)."""
    cfg = _config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
