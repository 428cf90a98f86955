"""``accord migration``: cut a legal entity over to its new ERP, roll it back, tie out both.

See :mod:`accord.governance.migration`. Cut-over and rollback are rules versions (proposed,
and activated at once where no second approval is required) and need an admin key where
approval is required, like ``accord rules activate``. Errors end with a one-line message on
stderr and a non-zero exit.
"""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from accord.cli.rules_cmd import ApiKeyOption, fail, identity, open_context

if TYPE_CHECKING:
    from collections.abc import Callable

    from accord.api.migrations import MigrationDiffOut, SideOut
    from accord.cli.rules_cmd import Context
    from accord.connectors.roles import Erp
    from accord.rules import Rules

__all__ = ["migration_app"]

migration_app = typer.Typer(
    help="ERP migration per legal entity: cut-over, rollback, tie-out across both ERPs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

out = Console()

EntityArg = Annotated[str, typer.Argument(help="The legal entity (DE01).")]
ReasonOption = Annotated[
    str, typer.Option(help="Why: kept with the rules proposal and in the audit log.")
]


@contextmanager
def _refused() -> Iterator[None]:
    """A refusal (unknown entity, no migration, already cut over ...) as one line, exit 1."""
    from accord.errors import ConfigError, GovernanceError

    try:
        yield
    except (ConfigError, GovernanceError) as exc:
        raise fail(str(exc)) from None


def _erp_for(ctx: "Context") -> "Callable[[str, Rules], Erp]":
    """The ERP role of each of the context's connections, built with the rules given."""
    connections = ctx.connections()

    def erp_for(name: str, view: "Rules") -> "Erp":
        return connections.connector(name).as_erp(view)

    return erp_for


def _move(entity: str, direction: str, reason: str, key: str | None) -> None:
    from accord.governance.migration import migrate_entity
    from accord.store.keys import Role

    if not reason.strip():
        raise fail("--reason must say why")
    with open_context() as ctx:
        actor = identity(ctx, key, roles=(Role.ADMIN,), what=f"a {direction}")
        rules = ctx.resolver.current(ctx.rules_path)
        with _refused():
            step = migrate_entity(
                ctx.engine,
                ctx.governance,
                rules,
                entity,
                "cutover" if direction == "cut-over" else "rollback",
                actor=actor,
                reason=reason.strip(),
            )
    old, new = "/".join(step.from_erp), "/".join(step.to_erp)
    if step.active:
        out.print(
            f"{entity}: {direction} done by {actor}: new runs book on {new} (was {old}); runs "
            f"already started finish on {old}. Rules version {step.proposal.version[:12]} "
            f"(proposal #{step.proposal.id}) is active.",
            highlight=False,
        )
    else:
        out.print(
            f"{entity}: {direction} proposed as #{step.proposal.id} by {actor} ({old} -> {new}). "
            f"Next: accord rules approve {step.proposal.id} (a second admin), then "
            f"accord rules activate {step.proposal.id}.",
            highlight=False,
        )
    out.print(
        f"Change the rules file to match (legal_entities.{entity}: erp {step.to_erp[0]}, "
        f"connection {step.to_erp[1]}): an edit of the file is adopted as the next version.",
        highlight=False,
    )


@migration_app.command("cutover")
def cutover(
    entity: EntityArg,
    reason: ReasonOption,
    key: ApiKeyOption = None,
    at: Annotated[
        str | None,
        typer.Option(
            help="Schedule it for this time (ISO 8601 with a zone, 2027-01-01T00:00:00Z): "
            "the workers make it when the time comes."
        ),
    ] = None,
) -> None:
    """New runs of the entity book on its shadow ERP; runs in flight finish where they began."""
    if at is None:
        _move(entity, "cut-over", reason, key)
    else:
        _schedule(entity, at, reason, key)


def _schedule(entity: str, at: str, reason: str, key: str | None) -> None:
    from accord.governance.migration import schedule_cutover
    from accord.store.keys import Role

    try:
        when = dt.datetime.fromisoformat(at)
    except ValueError:
        raise fail(f"--at: {at!r} is not a time (2027-01-01T00:00:00Z)") from None
    if when.tzinfo is None:
        raise fail(f"--at: {at!r} has no time zone (2027-01-01T00:00:00Z)")
    if not reason.strip():
        raise fail("--reason must say why")
    with open_context() as ctx:
        actor = identity(ctx, key, roles=(Role.ADMIN,), what="a cut-over")
        rules = ctx.resolver.current(ctx.rules_path)
        with _refused():
            proposal, active = schedule_cutover(
                ctx.engine, ctx.governance, rules, entity, when, actor=actor, reason=reason.strip()
            )
    moment = when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if active:
        out.print(
            f"{entity}: cut-over scheduled for {moment} by {actor} (rules version "
            f"{proposal.version[:12]}, proposal #{proposal.id}, active). A worker makes it "
            f"within a minute of that time; until then new runs book as today.",
            highlight=False,
        )
    else:
        out.print(
            f"{entity}: cut-over for {moment} proposed as #{proposal.id} by {actor}. Next: "
            f"accord rules approve {proposal.id} (a second admin), then accord rules activate "
            f"{proposal.id}.",
            highlight=False,
        )


@migration_app.command("rollback")
def rollback(entity: EntityArg, reason: ReasonOption, key: ApiKeyOption = None) -> None:
    """Route new runs of a cut-over entity back to the ERP it left."""
    _move(entity, "rollback", reason, key)


@migration_app.command("carry-over")
def carry_over(
    entity: EntityArg,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the open items; start nothing.")
    ] = False,
) -> None:
    """Create the cut-over entity's open projects in its new ERP (idempotent re-runs)."""
    from dbos import DBOSClient

    from accord.cli.app import _actor
    from accord.flows import replay as replay_flow
    from accord.flows.runtime import Runtime
    from accord.flows.shared.plan import opportunity_id_of
    from accord.governance.migration import open_items

    with open_context() as ctx:
        rules = ctx.resolver.current(ctx.rules_path)
        with _refused():
            items = open_items(ctx.engine, rules, entity, _erp_for(ctx))
        table = Table(title=f"{entity}: open projects the new ERP does not hold yet")
        for column in ("project", "old ERP id", "unbilled entries"):
            table.add_column(column)
        for item in items:
            table.add_row(item.project_id, item.old_erp_id, str(item.unbilled))
        out.print(table)
        if dry_run or not items:
            out.print(f"{len(items)} open project(s); nothing started.")
            return
        client = DBOSClient(system_database_engine=ctx.engine)
        runtime = Runtime(ctx.settings, ctx.engine, worker=False)
        started = 0
        try:
            for item in items:
                opportunity = opportunity_id_of(item.project_id)
                if opportunity is None:
                    out.print(f"{item.project_id}: not provisioned from an opportunity; skipped")
                    continue
                result = replay_flow.replay(
                    ctx.engine,
                    runtime,
                    client,
                    actor=_actor(),
                    type_="opportunity.won",
                    # The opportunity's events are keyed by its id (domain.events.business_key).
                    business_key=f"opportunity:{opportunity}",
                    rules="current",
                )
                started += len(result.runs)
        finally:
            client.destroy()
    out.print(
        f"{started} provisioning run(s) started with the active rules: they create the "
        f"open projects in the new ERP (a worker runs them).",
        highlight=False,
    )


def _day_option(value: str | None, name: str) -> "dt.date | None":
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        raise fail(f"--{name}: {value!r} is not a date (YYYY-MM-DD)") from None


@migration_app.command("diff")
def diff(
    entity: EntityArg,
    since: Annotated[
        str | None, typer.Option("--from", "--since", help="First posting day (YYYY-MM-DD).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Last posting day (YYYY-MM-DD).")
    ] = None,
    project: Annotated[str | None, typer.Option(help="Only this canonical project.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="The API's JSON (GET /api/v1/migrations/ENTITY/diff).")
    ] = False,
) -> None:
    """What the shadow ERP books of the system of record's postings, per project and day.

    Exits non-zero when the shadow differs (or on bad input).
    """
    from accord.api.errors import Problem
    from accord.api.migrations import compute, diff_out

    start, end = _day_option(since, "from"), _day_option(until, "to")
    with open_context() as ctx:
        rules = ctx.resolver.current(ctx.rules_path)
        try:
            result = compute(
                rules,
                ctx.connections(),
                ctx.engine,
                entity,
                since=start,
                until=end,
                project_id=project,
            )
        except Problem as exc:
            raise fail(exc.detail or exc.title) from None
    shown = diff_out(result, since=start, until=end, project_id=project)
    if as_json:
        typer.echo(shown.model_dump_json(by_alias=True, indent=2))
    else:
        _print_diff(shown)
    if not result.empty:
        raise fail(f"{entity}: the shadow differs from the system of record")
    if not as_json:
        out.print(f"{entity}: the shadow books exactly what the system of record booked.")


def _amounts(side: "SideOut") -> str:
    return ", ".join(f"{a.amount} {a.currency}" for a in side.amounts) or "-"


def _print_diff(shown: "MigrationDiffOut") -> None:
    sor, shadow = shown.system_of_record, shown.shadow
    table = Table(
        title=f"{shown.entity}: {sor.erp} ({sor.connection}, system of record) vs "
        f"{shadow.erp} ({shadow.connection}, shadow)"
    )
    for column in ("project", "day", "entries", "hours", "amount", "shadow", "refused", "fields"):
        table.add_column(column, justify="left" if column in ("project", "day") else "right")
    for d in shown.days:
        table.add_row(
            d.project_id,
            d.day.isoformat(),
            str(d.system_of_record.entries),
            d.system_of_record.hours,
            _amounts(d.system_of_record),
            f"{d.shadow.entries} / {d.shadow.hours} h / {_amounts(d.shadow)}",
            str(len(d.refusals)),
            str(len(d.differences)),
            style=None if d.equal else "bold",
        )
    out.print(table)
    if any(d.differences for d in shown.days):
        fields = Table(title="Field differences (canonical terms)")
        for column in ("entry", "field", "system of record", "shadow"):
            fields.add_column(column)
        for d in shown.days:
            for f in d.differences:
                fields.add_row(f.entry_id, f.field, f.system_of_record or "-", f.shadow or "-")
        out.print(fields)
    for d in shown.days:
        for r in d.refusals:
            out.print(f"refused {r.entry_id} ({r.reason}): {r.message}", highlight=False)
        for entry in d.only_in_system_of_record:
            out.print(f"{entry}: booked in the system of record only", highlight=False)
        for entry in d.only_in_shadow:
            out.print(f"{entry}: booked in the shadow only", highlight=False)
    _print_one_side(shown)


def _print_one_side(shown: "MigrationDiffOut") -> None:
    """What one ERP holds and the other does not, and the shadow's recorded outcomes."""
    for project in shown.missing_projects:
        out.print(f"{project}: not in the shadow ERP (carry it over)", highlight=False)
    for key in shown.already_in_shadow:
        out.print(f"{key}: already booked in the shadow ERP", highlight=False)
    if shown.recorded:
        counts = ", ".join(f"{n} {status}" for status, n in shown.recorded.items())
        out.print(f"shadow posting as it happened: {counts}", highlight=False)
    # One line per cause (a project not carried over refuses every posting on it alike).
    causes: dict[tuple[str, str], list[str]] = {}
    for r in shown.recorded_refusals:
        causes.setdefault((r.reason, r.message), []).append(r.entry_id)
    for (reason, message), entries in causes.items():
        more = f" and {len(entries) - 3} more" if len(entries) > 3 else ""
        out.print(
            f"refused when posted ({reason}): {message}: {', '.join(entries[:3])}{more}",
            highlight=False,
        )


@migration_app.command("tieout")
def tieout(entity: EntityArg) -> None:
    """Per project: what the ledger posted to each ERP, checked against what each ERP holds."""
    from accord.governance.migration import tie_out

    with open_context() as ctx:
        rules = ctx.resolver.current(ctx.rules_path)
        with _refused():
            results = tie_out(ctx.engine, rules, entity, _erp_for(ctx))
        booked = rules.spec.legal_entities[entity]
        names = [booked.connection, booked.migration.shadow_connection if booked.migration else ""]
    table = Table(title=f"{entity}: posted entries per ERP (ledger / held by the ERP)")
    table.add_column("project")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("doubled", justify="right")
    table.add_column("missing", justify="right")
    for r in results:
        cells = []
        for name in names:
            amounts = ", ".join(f"{a} {c}" for c, a in sorted(r.amounts.get(name, {}).items()))
            held = "absent" if name in r.absent else str(len(r.held.get(name, ())))
            cells.append(f"{r.entries.get(name, 0)} / {held} {amounts}".strip())
        table.add_row(r.project_id, *cells, str(len(r.doubled)), str(len(r.missing)))
    out.print(table)
    bad = [r for r in results if not r.clean]
    if bad:
        raise fail(f"{len(bad)} of {len(results)} projects do not tie out (doubled or missing)")
    out.print(f"{len(results)} projects tie out: every posted entry is in exactly one ERP.")
