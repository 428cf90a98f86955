"""``accord bundle``: export this environment's configuration, import another's (dry run first).

A bundle carries the active rules version, the connection settings without secrets, the
schema versions and the flow settings (see :mod:`accord.governance.bundle`). Importing it
proposes its rules in this environment, where they go through this environment's approval.

Errors end with a one-line message on stderr and a non-zero exit, never a traceback.
"""

from pathlib import Path
from typing import Annotated

import typer

from accord.cli._output import err, out
from accord.cli.rules_cmd import (
    ApiKeyOption,
    fail,
    identity,
    open_context,
    print_changes,
    print_findings,
)

__all__ = ["bundle_app"]

bundle_app = typer.Typer(
    help="Promotion between environments: export a reviewable bundle, import one.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@bundle_app.command("export")
def export(
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write (default: accord-bundle-<env>-<version>.yaml)."),
    ] = None,
) -> None:
    """Write this environment's bundle: active rules, connections (no secrets), schemas, flows."""
    from accord.cli.app import _actor
    from accord.governance.bundle import export_bundle, render_bundle

    with open_context() as ctx:
        rules = ctx.resolver.current(ctx.rules_path)
        bundle = export_bundle(
            ctx.engine,
            config_file=ctx.settings.config_file,
            rules=rules,
            settings=ctx.governance,
            actor=_actor(),
        )
    path = out_file or Path(f"accord-bundle-{ctx.governance.environment}-{rules.version[:12]}.yaml")
    try:
        path.write_text(render_bundle(bundle), encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror}") from None
    out.print(
        f"Wrote {path}: environment {ctx.governance.environment}, rules {rules.version[:12]}, "
        f"{len(bundle['connections'])} connection(s), {len(bundle['settings'])} flow section(s).",
        highlight=False,
    )


@bundle_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="The bundle.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the differences; change nothing.")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why (default: promoted from <env>).")] = None,
    key: ApiKeyOption = None,
) -> None:
    """Compare a bundle with this environment; without --dry-run, propose its rules here."""
    from accord.governance.bundle import check_bundle, import_bundle, read_bundle
    from accord.store.keys import Role

    with open_context() as ctx:
        bundle, rules = read_bundle(file)
        actor = None
        if not dry_run:
            roles = (Role.OPERATOR, Role.ADMIN)
            actor = identity(ctx, key, roles=roles, what="importing a bundle")
        ctx.resolver.current(ctx.rules_path)
        check = check_bundle(
            bundle,
            rules,
            resolver=ctx.resolver,
            config_file=ctx.settings.config_file,
            connection_kinds=ctx.connection_kinds(),
            settings=ctx.governance,
        )
        out.print(
            f"Bundle {file}: environment {check.source} -> {check.target} ({check.direction}); "
            f"rules {check.rules_version[:12]}, active here "
            f"{(check.active_version or 'none')[:12]}",
            highlight=False,
        )
        print_changes(check.rules, title="Rules (active here -> bundle)")
        print_changes(check.connections, title="Connections (here -> bundle; not imported)")
        print_changes(check.settings, title="Flow settings (here -> bundle; not imported)")
        print_changes(check.schema, title="Schema versions (here -> bundle)")
        if check.findings:
            print_findings(check.findings)
        if dry_run:
            verdict = "can be imported" if check.importable else "cannot be imported"
            out.print(f"Dry run: nothing changed. The bundle's rules {verdict} here.")
            return
        assert actor is not None
        proposal = import_bundle(
            ctx.engine,
            bundle,
            rules,
            check=check,
            settings=ctx.governance,
            actor=actor,
            reason=reason or f"promoted from {check.source}",
        )
    err.print("Connection and flow settings are not imported: change accord.yaml where listed.")
    out.print(
        f"Imported as proposal #{proposal.id} (version {proposal.version[:12]}); it goes through "
        "this environment's approval.",
        highlight=False,
    )
