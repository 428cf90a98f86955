"""Lineage links: edges between business objects (and events, runs) across systems.

A node is ``(type, id)``, e.g. ``("salesforce:Opportunity", "006...")`` or
``("event", "<event_id>")``. Links are idempotent: recording the same edge twice keeps one.
A link's ``status`` may change (``created`` -> ``provisioned``); ``status_at`` says when it
reached the current one, which the business KPIs read (:mod:`accord.store.kpis`).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from accord.store.tables import lineage
from accord.store.util import as_utc, utc_now

__all__ = [
    "Edge",
    "Link",
    "link",
    "link_many",
    "list_for",
    "list_relation",
    "nodes_named",
    "touching",
]


@dataclass(frozen=True)
class Link:
    """One edge."""

    from_type: str
    from_id: str
    to_type: str
    to_id: str
    relation: str
    run_id: str | None
    event_id: str | None
    status: str | None
    created_at: datetime
    status_at: datetime | None = None


def link(
    conn: sa.Connection,
    *,
    from_type: str,
    from_id: str,
    to_type: str,
    to_id: str,
    relation: str,
    run_id: str | None = None,
    event_id: str | None = None,
    status: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Record an edge unless it exists; True when it was new.

    Linking an existing edge with another ``status`` updates the status and ``status_at``
    (``now``: the clock, injected by tests); the same status again changes nothing.
    """
    now = now or utc_now()
    exists = conn.execute(
        sa.select(lineage.c.id, lineage.c.status).where(
            lineage.c.from_type == from_type,
            lineage.c.from_id == from_id,
            lineage.c.to_type == to_type,
            lineage.c.to_id == to_id,
            lineage.c.relation == relation,
        )
    ).first()
    if exists:
        if status is not None and status != exists.status:
            conn.execute(
                sa.update(lineage)
                .where(lineage.c.id == exists.id)
                .values(status=status, status_at=now)
            )
        return False
    conn.execute(
        sa.insert(lineage).values(
            from_type=from_type,
            from_id=from_id,
            to_type=to_type,
            to_id=to_id,
            relation=relation,
            run_id=run_id,
            event_id=event_id,
            status=status,
            created_at=now,
            status_at=now,
        )
    )
    return True


@dataclass(frozen=True)
class Edge:
    """An edge to record (see :func:`link_many`)."""

    from_type: str
    from_id: str
    to_type: str
    to_id: str
    relation: str
    run_id: str | None = None
    event_id: str | None = None
    status: str | None = None


def link_many(conn: sa.Connection, edges: Sequence[Edge]) -> int:
    """Record many edges at once (as :func:`link` each); returns how many were new.

    One read of the edges already there and one multi-row insert, instead of a round trip or
    two per edge: a dispatcher records hundreds of postings' edges per transaction.
    """
    if not edges:
        return 0
    found: dict[tuple[str, str, str, str, str], tuple[int, str | None]] = {}
    # Looked up by their targets, not their sources: a project has an edge to each of its
    # thousands of entries, an entry or an ERP record only a few incoming ones.
    by_type: dict[str, set[str]] = {}
    for e in edges:
        by_type.setdefault(e.to_type, set()).add(e.to_id)
    for to_type, ids in by_type.items():
        to_ids = sorted(ids)
        for start in range(0, len(to_ids), 500):
            query = sa.select(
                lineage.c.id,
                lineage.c.from_type,
                lineage.c.from_id,
                lineage.c.to_type,
                lineage.c.to_id,
                lineage.c.relation,
                lineage.c.status,
            ).where(
                lineage.c.to_type == to_type,
                lineage.c.to_id.in_(to_ids[start : start + 500]),
            )
            for r in conn.execute(query):
                found[(r.from_type, r.from_id, r.to_type, r.to_id, r.relation)] = (r.id, r.status)
    now = utc_now()
    inserts: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}
    statuses: list[dict[str, Any]] = []
    for e in edges:
        key = (e.from_type, e.from_id, e.to_type, e.to_id, e.relation)
        if key in found:
            edge_id, status = found[key]
            if e.status is not None and e.status != status:
                statuses.append({"edge_id": edge_id, "new_status": e.status, "new_at": now})
            continue
        inserts[key] = {
            "from_type": e.from_type,
            "from_id": e.from_id,
            "to_type": e.to_type,
            "to_id": e.to_id,
            "relation": e.relation,
            "run_id": e.run_id,
            "event_id": e.event_id,
            "status": e.status,
            "created_at": now,
            "status_at": now,
        }
    if statuses:
        stmt = (
            sa.update(lineage)
            .where(lineage.c.id == sa.bindparam("edge_id"))
            .values(status=sa.bindparam("new_status"), status_at=sa.bindparam("new_at"))
        )
        conn.execute(stmt, statuses)
    if inserts:
        conn.execute(sa.insert(lineage), list(inserts.values()))
    return len(inserts)


def _link(r: sa.Row[*tuple[Any, ...]]) -> Link:
    return Link(
        from_type=r.from_type,
        from_id=r.from_id,
        to_type=r.to_type,
        to_id=r.to_id,
        relation=r.relation,
        run_id=r.run_id,
        event_id=r.event_id,
        status=r.status,
        created_at=as_utc(r.created_at) or utc_now(),
        status_at=as_utc(r.status_at),
    )


def list_for(conn: sa.Connection, *, node_type: str, node_id: str) -> list[Link]:
    """Every edge touching a node, oldest first."""
    q = (
        sa.select(lineage)
        .where(
            sa.or_(
                sa.and_(lineage.c.from_type == node_type, lineage.c.from_id == node_id),
                sa.and_(lineage.c.to_type == node_type, lineage.c.to_id == node_id),
            )
        )
        .order_by(lineage.c.id)
    )
    return [_link(r) for r in conn.execute(q)]


def list_relation(
    conn: sa.Connection, *, from_type: str, relation: str, to_type: str
) -> list[Link]:
    """Every edge of one relation between two node types, oldest first."""
    q = (
        sa.select(lineage)
        .where(
            lineage.c.from_type == from_type,
            lineage.c.relation == relation,
            lineage.c.to_type == to_type,
        )
        .order_by(lineage.c.id)
    )
    return [_link(r) for r in conn.execute(q)]


def nodes_named(conn: sa.Connection, node_id: str) -> list[tuple[str, str]]:
    """``(type, id)`` of every node with this id at either end of an edge."""
    q = sa.union(
        sa.select(lineage.c.from_type, lineage.c.from_id).where(lineage.c.from_id == node_id),
        sa.select(lineage.c.to_type, lineage.c.to_id).where(lineage.c.to_id == node_id),
    )
    return [(str(t), str(i)) for t, i in conn.execute(q)]


def touching(conn: sa.Connection, node_ids: list[str]) -> list[tuple[int, Link]]:
    """``(edge id, edge)`` of every edge with one of these ids at either end, oldest first.

    Ids alone may collide across node types: callers filter on ``(type, id)``.
    """
    rows = conn.execute(
        sa.select(lineage)
        .where(sa.or_(lineage.c.from_id.in_(node_ids), lineage.c.to_id.in_(node_ids)))
        .order_by(lineage.c.id)
    )
    return [(int(r.id), _link(r)) for r in rows]
