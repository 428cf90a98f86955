"""Storage: SQLAlchemy 2 Core tables, Alembic migrations, repositories and read models.

One database holds Accord's tables and the durable runtime's (DBOS) tables, so that a journal
row and the start of its run commit in one transaction. This package is the one door to it:
nothing outside it names a table or writes SQL; DBOS's tables are read through :mod:`.runs`
only. Repositories follow Dispatch's naming (``get``, ``get_by_<key>``, ``list_``,
``create``, ``update``, ``delete``), keyword-only.
"""

from accord.store import audit, journal, keys, lineage
from accord.store.engine import create_db_engine, is_sqlite
from accord.store.migrate import current_revision, head_revision, migrate

__all__ = [
    "audit",
    "create_db_engine",
    "current_revision",
    "head_revision",
    "is_sqlite",
    "journal",
    "keys",
    "lineage",
    "migrate",
]
