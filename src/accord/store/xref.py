"""Cross-references: a canonical id <-> each connection's external id, per entity type.

One canonical object (``Customer`` ``cust-1``) has at most one external id per connection,
and one external id in a connection belongs to at most one canonical object. :func:`link`
is idempotent and refuses, with :class:`XrefConflictError`, any link that would break either
rule: re-pointing an id is a decision for a person, not a side effect of a retry.

What does not belong here: lineage edges between objects (:mod:`accord.store.lineage`).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from accord.errors import AccordError
from accord.store.tables import xref
from accord.store.util import as_utc, key_lock, utc_now

__all__ = [
    "XrefConflictError",
    "XrefRow",
    "canonical_ids_page",
    "find_by_any_id",
    "first_external",
    "get_canonical",
    "get_external",
    "link",
    "list_all",
    "list_for",
    "list_for_ids",
    "list_in_connection",
    "lookup_external",
]


class XrefConflictError(AccordError):
    """A link contradicts an existing one (same external id, other canonical id, or v.v.)."""

    default_message = "conflicting cross-reference"

    def __init__(
        self,
        *,
        entity_type: str,
        connection: str,
        canonical_id: str,
        external_id: str,
        existing_canonical_id: str,
        existing_external_id: str,
    ) -> None:
        self.entity_type = entity_type
        self.connection = connection
        self.canonical_id = canonical_id
        self.external_id = external_id
        self.existing_canonical_id = existing_canonical_id
        self.existing_external_id = existing_external_id
        super().__init__(
            f"cannot link {entity_type} {canonical_id!r} to {external_id!r} on connection "
            f"{connection!r}: {existing_external_id!r} is already linked to "
            f"{existing_canonical_id!r}"
        )


@dataclass(frozen=True)
class XrefRow:
    """One stored cross-reference."""

    entity_type: str
    canonical_id: str
    system: str
    connection: str
    external_id: str
    created_at: datetime
    updated_at: datetime


def _row(r: sa.Row[*tuple[Any, ...]]) -> XrefRow:
    return XrefRow(
        entity_type=r.entity_type,
        canonical_id=r.canonical_id,
        system=r.system,
        connection=r.connection,
        external_id=r.external_id,
        created_at=as_utc(r.created_at) or utc_now(),
        updated_at=as_utc(r.updated_at) or utc_now(),
    )


def link(
    conn: sa.Connection,
    *,
    entity_type: str,
    canonical_id: str,
    system: str,
    connection: str,
    external_id: str,
) -> bool:
    """Link a canonical id to an external id in a connection; True when the link is new.

    Linking the same pair again is a no-op.

    Raises:
        XrefConflictError: The external id is linked to another canonical id, or the
            canonical id to another external id, in this connection.
    """
    key_lock(conn, f"xref:{entity_type}:{connection}")
    existing = conn.execute(
        sa.select(xref).where(
            xref.c.entity_type == entity_type,
            xref.c.connection == connection,
            sa.or_(xref.c.external_id == external_id, xref.c.canonical_id == canonical_id),
        )
    ).all()
    for r in existing:
        if r.external_id == external_id and r.canonical_id == canonical_id:
            return False
    if existing:
        other = existing[0]
        raise XrefConflictError(
            entity_type=entity_type,
            connection=connection,
            canonical_id=canonical_id,
            external_id=external_id,
            existing_canonical_id=other.canonical_id,
            existing_external_id=other.external_id,
        )
    now = utc_now()
    conn.execute(
        sa.insert(xref).values(
            entity_type=entity_type,
            canonical_id=canonical_id,
            system=system,
            connection=connection,
            external_id=external_id,
            created_at=now,
            updated_at=now,
        )
    )
    return True


def get_external(
    conn: sa.Connection, *, entity_type: str, canonical_id: str, connection: str
) -> str | None:
    """The external id of a canonical object in a connection, or None."""
    return conn.execute(
        sa.select(xref.c.external_id).where(
            xref.c.entity_type == entity_type,
            xref.c.canonical_id == canonical_id,
            xref.c.connection == connection,
        )
    ).scalar_one_or_none()


def get_canonical(
    conn: sa.Connection, *, entity_type: str, connection: str, external_id: str
) -> str | None:
    """The canonical id behind an external id in a connection, or None."""
    return conn.execute(
        sa.select(xref.c.canonical_id).where(
            xref.c.entity_type == entity_type,
            xref.c.connection == connection,
            xref.c.external_id == external_id,
        )
    ).scalar_one_or_none()


def list_for(conn: sa.Connection, *, entity_type: str, canonical_ids: list[str]) -> list[XrefRow]:
    """Every external id of the given canonical objects, by connection."""
    if not canonical_ids:
        return []
    q = (
        sa.select(xref)
        .where(xref.c.entity_type == entity_type, xref.c.canonical_id.in_(canonical_ids))
        .order_by(xref.c.id)
    )
    return [_row(r) for r in conn.execute(q)]


def find_by_any_id(conn: sa.Connection, external_or_canonical_id: str) -> list[XrefRow]:
    """Every xref row of every object known by this id, in any system or as its canonical id.

    The id is first matched against external and canonical ids; then all rows of the
    matching canonical objects are returned, so that the ids of every other system come back
    too (lineage search by any id).
    """
    hits = conn.execute(
        sa.select(xref.c.entity_type, xref.c.canonical_id)
        .where(
            sa.or_(
                xref.c.external_id == external_or_canonical_id,
                xref.c.canonical_id == external_or_canonical_id,
            )
        )
        .distinct()
    ).all()
    if not hits:
        return []
    q = (
        sa.select(xref)
        .where(
            sa.or_(*(sa.and_(xref.c.entity_type == t, xref.c.canonical_id == c) for t, c in hits))
        )
        .order_by(xref.c.id)
    )
    return [_row(r) for r in conn.execute(q)]


def list_all(conn: sa.Connection, *, entity_types: Sequence[str] | None = None) -> list[XrefRow]:
    """Every cross-reference (of ``entity_types``, when given), in link order.

    Reconciliation checks each against its system; a deployment keeps one row per object and
    system, so this is read once per run.
    """
    q = sa.select(xref).order_by(xref.c.id)
    if entity_types is not None:
        q = q.where(xref.c.entity_type.in_(list(entity_types)))
    return [_row(r) for r in conn.execute(q)]


def canonical_ids_page(
    conn: sa.Connection, *, entity_types: Sequence[str], after: str | None, limit: int
) -> list[str]:
    """Distinct canonical ids of objects of these types, in id order, after ``after``."""
    q = (
        sa.select(xref.c.canonical_id)
        .where(xref.c.entity_type.in_(entity_types))
        .distinct()
        .order_by(xref.c.canonical_id)
        .limit(limit)
    )
    if after is not None:
        q = q.where(xref.c.canonical_id > after)
    return [str(r.canonical_id) for r in conn.execute(q)]


def list_in_connection(
    conn: sa.Connection, *, entity_type: str, connection: str, limit: int = 100_000
) -> list[tuple[str, str]]:
    """``(canonical id, external id)`` of every object of a type in one connection, by id."""
    rows = conn.execute(
        sa.select(xref.c.canonical_id, xref.c.external_id)
        .where(xref.c.entity_type == entity_type, xref.c.connection == connection)
        .order_by(xref.c.canonical_id)
        .limit(limit)
    )
    return [(str(r.canonical_id), str(r.external_id)) for r in rows]


def lookup_external(
    conn: sa.Connection, *, connection: str, entity_types: Sequence[str], external_ids: set[str]
) -> list[tuple[str, str, str]]:
    """``(entity type, external id, canonical id)`` of these external ids in one connection."""
    if not external_ids:
        return []
    rows = conn.execute(
        sa.select(xref.c.entity_type, xref.c.external_id, xref.c.canonical_id).where(
            xref.c.connection == connection,
            xref.c.external_id.in_(external_ids),
            xref.c.entity_type.in_(entity_types),
        )
    )
    return [(r.entity_type, r.external_id, r.canonical_id) for r in rows]


def first_external(
    conn: sa.Connection, *, entity_types: Sequence[str], canonical_id: str, connection: str
) -> str | None:
    """The external id of a canonical object in a connection, under any of its type names."""
    return conn.execute(
        sa.select(xref.c.external_id)
        .where(
            xref.c.entity_type.in_(entity_types),
            xref.c.canonical_id == canonical_id,
            xref.c.connection == connection,
        )
        .limit(1)
    ).scalar_one_or_none()


def list_for_ids(conn: sa.Connection, canonical_ids: Sequence[str]) -> list[XrefRow]:
    """Every row of the objects with these canonical ids (any type), in rows of 500 ids."""
    ids = sorted(set(canonical_ids))
    out: list[XrefRow] = []
    for start in range(0, len(ids), 500):
        q = sa.select(xref).where(xref.c.canonical_id.in_(ids[start : start + 500]))
        out.extend(_row(r) for r in conn.execute(q.order_by(xref.c.id)))
    return out
