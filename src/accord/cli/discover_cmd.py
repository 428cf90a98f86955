"""``accord connections discover``: what a connection's system offers for the ids Accord holds.

``accord connections discover NAME`` reads (never writes) the reference lists of one
connection of ``accord.yaml`` (``Connector.discover``): the values a connection setting
(a NetSuite billing item, expense categories, a Business Central journal batch) or the rules
(departments, classes, dimension values) must name. ``--json`` prints them as one JSON
document for scripts.

Errors end with a one-line message on stderr and a non-zero exit, never a traceback.
"""

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from accord.cli._output import err, fail, load_settings, out
from accord.cli.connections_cmd import connections_app

if TYPE_CHECKING:
    from accord.connectors.types import ReferenceList

__all__ = ["discover"]


def _document(name: str, kind: str, lists: "list[ReferenceList]") -> dict[str, object]:
    return {
        "connection": name,
        "kind": kind,
        "lists": [
            {
                "title": ref.title,
                "setting": ref.setting,
                "values": [{"id": v.id, "name": v.name, "detail": v.detail} for v in ref.values],
            }
            for ref in lists
        ],
    }


def _print(name: str, kind: str, lists: "list[ReferenceList]") -> None:
    if not lists:
        out.print(f"{name} ({kind}) has no reference lists: no setting names its ids.")
        return
    for ref in lists:
        table = Table(
            "id",
            "name",
            "detail",
            title=f"{ref.title} [dim]({name}, {kind})[/]",
            caption=f"set in: {ref.setting}",
            title_justify="left",
            caption_justify="left",
            min_width=72,
        )
        for value in ref.values:
            table.add_row(value.id, value.name, value.detail)
        if not ref.values:
            table.add_row("-", "[dim]none[/]", "")
        out.print(table)


@connections_app.command("discover")
def discover(
    name: Annotated[str, typer.Argument(help="The connection's name in accord.yaml.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document instead of tables.")
    ] = False,
) -> None:
    """List the values NAME's system offers for the ids its settings and the rules name."""
    import os

    from accord.connectors.budget import Lane, lane
    from accord.connectors.config import load_connections
    from accord.connectors.registry import create_connector
    from accord.errors import AccordError

    path = load_settings().config_file
    if not path.exists():
        raise fail(f"no accord.yaml at {path} (set ACCORD_CONFIG_FILE)")
    try:
        configs = load_connections(path, os.environ)
        config = configs.get(name)
        if config is None:
            known = ", ".join(sorted(configs)) or "none"
            raise fail(f"no connection named {name!r} in {path} (known: {known})")
        with (
            lane(Lane.BACKGROUND),  # nobody waits on a listing: after every other caller
            create_connector(config) as connector,
            err.status(f"Reading reference lists of {name} ({config.kind})..."),
        ):
            lists = connector.discover()
    except AccordError as exc:
        raise fail(f"{name}: {str(exc).splitlines()[0]}") from None
    if as_json:
        typer.echo(json.dumps(_document(name, config.kind, lists), indent=2))
        return
    _print(name, config.kind, lists)
