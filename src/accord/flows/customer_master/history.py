"""What customer master remembers, kept as lineage edges of the customer node.

Two kinds of version are remembered, both as edges from ``("customer", <canonical id>)``:

- ``applied`` -> ``("customer_version", "<id>@<CRM stamp>")``: a CRM version whose owned
  fields were propagated; the edge's status is the fingerprint of those fields. A later
  version with the same fingerprint (the echo of a write to a field Accord does not
  propagate, such as the AR status) is not propagated again.
- ``written`` -> ``("erp_customer", "<connection>/<erp id>#<n>")``: what Accord's last write
  left in an ERP customer (the fingerprint of the compared fields, read back after the
  write). An ERP version with that fingerprint is Accord's own and never counts as drift.

So the customer's lineage graph shows the versions applied, with their events and runs, and
the same edges are the flow's memory: nothing else is stored.

What does *not* belong here: deciding what to write (:mod:`.steps`, :mod:`.drift`).
"""

import sqlalchemy as sa

from accord.store import exceptions, lineage

__all__ = [
    "APPLIED",
    "WRITTEN",
    "exceptions_by_key",
    "last_applied",
    "last_written",
    "record_applied",
    "record_written",
]

APPLIED = "applied"
"""Relation of a customer to a CRM version it propagated."""
WRITTEN = "written"
"""Relation of a customer to what Accord last wrote into one ERP record."""


def last_applied(conn: sa.Connection, customer_id: str) -> str | None:
    """The fingerprint of the last CRM version propagated, or ``None``."""
    edges = lineage.list_for(conn, node_type="customer", node_id=customer_id)
    applied = [
        e
        for e in edges
        if e.relation == APPLIED and e.from_id == customer_id and e.to_type == "customer_version"
    ]
    return applied[-1].status if applied else None


def record_applied(
    conn: sa.Connection,
    *,
    customer_id: str,
    version: str,
    fingerprint: str,
    run_id: str | None,
    event_id: str | None,
) -> None:
    """Remember that a CRM version was propagated (idempotent per version)."""
    lineage.link(
        conn,
        from_type="customer",
        from_id=customer_id,
        to_type="customer_version",
        to_id=f"{customer_id}@{version}",
        relation=APPLIED,
        run_id=run_id,
        event_id=event_id,
        status=fingerprint,
    )


def _written(conn: sa.Connection, customer_id: str, connection: str, erp_id: str) -> list[str]:
    prefix = f"{connection}/{erp_id}#"
    edges = lineage.list_for(conn, node_type="customer", node_id=customer_id)
    return [
        e.status or ""
        for e in edges
        if e.relation == WRITTEN and e.from_id == customer_id and e.to_id.startswith(prefix)
    ]


def last_written(conn: sa.Connection, customer_id: str, connection: str, erp_id: str) -> str | None:
    """The fingerprint Accord's last write left in an ERP customer, or ``None``."""
    written = _written(conn, customer_id, connection, erp_id)
    return written[-1] if written else None


def record_written(
    conn: sa.Connection,
    *,
    customer_id: str,
    connection: str,
    erp_id: str,
    fingerprint: str,
    run_id: str | None,
    event_id: str | None = None,
) -> None:
    """Remember what a write left in an ERP customer (a new edge unless it is the same)."""
    written = _written(conn, customer_id, connection, erp_id)
    if written and written[-1] == fingerprint:
        return
    # A numbered node per write: returning to an earlier value must still be the latest edge.
    lineage.link(
        conn,
        from_type="customer",
        from_id=customer_id,
        to_type="erp_customer",
        to_id=f"{connection}/{erp_id}#{len(written) + 1}",
        relation=WRITTEN,
        run_id=run_id,
        event_id=event_id,
        status=fingerprint,
    )


def exceptions_by_key(conn: sa.Connection, *, business_key: str, dedupe_key: str) -> list[str]:
    """Statuses of the exceptions (any status) filed under a dedupe key, oldest first."""
    found = exceptions.list_(conn, business_key=business_key, status=None, limit=200)
    return [e.status.value for e in found if e.dedupe_key == dedupe_key]
