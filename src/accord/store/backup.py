"""``accord backup`` and ``accord restore`` for SQLite: SQLite's online backup API, verified.

:func:`backup_sqlite` copies a live database page by page through ``sqlite3.Connection.backup``
(writers keep going; the copy is one consistent snapshot, WAL content included), checks the copy
with ``PRAGMA quick_check`` and that its audit chain verifies, and switches the copy to a
self-contained rollback journal. :func:`restore_sqlite` checks a backup the same way (and that
this Accord knows its migration revision) before copying it over the database, again through
the backup API, so a restore never leaves a half-written file. Stop Accord before a restore.

PostgreSQL is backed up with its own tools (``pg_dump --format=custom``, ``pg_restore``);
:func:`postgres_commands` writes the commands for a database URL, password left out.

What does *not* belong here: the CLI (:mod:`accord.cli.maintenance_cmd`).
"""

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from accord.errors import ConfigError
from accord.store import audit
from accord.store.engine import is_sqlite, normalise_url
from accord.store.migrate import current_revision, known_revisions

__all__ = ["BackupInfo", "backup_sqlite", "postgres_commands", "restore_sqlite", "sqlite_path"]

_PAGES = 4096
"""Pages copied per step: writers get the database between steps."""


@dataclass(frozen=True)
class BackupInfo:
    """What a backup (or a restored database) holds."""

    path: Path
    revision: str | None
    audit_rows: int
    journal_rows: int
    size_bytes: int


def sqlite_path(url: str) -> Path:
    """The file of a SQLite URL.

    Raises:
        ConfigError: The URL is not a SQLite file.
    """
    if not is_sqlite(url):
        raise ConfigError("not a SQLite database URL")
    database = make_url(normalise_url(url)).database
    if not database or database == ":memory:":
        raise ConfigError("an in-memory SQLite database has no file to back up")
    return Path(database)


def _inspect(path: Path) -> BackupInfo:
    """Check a database file and describe it.

    Raises:
        ConfigError: It is not a sound Accord database, or its audit chain is broken.
    """
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as raw:
            status = raw.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{path} is not a SQLite database ({exc})") from None
    if status is None or status[0] != "ok":
        raise ConfigError(f"{path} is damaged: {status[0] if status else 'no answer'}")
    # Read-only and without Accord's pragmas: inspecting a backup must not turn it to WAL.
    engine = sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true", poolclass=NullPool)
    try:
        revision = current_revision(engine)
        if revision is None:
            raise ConfigError(f"{path} holds no Accord database (no migration revision)")
        with engine.connect() as conn:
            broken = audit.verify(conn)
            if broken is not None:
                raise ConfigError(f"{path}: the audit chain is broken at row seq={broken}")
            counts = [
                int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())  # noqa: S608 - fixed names
                for t in ("accord_audit", "accord_journal")
            ]
    finally:
        engine.dispose()
    return BackupInfo(path, revision, counts[0], counts[1], path.stat().st_size)


def _copy(
    source_path: Path,
    target_path: Path,
    *,
    journal_mode: str,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Copy one database file onto another through the online backup API, a step at a time."""

    def step(_status: int, remaining: int, total: int) -> None:
        if progress is not None:
            progress(total - remaining, total)

    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    target = sqlite3.connect(target_path, timeout=30)
    try:
        source.backup(target, pages=_PAGES, progress=step)
        target.execute(f"PRAGMA journal_mode={journal_mode}")
    finally:
        target.close()
        source.close()


def backup_sqlite(
    url: str, target: Path, *, progress: Callable[[int, int], None] | None = None
) -> BackupInfo:
    """Copy the live database of ``url`` to ``target`` (refused if it exists); verify the copy.

    Raises:
        ConfigError: Not a SQLite URL, no database there, ``target`` exists, or the copy does
            not verify (it is then removed).
    """
    source_path = sqlite_path(url)
    if not source_path.is_file():
        raise ConfigError(f"no database at {source_path}")
    if target.exists():
        raise ConfigError(f"{target} exists; choose another name")
    target.parent.mkdir(parents=True, exist_ok=True)
    # A backup holds business data and key hashes: created readable by Accord's user only.
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    # A backup is one file: no -wal beside it to lose when it is moved.
    _copy(source_path, target, journal_mode="DELETE", progress=progress)
    try:
        return _inspect(target)
    except ConfigError:
        target.unlink(missing_ok=True)
        raise


def restore_sqlite(
    backup: Path,
    url: str,
    *,
    replace: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> BackupInfo:
    """Copy a verified backup over the database of ``url``.

    Args:
        backup: A file written by :func:`backup_sqlite`.
        url: The database to restore into (SQLite).
        replace: Overwrite an existing database (stop Accord first).
        progress: Called with pages copied and pages in all.

    Raises:
        ConfigError: The backup does not verify, its revision is unknown to this Accord, or
            the database exists and ``replace`` is False.
    """
    if not backup.is_file():
        raise ConfigError(f"no backup at {backup}")
    info = _inspect(backup)
    if info.revision not in known_revisions():
        raise ConfigError(
            f"{backup} is at revision {info.revision}, which this Accord does not know: "
            "restore it with the Accord version that wrote it"
        )
    target_path = sqlite_path(url)
    if target_path.exists() and not replace:
        raise ConfigError(f"{target_path} exists; pass --replace to overwrite it")
    target_path.parent.mkdir(parents=True, exist_ok=True)
    _copy(backup, target_path, journal_mode="WAL", progress=progress)
    return _inspect(target_path)


def postgres_commands(url: str, target: Path) -> tuple[str, str]:
    """``pg_dump`` and ``pg_restore`` command lines for a PostgreSQL URL (no password in them).

    The password comes from ``PGPASSWORD`` or ``~/.pgpass``, never the command line.
    """
    u = make_url(normalise_url(url))
    parts = [f"--host={u.host or 'localhost'}", f"--port={u.port or 5432}"]
    if u.username:
        parts.append(f"--username={u.username}")
    conn = " ".join(parts)
    database = u.database or "accord"
    dump = f"pg_dump {conn} --format=custom --file={target} {database}"
    restore = f"pg_restore {conn} --clean --if-exists --dbname={database} {target}"
    return dump, restore
