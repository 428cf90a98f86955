"""What every ``accord`` command prints with: the two consoles, the one-line error, progress.

The commands share these so that an error looks the same everywhere (a red ``error:`` line on
stderr and a non-zero exit, never a traceback) and progress bars go to stderr, leaving stdout
to what a script may parse. Rich resolves ``sys.stdout``/``sys.stderr`` when it prints, so one
pair of consoles also serves under a test runner that swaps the streams.
"""

from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

if TYPE_CHECKING:
    from accord.settings import Settings

__all__ = ["err", "fail", "load_settings", "out", "progress_bar"]

err = Console(stderr=True)
out = Console()


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line error on stderr and return the exit to raise.

    Args:
        message: The line to print; rich markup in it is rendered.
        code: The exit status.

    Returns:
        The :class:`typer.Exit` the caller raises (``raise fail(...) from None``).
    """
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def load_settings() -> "Settings":
    """The settings from the environment and ``accord.yaml``.

    Raises:
        typer.Exit: They are invalid (after printing the first line of why).
    """
    # Imported here: ``accord sandbox`` and ``--help`` should not pay for loading settings.
    from accord.settings import Settings

    try:
        return Settings()
    except ValueError as exc:
        raise fail(f"invalid settings: {exc}".splitlines()[0]) from None


def progress_bar(*, elapsed: bool = False) -> Progress:
    """A transient progress bar on stderr: the task's description, a bar, done of total.

    Args:
        elapsed: Also show the time elapsed (for work that may take minutes).
    """
    columns: list[ProgressColumn] = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
    ]
    if elapsed:
        columns.append(TimeElapsedColumn())
    return Progress(*columns, console=err, transient=True)
