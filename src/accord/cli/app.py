"""``accord``: run the service, manage API keys, export schemas, start the sandbox.

Errors end with a one-line message on stderr and a non-zero exit, never a traceback.
"""

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

import accord
from accord.cli.workers_cmd import workers_app
from accord.settings import Settings

__all__ = ["app", "main"]

app = typer.Typer(
    name="accord",
    help="Keeps a professional-services firm's CRM, PSA and ERP in accord.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
schemas_app = typer.Typer(help="The canonical model's JSON Schemas.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(schemas_app, name="schemas")
app.add_typer(workers_app, name="workers")

err = Console(stderr=True)
out = Console()


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line error and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        raise fail(f"invalid settings: {exc}".splitlines()[0]) from None


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


@app.command()
def version() -> None:
    """Print Accord's version."""
    out.print(accord.__version__)


@app.command()
def run(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    role: Annotated[
        str, typer.Option(help="all: API and workers; api: HTTP only; worker: runs only.")
    ] = "all",
) -> None:
    """Run Accord (embedded default: API and workers in one process, SQLite under ./var)."""
    import uvicorn

    from accord.api.app import create_app
    from accord.flows.services import Services

    if role not in ("all", "api", "worker"):
        raise fail(f"unknown role {role!r}: use all, api or worker")
    settings = _settings()
    if role == "worker":
        _run_worker(settings)
        return
    app_ = create_app(settings, services=Services.build(settings, worker=role == "all"))
    uvicorn.run(
        app_,
        host=host or settings.api.host,
        port=port or settings.api.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


def _run_worker(settings: Settings) -> None:
    import signal
    import threading

    from accord.flows.services import Services
    from accord.observability.logging import configure_logging

    configure_logging(settings.observability.log_level, json_lines=settings.observability.log_json)
    services = Services.build(settings, worker=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    services.start()
    err.print(f"worker {settings.worker_id} running; Ctrl-C to stop")
    try:
        stop.wait()
    finally:
        services.stop()


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="viewer, operator, admin, ingest or process.")],
    name: Annotated[str, typer.Option(help="A unique name for the key.")],
) -> None:
    """Create a key and print it once (the key alone on the last line)."""
    from accord.store import create_db_engine, keys, migrate

    try:
        role_ = keys.Role(role)
    except ValueError:
        roles = "viewer, operator, admin, ingest or process"
        raise fail(f"unknown role {role!r}: use {roles}") from None
    settings = _settings()
    engine = create_db_engine(settings.database_url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            key, secret = keys.create(conn, name=name, role=role_, actor=_actor())
    except (keys.DuplicateKeyNameError, ValueError) as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    err.print(f"Created key [bold]{key.name}[/] with role {key.role.value}. It is shown only once:")
    print(secret)  # noqa: T201 - the key alone on stdout's last line, for scripts


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""
    from accord.store import create_db_engine, keys, migrate

    engine = create_db_engine(_settings().database_url)
    try:
        migrate(engine)
        with engine.connect() as conn:
            rows = keys.list_(conn)
    finally:
        engine.dispose()
    table = Table("name", "role", "prefix", "created", "revoked")
    for k in rows:
        table.add_row(
            k.name,
            k.role.value,
            k.prefix,
            k.created_at.isoformat(timespec="seconds"),
            k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "",
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key by name."""
    from accord.store import create_db_engine, keys, migrate

    engine = create_db_engine(_settings().database_url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            revoked = keys.revoke(conn, name=name, actor=_actor())
    finally:
        engine.dispose()
    if revoked is None:
        raise fail(f"no active key named {name!r}")
    out.print(f"Revoked key {name}.")


@schemas_app.command("export")
def schemas_export(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write to.")] = Path("schemas"),
) -> None:
    """Write the canonical model's JSON Schemas (refuses an incompatible change)."""
    from accord.domain.export import SchemaCompatibilityError, export_schemas

    try:
        written = export_schemas(out_dir)
    except SchemaCompatibilityError as exc:
        raise fail(str(exc).splitlines()[0]) from None
    out.print(f"Wrote {len(written)} schemas to {out_dir}/")


def _register_sandbox() -> None:
    from accord.cli.sandbox_cmd import sandbox_app

    app.add_typer(sandbox_app, name="sandbox")


_register_sandbox()


def _register_ops() -> None:
    from accord.cli.ops_cmd import audit_app, replay

    app.command("replay")(replay)
    app.add_typer(audit_app, name="audit")


_register_ops()


def _register_connections() -> None:
    from accord.cli.connections_cmd import connections_app

    app.add_typer(connections_app, name="connections")


_register_connections()


def _register_demo() -> None:
    from accord.cli.demo_cmd import demo

    app.command("demo")(demo)


_register_demo()


def main() -> None:
    """Console-script entry point."""
    app()
