"""``accord purge``, ``accord backup`` and ``accord restore``: keeping the database in shape.

``purge`` archives then deletes what is past its retention (the ``retention:`` section of
``accord.yaml``, :mod:`accord.flows.retention`); ``backup`` and ``restore`` copy a SQLite
database with SQLite's online backup API and verify it (:mod:`accord.store.backup`); on
PostgreSQL they print the ``pg_dump`` / ``pg_restore`` commands to use instead.
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import TaskID
from rich.table import Table

from accord.cli._output import fail, load_settings, out, progress_bar

__all__ = ["backup", "purge", "restore"]


def purge(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would go; change nothing.")
    ] = False,
    data_class: Annotated[
        list[str] | None,
        typer.Option(
            "--class", help="Only this data class: runs, journal, lineage, exceptions, audit."
        ),
    ] = None,
) -> None:
    """Archive (compressed JSON Lines) then delete what is past its retention in accord.yaml."""
    from accord.errors import ConfigError
    from accord.flows.retention import load_retention_settings
    from accord.flows.retention import purge as run_purge
    from accord.store import create_db_engine, migrate

    settings = load_settings()
    try:
        retention = load_retention_settings(settings.config_file)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    if not retention.configured:
        raise fail(f"{settings.config_file} has no retention: section; nothing is purged")
    engine = create_db_engine(settings.database_url)
    try:
        migrate(engine)
        with progress_bar(elapsed=True) as progress:
            tasks: dict[str, TaskID] = {}

            def advance(name: str, done: int) -> None:
                if name not in tasks:
                    tasks[name] = progress.add_task(name, total=None)
                progress.update(tasks[name], completed=done)

            results = run_purge(
                engine, retention, classes=data_class, dry_run=dry_run, progress=advance
            )
    except ConfigError as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    verb = "would archive" if dry_run else "archived"
    table = Table("data class", verb, "deleted", "files")
    for r in results:
        deleted = "never" if r.data_class == "audit" else str(r.deleted)
        table.add_row(r.data_class, str(r.archived), deleted, ", ".join(map(str, r.files)))
    out.print(table)
    out.print(f"Archives are under {retention.archive_dir}/.", highlight=False)


def backup(
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="The backup file (default var/backups/accord-<time>.db)."),
    ] = None,
) -> None:
    """Copy the live SQLite database (online backup API) and verify the copy."""
    from accord.errors import ConfigError
    from accord.store import is_sqlite
    from accord.store.backup import backup_sqlite, postgres_commands

    settings = load_settings()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if not is_sqlite(settings.database_url):
        dump, _ = postgres_commands(settings.database_url, out_file or Path(f"accord-{stamp}.dump"))
        raise fail(f"PostgreSQL is backed up with its own tool: {dump}")
    target = out_file or Path("var") / "backups" / f"accord-{stamp}.db"
    try:
        with progress_bar(elapsed=True) as progress:
            task = progress.add_task("backup (pages)", total=None)
            info = backup_sqlite(
                settings.database_url,
                target,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    except ConfigError as exc:
        raise fail(str(exc)) from None
    out.print(
        f"Backed up to {info.path} ({info.size_bytes:,} bytes, revision {info.revision}, "
        f"{info.journal_rows:,} events, audit chain of {info.audit_rows:,} rows verified).",
        highlight=False,
    )


def restore(
    backup_file: Annotated[Path, typer.Argument(help="A file written by accord backup.")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite the existing database (stop Accord).")
    ] = False,
) -> None:
    """Verify a backup and copy it over the SQLite database (stop Accord first)."""
    from accord.errors import ConfigError
    from accord.store import is_sqlite
    from accord.store.backup import postgres_commands, restore_sqlite

    settings = load_settings()
    if not is_sqlite(settings.database_url):
        _, command = postgres_commands(settings.database_url, backup_file)
        raise fail(f"PostgreSQL is restored with its own tool: {command}")
    try:
        with progress_bar(elapsed=True) as progress:
            task = progress.add_task("restore (pages)", total=None)
            info = restore_sqlite(
                backup_file,
                settings.database_url,
                replace=replace,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    except ConfigError as exc:
        raise fail(str(exc)) from None
    out.print(
        f"Restored {backup_file} into {info.path} (revision {info.revision}, "
        f"{info.journal_rows:,} events, audit chain of {info.audit_rows:,} rows verified). "
        "Start Accord: it migrates the database if the backup is older.",
        highlight=False,
    )
