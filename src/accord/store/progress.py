"""How far the firm's deals got, as Accord's store records it: the demo summary's counts.

Won opportunities (journaled, or refused before the journal), the ones needing attention, open
exceptions per owner queue, and what lead-to-project fully provisioned. "Provisioned" is the
flow's ``psa_project -> erp_project`` lineage edge with the flow's provisioned status: it is
written once the ERP project exists and the ids are written back.

What does not belong here: the numbers of runs (DBOS's client, or :mod:`accord.store.runs`).
"""

import sqlalchemy as sa

__all__ = [
    "keys_needing_attention",
    "open_by_queue",
    "opportunities_won",
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
