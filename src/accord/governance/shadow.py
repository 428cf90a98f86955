"""The shadow diff of an ERP migration: what the new ERP would book, beside the old one.

For a legal entity under migration (:mod:`accord.governance.migration`), every entry the
system of record posted (the posting ledger) is translated for the shadow ERP, exactly as the
shadow's role would send it (:meth:`~accord.connectors.roles.Erp.posting_body`: reads
reference data, writes nothing), on the shadow's copy of the project. The diff reports, per
project and day, what each side holds: the system of record's entries, hours and amounts;
the entries the shadow could book; the ones it refuses, with its reason; projects the shadow
does not hold; and entries the shadow already holds (they would be booked twice at a
cut-over). It runs on demand and is read-only in both ERPs (``validate`` mode: the shadow's
own posting rules, such as a closed period or an unknown resource, are checked only when it
posts).
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from accord.connectors.roles import EntryPosting, Erp, ErpProject, PostingBatch
from accord.domain import Expense, TimeEntry, Timesheet
from accord.errors import ConfigError, MappingError, PermanentError, RuleViolation
from accord.governance.migration import booked_on, read_project
from accord.rules import Rules
from accord.store import journal, postings, xref

__all__ = ["DayDiff", "Refusal", "ShadowDiff", "shadow_diff"]


@dataclass(frozen=True)
class Refusal:
    """An entry the shadow ERP would refuse."""

    entry_id: str
    reason: str
    message: str


@dataclass
class DayDiff:
    """One project's day on both sides."""

    project_id: str
    day: dt.date
    entries: int = 0
    hours: Decimal = Decimal(0)
    amount: Decimal = Decimal(0)
    shadow_entries: int = 0
    shadow_hours: Decimal = Decimal(0)
    shadow_amount: Decimal = Decimal(0)
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        """The shadow would book what the system of record booked."""
        return (self.entries, self.hours, self.amount) == (
            self.shadow_entries,
            self.shadow_hours,
            self.shadow_amount,
        )


@dataclass
class ShadowDiff:
    """The diff of one legal entity (module docstring)."""

    entity: str
    system_of_record: str
    shadow: str
    days: list[DayDiff] = field(default_factory=list)
    missing_projects: list[str] = field(default_factory=list)
    already_in_shadow: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing differs."""
        return (
            all(d.equal for d in self.days)
            and not self.missing_projects
            and not self.already_in_shadow
        )


def _entries(conn: sa.Connection, event_id: str) -> dict[str, TimeEntry | Expense]:
    """The canonical entries an approval event carried, by id."""
    found = journal.get_by_event_id(conn, event_id)
    if found is None:
        return {}
    entry, data = found
    if entry.type == "timesheet.approved":
        return {e.id: e for e in Timesheet.model_validate(data).entries}
    if entry.type == "expense.approved":
        expense = Expense.model_validate(data)
        return {expense.id: expense}
    return {}


def shadow_diff(
    engine: sa.Engine,
    rules: Rules,
    entity: str,
    erp_for: Callable[[str, Rules], Erp],
    *,
    since: dt.date | None = None,
    limit: int = 100_000,
) -> ShadowDiff:
    """The shadow diff of ``entity`` (module docstring), of entries dated ``since`` or later.

    Raises:
        ConfigError: The entity has no migration.
    """
    booked = rules.spec.legal_entities.get(entity)
    if booked is None or booked.migration is None:
        raise ConfigError(f"legal entity {entity!r} has no migration in the rules")
    sor_name, shadow_name = booked.connection, booked.migration.shadow_connection
    shadow_rules = booked_on(rules, entity, shadow_name)
    sor, shadow = erp_for(sor_name, rules), erp_for(shadow_name, shadow_rules)
    diff = ShadowDiff(entity, booked.erp.value, booked.migration.shadow.value)
    with engine.connect() as conn:
        rows = [
            r
            for r in postings.list_(conn, status=postings.POSTED, limit=limit)
            if r.erp_connection == sor_name and (since is None or r.entry_date >= since)
        ]
        projects = {r.project_id for r in rows}
        ids = {
            (p, name): xref.get_external(
                conn, entity_type="erp_project", canonical_id=p, connection=name
            )
            for p in projects
            for name in (sor_name, shadow_name)
        }
        carried: dict[str, dict[str, TimeEntry | Expense]] = {}
        for row in rows:
            if row.event_id not in carried:
                carried[row.event_id] = _entries(conn, row.event_id)
    days: dict[tuple[str, dt.date], DayDiff] = {}
    for project_id in sorted(projects):
        sor_id = ids[(project_id, sor_name)]
        held = read_project(sor, sor_id) if sor_id else None
        if held is None or held.legal_entity != entity:
            continue
        shadow_id = ids[(project_id, shadow_name)]
        target = read_project(shadow, shadow_id) if shadow_id else None
        mine = [r for r in rows if r.project_id == project_id]
        if target is None:
            diff.missing_projects.append(project_id)
        else:
            keys = sorted({r.external_id for r in mine if r.external_id})
            diff.already_in_shadow += sorted(shadow.posted_entries(target, keys))
        for row in mine:
            day = row.posted_date or row.entry_date
            cell = days.setdefault((project_id, day), DayDiff(project_id, day))
            cell.entries += 1
            cell.hours += row.hours or Decimal(0)
            cell.amount += row.amount or Decimal(0)
            if target is None:
                continue
            entry = carried.get(row.event_id, {}).get(row.entry_id)
            refusal = _translate(
                shadow, shadow_rules, held=held, target=target, row=row, entry=entry
            )
            if refusal is not None:
                cell.refusals.append(refusal)
                continue
            cell.shadow_entries += 1
            cell.shadow_hours += row.hours or Decimal(0)
            cell.shadow_amount += row.amount or Decimal(0)
    diff.days = [days[k] for k in sorted(days)]
    return diff


def _translate(
    shadow: Erp,
    rules: Rules,
    *,
    held: ErpProject,
    target: ErpProject,
    row: postings.Posting,
    entry: TimeEntry | Expense | None,
) -> Refusal | None:
    """The shadow's refusal of one posted entry, or ``None`` when it would take it."""
    if entry is None:
        return Refusal(row.entry_id, "not_found", "the approval event is not in the journal")
    shaped = entry.model_copy(update={"date": row.posted_date or entry.date})
    try:
        placed = rules.placement(
            legal_entity=target.legal_entity,
            practice=held.practice or "",
            region=held.region or "",
        )
        posting = EntryPosting(
            key=row.external_id or row.entry_id,
            entry=shaped,
            entry_ids=(row.entry_id,),
            dimensions={"department": placed.department, "class": placed.class_},
        )
        shadow.posting_body(PostingBatch(f"shadow:{row.entry_id}", target, (posting,)), posting)
    except (PermanentError, MappingError, RuleViolation) as exc:
        reason: Any = getattr(exc, "reason", None) or "validation"
        return Refusal(row.entry_id, str(reason), str(exc))
    return None
