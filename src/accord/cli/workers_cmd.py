"""``accord workers``: see which workers hold pending runs, and hand a dead worker's runs over.

A worker restarted under its own ``ACCORD_WORKER_ID`` recovers its runs by itself; ``accord
workers recover DEAD_ID`` is for a worker that will not come back. The runs go back to their
queues and the live workers of this release continue them from their last completed step; the
dead worker's connection-budget slots are freed at the same time.

Errors end with a one-line message on stderr and a non-zero exit, never a traceback.
"""

from typing import Annotated

import typer
from rich.table import Table

from accord.cli._output import err, fail, load_settings, out

__all__ = ["workers_app"]

workers_app = typer.Typer(
    help="Workers of the durable runtime: pending runs, and hand-over of a dead worker's runs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@workers_app.command("list")
def workers_list() -> None:
    """Pending runs by worker (executor id) and application version."""
    from accord.flows.recovery import pending_by_worker
    from accord.store import create_db_engine, migrate

    engine = create_db_engine(load_settings().database_url)
    try:
        migrate(engine)
        counts = pending_by_worker(engine)
    finally:
        engine.dispose()
    table = Table("worker", "version", "pending runs")
    for (worker, version), n in sorted(counts.items()):
        table.add_row(worker, version, str(n))
    out.print(table)


@workers_app.command("recover")
def workers_recover(
    dead_id: Annotated[str, typer.Argument(help="The dead worker's ACCORD_WORKER_ID.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say which runs would be handed over.")
    ] = False,
) -> None:
    """Hand a dead worker's pending runs to the live workers of this release.

    Use it only for a worker that is really gone: a run handed over while its worker still
    executes it would be executed twice.
    """
    import accord
    from accord.flows.recovery import hand_over
    from accord.store import create_db_engine, migrate

    settings = load_settings()
    if not dead_id.strip():
        raise fail("DEAD_ID must not be empty")
    engine = create_db_engine(settings.database_url)
    try:
        migrate(engine)
        result = hand_over(engine, dead_id, app_version=accord.__version__, dry_run=dry_run)
    finally:
        engine.dispose()
    verb = "would hand over" if dry_run else "handed over"
    for version, n in sorted(result.other_versions.items()):
        err.print(
            f"{n} pending runs of {dead_id} belong to version {version}: only workers of that "
            "version can continue them (left alone)",
            highlight=False,
        )
    err.print(
        f"{verb} {len(result.run_ids)} pending runs of worker {dead_id} (version "
        f"{result.app_version}) to the live workers (this one is {settings.worker_id})",
        highlight=False,
    )
    if not dry_run:
        err.print(
            f"freed {result.slots_freed} connection-budget slots of worker {dead_id}",
            highlight=False,
        )
    for run_id in result.run_ids:
        print(run_id)  # noqa: T201 - one run id a line on stdout, for scripts
