"""``accord``: run the service, manage API keys, export schemas, start the sandbox.

Errors end with a one-line message on stderr and a non-zero exit, never a traceback.
"""

import getpass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

import accord
from accord.cli._output import err, fail, load_settings, out
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
keys_app = typer.Typer(help="Create, list, rotate and revoke API keys.", no_args_is_help=True)
schemas_app = typer.Typer(help="The canonical model's JSON Schemas.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(schemas_app, name="schemas")
app.add_typer(workers_app, name="workers")


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
    settings = load_settings()
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


def _key_expiry(days: int | None, settings: Settings) -> datetime | None:
    """When a new secret expires: ``days`` from now, or ``api.key_days`` (0: never)."""
    days = settings.api.key_days if days is None else days
    return datetime.now(UTC) + timedelta(days=days) if days > 0 else None


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="viewer, operator, admin, ingest or process.")],
    name: Annotated[str, typer.Option(help="A unique name for the key.")],
    expires_in_days: Annotated[
        int | None,
        typer.Option(min=0, help="Days until it expires (default ACCORD_API__KEY_DAYS; 0: never)."),
    ] = None,
) -> None:
    """Create a key and print it once (the key alone on the last line)."""
    from accord.store import create_db_engine, keys, migrate

    try:
        role_ = keys.Role(role)
    except ValueError:
        roles = "viewer, operator, admin, ingest or process"
        raise fail(f"unknown role {role!r}: use {roles}") from None
    settings = load_settings()
    engine = create_db_engine(settings.database_url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            key, secret = keys.create(
                conn,
                name=name,
                role=role_,
                actor=_actor(),
                expires_at=_key_expiry(expires_in_days, settings),
            )
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

    engine = create_db_engine(load_settings().database_url)
    try:
        migrate(engine)
        with engine.connect() as conn:
            rows = keys.list_(conn)
    finally:
        engine.dispose()
    now = datetime.now(UTC)
    table = Table("name", "role", "prefix", "status", "expires", "last used")
    for k in rows:
        status = (
            "revoked"
            if k.revoked_at
            else "expired"
            if not k.active(now)
            else "rotated"
            if k.superseded_at
            else "active"
        )
        table.add_row(
            k.name,
            k.role.value,
            k.prefix,
            status,
            _stamp(k.expires_at) or "never",
            _stamp(k.last_used_at),
        )
    out.print(table)


def _stamp(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


@keys_app.command("rotate")
def keys_rotate(
    name: Annotated[str, typer.Argument(help="The key's name.")],
    overlap: Annotated[
        str, typer.Option(help="How long the old secret keeps working: 90s, 30m, 24h, 7d.")
    ] = "24h",
    expires_in_days: Annotated[
        int | None,
        typer.Option(
            min=0, help="Days until the new secret expires (default ACCORD_API__KEY_DAYS)."
        ),
    ] = None,
) -> None:
    """Give a key a new secret and print it once; the old one works until the overlap ends."""
    from accord.alerts.config import parse_duration
    from accord.store import create_db_engine, keys, migrate

    window = parse_duration(overlap)
    if not isinstance(window, timedelta):
        raise fail(f"--overlap {overlap!r}: use a duration such as 90s, 30m, 24h or 7d")
    settings = load_settings()
    engine = create_db_engine(settings.database_url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            old, new, secret = keys.rotate(
                conn,
                name=name,
                actor=_actor(),
                overlap=window,
                expires_at=_key_expiry(expires_in_days, settings),
            )
    except keys.UnknownKeyError as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    err.print(
        f"Rotated key [bold]{name}[/]: the old secret ({old.prefix}) works until "
        f"{_stamp(old.expires_at)}. The new one ({new.prefix}) is shown only once:"
    )
    print(secret)  # noqa: T201 - the key alone on stdout's last line, for scripts


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key by name."""
    from accord.store import create_db_engine, keys, migrate

    engine = create_db_engine(load_settings().database_url)
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


def _register_governance() -> None:
    from accord.cli.bundle_cmd import bundle_app
    from accord.cli.migration_cmd import migration_app
    from accord.cli.rules_cmd import rules_app

    app.add_typer(rules_app, name="rules")
    app.add_typer(bundle_app, name="bundle")
    app.add_typer(migration_app, name="migration")


_register_governance()


def _register_demo() -> None:
    from accord.cli.demo_cmd import demo

    app.command("demo")(demo)


_register_demo()


def _register_connections() -> None:
    from accord.cli import discover_cmd  # registers `connections discover`
    from accord.cli.connections_cmd import connections_app
    from accord.cli.init_cmd import init

    del discover_cmd
    app.add_typer(connections_app, name="connections")
    app.command("init")(init)


_register_connections()


def _register_production() -> None:
    from accord.cli.doctor_cmd import doctor
    from accord.cli.maintenance_cmd import backup, purge, restore
    from accord.cli.setup_cmd import setup_kit

    app.command("setup-kit")(setup_kit)
    app.command("doctor")(doctor)
    app.command("purge")(purge)
    app.command("backup")(backup)
    app.command("restore")(restore)


_register_production()


def _register_reconcile() -> None:
    from accord.cli.reconcile_cmd import reconcile

    app.command("reconcile")(reconcile)


_register_reconcile()


def main() -> None:
    """Console-script entry point."""
    app()
