"""An ERP migration per legal entity: cut-over, rollback and the tie-out across both ERPs.

A legal entity under migration names the other ERP in the rules
(``legal_entities.DE01.migration: {shadow: dynamics_finance, shadow_connection:
dynamics-finance}``). Routing stays a rules matter, so the migration moves through the rules
of change (:mod:`accord.governance.changes`):

- **Cut-over** is a rules version in which the entity's ``erp``/``connection`` and the
  migration's ``shadow``/``shadow_connection`` swap places and ``cutover_at`` is set; it is
  proposed and, where no second approval is required, activated at once. Every run is pinned
  to the version it started with (:mod:`accord.governance.resolve`), so runs in flight finish
  on the ERP they started with and new runs use the new one: no posting is lost or sent to
  both. The old ERP becomes the shadow.
- **Rollback** is the reverse swap (``cutover_at`` cleared), proposed and activated the same way.
- Both are audited as ``rules.propose`` / ``rules.activate`` and ``migration.cutover`` /
  ``migration.rollback`` (who, why, from which ERP to which).
- **A scheduled cut-over** (:func:`schedule_cutover`) is a rules version that sets the
  migration's ``cutover_scheduled_at``; once that time has come, the scheduler
  (:func:`perform_due_cutovers`, run each minute by :mod:`accord.flows.migration`) makes the
  same governed cut-over, as ``scheduler``, which clears it: once, whatever re-runs it.
- **Open items** (:func:`open_items`): after a cut-over, the entity's active projects the old
  ERP holds and the new one does not yet, with their unbilled (not posted) ledger entries;
  ``accord migration carry-over`` re-runs their provisioning with the active rules, which
  creates them in the new ERP (every write is idempotent).
- **Tie-out** (:func:`tie_out`): for each project of the entity with postings in either ERP,
  what the posting ledger says went where, checked against what each ERP holds
  (:meth:`~accord.connectors.roles.Erp.posted_entries`): an entry held by both ERPs is
  doubled, one posted but held by neither is missing; amounts per ERP to the cent.

What does not belong here: routing a run (the flows read the rules), posting (the dispatcher).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

import sqlalchemy as sa

from accord.connectors.roles import Erp, ErpProject
from accord.errors import ConfigError, NotFoundError
from accord.governance.changes import RulesChanges
from accord.governance.settings import GovernanceSettings
from accord.rules import LegalEntitySpec, Rules, parse_rules
from accord.store import audit, postings, xref
from accord.store.rulesets import Proposal
from accord.store.util import utc_now

__all__ = [
    "MigrationStep",
    "NotMigratingError",
    "OpenProject",
    "ProjectTieOut",
    "UnknownEntityError",
    "booked_on",
    "due_cutovers",
    "migrate_entity",
    "migration_of",
    "open_items",
    "perform_due_cutovers",
    "read_project",
    "schedule_cutover",
    "switched_rules",
    "tie_out",
]

Direction = Literal["cutover", "rollback"]


class UnknownEntityError(ConfigError):
    """The rules name no such legal entity."""


class NotMigratingError(ConfigError):
    """The legal entity has no migration in the rules."""


def migration_of(rules: Rules, entity: str) -> LegalEntitySpec:
    """The entity's rules, which name a migration.

    Raises:
        UnknownEntityError: The rules name no such legal entity.
        NotMigratingError: The entity has no migration.
    """
    booked = rules.spec.legal_entities.get(entity)
    if booked is None:
        raise UnknownEntityError(f"unknown legal entity {entity!r}")
    if booked.migration is None:
        raise NotMigratingError(f"legal entity {entity} has no migration in the rules")
    return booked


@dataclass(frozen=True)
class MigrationStep:
    """What a cut-over or rollback did.

    Attributes:
        entity: The legal entity.
        direction: ``cutover`` or ``rollback``.
        from_erp: ``(erp, connection)`` new runs used before.
        to_erp: ``(erp, connection)`` new runs use once the version is active.
        proposal: The rules proposal carrying the change.
        active: Whether the version is active now (``False``: it awaits a second admin).
    """

    entity: str
    direction: Direction
    from_erp: tuple[str, str]
    to_erp: tuple[str, str]
    proposal: Proposal
    active: bool


def switched_rules(rules: Rules, entity: str, direction: Direction, *, now: datetime) -> Rules:
    """The rules with ``entity`` cut over to its shadow ERP (or rolled back to it).

    Raises:
        ConfigError: The entity is unknown, has no migration, or is already in that state.
    """
    migration = migration_of(rules, entity).migration
    assert migration is not None
    if direction == "cutover" and migration.cutover_at is not None:
        raise ConfigError(f"legal entity {entity} is already cut over (at {migration.cutover_at})")
    if direction == "rollback" and migration.cutover_at is None:
        raise ConfigError(f"legal entity {entity} was not cut over: nothing to roll back")
    return _swapped(rules, entity, cutover_at=now if direction == "cutover" else None)


def _with_schedule(rules: Rules, entity: str, at: datetime | None) -> Rules:
    """``rules`` with the entity's migration's ``cutover_scheduled_at`` set to ``at``."""
    document = rules.spec.model_dump(mode="json", exclude_none=True)
    migration = document["legal_entities"][entity]["migration"]
    migration.pop("cutover_scheduled_at", None)
    if at is not None:
        migration["cutover_scheduled_at"] = at.isoformat()
    return parse_rules(document)


def _swapped(rules: Rules, entity: str, *, cutover_at: datetime | None) -> Rules:
    """``rules`` with the entity's ERP and its migration's shadow swapped."""
    current = rules.spec.legal_entities[entity]
    assert current.migration is not None
    document = rules.spec.model_dump(mode="json", exclude_none=True)
    document["legal_entities"][entity].update(
        erp=current.migration.shadow.value,
        connection=current.migration.shadow_connection,
        migration={
            "shadow": current.erp.value,
            "shadow_connection": current.connection,
            **({"cutover_at": cutover_at.isoformat()} if cutover_at else {}),
        },
    )
    return parse_rules(document)


def booked_on(rules: Rules, entity: str, connection: str) -> Rules:
    """The rules as a role of ``connection`` must see them: the entity booked there.

    A role finds an entity's records only in the books the rules place on its connection.
    """
    booked = rules.spec.legal_entities[entity]
    if booked.connection == connection:
        return rules
    return _swapped(rules, entity, cutover_at=None)


def migrate_entity(
    engine: sa.Engine,
    governance: GovernanceSettings,
    rules: Rules,
    entity: str,
    direction: Direction,
    *,
    actor: str,
    reason: str,
    now: datetime | None = None,
) -> MigrationStep:
    """Propose (and, without required approval, activate) the cut-over or rollback version."""
    moment = now or utc_now()
    after = switched_rules(rules, entity, direction, now=moment)
    before_entity = rules.spec.legal_entities[entity]
    after_entity = after.spec.legal_entities[entity]
    proposal, active = _adopt(engine, governance, after, actor=actor, reason=reason)
    step = MigrationStep(
        entity=entity,
        direction=direction,
        from_erp=(before_entity.erp.value, before_entity.connection),
        to_erp=(after_entity.erp.value, after_entity.connection),
        proposal=proposal,
        active=active,
    )
    with engine.begin() as conn:
        audit.append(
            conn,
            actor=actor,
            action=f"migration.{direction}",
            target=f"legal_entity:{entity}",
            before={"erp": step.from_erp[0], "connection": step.from_erp[1]},
            after={
                "erp": step.to_erp[0],
                "connection": step.to_erp[1],
                "proposal": proposal.id,
                "version": proposal.version,
                "active": active,
                "reason": reason,
            },
            now=moment,
        )
    return step


def _adopt(
    engine: sa.Engine, governance: GovernanceSettings, after: Rules, *, actor: str, reason: str
) -> tuple[Proposal, bool]:
    """Propose ``after`` and, where no second approval is required, activate it."""
    changes = RulesChanges(engine, governance)
    proposal = changes.propose(after, source=None, reason=reason, actor=actor)
    active = not governance.approval_required
    if active:
        proposal = changes.activate(proposal.id, actor=actor)
    return proposal, active


def schedule_cutover(
    engine: sa.Engine,
    governance: GovernanceSettings,
    rules: Rules,
    entity: str,
    at: datetime,
    *,
    actor: str,
    reason: str,
) -> tuple[Proposal, bool]:
    """Propose (and, without required approval, activate) the version scheduling a cut-over.

    Returns:
        The proposal and whether it is active.

    Raises:
        ConfigError: The entity is unknown, has no migration, is already cut over, or ``at``
            has no time zone.
    """
    if at.tzinfo is None:
        raise ConfigError("the cut-over time needs a time zone (2027-01-01T00:00:00Z)")
    switched_rules(rules, entity, "cutover", now=at)  # the same refusals as a cut-over now
    after = _with_schedule(rules, entity, at)
    proposal, active = _adopt(engine, governance, after, actor=actor, reason=reason)
    with engine.begin() as conn:
        audit.append(
            conn,
            actor=actor,
            action="migration.schedule",
            target=f"legal_entity:{entity}",
            before=None,
            after={
                "cutover_scheduled_at": at.isoformat(),
                "proposal": proposal.id,
                "version": proposal.version,
                "active": active,
                "reason": reason,
            },
        )
    return proposal, active


def due_cutovers(rules: Rules, now: datetime) -> list[tuple[str, datetime]]:
    """Entities whose scheduled cut-over time has come: ``(entity, scheduled time)``."""
    return sorted(
        (code, spec.migration.cutover_scheduled_at)
        for code, spec in rules.spec.legal_entities.items()
        if spec.migration is not None
        and spec.migration.cutover_scheduled_at is not None
        and spec.migration.cutover_scheduled_at <= now
        and spec.migration.cutover_at is None
    )


def perform_due_cutovers(
    engine: sa.Engine,
    governance: GovernanceSettings,
    current: Callable[[], Rules],
    *,
    now: datetime,
    actor: str = "scheduler",
) -> list[MigrationStep]:
    """Make each cut-over whose time has come (module docstring); the steps made.

    ``current()`` reads the active rules afresh for each entity, so a cut-over another
    worker made a moment ago is not made twice.
    """
    done: list[MigrationStep] = []
    for entity, at in due_cutovers(current(), now):
        rules = current()
        if (entity, at) not in due_cutovers(rules, now):
            continue
        done.append(
            migrate_entity(
                engine,
                governance,
                rules,
                entity,
                "cutover",
                actor=actor,
                reason=f"cut-over scheduled for {at.isoformat()}",
                now=now,
            )
        )
    return done


@dataclass
class ProjectTieOut:
    """One project's postings across the two ERPs of a migration (see :func:`tie_out`).

    Attributes:
        project_id: The canonical project.
        entries: Posted ledger entries (by posting key) per connection the ledger names.
        amounts: Posted amount per connection and currency, from the ledger.
        held: Posting keys each connection's ERP holds.
        doubled: Keys both ERPs hold.
        missing: Keys the ledger calls posted that no ERP holds.
        absent: Connections where the project does not exist.
    """

    project_id: str
    entries: dict[str, int] = field(default_factory=dict)
    amounts: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    held: dict[str, set[str]] = field(default_factory=dict)
    doubled: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    absent: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Every posted entry is held by exactly one ERP."""
        return not self.doubled and not self.missing


def tie_out(
    engine: sa.Engine,
    rules: Rules,
    entity: str,
    erp_for: Callable[[str, Rules], Erp],
    *,
    limit: int = 100_000,
) -> list[ProjectTieOut]:
    """Each project of ``entity`` with postings: ledger against both ERPs (module docstring).

    ``erp_for(connection, rules)`` is the ERP role of a connection built with ``rules``.

    Raises:
        ConfigError: The entity is unknown or has no migration.
    """
    booked = migration_of(rules, entity)
    assert booked.migration is not None
    connections = (booked.connection, booked.migration.shadow_connection)
    with engine.connect() as conn:
        rows = [
            r
            for r in postings.list_(conn, status=postings.POSTED, limit=limit)
            if r.erp_connection in connections and r.external_id
        ]
        by_project: dict[str, list[postings.Posting]] = {}
        for row in rows:
            by_project.setdefault(row.project_id, []).append(row)
        erp_ids = {
            (project, name): xref.get_external(
                conn, entity_type="erp_project", canonical_id=project, connection=name
            )
            for project in by_project
            for name in connections
        }
    roles: Mapping[str, Erp] = {
        name: erp_for(name, booked_on(rules, entity, name)) for name in connections
    }
    out: list[ProjectTieOut] = []
    for project_id, project_rows in sorted(by_project.items()):
        result = _tie_out_project(project_id, project_rows, entity, roles, erp_ids)
        if result is not None:
            out.append(result)
    return out


def _tie_out_project(
    project_id: str,
    rows: list[postings.Posting],
    entity: str,
    roles: Mapping[str, Erp],
    erp_ids: Mapping[tuple[str, str], str | None],
) -> ProjectTieOut | None:
    result = ProjectTieOut(project_id=project_id)
    keys = sorted({r.external_id for r in rows if r.external_id})
    in_entity = False
    for name, role in roles.items():
        erp_id = erp_ids.get((project_id, name))
        held = None if erp_id is None else read_project(role, erp_id)
        if held is None:
            result.absent.append(name)
            result.held[name] = set()
            continue
        in_entity = in_entity or held.legal_entity == entity
        result.held[name] = set(role.posted_entries(held, keys))
    if not in_entity:
        return None  # a project of another legal entity on the same connection
    for row in rows:
        name = row.erp_connection or ""
        result.entries[name] = result.entries.get(name, 0) + 1
        if row.amount is not None and row.currency:
            per = result.amounts.setdefault(name, {})
            per[row.currency] = per.get(row.currency, Decimal(0)) + row.amount
    holders = list(result.held.values())
    result.doubled = set.intersection(*holders) if len(holders) > 1 else set()
    result.missing = {k for k in keys if not any(k in h for h in holders)}
    return result


def read_project(role: Erp, erp_id: str) -> ErpProject | None:
    """The project ``erp_id`` in an ERP, ``None`` when it holds none."""
    try:
        return role.project(erp_id)
    except NotFoundError:
        return None


@dataclass(frozen=True)
class OpenProject:
    """An active project of a cut-over entity that its new ERP does not hold yet.

    Attributes:
        project_id: The canonical project.
        old_erp_id: Its id in the ERP the entity left.
        unbilled: Its ledger entries not posted (queued, held or rejected).
    """

    project_id: str
    old_erp_id: str
    unbilled: int


def open_items(
    engine: sa.Engine, rules: Rules, entity: str, erp_for: Callable[[str, Rules], Erp]
) -> list[OpenProject]:
    """The cut-over entity's projects to carry over to its new ERP (module docstring).

    Raises:
        ConfigError: The entity has no migration or is not cut over.
    """
    booked = rules.spec.legal_entities.get(entity)
    if booked is None or booked.migration is None or booked.migration.cutover_at is None:
        raise ConfigError(f"legal entity {entity!r} is not cut over: nothing to carry over")
    old, new = booked.migration.shadow_connection, booked.connection
    with engine.connect() as conn:
        on_old = xref.list_in_connection(conn, entity_type="erp_project", connection=old)
        on_new = {
            c for c, _ in xref.list_in_connection(conn, entity_type="erp_project", connection=new)
        }
        unbilled: dict[str, int] = {}
        for status in (postings.QUEUED, postings.HELD, postings.REJECTED):
            for row in postings.list_(conn, status=status, limit=100_000):
                unbilled[row.project_id] = unbilled.get(row.project_id, 0) + 1
    role = erp_for(old, booked_on(rules, entity, old))
    out: list[OpenProject] = []
    for project_id, erp_id in on_old:
        if project_id in on_new:
            continue
        held = read_project(role, erp_id)
        if held is None or held.legal_entity != entity or not held.active:
            continue
        out.append(OpenProject(project_id, erp_id, unbilled.get(project_id, 0)))
    return out
