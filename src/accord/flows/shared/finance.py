"""What the finance flows (cash, bill_milestone, approvals) share: placement, exceptions.

Everything here runs inside a DBOS step or a capture mapper (the flow context is installed);
nothing here is a step itself. The project and customer of a record are found through what
lead-to-project recorded: the xref (``customer``, ``psa_project``, ``erp_project``) and the
lineage edge ``customer -> psa_project`` (a project's customer is not in any xref).

What does *not* belong here: the order of steps (the workflows) and the target writes (the
roles, called from each flow's steps).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from accord.domain import Money
from accord.errors import PermanentError
from accord.flows.stepkit import crm_connection, engine, open_routed
from accord.store import cursors, exceptions, lineage, xref
from accord.store.cursors import CursorState

__all__ = [
    "PlacedProject",
    "crm_account",
    "open_exception",
    "place_project",
    "refusal",
    "resolve_exceptions",
    "start_cursor_at_now",
]


@dataclass(frozen=True)
class PlacedProject:
    """Where a canonical project lives, as lead-to-project recorded it.

    Attributes:
        project_id: Canonical project id (``PRJ-<opportunity id>``).
        customer_id: Canonical customer id (from the ``customer -> psa_project`` edge).
        opportunity_id: Canonical opportunity id, when known.
        psa: ``(system, connection, id)`` of the PSA project, when provisioned.
        erp: ``(system, connection, id)`` of the ERP project, when created.
    """

    project_id: str
    customer_id: str | None
    opportunity_id: str | None
    psa: tuple[str, str, str] | None
    erp: tuple[str, str, str] | None


def place_project(project_id: str) -> PlacedProject:
    """Everything Accord knows about where one project lives."""
    with engine().connect() as conn:
        psa = xref.list_for(conn, entity_type="psa_project", canonical_ids=[project_id])
        erp = xref.list_for(conn, entity_type="erp_project", canonical_ids=[project_id])
        edges = lineage.list_for(conn, node_type="psa_project", node_id=project_id)
    customer = next((e.from_id for e in edges if e.from_type == "customer"), None)
    opportunity = next((e.from_id for e in edges if e.from_type == "opportunity"), None)
    return PlacedProject(
        project_id=project_id,
        customer_id=customer,
        opportunity_id=opportunity,
        psa=(psa[0].system, psa[0].connection, psa[0].external_id) if psa else None,
        erp=(erp[0].system, erp[0].connection, erp[0].external_id) if erp else None,
    )


def crm_account(customer_id: str) -> str | None:
    """The CRM account id of a canonical customer (in the CRM connection), or None."""
    with engine().connect() as conn:
        rows = xref.list_for(conn, entity_type="customer", canonical_ids=[customer_id])
    wanted = crm_connection()
    return next((r.external_id for r in rows if r.connection == wanted), None)


def refusal(exc: PermanentError) -> dict[str, Any]:
    """What a target said when it refused a write, kept verbatim for finance."""
    return {
        "error": type(exc).__name__,
        "code": exc.code,
        "detail": exc.detail or str(exc),
        "status_code": exc.status_code,
    }


def open_exception(
    *,
    code: str,
    title: str,
    detail: Mapping[str, Any],
    business_key: str,
    dedupe_key: str,
    flow: str,
    run_id: str | None = None,
    amount: Money | None = None,
) -> int:
    """Open (or refresh) an exception routed by the rules for ``code``; returns its id.

    The title is cut to 255 characters.
    """
    return open_routed(
        code=code,
        flow=flow,
        run_id=run_id,
        business_key=business_key,
        title=title[:255],
        detail=detail,
        dedupe_key=dedupe_key,
        amount=amount,
    )


def resolve_exceptions(dedupe_key: str, resolution: str, *, business_key: str | None = None) -> int:
    """Resolve the open exception(s) a later success made moot; returns how many.

    With ``business_key`` (the exception's), its open exceptions are read first and nothing
    is written when none has ``dedupe_key``: a capture mapper calls this for every record
    that maps, almost always with nothing to resolve, and a write would take the lock.
    """
    if business_key is not None:
        with engine().connect() as conn:
            current = exceptions.list_(conn, business_key=business_key, status="open", limit=20)
        if all(e.dedupe_key != dedupe_key for e in current):
            return 0
    with engine().begin() as conn:
        return exceptions.auto_resolve(conn, dedupe_key=dedupe_key, resolution=resolution)


def start_cursor_at_now(connection: str, resource: str) -> bool:
    """Start a pair's polling at the present when it has never polled; True if it did.

    Records that exist before polling is enabled are history, not events: without this, the
    first poll would turn every invoice ever posted into an event.
    """
    with engine().begin() as conn:
        state = cursors.get(conn, connection=connection, resource=resource)
        if state.updated_at is not None or state.high_watermark is not None:
            return False
        cursors.save(
            conn,
            CursorState(connection=connection, resource=resource, high_watermark=datetime.now(UTC)),
        )
    return True
