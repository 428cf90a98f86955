"""``/api/v1/migrations/{entity}/diff``: the shadow diff of a legal entity's ERP migration.

What the system of record booked beside what the shadow ERP books (or would book), per
project and day, entry by entry (:mod:`accord.governance.shadow`): entries, hours and amounts
on each side, records on one side only, field differences in canonical terms, and the
shadow's refusals with its reason. ``from``/``to`` narrow the days (posting dates, inclusive),
``project`` to one canonical project. Any key but ``ingest`` reads it (it reads both ERPs on
the interactive lane and writes nothing). Errors are problem+json: 404 for a legal entity the
active rules do not name, 409 for one not under migration (or whose ERP connection is not
configured), 422 for a bad query, 502 when an ERP cannot be read.

What does not belong here: the comparison (:mod:`accord.governance.shadow`).
"""

import datetime as dt
from decimal import Decimal
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from accord.api.errors import Problem
from accord.api.lineage import Amount
from accord.api.ops.common import PROBLEMS, IsoDate, Reader
from accord.api.ops.rules import Gov
from accord.connectors.roles import Erp
from accord.errors import ConfigError, ConnectorError
from accord.flows.connections import Connections, UnknownConnectionError
from accord.governance.migration import NotMigratingError, UnknownEntityError
from accord.governance.shadow import DayDiff, ShadowDiff, shadow_diff
from accord.rules import Rules

__all__ = ["MigrationDiffOut", "diff_out", "router"]

router = APIRouter(prefix="/api/v1/migrations", tags=["migrations"], responses=PROBLEMS)


class ErpOut(BaseModel):
    """One side of the migration: the ERP and the connection reaching it."""

    erp: str = Field(description="business_central, dynamics_finance, netsuite")
    connection: str


class SideOut(BaseModel):
    """What one ERP booked on a project's day."""

    entries: int
    hours: str = Field(description="Exact decimal text")
    amounts: list[Amount] = Field(description="Per currency")


class RefusalOut(BaseModel):
    """An entry the shadow refuses, with its reason."""

    entry_id: str
    reason: str = Field(description="The ERP's refusal reason (validation, not_found ...)")
    message: str


class FieldDifferenceOut(BaseModel):
    """A field of an entry the shadow books differently, in canonical terms."""

    entry_id: str
    field: str = Field(
        description="project, resource, date, hours, amount, currency, billable, category, "
        "dimensions.<name>"
    )
    system_of_record: str | None
    shadow: str | None


class DayOut(BaseModel):
    """One project's day on both sides."""

    project_id: str
    day: dt.date
    equal: bool = Field(description="The shadow books exactly what the system of record did")
    system_of_record: SideOut
    shadow: SideOut
    refusals: list[RefusalOut]
    differences: list[FieldDifferenceOut]
    only_in_system_of_record: list[str] = Field(description="Entries the shadow does not hold")
    only_in_shadow: list[str] = Field(description="Entries the system of record did not book")


class MigrationDiffOut(BaseModel):
    """The shadow diff of one legal entity."""

    model_config = ConfigDict(populate_by_name=True)

    entity: str
    system_of_record: ErpOut
    shadow: ErpOut
    from_: dt.date | None = Field(alias="from")
    to: dt.date | None
    project_id: str | None
    empty: bool = Field(description="Nothing differs")
    days: list[DayOut]
    missing_projects: list[str] = Field(description="Projects the shadow does not hold")
    already_in_shadow: list[str] = Field(
        description="Posting keys the shadow already holds (booked twice at a cut-over)"
    )
    recorded: dict[str, int] = Field(
        default_factory=dict,
        description=(
            "Inline shadow posting's outcomes in the range by status (validated, booked, "
            "refused): what the shadow made of each posting when it happened"
        ),
    )
    recorded_refusals: list[RefusalOut] = Field(
        default_factory=list,
        description=(
            "Postings the shadow refused when they happened (history: not part of 'empty', "
            "which says what the shadow would do now)"
        ),
    )


def _hours(hours: Decimal) -> str:
    """Hours as text with at least two decimals: ``16.00`` whichever side summed them."""
    cents = hours.quantize(Decimal("0.01"))
    return str(cents if cents == hours else hours)


def _side(entries: int, hours: Decimal, amounts: dict[str, Decimal]) -> SideOut:
    return SideOut(
        entries=entries,
        hours=_hours(hours),
        amounts=[Amount(amount=str(a), currency=c) for c, a in sorted(amounts.items())],
    )


def _day(d: DayDiff) -> DayOut:
    return DayOut(
        project_id=d.project_id,
        day=d.day,
        equal=d.equal,
        system_of_record=_side(d.entries, d.hours, dict(d.amounts)),
        shadow=_side(d.shadow_entries, d.shadow_hours, dict(d.shadow_amounts)),
        refusals=[
            RefusalOut(entry_id=r.entry_id, reason=r.reason, message=r.message) for r in d.refusals
        ],
        differences=[
            FieldDifferenceOut(
                entry_id=f.entry_id,
                field=f.field,
                system_of_record=f.system_of_record,
                shadow=f.shadow,
            )
            for f in d.differences
        ],
        only_in_system_of_record=d.only_in_system_of_record,
        only_in_shadow=d.only_in_shadow,
    )


def diff_out(
    diff: ShadowDiff,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    project_id: str | None = None,
) -> MigrationDiffOut:
    """The API's (and ``accord migration diff --json``'s) shape of a diff."""
    return MigrationDiffOut(
        entity=diff.entity,
        system_of_record=ErpOut(
            erp=diff.system_of_record, connection=diff.system_of_record_connection
        ),
        shadow=ErpOut(erp=diff.shadow, connection=diff.shadow_connection),
        from_=since,
        to=until,
        project_id=project_id,
        empty=diff.empty,
        days=[_day(d) for d in diff.days],
        missing_projects=diff.missing_projects,
        already_in_shadow=diff.already_in_shadow,
        recorded=diff.recorded,
        recorded_refusals=[
            RefusalOut(entry_id=r.entry_id, reason=r.reason, message=r.message)
            for r in diff.recorded_refusals
        ],
    )


def compute(
    rules: Rules,
    connections: Connections,
    engine: sa.Engine,
    entity: str,
    *,
    since: dt.date | None,
    until: dt.date | None,
    project_id: str | None,
) -> ShadowDiff:
    """The diff with the process's connections; errors as :class:`Problem`."""
    if since is not None and until is not None and since > until:
        raise Problem(422, "Invalid request", f"from ({since}) is after to ({until})")

    def erp_for(name: str, view: Rules) -> Erp:
        return connections.connector(name).as_erp(view)

    try:
        return shadow_diff(
            engine, rules, entity, erp_for, since=since, until=until, project_id=project_id
        )
    except UnknownEntityError as exc:
        raise Problem(404, "Not found", str(exc)) from None
    except (NotMigratingError, UnknownConnectionError) as exc:
        raise Problem(409, "Conflict", str(exc)) from None
    except ConnectorError as exc:
        raise Problem(502, "Bad gateway", f"an ERP could not be read: {exc}") from None
    except ConfigError as exc:
        raise Problem(409, "Conflict", str(exc)) from None


@router.get(
    "/{entity}/diff",
    response_model=MigrationDiffOut,
    response_model_by_alias=True,
    summary="The shadow diff of a legal entity under ERP migration",
    responses={
        404: {"description": "The active rules name no such legal entity (problem+json)"},
        409: {"description": "The legal entity is not under migration (problem+json)"},
        422: {"description": "Invalid query (problem+json)"},
        502: {"description": "An ERP could not be read (problem+json)"},
    },
)
def migration_diff(
    *,
    _: Reader,
    request: Request,
    gov: Gov,
    entity: Annotated[str, Path(min_length=1, max_length=64, description="Legal entity (DE01)")],
    from_: Annotated[
        IsoDate | None, Query(alias="from", description="First posting day (inclusive)")
    ] = None,
    to: Annotated[IsoDate | None, Query(description="Last posting day (inclusive)")] = None,
    project: Annotated[
        str | None,
        Query(min_length=1, max_length=256, pattern=r"^[^\x00]*$", description="One project"),
    ] = None,
) -> MigrationDiffOut:
    """Per project and day, what each ERP books; entry by entry, what differs."""
    connections: Connections = request.app.state.connections
    diff = compute(
        gov.current(),
        connections,
        gov.engine,
        entity,
        since=from_,
        until=to,
        project_id=project,
    )
    return diff_out(diff, since=from_, until=to, project_id=project)
