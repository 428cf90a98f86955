"""The shadow diff of an ERP migration: what the new ERP would book, beside the old one.

For a legal entity under migration (:mod:`accord.governance.migration`), the diff compares,
entry by entry, what the system of record booked with what the shadow ERP books (or would
book), in canonical terms, and sums both per project and day. It reports:

- per project and day, entries, hours and amounts (per currency) on each side;
- records present on one side only: entries of a project the shadow does not hold, entries
  the shadow holds that the system of record did not book, and posting keys the shadow
  already holds (booked twice at a cut-over);
- field differences: project, resource, date, hours, amount, currency, billable flag,
  expense category and dimensions, as the shadow's role reads its own body back
  (:meth:`~accord.connectors.roles.Erp.posting_terms`);
- the shadow's refusals, with its reason.

The two sides are separate inputs to :func:`compare`: the system of record's side is the
posting ledger (:func:`booked_entries`); the shadow's side is a list of per-entry results
(:class:`ShadowEntry`). :func:`translated` computes them on demand, read-only in both ERPs
(each posted entry translated by the shadow's role, :meth:`Erp.posting_body`: it reads
reference data and writes nothing, so the shadow's own posting rules, such as a closed
period, are checked only when it posts); shadow outcomes recorded as they happen are another
source of the same results. :func:`shadow_diff` puts the two together.
"""

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from accord.connectors.roles import EntryPosting, Erp, ErpProject, PostingBatch, PostingTerms
from accord.domain import Expense, Money, TimeEntry, Timesheet
from accord.errors import MappingError, PermanentError, RuleViolation
from accord.governance.migration import booked_on, migration_of, read_project
from accord.rules import Rules
from accord.store import journal, postings, xref
from accord.store import shadow as shadow_store

__all__ = [
    "BookedEntry",
    "DayDiff",
    "FieldDifference",
    "Refusal",
    "ShadowDiff",
    "ShadowEntry",
    "booked_entries",
    "compare",
    "field_differences",
    "shadow_diff",
    "translated",
]

ErpFor = Callable[[str, Rules], Erp]
"""``erp_for(connection, rules)``: the ERP role of a connection, built with ``rules``."""


@dataclass(frozen=True)
class Refusal:
    """An entry the shadow ERP refuses (or would refuse), with its reason."""

    entry_id: str
    reason: str
    message: str


@dataclass(frozen=True)
class FieldDifference:
    """One field of one entry that the shadow books differently (values as text)."""

    entry_id: str
    field: str
    system_of_record: str | None
    shadow: str | None


@dataclass(frozen=True)
class BookedEntry:
    """One entry the system of record booked, in canonical terms.

    Attributes:
        entry_id: The canonical entry.
        project_id: Its canonical project.
        key: The posting key the ERP records carry (``None``: unknown).
        terms: What was booked (``erp_project`` is the canonical project id).
    """

    entry_id: str
    project_id: str
    key: str | None
    terms: PostingTerms

    @property
    def day(self) -> dt.date:
        """The posting date."""
        return self.terms.date


@dataclass(frozen=True)
class ShadowEntry:
    """The shadow's result for one entry: booked (with its terms), or refused.

    Attributes:
        entry_id: The canonical entry.
        project_id: Its canonical project.
        terms: What the shadow books, ``erp_project`` mapped to the canonical project id
            (``None`` when refused, or when its role does not read bodies back).
        refusal: The shadow's refusal, if it refused.
    """

    entry_id: str
    project_id: str
    terms: PostingTerms | None = None
    refusal: Refusal | None = None


@dataclass
class DayDiff:
    """One project's day on both sides."""

    project_id: str
    day: dt.date
    entries: int = 0
    hours: Decimal = Decimal(0)
    amounts: dict[str, Decimal] = field(default_factory=dict)
    shadow_entries: int = 0
    shadow_hours: Decimal = Decimal(0)
    shadow_amounts: dict[str, Decimal] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)
    differences: list[FieldDifference] = field(default_factory=list)
    only_in_system_of_record: list[str] = field(default_factory=list)
    only_in_shadow: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        """The shadow books exactly what the system of record booked."""
        return (
            (self.entries, self.hours, self.amounts)
            == (self.shadow_entries, self.shadow_hours, self.shadow_amounts)
            and not self.refusals
            and not self.differences
            and not self.only_in_system_of_record
            and not self.only_in_shadow
        )


@dataclass
class ShadowDiff:
    """The diff of one legal entity (module docstring)."""

    entity: str
    system_of_record: str
    shadow: str
    system_of_record_connection: str = ""
    shadow_connection: str = ""
    days: list[DayDiff] = field(default_factory=list)
    missing_projects: list[str] = field(default_factory=list)
    already_in_shadow: list[str] = field(default_factory=list)
    recorded: dict[str, int] = field(default_factory=dict)
    """Inline shadow posting's outcomes in the range, by status (``validated``, ``booked``,
    ``refused``): what the shadow made of each posting when it happened."""
    recorded_refusals: list[Refusal] = field(default_factory=list)
    """The postings the shadow refused when they happened. Kept apart from ``empty``: a
    refusal fixed since (a mapping put right) stays in this history, while the diff above
    says what the shadow would do now."""

    @property
    def empty(self) -> bool:
        """Nothing differs."""
        return (
            all(d.equal for d in self.days)
            and not self.missing_projects
            and not self.already_in_shadow
        )


# ---------------------------------------------------------------------- comparison
def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, Money):
        return f"{value.amount} {value.currency}"
    return str(value)


def field_differences(
    entry_id: str, booked: PostingTerms, shadow: PostingTerms
) -> list[FieldDifference]:
    """The canonical fields of one entry that the shadow books differently.

    Resources compare case-insensitively (ERP keys are case-insensitive: the ERPs upper-case
    them). A resource, category or dimensions the shadow's record does not carry (``None``)
    is not compared; a dimension counts where either side carries it.
    """
    pairs: list[tuple[str, object, object]] = [
        ("project", booked.erp_project, shadow.erp_project),
        ("date", booked.date, shadow.date),
        ("hours", booked.hours, shadow.hours),
        ("amount", booked.amount and booked.amount.amount, shadow.amount and shadow.amount.amount),
        (
            "currency",
            booked.amount and booked.amount.currency,
            shadow.amount and shadow.amount.currency,
        ),
        ("billable", booked.billable, shadow.billable),
    ]
    if shadow.category is not None:
        pairs.append(("category", booked.category, shadow.category))
    out = [FieldDifference(entry_id, name, _text(a), _text(b)) for name, a, b in pairs if a != b]
    if shadow.resource_id is not None and (booked.resource_id or "").casefold() != (
        shadow.resource_id.casefold()
    ):
        out.append(FieldDifference(entry_id, "resource", booked.resource_id, shadow.resource_id))
    if shadow.dimensions is not None:
        mine, theirs = booked.dimensions or {}, shadow.dimensions
        for name in sorted(set(mine) | set(theirs)):
            a, b = mine.get(name), theirs.get(name)
            if a != b:
                out.append(FieldDifference(entry_id, f"dimensions.{name}", a, b))
    return out


def _add(amounts: dict[str, Decimal], money: Money | None) -> None:
    if money is not None:
        amounts[money.currency] = amounts.get(money.currency, Decimal(0)) + money.amount


def compare(
    diff: ShadowDiff, booked: Iterable[BookedEntry], shadow: Iterable[ShadowEntry]
) -> ShadowDiff:
    """Fill ``diff``'s days from both sides, entry by entry (module docstring).

    An entry with no shadow result is present in the system of record only; a shadow result
    with no booked entry is present in the shadow only (it sits on the day the shadow books).
    An entry the shadow books but whose terms its role does not read back counts as booked
    as the system of record booked it (counts and amounts match; no field is compared).
    """
    results = {s.entry_id: s for s in shadow}
    days: dict[tuple[str, dt.date], DayDiff] = {(d.project_id, d.day): d for d in diff.days}

    def cell(project_id: str, day: dt.date) -> DayDiff:
        return days.setdefault((project_id, day), DayDiff(project_id, day))

    seen: set[str] = set()
    for entry in booked:
        seen.add(entry.entry_id)
        day = cell(entry.project_id, entry.day)
        day.entries += 1
        day.hours += entry.terms.hours or Decimal(0)
        _add(day.amounts, entry.terms.amount)
        result = results.get(entry.entry_id)
        if result is None:
            day.only_in_system_of_record.append(entry.entry_id)
        elif result.refusal is not None:
            day.refusals.append(result.refusal)
        else:
            terms = result.terms or entry.terms
            day.shadow_entries += 1
            day.shadow_hours += terms.hours or Decimal(0)
            _add(day.shadow_amounts, terms.amount)
            day.differences += field_differences(entry.entry_id, entry.terms, terms)
    for result in results.values():
        if result.entry_id in seen or result.terms is None:
            continue
        day = cell(result.project_id, result.terms.date)
        day.shadow_entries += 1
        day.shadow_hours += result.terms.hours or Decimal(0)
        _add(day.shadow_amounts, result.terms.amount)
        day.only_in_shadow.append(result.entry_id)
    diff.days = [days[k] for k in sorted(days)]
    return diff


# ---------------------------------------------------------------------- the two sides
@dataclass
class _Ledger:
    """What the system of record's side needs: posted rows, the entries they carried, ids."""

    rows: list[postings.Posting]
    entries: dict[str, TimeEntry | Expense]
    erp_ids: dict[tuple[str, str], str | None]


def _read_ledger(
    engine: sa.Engine,
    connections: tuple[str, str],
    *,
    since: dt.date | None,
    until: dt.date | None,
    project_id: str | None,
) -> _Ledger:
    with engine.connect() as conn:
        rows = postings.posted_to(
            conn, connections[0], since=since, until=until, project_id=project_id
        )
        entries: dict[str, TimeEntry | Expense] = {}
        for event_id in dict.fromkeys(r.event_id for r in rows):
            entries.update(_entries(conn, event_id))
        erp_ids = {
            (p, name): xref.get_external(
                conn, entity_type="erp_project", canonical_id=p, connection=name
            )
            for p in {r.project_id for r in rows}
            for name in connections
        }
    return _Ledger(rows, entries, erp_ids)


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


def _dimensions(rules: Rules, project: ErpProject, entity: str) -> dict[str, str]:
    """The dimensions the rules give the project's postings (as the posting plan does)."""
    try:
        placed = rules.placement(
            legal_entity=entity, practice=project.practice or "", region=project.region or ""
        )
    except RuleViolation:
        return {}  # a project the rules cannot place: its postings carried no dimensions
    dims = {"department": placed.department, "class": placed.class_}
    return {k: v for k, v in dims.items() if v}


def booked_entries(
    rows: Sequence[postings.Posting],
    entries: Mapping[str, TimeEntry | Expense],
    dimensions: Mapping[str, Mapping[str, str]],
) -> list[BookedEntry]:
    """The system of record's side: posted ledger rows in canonical terms.

    ``entries`` are the canonical entries by id (resource, billable flag, category);
    ``dimensions`` the dimensions each project's postings carry, by canonical project.
    """
    out: list[BookedEntry] = []
    for row in rows:
        entry = entries.get(row.entry_id)
        amount = (
            Money.of(row.amount, row.currency) if row.amount is not None and row.currency else None
        )
        out.append(
            BookedEntry(
                entry_id=row.entry_id,
                project_id=row.project_id,
                key=row.external_id,
                terms=PostingTerms(
                    kind="time" if row.kind == "time" or row.hours is not None else "expense",
                    erp_project=row.project_id,
                    date=row.posted_date or row.entry_date,
                    resource_id=entry.resource_id if entry else None,
                    hours=row.hours,
                    amount=amount,
                    billable=entry.billable if entry else amount is not None,
                    category=entry.category.value if isinstance(entry, Expense) else None,
                    dimensions=dict(dimensions.get(row.project_id, {})),
                ),
            )
        )
    return out


def translated(
    shadow: Erp,
    booked: Iterable[BookedEntry],
    entries: Mapping[str, TimeEntry | Expense],
    targets: Mapping[str, ErpProject],
) -> list[ShadowEntry]:
    """The shadow's side computed on demand: each booked entry translated by its role.

    ``targets`` are the shadow's projects by canonical id; entries of other projects get no
    result (present in the system of record only). Nothing is written.
    """
    out: list[ShadowEntry] = []
    for item in booked:
        target = targets.get(item.project_id)
        if target is None:
            continue
        entry = entries.get(item.entry_id)
        if entry is None:
            refusal = Refusal(
                item.entry_id, "not_found", "the approval event is not in the journal"
            )
            out.append(ShadowEntry(item.entry_id, item.project_id, refusal=refusal))
            continue
        try:
            terms = _shadow_terms(shadow, target, item, entry)
        except (PermanentError, MappingError, RuleViolation) as exc:
            reason: Any = getattr(exc, "reason", None) or "validation"
            refusal = Refusal(item.entry_id, str(reason), str(exc))
            out.append(ShadowEntry(item.entry_id, item.project_id, refusal=refusal))
            continue
        if terms is not None and terms.erp_project == target.erp_id:
            terms = replace(terms, erp_project=item.project_id)
        out.append(ShadowEntry(item.entry_id, item.project_id, terms=terms))
    return out


def _shadow_terms(
    shadow: Erp, target: ErpProject, item: BookedEntry, entry: TimeEntry | Expense
) -> PostingTerms | None:
    """What the shadow's role would book of one entry, read back (or ``None``).

    The posting is the one the system of record received (its date, key and dimensions):
    only the ERP's translation differs.
    """
    posting = EntryPosting(
        key=item.key or item.entry_id,
        entry=entry.model_copy(update={"date": item.terms.date}),
        entry_ids=(item.entry_id,),
        dimensions=dict(item.terms.dimensions or {}),
    )
    batch = PostingBatch(f"shadow:{item.entry_id}", target, (posting,))
    shadow.posting_body(batch, posting)  # the refusal, when the body cannot be built
    return shadow.posting_terms(batch, posting)


# ---------------------------------------------------------------------- the diff
def shadow_diff(
    engine: sa.Engine,
    rules: Rules,
    entity: str,
    erp_for: ErpFor,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    project_id: str | None = None,
    recorded: Iterable[ShadowEntry] | None = None,
) -> ShadowDiff:
    """The shadow diff of ``entity`` on days ``since``..``until`` (module docstring).

    ``recorded``: the shadow's results as recorded when it posted; without them each posted
    entry is translated on demand (:func:`translated`).

    Raises:
        UnknownEntityError: The rules name no such legal entity.
        NotMigratingError: The entity has no migration.
    """
    booked = migration_of(rules, entity)
    assert booked.migration is not None
    sor_name, shadow_name = booked.connection, booked.migration.shadow_connection
    shadow_rules = booked_on(rules, entity, shadow_name)
    sor, shadow = erp_for(sor_name, rules), erp_for(shadow_name, shadow_rules)
    diff = ShadowDiff(
        entity,
        booked.erp.value,
        booked.migration.shadow.value,
        system_of_record_connection=sor_name,
        shadow_connection=shadow_name,
    )
    ledger = _read_ledger(
        engine, (sor_name, shadow_name), since=since, until=until, project_id=project_id
    )
    held: dict[str, ErpProject] = {}
    targets: dict[str, ErpProject] = {}
    for project in sorted({r.project_id for r in ledger.rows}):
        sor_id = ledger.erp_ids[(project, sor_name)]
        mine = read_project(sor, sor_id) if sor_id else None
        if mine is None or mine.legal_entity != entity:
            continue  # a project of another legal entity on the same connection
        held[project] = mine
        shadow_id = ledger.erp_ids[(project, shadow_name)]
        target = read_project(shadow, shadow_id) if shadow_id else None
        if target is None:
            diff.missing_projects.append(project)
            continue
        targets[project] = target
        keys = sorted(
            {r.external_id for r in ledger.rows if r.project_id == project and r.external_id}
        )
        diff.already_in_shadow += sorted(shadow.posted_entries(target, keys))
    rows = [r for r in ledger.rows if r.project_id in held]
    dimensions = {p: _dimensions(rules, project, entity) for p, project in held.items()}
    sor_side = booked_entries(rows, ledger.entries, dimensions)
    shadow_side = (
        list(recorded)
        if recorded is not None
        else translated(shadow, sor_side, ledger.entries, targets)
    )
    _add_recorded(engine, diff, entity, since=since, until=until, project_id=project_id)
    return compare(diff, sor_side, shadow_side)


def _add_recorded(
    engine: sa.Engine,
    diff: ShadowDiff,
    entity: str,
    *,
    since: dt.date | None,
    until: dt.date | None,
    project_id: str | None,
) -> None:
    """Inline shadow posting's recorded outcomes (:mod:`accord.store.shadow`) of the range."""
    with engine.connect() as conn:
        found = shadow_store.outcomes(conn, entity, since, until)
    counts: dict[str, int] = {}
    for outcome in found:
        if project_id is not None and outcome.project_id != project_id:
            continue
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
        if outcome.status == shadow_store.REFUSED:
            diff.recorded_refusals.append(
                Refusal(outcome.entry_id, outcome.reason or "", outcome.message or "")
            )
    diff.recorded = dict(sorted(counts.items()))
