"""``accord replay`` and ``accord audit verify|checkpoint``: operations from a shell.

``replay`` re-runs journaled events as new runs (ids ``<run id>.r<n>``) through the durable
runtime's client, without starting workers in this process: the running workers pick them
up. ``audit verify`` walks the audit hash chain and names the first broken row; with
``--checkpoint`` it also checks the log against a signed head that ``audit checkpoint`` wrote.
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from accord.cli._output import err, fail, load_settings, out, progress_bar

__all__ = ["audit_app", "replay"]

audit_app = typer.Typer(
    help="The hash-chained audit log: verify it, anchor it.", no_args_is_help=True
)


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"{option}: not an ISO 8601 time: {value!r}") from None
    # A time without an offset is read as UTC (journal times are UTC).
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def replay(
    *,
    since: Annotated[
        str | None, typer.Option(help="Events received at or after this ISO time (UTC default).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Events received before this ISO time.")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Only events of this type.")] = None,
    key: Annotated[
        str | None, typer.Option("--key", help="Only events about this business key.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most events to re-run.")] = 10_000,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would run; start nothing.")
    ] = False,
    rules: Annotated[
        str,
        typer.Option(help="pinned: each run's original rules version; current: the active one."),
    ] = "pinned",
) -> None:
    """Re-run journaled events through their flows (safe: target writes are idempotent)."""
    from dbos import DBOSClient

    from accord.cli.app import _actor
    from accord.flows import replay as replay_flow
    from accord.flows.runtime import Runtime
    from accord.store import create_db_engine, journal, migrate

    start, end = _when(since, "--since"), _when(until, "--until")
    if start and end and start >= end:
        raise fail("--since must be before --until")
    if rules not in ("pinned", "current"):
        raise fail(f"--rules: use pinned or current, not {rules!r}")
    settings = load_settings()
    engine = create_db_engine(settings.database_url)
    client: DBOSClient | None = None
    try:
        migrate(engine)
        with engine.connect() as conn:
            total = len(
                journal.list_(
                    conn, type_=type_, business_key=key, since=start, until=end, limit=limit
                )
            )
        if total == 0:
            out.print("No journaled event matches.")
            return
        client = DBOSClient(system_database_engine=engine)
        runtime = Runtime(settings, engine, worker=False)
        with progress_bar() as progress:
            task = progress.add_task("dry run" if dry_run else "replaying", total=total)
            result = replay_flow.replay(
                engine,
                runtime,
                client,
                actor=_actor(),
                since=start,
                until=end,
                type_=type_,
                business_key=key,
                dry_run=dry_run,
                limit=limit,
                progress=lambda done: progress.update(task, completed=done),
                rules="current" if rules == "current" else "pinned",
            )
    except replay_flow.NotReplayableError as exc:
        raise fail(str(exc)) from None
    finally:
        if client is not None:
            client.destroy()
        engine.dispose()
    for r in result.runs[:20]:
        out.print(f"{r.original_run_id} -> {r.run_id} ({r.workflow})", highlight=False)
    if len(result.runs) > 20:
        out.print(f"... and {len(result.runs) - 20} more", highlight=False)
    verb = "would start" if dry_run else "started"
    more = " (more matched: raise --limit)" if result.truncated else ""
    out.print(f"{result.matched} event(s): {verb} {len(result.runs)} run(s){more}.")


@audit_app.command("verify")
def audit_verify(
    checkpoint_file: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="A checkpoint from `accord audit checkpoint`: also detect a deleted or "
            "rewritten tail up to it.",
        ),
    ] = None,
) -> None:
    """Check the audit chain (and a checkpoint): print OK, or say what is broken (exit 1)."""
    from accord.errors import ConfigError
    from accord.store import audit, create_db_engine, migrate

    anchor = None
    if checkpoint_file is not None:
        try:
            anchor = audit.Checkpoint.from_json(checkpoint_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise fail(f"{checkpoint_file}: {exc}".splitlines()[0]) from None
    engine = create_db_engine(load_settings().database_url)
    try:
        migrate(engine)
        with engine.connect() as conn:
            report = audit.check(conn, anchor=anchor)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    if report.problem is not None:
        seq = f" (seq={report.first_broken_seq})" if report.first_broken_seq is not None else ""
        raise fail(f"audit chain broken{seq}: {report.problem}")
    keyed = "keyed" if report.keyed_rows == report.rows else f"{report.keyed_rows} keyed"
    at = f", checkpoint at row {anchor.seq} matches" if anchor is not None else ""
    err.print(f"{report.rows} rows ({keyed}){at}", highlight=False)
    out.print("OK")


@audit_app.command("checkpoint")
def audit_checkpoint(
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write it to this file (default: stdout).")
    ] = None,
) -> None:
    """Sign the head of the audit chain (sequence, hash, time); keep it outside Accord."""
    from accord.errors import ConfigError
    from accord.store import audit, create_db_engine, migrate

    engine = create_db_engine(load_settings().database_url)
    try:
        migrate(engine)
        with engine.connect() as conn:
            made = audit.checkpoint(conn)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    if made is None:
        raise fail("the audit log is empty: nothing to anchor yet")
    text = made.to_json()
    if out_file is None:
        print(text, end="")  # noqa: T201 - the checkpoint alone on stdout, for scripts
        return
    try:
        out_file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {out_file}: {exc.strerror}") from None
    err.print(f"checkpoint at row {made.seq} written to {out_file}", highlight=False)
