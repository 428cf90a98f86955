"""Stored rules versions, change proposals, the activation log and each run's pinned version.

A version is content-addressed: its key is the SHA-256 of its canonical JSON (the same hash
:func:`accord.rules.canonical_json` versions a rules file by), so storing one twice is a no-op.
The active version is the last row of the activation log; nothing is ever updated in that log
or in the versions table, so the history of what ran when cannot be rewritten.

This module stores and reads rows; the rules of change (who may approve, what may be
activated) and their audit entries live in :mod:`accord.governance.changes`.
"""

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from accord.store.tables import rules_activations, rules_proposals, rules_versions, run_rules
from accord.store.util import as_utc, utc_now, write_lock

__all__ = [
    "Activation",
    "ActivationKind",
    "Pin",
    "Proposal",
    "ProposalStatus",
    "StoredVersion",
    "activations",
    "active",
    "create_proposal",
    "find_versions",
    "get_pin",
    "get_proposal",
    "get_version",
    "latest_pin",
    "list_proposals",
    "list_versions",
    "lock",
    "pin",
    "put_version",
    "record_activation",
    "update_proposal",
]

_LOCK_ID = 0x52554C4553  # "RULES"


class ProposalStatus(enum.StrEnum):
    """Where a proposal is in its life."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    ACTIVE = "active"
    SUPERSEDED = "superseded"
    """Was active; another version has been activated since."""
    WITHDRAWN = "withdrawn"


class ActivationKind(enum.StrEnum):
    """How a version became the active one."""

    BOOTSTRAP = "bootstrap"
    """The rules file seeded an empty database."""
    FILE = "file"
    """The rules file changed and approval is not required: adopted as it is."""
    ACTIVATE = "activate"
    """A proposal was activated."""
    ROLLBACK = "rollback"
    """The version active before the current one was activated again."""


@dataclass(frozen=True)
class StoredVersion:
    """One stored rules document and where it came from."""

    version: str
    document: str
    source: str | None
    created_by: str
    created_at: datetime
    reason: str | None


@dataclass(frozen=True)
class Proposal:
    """A proposed change of the active rules version."""

    id: int
    version: str
    base_version: str | None
    status: ProposalStatus
    source: str | None
    reason: str
    proposed_by: str
    proposed_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    activated_by: str | None
    activated_at: datetime | None

    def snapshot(self) -> dict[str, Any]:
        """The fields an audit entry records."""
        return {
            "id": self.id,
            "version": self.version,
            "base_version": self.base_version,
            "status": self.status.value,
            "proposed_by": self.proposed_by,
            "approved_by": self.approved_by,
            "activated_by": self.activated_by,
        }


@dataclass(frozen=True)
class Activation:
    """One row of the activation log."""

    seq: int
    version: str
    previous_version: str | None
    proposal_id: int | None
    kind: ActivationKind
    source: str | None
    actor: str
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class Pin:
    """The rules version a run uses to its end, and why that one."""

    run_id: str
    version: str
    choice: str
    """``start`` (active when the run first read rules), ``pinned`` (a re-run kept its
    original's version) or ``current`` (a re-run's operator chose the active version)."""
    source_run_id: str | None
    pinned_at: datetime


def _starting(prefix: str) -> str:
    """A LIKE pattern (escaped with a backslash) matching text that starts with ``prefix``."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def lock(conn: sa.Connection) -> None:
    """Serialise changes of the active version (call first in the transaction)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
    elif not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        write_lock(conn)


def _version(r: sa.Row[Any]) -> StoredVersion:
    return StoredVersion(
        version=r.version,
        document=r.document,
        source=r.source,
        created_by=r.created_by,
        created_at=as_utc(r.created_at) or utc_now(),
        reason=r.reason,
    )


def put_version(
    conn: sa.Connection, *, version: str, document: str, source: str | None, actor: str, reason: str
) -> bool:
    """Store a version unless it is stored already; True when this call stored it."""
    if get_version(conn, version=version) is not None:
        return False
    conn.execute(
        sa.insert(rules_versions).values(
            version=version,
            document=document,
            source=source,
            created_by=actor,
            created_at=utc_now(),
            reason=reason,
        )
    )
    return True


def get_version(conn: sa.Connection, *, version: str) -> StoredVersion | None:
    """One stored version by its full hash."""
    row = conn.execute(sa.select(rules_versions).where(rules_versions.c.version == version)).first()
    return _version(row) if row else None


def find_versions(conn: sa.Connection, *, prefix: str, limit: int = 5) -> list[str]:
    """Full hashes starting with ``prefix`` (an abbreviation, as git takes them)."""
    rows = conn.execute(
        sa.select(rules_versions.c.version)
        .where(rules_versions.c.version.like(_starting(prefix.lower()), escape="\\"))
        .order_by(rules_versions.c.version)
        .limit(limit)
    )
    return [str(r.version) for r in rows]


def list_versions(conn: sa.Connection, *, limit: int = 100) -> list[StoredVersion]:
    """Stored versions, newest first (without their documents' meaning: see the resolver)."""
    rows = conn.execute(
        sa.select(rules_versions).order_by(rules_versions.c.created_at.desc()).limit(limit)
    )
    return [_version(r) for r in rows]


def _proposal(r: sa.Row[Any]) -> Proposal:
    return Proposal(
        id=r.id,
        version=r.version,
        base_version=r.base_version,
        status=ProposalStatus(r.status),
        source=r.source,
        reason=r.reason,
        proposed_by=r.proposed_by,
        proposed_at=as_utc(r.proposed_at) or utc_now(),
        approved_by=r.approved_by,
        approved_at=as_utc(r.approved_at),
        activated_by=r.activated_by,
        activated_at=as_utc(r.activated_at),
    )


def create_proposal(
    conn: sa.Connection,
    *,
    version: str,
    base_version: str | None,
    source: str | None,
    reason: str,
    actor: str,
) -> Proposal:
    """A new proposal in status ``proposed``."""
    result = conn.execute(
        sa.insert(rules_proposals).values(
            version=version,
            base_version=base_version,
            status=ProposalStatus.PROPOSED.value,
            source=source,
            reason=reason,
            proposed_by=actor,
            proposed_at=utc_now(),
        )
    )
    pk = result.inserted_primary_key
    found = get_proposal(conn, id=int(pk[0]) if pk else 0)
    assert found is not None
    return found


def get_proposal(conn: sa.Connection, *, id: int) -> Proposal | None:  # noqa: A002 - the key
    """One proposal by id."""
    row = conn.execute(sa.select(rules_proposals).where(rules_proposals.c.id == id)).first()
    return _proposal(row) if row else None


def list_proposals(
    conn: sa.Connection, *, status: ProposalStatus | None = None, limit: int = 100
) -> list[Proposal]:
    """Proposals, newest first, optionally of one status."""
    q = sa.select(rules_proposals).order_by(rules_proposals.c.id.desc()).limit(limit)
    if status is not None:
        q = q.where(rules_proposals.c.status == status.value)
    return [_proposal(r) for r in conn.execute(q)]


def update_proposal(
    conn: sa.Connection,
    *,
    id: int,  # noqa: A002 - the key
    **values: Any,  # noqa: ANN401 - column values
) -> Proposal:
    """Set columns of one proposal and return it as stored."""
    conn.execute(sa.update(rules_proposals).where(rules_proposals.c.id == id).values(**values))
    found = get_proposal(conn, id=id)
    assert found is not None
    return found


def _activation(r: sa.Row[Any]) -> Activation:
    return Activation(
        seq=r.seq,
        version=r.version,
        previous_version=r.previous_version,
        proposal_id=r.proposal_id,
        kind=ActivationKind(r.kind),
        source=r.source,
        actor=r.actor,
        reason=r.reason,
        at=as_utc(r.at) or utc_now(),
    )


def active(conn: sa.Connection) -> Activation | None:
    """The latest activation (its version is the active one), or None before the first."""
    row = conn.execute(
        sa.select(rules_activations).order_by(rules_activations.c.seq.desc()).limit(1)
    ).first()
    return _activation(row) if row else None


def activations(
    conn: sa.Connection, *, limit: int = 100, kind: ActivationKind | None = None
) -> list[Activation]:
    """The activation log, newest first."""
    q = sa.select(rules_activations).order_by(rules_activations.c.seq.desc()).limit(limit)
    if kind is not None:
        q = q.where(rules_activations.c.kind == kind.value)
    return [_activation(r) for r in conn.execute(q)]


def record_activation(
    conn: sa.Connection,
    *,
    version: str,
    kind: ActivationKind,
    actor: str,
    reason: str | None,
    source: str | None = None,
    proposal_id: int | None = None,
) -> Activation:
    """Append to the activation log (the caller holds :func:`lock`)."""
    current = active(conn)
    conn.execute(
        sa.insert(rules_activations).values(
            version=version,
            previous_version=current.version if current else None,
            proposal_id=proposal_id,
            kind=kind.value,
            source=source,
            actor=actor,
            reason=reason,
            at=utc_now(),
        )
    )
    found = active(conn)
    assert found is not None
    return found


def _pin(r: sa.Row[Any]) -> Pin:
    return Pin(
        run_id=r.run_id,
        version=r.version,
        choice=r.choice,
        source_run_id=r.source_run_id,
        pinned_at=as_utc(r.pinned_at) or utc_now(),
    )


def get_pin(conn: sa.Connection, *, run_id: str) -> Pin | None:
    """The version a run is pinned to, if it has read rules (or was started pinned)."""
    row = conn.execute(sa.select(run_rules).where(run_rules.c.run_id == run_id)).first()
    return _pin(row) if row else None


def latest_pin(conn: sa.Connection, *, run_id: str) -> Pin | None:
    """The newest pin among a run and its re-runs (``<run id>.r<n>``): what ran last."""
    row = conn.execute(
        sa.select(run_rules)
        .where(
            sa.or_(
                run_rules.c.run_id == run_id,
                run_rules.c.run_id.like(_starting(f"{run_id}.r"), escape="\\"),
            )
        )
        .order_by(run_rules.c.pinned_at.desc(), run_rules.c.run_id.desc())
        .limit(1)
    ).first()
    return _pin(row) if row else None


def pin(
    conn: sa.Connection,
    *,
    run_id: str,
    version: str,
    choice: str,
    source_run_id: str | None = None,
) -> Pin:
    """Pin a run to a version unless it is pinned already; returns the pin that holds.

    Two steps of one run (or a step retried after a crash) may race to pin it first: the
    primary key lets exactly one insert win, and both read back the same pin.
    """
    values = {
        "run_id": run_id,
        "version": version,
        "choice": choice,
        "source_run_id": source_run_id,
        "pinned_at": utc_now(),
    }
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(insert(run_rules).values(**values).on_conflict_do_nothing())
    held = get_pin(conn, run_id=run_id)
    assert held is not None
    return held
