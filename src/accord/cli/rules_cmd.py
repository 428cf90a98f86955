"""``accord rules``: validate, diff, propose, approve, activate, roll back, what-if, history.

Who you are: commands that change something identify you by an API key (``--key`` or
``ACCORD_API_KEY``), the same keys the API and the console use, so that the proposer and the
approver are compared as the same people everywhere. Proposing needs an operator or admin
key; approving, activating and rolling back an admin key. Where approval is not required
(the demo), a command without a key acts as ``cli:<login>``.

A version can be named by its hash (seven hex characters or more), a proposal id (``3`` or
``#3``), ``active``, ``file`` (the rules file in ``accord.yaml``) or a path to a YAML file.

Errors end with a one-line message on stderr and a non-zero exit, never a traceback.
"""

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from accord.cli import _output
from accord.cli._output import err, load_settings, out, progress_bar

if TYPE_CHECKING:
    import sqlalchemy as sa

    from accord.flows.connections import Connections
    from accord.governance.diff import Change
    from accord.governance.resolve import RulesResolver
    from accord.governance.settings import GovernanceSettings
    from accord.governance.validate import Finding
    from accord.rules import Rules
    from accord.settings import Settings
    from accord.store.credentials import DatabaseTokenStore
    from accord.store.keys import Role

__all__ = ["ApiKeyOption", "Context", "fail", "identity", "open_context", "rules_app"]

rules_app = typer.Typer(
    help="Governed rules: validate, diff, propose, approve, activate, roll back, what-if.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--key", envvar="ACCORD_API_KEY", help="Your API key (who you are).", show_default=False
    ),
]
_SHOWN = 40
"""Rows a change table shows (the rest are counted)."""


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line error (its text, no rich markup) and return the exit to raise."""
    return _output.fail(escape(message), code)


@dataclass
class Context:
    """What every command works with: settings, database, governance settings, resolver."""

    settings: "Settings"
    engine: "sa.Engine"
    governance: "GovernanceSettings"
    resolver: "RulesResolver"
    _connections: "Connections | None" = None

    @property
    def rules_path(self) -> Path:
        """The rules file ``accord.yaml`` names (``lead_to_project.rules``)."""
        from accord.flows.pinning import rules_path

        return rules_path(self.settings.config_file)

    def connections(self) -> "Connections":
        """The connections of ``accord.yaml`` (built once, closed with the context)."""
        from accord.flows.connections import Connections

        if self._connections is None:
            self._connections = Connections(
                self.engine,
                holder=f"cli-{os.getpid()}",
                config_file=self.settings.config_file,
                env=os.environ,
                instrument=False,
                token_store=self.token_store(),
            )
        return self._connections

    def token_store(self) -> "DatabaseTokenStore":
        """The tokens `accord connections authorize` stored in this database."""
        from accord.store.credentials import DatabaseTokenStore

        return DatabaseTokenStore.for_settings(self.engine, self.settings, os.environ)

    def connection_kinds(self) -> dict[str, str]:
        """Connection name -> connector kind, as ``accord.yaml`` declares them."""
        from accord.governance.validate import connection_kinds

        return connection_kinds(self.settings.config_file)


@contextmanager
def open_context() -> Iterator[Context]:
    """Open the database (migrated) and yield the context; one-line errors for bad config."""
    from accord.errors import AccordError
    from accord.governance.resolve import RulesResolver
    from accord.governance.settings import load_governance
    from accord.store import create_db_engine, migrate

    settings = load_settings()
    try:
        governance = load_governance(settings.config_file)
    except AccordError as exc:
        raise fail(exc.message) from None
    engine = create_db_engine(settings.database_url)
    ctx = Context(
        settings=settings,
        engine=engine,
        governance=governance,
        resolver=RulesResolver(engine, governance=lambda: governance),
    )
    try:
        migrate(engine)
        yield ctx
    except AccordError as exc:
        raise fail(exc.message) from None
    finally:
        if ctx._connections is not None:
            ctx._connections.close()
        engine.dispose()


def identity(ctx: Context, key: str | None, *, roles: "Sequence[Role]", what: str) -> str:
    """The audit actor of the caller: ``key:<name>`` for a key with one of ``roles``."""
    from accord.cli.app import _actor
    from accord.store import keys

    if not key:
        if ctx.governance.approval_required:
            raise fail(
                f"{what} needs your API key (--key or ACCORD_API_KEY): approvals compare people"
            )
        return _actor()
    with ctx.engine.connect() as conn:
        found = keys.get_by_secret(conn, secret=key.strip())
    if found is None:
        raise fail("unknown or revoked API key")
    if found.role not in roles:
        wanted = " or ".join(r.value for r in roles)
        raise fail(f"{what} needs a key with role {wanted}; {found.name!r} is {found.role.value}")
    return f"key:{found.name}"


def _load(ctx: Context, ref: str | None) -> tuple[str, "Rules"]:
    """A label and the rules a reference names (see the module docstring)."""
    from accord.governance.refs import load_ref

    return load_ref(ctx.engine, ctx.resolver, ref, rules_path=ctx.rules_path, files=True)


def _show(value: Any) -> str:  # noqa: ANN401 - a JSON leaf
    from accord.governance.diff import MISSING

    if value is MISSING:
        return "-"
    return escape(json.dumps(value, ensure_ascii=False))


def print_changes(changes: "Sequence[Change]", *, title: str) -> None:
    """A table of field changes (the first :data:`_SHOWN`)."""
    if not changes:
        out.print(f"{title}: no differences.")
        return
    table = Table("field", "before", "after", title=title, title_justify="left")
    for change in changes[:_SHOWN]:
        table.add_row(escape(change.path), _show(change.before), _show(change.after))
    out.print(table)
    if len(changes) > _SHOWN:
        out.print(f"... and {len(changes) - _SHOWN} more.")


def print_findings(findings: "Sequence[Finding]") -> None:
    """A table of validation findings."""
    table = Table("severity", "where", "problem")
    for f in findings:
        colour = "red" if f.severity == "error" else "yellow"
        table.add_row(f"[{colour}]{f.severity}[/]", escape(f.path), escape(f.message))
    out.print(table)


@rules_app.command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="The rules file to check.")],
    offline: Annotated[
        bool, typer.Option("--offline", help="Skip the checks that read the ERPs.")
    ] = False,
) -> None:
    """Check a rules file: schema, connections it names, and ERP ids it maps to (exit 1: errors)."""
    from accord.governance.validate import check_file, check_references, check_targets

    rules, findings = check_file(file)
    if rules is not None:
        with open_context() as ctx:
            findings += check_references(rules, ctx.connection_kinds())
            if not offline:
                findings += check_targets(rules, ctx.connections().connector)
    if findings:
        print_findings(findings)
    errors = sum(f.severity == "error" for f in findings)
    if errors:
        raise fail(f"{file}: {errors} error(s)")
    assert rules is not None
    checked = "schema and connections" if offline else "schema, connections and ERP ids"
    out.print(f"OK: {file} is valid ({checked}); version {rules.version}", highlight=False)


@rules_app.command("diff")
def diff_(
    a: Annotated[str | None, typer.Argument(help="From (default: active).")] = None,
    b: Annotated[str | None, typer.Argument(help="To (default: the rules file).")] = None,
) -> None:
    """Field-by-field differences between two versions (default: active -> the rules file)."""
    from accord.governance.diff import diff

    with open_context() as ctx:
        label_a, rules_a = _load(ctx, a)
        label_b, rules_b = _load(ctx, b or "file")
    changes = diff(rules_a.spec.model_dump(mode="json"), rules_b.spec.model_dump(mode="json"))
    print_changes(changes, title=f"{label_a} -> {label_b}")


@rules_app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="A version, proposal, 'active' or a file.")],
) -> None:
    """Print a version's document as YAML (what a reviewer reads)."""
    import yaml

    with open_context() as ctx:
        label, rules = _load(ctx, ref)
    out.print(f"# {label}", highlight=False)
    print(yaml.safe_dump(rules.spec.model_dump(mode="json"), sort_keys=False, allow_unicode=True))  # noqa: T201 - YAML for a pipe


@rules_app.command("history")
def history(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Rows of each table.")] = 20,
) -> None:
    """The activation log (what was in force when) and the proposals."""
    from accord.store import rulesets

    with open_context() as ctx:
        ctx.resolver.current(ctx.rules_path)
        with ctx.engine.connect() as conn:
            log = rulesets.activations(conn, limit=limit)
            proposals = rulesets.list_proposals(conn, limit=limit)
    table = Table("#", "at", "version", "how", "by", "proposal", "reason", title="Activations")
    for a in log:
        table.add_row(
            str(a.seq),
            a.at.strftime("%Y-%m-%d %H:%M:%S"),
            a.version[:12],
            a.kind.value,
            escape(a.actor),
            f"#{a.proposal_id}" if a.proposal_id else "",
            escape(a.reason or ""),
        )
    out.print(table)
    table = Table(
        "id",
        "status",
        "version",
        "proposed by",
        "approved by",
        "activated by",
        "reason",
        title="Proposals",
    )
    for p in proposals:
        table.add_row(
            f"#{p.id}",
            p.status.value,
            p.version[:12],
            escape(p.proposed_by),
            escape(p.approved_by or ""),
            escape(p.activated_by or ""),
            escape(p.reason),
        )
    out.print(table)


@rules_app.command("propose")
def propose(
    file: Annotated[Path, typer.Argument(help="The rules file to propose.")],
    reason: Annotated[str, typer.Option(help="Why: kept with the proposal and in the audit log.")],
    key: ApiKeyOption = None,
) -> None:
    """Propose a rules file as the next active version (checked first; audited)."""
    from accord.governance.changes import RulesChanges
    from accord.governance.diff import diff
    from accord.governance.resolve import file_source
    from accord.governance.validate import check_file, check_references
    from accord.store.keys import Role

    if not reason.strip():
        raise fail("--reason must say why")
    rules, findings = check_file(file)
    with open_context() as ctx:
        actor = identity(ctx, key, roles=(Role.OPERATOR, Role.ADMIN), what="proposing")
        if rules is not None:
            findings += check_references(rules, ctx.connection_kinds())
        if any(f.severity == "error" for f in findings) or rules is None:
            print_findings(findings)
            raise fail(f"{file} is not valid; nothing was proposed")
        active = ctx.resolver.current(ctx.rules_path)
        proposal = RulesChanges(ctx.engine, ctx.governance).propose(
            rules, source=file_source(file), reason=reason.strip(), actor=actor
        )
    changes = diff(active.spec.model_dump(mode="json"), rules.spec.model_dump(mode="json"))
    print_changes(changes, title=f"active {active.version[:12]} -> proposal #{proposal.id}")
    step = f"accord rules activate {proposal.id}"
    if ctx.governance.approval_required:
        step = f"accord rules approve {proposal.id} (a second admin), then {step}"
    out.print(
        f"Proposed #{proposal.id}: version {proposal.version[:12]} by {actor}. Next: {step}",
        highlight=False,
    )


@rules_app.command("approve")
def approve(
    proposal_id: Annotated[int, typer.Argument(help="The proposal.", min=1)],
    key: ApiKeyOption = None,
) -> None:
    """Approve a proposal (an admin who is not its proposer)."""
    from accord.governance.changes import RulesChanges
    from accord.store.keys import Role

    with open_context() as ctx:
        actor = identity(ctx, key, roles=(Role.ADMIN,), what="approving")
        proposal = RulesChanges(ctx.engine, ctx.governance).approve(proposal_id, actor=actor)
    out.print(
        f"Approved #{proposal.id} (version {proposal.version[:12]}, proposed by "
        f"{proposal.proposed_by}) as {actor}.",
        highlight=False,
    )


@rules_app.command("activate")
def activate(
    proposal_id: Annotated[int, typer.Argument(help="The proposal.", min=1)],
    key: ApiKeyOption = None,
) -> None:
    """Make a proposal's version active: new runs use it, running runs keep theirs."""
    from accord.governance.changes import RulesChanges
    from accord.store.keys import Role

    with open_context() as ctx:
        actor = identity(ctx, key, roles=(Role.ADMIN,), what="activating")
        before = ctx.resolver.current(ctx.rules_path).version
        proposal = RulesChanges(ctx.engine, ctx.governance).activate(proposal_id, actor=actor)
    out.print(
        f"Activated #{proposal.id}: version {proposal.version[:12]} is active (was {before[:12]}).",
        highlight=False,
    )


@rules_app.command("rollback")
def rollback(
    reason: Annotated[str, typer.Option(help="Why: kept in the activation log and audit log.")],
    key: ApiKeyOption = None,
) -> None:
    """Activate again the version that was active before the current one."""
    from accord.governance.changes import RulesChanges
    from accord.store.keys import Role

    if not reason.strip():
        raise fail("--reason must say why")
    with open_context() as ctx:
        actor = identity(ctx, key, roles=(Role.ADMIN,), what="rolling back")
        ctx.resolver.current(ctx.rules_path)
        done = RulesChanges(ctx.engine, ctx.governance).rollback(actor=actor, reason=reason)
    out.print(
        f"Rolled back: version {done.version[:12]} is active again "
        f"(was {(done.previous_version or '')[:12]}).",
        highlight=False,
    )


@rules_app.command("whatif")
def whatif(
    ref: Annotated[str, typer.Argument(help="A proposal id (or a version or file).")],
    *,
    since: Annotated[str, typer.Option(help="Window start: 7d, 12h, 30m or an ISO time.")] = "7d",
    until: Annotated[str | None, typer.Option(help="Window end (ISO time).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Most events.")] = 10_000,
    as_json: Annotated[bool, typer.Option("--json", help="The full report as JSON.")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="List unchanged records too.")] = False,
) -> None:
    """Replay the window's journaled events through a proposal; writes nothing anywhere."""
    from accord.governance.whatif import parse_since, run_whatif

    try:
        start = parse_since(since)
        end = parse_since(until) if until else None
    except ValueError:
        raise fail("--since/--until: use 7d, 12h, 30m, 2w or an ISO 8601 time") from None
    with open_context() as ctx:
        label, proposal = _load(ctx, ref)
        with progress_bar() as progress:
            task = progress.add_task("what-if", total=None)
            report = run_whatif(
                ctx.engine,
                proposal=proposal,
                version_of=ctx.resolver.version,
                config_file=ctx.settings.config_file,
                since=start,
                until=end,
                limit=limit,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
                token_store=ctx.token_store(),
            )
    if as_json:
        print(json.dumps(report.as_json(only_differences=not show_all), indent=2, default=str))  # noqa: T201
        return
    _print_report(label, report, show_all=show_all)


def _print_report(label: str, report: Any, *, show_all: bool) -> None:  # noqa: ANN401 - WhatIfReport
    window = f"{report.since:%Y-%m-%d %H:%M} .. {report.until or 'now'}"
    out.print(f"What-if of {label} over events received {window} UTC", highlight=False)
    table = Table("record", "status", "field", "done (run's version)", "proposal")
    table.columns[0].overflow = "fold"
    for r in report.records:
        if r.status == "unchanged" and not show_all:
            continue
        first = True
        for change in r.changes or ():
            table.add_row(
                escape(r.record) if first else "",
                r.status.replace("_", " ") if first else "",
                escape(change.path),
                _show(change.before),
                _show(change.after),
            )
            first = False
        if first:
            table.add_row(escape(r.record), r.status.replace("_", " "), "", "", "")
    if table.rows:
        out.print(table)
    counts = report.counts()
    summary = Table(*(k.replace("_", " ") for k in counts), "events", "errors", "writes held")
    summary.add_row(
        *(str(v) for v in counts.values()),
        str(report.events),
        str(len(report.errors)),
        str(report.writes_held),
    )
    out.print(summary)
    if report.skipped:
        skipped = ", ".join(f"{t} {n}" for t, n in sorted(report.skipped.items()))
        out.print(f"Not evaluated (no what-if for their flow): {skipped}.", highlight=False)
    for error in report.errors[:10]:
        err.print(f"event {error['event_id']}: {escape(error['error'])}", highlight=False)
    if report.truncated:
        out.print("More events matched: raise --limit or narrow the window.")
