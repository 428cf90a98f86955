"""``accord doctor``: check the database, the configuration and every connection; print fixes.

Exit status 0 when every check passes, 1 when any fails (each failure is printed with its fix),
so it can gate a deployment or run from monitoring.
"""

import os
from typing import Annotated

import typer

from accord.cli._output import err, load_settings, out

__all__ = ["doctor"]


def doctor(
    connection: Annotated[
        list[str] | None, typer.Option(help="Check only this connection (repeatable).")
    ] = None,
) -> None:
    """Check that Accord can run: database, accord.yaml, each connection; print every fix."""
    from accord.doctor import diagnose

    settings = load_settings()
    with err.status("checking...") as status:
        results = diagnose(
            settings,
            os.environ,
            only=connection or (),
            progress=lambda name: status.update(f"checking connection {name}..."),
        )
    subject = None
    for r in results:
        if r.subject != subject:
            subject = r.subject
            out.print(f"[bold]{subject}[/]", highlight=False)
        if r.ok:
            detail = f" ({r.detail})" if r.detail else ""
            out.print(f"  [green]ok[/]   {r.check}{detail}", highlight=False, soft_wrap=True)
        else:
            out.print(f"  [red]FAIL[/] {r.check}: {r.problem}", highlight=False, soft_wrap=True)
            out.print(f"       fix: {r.fix}", highlight=False, soft_wrap=True)
    failed = [r for r in results if not r.ok]
    if failed:
        err.print(f"[bold red]{len(failed)} problem(s)[/]; fix them and run accord doctor again")
        raise typer.Exit(1)
    out.print("Everything checked is ready.")
