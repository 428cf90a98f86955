"""``accord sandbox``: run the SaaS emulators locally, or write a scenario as JSON.

``accord sandbox`` starts Salesforce, Kantata, NetSuite and Business Central emulators seeded
with a synthetic firm and prints where they listen; ``accord sandbox scenario NAME --out FILE``
writes that firm to a file. ``accord_sandbox`` is imported inside the commands only: the core
never depends on the sandbox, and ``accord --help`` should not build five FastAPI apps.

Errors end with a one-line message on stderr and a non-zero exit, never a traceback.
"""

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

# ``out`` is the scenario command's --out option.
from accord.cli._output import fail
from accord.cli._output import out as _out

if TYPE_CHECKING:
    from accord_sandbox.scenario import ScenarioName
    from accord_sandbox.server import Sandbox

__all__ = ["sandbox_app"]

sandbox_app = typer.Typer(
    help="Local emulators of Salesforce, Kantata OX, NetSuite and Business Central.",
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _scenario(value: str) -> "ScenarioName":
    from accord_sandbox.scenario import SCENARIOS

    by_name: dict[str, ScenarioName] = {name: name for name in SCENARIOS}
    if value not in by_name:
        raise fail(f"unknown scenario {value!r}; choose one of {', '.join(SCENARIOS)}", 2)
    return by_name[value]


@sandbox_app.callback(invoke_without_command=True)
def sandbox(
    ctx: typer.Context,
    *,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    base_port: Annotated[
        int,
        typer.Option(
            help="Salesforce listens on BASE+1, Kantata on BASE+2, NetSuite on BASE+3, "
            "Business Central on BASE+4 (0: any free ports)."
        ),
    ] = 8800,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic firm.")] = 7,
    scenario: Annotated[
        str,
        typer.Option(help="Synthetic firm to seed: small, firm, quarter-end or quarter-end-large."),
    ] = "firm",
    state: Annotated[
        Path | None,
        typer.Option(
            help="JSON file to restore from (when it exists) and to save to on shutdown.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Start the emulators in this process until Ctrl+C (or SIGTERM)."""
    if ctx.invoked_subcommand is not None:
        return
    name = _scenario(scenario)
    from accord.observability.logging import configure_logging
    from accord_sandbox.server import SandboxError, run_sandbox

    # A program of its own (``python -m accord_sandbox``) owns logging; under a host that has
    # already set logging up (``accord``'s callback, pytest) the host's setup stays.
    if not logging.getLogger().handlers:
        configure_logging("INFO", json_lines=False)
    try:
        run_sandbox(
            host=host, base_port=base_port, seed=seed, scenario=name, state=state, ready=_ready
        )
    except SandboxError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        # Ctrl+C before the servers were up (e.g. while generating quarter-end).
        raise typer.Exit(130) from None


def _ready(sandbox: "Sandbox") -> None:
    """Print the URLs and credentials once every server accepts connections."""
    from accord_sandbox.server import SYSTEMS

    table = Table(
        title=f"Accord sandbox: scenario {sandbox.scenario}, seed {sandbox.seed}",
        title_justify="left",
    )
    table.add_column("System")
    table.add_column("Base URL")
    table.add_column("Guide")
    for system in SYSTEMS:
        table.add_row(system.title, sandbox.urls[system.name], f"docs/sandbox/{system.name}.md")
    _out.print(table)
    _out.print(
        f"client id [bold]{sandbox.client_id}[/]  client secret [bold]{sandbox.client_secret}[/]",
        highlight=False,
    )
    _out.print("control API: <base URL>/__sandbox/stats, /faults, /reset, /periods, /records/…")
    if sandbox.state_path is not None:
        _out.print(f"state is saved to {sandbox.state_path} on shutdown", highlight=False)
    _out.print("press Ctrl+C to stop")


@sandbox_app.command("scenario")
def scenario_command(
    name: Annotated[str, typer.Argument(help="small, firm, quarter-end or quarter-end-large.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="File to write (required).", dir_okay=False)
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic firm.")] = 7,
) -> None:
    """Write a scenario's synthetic firm as JSON (the same seed gives the same bytes)."""
    scenario = _scenario(name)
    if out is None:
        raise fail("--out FILE is required", 2)
    from accord_sandbox.scenario import firm_to_json, generate

    firm = generate(scenario, seed)
    try:
        out.write_text(firm_to_json(firm), encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc.strerror}") from None
    entries = sum(len(sheet.entries) for sheet in firm.timesheets)
    _out.print(
        f"wrote {scenario} (seed {seed}) to {out}: {len(firm.customers)} customers, "
        f"{len(firm.consultants)} consultants, {len(firm.opportunities)} opportunities, "
        f"{len(firm.timesheets)} timesheets with {entries} time entries",
        highlight=False,
        soft_wrap=True,
    )
