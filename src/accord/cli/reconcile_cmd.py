"""``accord reconcile``: prove, now, that the CRM, the PSA and the ERP agree with Accord.

Runs a reconciliation in this process (no worker needed; the same checks, records and
exceptions as a scheduled run, :mod:`accord.flows.reconciliation`), shows its progress, and
says what disagrees. Exit status: ``0`` everything agrees, ``1`` drift was found, ``2`` the
run could not be made (a bad option, a system unreachable, no configuration): a script tells
"the books differ" from "we could not tell".
"""

import json
import os
import sys
from datetime import UTC, date, datetime
from typing import Annotated, Any, Final

import typer
from rich.table import Table

from accord.cli._output import fail, load_settings, out, progress_bar

__all__ = ["reconcile"]

_SHOWN: Final = 30
"""Drift items listed in the table (all of them in ``--json``)."""
_FAILED: Final = 2


def _fail(message: str) -> typer.Exit:
    return fail(message, _FAILED)


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = (
            datetime.fromisoformat(value)
            if "T" in value or " " in value
            else datetime.combine(date.fromisoformat(value), datetime.min.time())
        )
    except ValueError:
        raise _fail(f"--since: not an ISO 8601 date or time: {value!r}") from None
    # A time without an offset is read as UTC, like every time Accord keeps.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _known(project: str | None, load: Any) -> None:  # noqa: ANN401 - load_universe
    if project is not None and not load(project).projects:
        raise _fail(f"--project: Accord knows no project {project!r}")


def reconcile(
    *,
    project: Annotated[
        str | None, typer.Option("--project", help="Only this canonical project (PRJ-...).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only projects with work changed at or after this date or time (ISO 8601, "
            "UTC unless it says): an incremental run. Default: compare everything.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run as JSON.")] = False,
) -> None:
    """Compare the CRM, the PSA and the ERP with what Accord wrote; exit 1 on drift."""
    from accord.cli.app import _actor
    from accord.errors import AccordError
    from accord.flows.connections import CONTEXT_KEY, Connections
    from accord.flows.context import FlowContext, install_context
    from accord.flows.reconciliation import run_here, start_run
    from accord.flows.reconciliation.universe import load_universe
    from accord.store import create_db_engine, migrate
    from accord.store import reconciliation as store
    from accord.store.credentials import DatabaseTokenStore

    start = _since(since)
    settings = load_settings()
    engine = create_db_engine(settings.database_url)
    connections: Connections | None = None
    try:
        migrate(engine)
        connections = Connections(
            engine,
            holder=settings.worker_id,
            config_file=settings.config_file,
            env=os.environ,
            token_store=DatabaseTokenStore.for_settings(engine, settings, os.environ),
        )
        install_context(
            FlowContext(engine=engine, settings=settings, extras={CONTEXT_KEY: connections})
        )
        _known(project, load_universe)
        with engine.begin() as conn:
            run = start_run(conn, trigger="manual", actor=_actor(), project_id=project, since=start)
        with progress_bar(elapsed=True) as progress:
            task = progress.add_task("planning", total=None)

            def advance(what: str, done: int, of: int) -> None:
                progress.update(task, description=what, completed=done, total=of)

            finished = run_here(run.id, advance)
        with engine.connect() as conn:
            items = store.list_drift(conn, recon_id=run.id, status=store.OPEN, limit=100_000)
    except typer.Exit:
        raise
    except AccordError as exc:
        raise _fail(f"reconciliation failed: {exc}".splitlines()[0]) from None
    except Exception as exc:  # noqa: BLE001 - the CLI's boundary: one line, not a traceback
        raise _fail(f"reconciliation failed: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    finally:
        install_context(None)
        if connections is not None:
            connections.close()
        engine.dispose()
    if as_json:
        # Plain text: a run can list thousands of items, too many to colour.
        sys.stdout.write(json.dumps(_document(finished, items), default=str, indent=1) + "\n")
    else:
        _print(finished, items)
    raise typer.Exit(1 if finished.status == store.DRIFTED else 0)


def _document(run: Any, items: list[Any]) -> dict[str, Any]:  # noqa: ANN401 - store values
    return {
        "id": run.id,
        "status": run.status,
        "checked": run.checked,
        "drift_found": run.drift_found,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "report": run.report,
        "drift": [
            {
                "id": i.id,
                "kind": i.kind,
                "code": i.code,
                "project_id": i.project_id,
                "key": i.business_key,
                "connection": i.connection,
                "record_id": i.record_id,
                "expected": i.expected,
                "found": i.found,
                "currency": i.currency,
                "exception_id": i.exception_id,
                "detail": i.detail,
            }
            for i in items
        ],
    }


def _print(run: Any, items: list[Any]) -> None:  # noqa: ANN401 - store values
    report = run.report
    out.print(
        f"Reconciliation {run.id} ({report.get('mode', 'full')}): [bold]{run.status}[/], "
        f"{run.checked:,} records compared, {run.drift_found} drift item(s).",
        highlight=False,
    )
    differing = [t for t in report.get("totals", ()) if not t.get("agree")]
    if differing:
        table = Table("project", "currency", "PSA approved", "posted", "pending", "ERP", "invoiced")
        for t in differing:
            table.add_row(
                t["project_id"],
                t["currency"],
                t["psa"] or "-",
                t["posted"],
                t["pending"],
                t["erp"],
                t["invoiced"],
            )
        out.print(table)
    if items:
        table = Table("kind", "code", "project / key", "expected", "found", "exception")
        for i in items[:_SHOWN]:
            table.add_row(
                i.kind,
                i.code,
                i.project_id or i.business_key or "",
                f"{i.expected} {i.currency or ''}".strip() if i.expected is not None else "-",
                f"{i.found} {i.currency or ''}".strip() if i.found is not None else "-",
                str(i.exception_id or ""),
            )
        out.print(table)
        if len(items) > _SHOWN:
            out.print(f"... and {len(items) - _SHOWN} more (--json lists them all)")
