"""``accord setup-kit``: write the files that set each connected system up for Accord.

The kit is derived from the connectors' declarations (:mod:`accord.setupkit`); the firm's
picklist values come from the rules file Accord runs with (``--rules``, else ``accord.yaml``'s
``lead_to_project.rules``, else ``ACCORD_RULES_FILE``, else the rules Accord ships).
"""

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from accord.cli._output import fail, load_settings, out

__all__ = ["setup_kit"]


_ROLES = {
    "crm": ("salesforce",),
    "psa": ("kantata", "certinia"),
    "erp": ("netsuite", "business_central"),
}


def _check(role: str, kinds: list[str]) -> None:
    for kind in kinds:
        if kind not in _ROLES[role]:
            raise fail(f"--{role} {kind!r}: use {' or '.join(_ROLES[role])}")


def setup_kit(
    crm: Annotated[str, typer.Option(help="The CRM: salesforce.")] = "salesforce",
    psa: Annotated[str, typer.Option(help="The PSA: kantata or certinia.")] = "kantata",
    erp: Annotated[
        list[str] | None,
        typer.Option(help="The ERP: netsuite or business_central (repeat for both)."),
    ] = None,
    rules: Annotated[
        Path | None, typer.Option(help="Rules file whose codes fill the kit's picklists.")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the kit to.")] = Path(
        "setup-kit"
    ),
) -> None:
    """Write the setup kit: Salesforce SFDX source, NetSuite SDF objects, a BC AL extension."""
    from accord.errors import ConfigError
    from accord.flows.shared.settings import load_flow_settings
    from accord.rules import load_rules
    from accord.setupkit import write_setup_kit

    erps = erp or ["netsuite"]
    _check("crm", [crm])
    _check("psa", [psa])
    _check("erp", erps)
    try:
        path = rules or load_flow_settings(load_settings().config_file, os.environ).rules_path
        written = write_setup_kit(out_dir, [crm, psa, *erps], rules=load_rules(path))
    except (ConfigError, OSError) as exc:
        raise fail(str(exc).splitlines()[0]) from None
    table = Table("system", "files")
    for folder, files in written.items():
        table.add_row(folder or "(index)", str(len(files)))
    out.print(table)
    out.print(f"Wrote the setup kit to {out_dir}/ (rules {path}); read {out_dir}/README.md next.")
