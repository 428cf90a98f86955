"""How far the firm's deals got, as Accord's store records it: the demo summary's counts.

Won opportunities (journaled, or refused before the journal), the ones needing attention, open
exceptions per owner queue, and what lead-to-project fully provisioned. "Provisioned" is the
flow's ``psa_project -> erp_project`` lineage edge with the flow's provisioned status: it is
written once the ERP project exists and the ids are written back. What delivery sync carried
(:func:`delivery_counts`) is read from its xref and lineage (docs/flows/delivery.md).

What does not belong here: the numbers of runs (DBOS's client, or :mod:`accord.store.runs`).
"""

import json
from dataclasses import dataclass

import sqlalchemy as sa

__all__ = [
    "DeliveryCounts",
    "delivery_counts",
    "keys_needing_attention",
    "open_by_queue",
    "opportunities_won",
    "posted_time_mix",
    "project_legal_entity",
    "provisioned_opportunities",
    "provisioned_projects",
]


def opportunities_won(conn: sa.Connection, *, flow: str) -> int:
    """Won opportunities: journaled as ``opportunity.won``, or refused by ``flow`` at capture.

    An opportunity too incomplete for the canonical model gets its exception straight from
    capture, before the journal, so both are counted (by business key).
    """
    return int(
        conn.execute(
            sa.text(
                "SELECT count(*) FROM (SELECT business_key FROM accord_journal "
                "WHERE type = 'opportunity.won' UNION SELECT business_key FROM accord_exceptions "
                "WHERE flow = :flow)"
            ),
            {"flow": flow},
        ).scalar_one()
    )


def open_by_queue(conn: sa.Connection) -> dict[str, int]:
    """Open exceptions per owner queue (queues with none are absent)."""
    rows = conn.execute(
        sa.text(
            "SELECT queue, count(*) FROM accord_exceptions WHERE status = 'open' GROUP BY queue"
        )
    ).all()
    return {str(queue): int(n) for queue, n in rows}


def keys_needing_attention(conn: sa.Connection, *, flow: str) -> int:
    """Business keys with an open exception of ``flow``."""
    return int(
        conn.execute(
            sa.text(
                "SELECT count(DISTINCT business_key) FROM accord_exceptions "
                "WHERE status = 'open' AND flow = :flow"
            ),
            {"flow": flow},
        ).scalar_one()
    )


def provisioned_opportunities(conn: sa.Connection, *, status: str) -> list[str]:
    """Salesforce ids of the provisioned opportunities, oldest first (those it knows)."""
    rows = conn.execute(
        sa.text(
            "SELECT o.from_id, max(x.external_id), max(f.created_at) AS at "
            "FROM accord_lineage o "
            "JOIN accord_lineage f ON f.from_type = 'psa_project' AND f.from_id = o.to_id "
            "AND f.to_type = 'erp_project' AND f.status = :status "
            "LEFT JOIN accord_xref x ON x.entity_type = 'opportunity' "
            "AND x.canonical_id = o.from_id AND x.system = 'salesforce' "
            "WHERE o.from_type = 'opportunity' AND o.to_type = 'psa_project' "
            "GROUP BY o.from_id ORDER BY at"
        ),
        {"status": status},
    ).all()
    # Without a Salesforce id the opportunity cannot be looked up the way the README shows.
    return [str(r[1]) for r in rows if r[1] is not None]


def provisioned_projects(conn: sa.Connection, *, connection: str, status: str) -> list[str]:
    """PSA ids (in ``connection``) of the fully provisioned projects, oldest first."""
    rows = conn.execute(
        sa.text(
            "SELECT x.external_id, min(f.created_at) AS at FROM accord_lineage f "
            "JOIN accord_xref x ON x.entity_type = 'psa_project' "
            "AND x.canonical_id = f.from_id AND x.connection = :connection "
            "WHERE f.from_type = 'psa_project' AND f.to_type = 'erp_project' "
            "AND f.status = :status GROUP BY x.external_id ORDER BY at"
        ),
        {"connection": connection, "status": status},
    ).all()
    return [str(r[0]) for r in rows]


def project_legal_entity(conn: sa.Connection, *, connection: str, psa_id: str) -> str | None:
    """The legal entity of a PSA project (its id in ``connection``): its won deal's, journaled."""
    found = conn.execute(
        sa.text(
            "SELECT canonical_id FROM accord_xref WHERE entity_type = 'psa_project' "
            "AND connection = :connection AND external_id = :psa_id"
        ),
        {"connection": connection, "psa_id": psa_id},
    ).first()
    if found is None:
        return None
    opportunity = str(found[0]).removeprefix("PRJ-")
    row = conn.execute(
        sa.text(
            "SELECT data FROM accord_journal WHERE type = 'opportunity.won' "
            "AND business_key = :key ORDER BY seq DESC"
        ),
        {"key": f"opportunity:{opportunity}"},
    ).first()
    entity = json.loads(row[0]).get("legal_entity") if row is not None else None
    return str(entity) if entity else None


def posted_time_mix(conn: sa.Connection) -> tuple[int, int]:
    """Posted time entries recharged between entities, and posted in a foreign currency.

    From the posting ledger's ``detail`` (``intercompany``; ``fx`` whose transaction and base
    currencies differ), docs/flows/multi-entity.md.
    """
    rows = conn.execute(
        sa.text(
            "SELECT detail FROM accord_postings WHERE status = 'posted' "
            "AND kind = 'time' AND detail IS NOT NULL"
        )
    ).all()
    recharged = foreign = 0
    for (text,) in rows:
        detail = json.loads(text)
        if detail.get("intercompany"):
            recharged += 1
        fx = detail.get("fx") or {}
        currencies = {(fx.get(k) or {}).get("currency") for k in ("transaction", "base")}
        foreign += len(currencies - {None}) > 1
    return recharged, foreign


@dataclass(frozen=True)
class DeliveryCounts:
    """What delivery sync carried, as its xref and lineage record it.

    Attributes:
        statuses: Projects whose closing or hold was synced to the other side.
        tasks: Tasks Accord holds in an ERP.
        people: People Accord put on ERP projects and tasks (assignments).
        bills: Vendor bills Accord posted in an ERP from PSA vendor costs.
        recorded: ERP vendor bill lines Accord recorded in the PSA as project costs.
    """

    statuses: int = 0
    tasks: int = 0
    people: int = 0
    bills: int = 0
    recorded: int = 0


def delivery_counts(conn: sa.Connection) -> DeliveryCounts:
    """Count what delivery sync carried (see :class:`DeliveryCounts`)."""

    def count(sql: str) -> int:
        return int(conn.execute(sa.text(sql)).scalar_one())

    return DeliveryCounts(
        # The ``psa_project -status-> erp_project`` edge carries the status last synced.
        statuses=count(
            "SELECT count(DISTINCT from_id) FROM accord_lineage WHERE relation = 'status' "
            "AND status IN ('completed', 'cancelled', 'on_hold')"
        ),
        tasks=count("SELECT count(*) FROM accord_xref WHERE entity_type = 'erp_task'"),
        people=count(
            "SELECT count(DISTINCT to_id) FROM accord_lineage WHERE to_type = 'assignment'"
        ),
        # Bills of PSA vendor costs have the canonical id ``VB-<expense id>``.
        bills=count(
            "SELECT count(*) FROM accord_xref WHERE entity_type = 'vendor_bill' "
            "AND canonical_id LIKE 'VB-%'"
        ),
        recorded=count("SELECT count(*) FROM accord_lineage WHERE relation = 'recorded_as'"),
    )
