"""Experience API: a small, stable, paginated read model of engagements.

``GET /api/v1/engagements`` answers, per won opportunity Accord knows: its id in each system,
the project it became (canonical id and id per system), the billing status, the open
exceptions about it and the last event journaled for it. It is built from Accord's own store
(xref, lineage, exceptions, journal) and never calls a remote system, so the console and
partners can page through it fast and as often as they like.

The shape is a contract: fields may be added, never removed or retyped within ``/api/v1``
(the OpenAPI compatibility test enforces it).

What does not belong here: anything read live from a system (the system and process tiers).
"""

import asyncio
import base64
from datetime import datetime
from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from accord.api.errors import Problem
from accord.api.governance import API_PREFIX, PROBLEM_RESPONSES, PROCESS_ROLES, guard
from accord.api.systems import XREF_TYPES, entity_kind
from accord.store import exceptions, journal, lineage, xref

__all__ = ["Engagement", "EngagementPage", "router"]

MAX_LIMIT = 200
"""Engagements per page at most."""

BillingStatus = Literal["not_provisioned", "not_billed", "billed", "paid"]

router = APIRouter(
    prefix=API_PREFIX,
    tags=["experience"],
    dependencies=[Depends(guard(*PROCESS_ROLES))],
    responses=PROBLEM_RESPONSES,
)


class ProjectIds(BaseModel):
    """The project an engagement became."""

    project_id: str = Field(description="Accord's canonical project id.")
    ids: dict[str, str] = Field(description="Its id in each connection (PSA, ERP).")
    status: str | None = Field(description="The provisioning status lineage recorded.")


class Engagement(BaseModel):
    """One engagement: an opportunity and what became of it."""

    opportunity_id: str = Field(description="Accord's canonical opportunity id.")
    opportunity_ids: dict[str, str] = Field(description="Its id in each connection (CRM).")
    customer_id: str | None
    project: ProjectIds | None
    billing_status: BillingStatus
    invoices: int = Field(description="Invoices lineage links to the project.")
    open_exceptions: int
    last_event_type: str | None
    last_event_at: datetime | None


class EngagementPage(BaseModel):
    """One page, in opportunity-id order; pass ``next_cursor`` back as ``cursor``."""

    items: list[Engagement]
    next_cursor: str | None


def _encode(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        after = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        after = ""
    if not after:
        raise Problem(400, "Invalid cursor", "pass back next_cursor unchanged")
    return after


def _billing(project: ProjectIds | None, invoice_statuses: list[str | None]) -> BillingStatus:
    if project is None:
        return "not_provisioned"
    if not invoice_statuses:
        return "not_billed"
    if all(s == "paid" for s in invoice_statuses):
        return "paid"
    return "billed"


def _refs(conn: sa.Connection, kind: str, ids: list[str]) -> dict[str, dict[str, str]]:
    """Canonical id -> connection -> external id, under every spelling of ``kind``."""
    found: dict[str, dict[str, str]] = {}
    for etype in XREF_TYPES[kind]:
        for row in xref.list_for(conn, entity_type=etype, canonical_ids=ids):
            found.setdefault(row.canonical_id, {})[row.connection] = row.external_id
    return found


def _edges(conn: sa.Connection, kind: str, node_id: str) -> list[lineage.Link]:
    """Lineage edges touching a node, under every spelling of its type, oldest first."""
    edges = [
        e
        for node_type in XREF_TYPES[kind]
        for e in lineage.list_for(conn, node_type=node_type, node_id=node_id)
    ]
    return sorted(edges, key=lambda e: e.created_at)


def _page(engine: sa.Engine, after: str | None, limit: int) -> EngagementPage:
    with engine.connect() as conn:
        opp_ids = xref.canonical_ids_page(
            conn, entity_types=XREF_TYPES["Opportunity"], after=after, limit=limit + 1
        )
        more = len(opp_ids) > limit
        opp_ids = opp_ids[:limit]
        if not opp_ids:
            return EngagementPage(items=[], next_cursor=None)
        opp_refs = _refs(conn, "Opportunity", opp_ids)
        project_of: dict[str, tuple[str, str | None]] = {}
        customer_of: dict[str, str] = {}
        for opp in opp_ids:
            for e in _edges(conn, "Opportunity", opp):
                other_type, other_id = (
                    (e.to_type, e.to_id) if e.from_id == opp else (e.from_type, e.from_id)
                )
                kind = entity_kind(other_type)
                if kind == "Project" and opp not in project_of:
                    project_of[opp] = (other_id, e.status)
                elif kind == "Customer" and opp not in customer_of:
                    customer_of[opp] = other_id
        project_refs = _refs(conn, "Project", [p for p, _ in project_of.values()])
        invoices: dict[str, list[str | None]] = {}
        for project_id, _ in project_of.values():
            invoices[project_id] = [
                e.status
                for e in _edges(conn, "Project", project_id)
                if "Invoice" in (entity_kind(e.from_type), entity_kind(e.to_type))
            ]
        keys = {f"opportunity:{o}": o for o in opp_ids}
        open_counts = exceptions.count_open_by_key(conn, list(keys))
        last_events = journal.last_of(conn, list(keys))
    items = []
    for opp in opp_ids:
        key = f"opportunity:{opp}"
        found = project_of.get(opp)
        project = (
            ProjectIds(project_id=found[0], ids=project_refs.get(found[0], {}), status=found[1])
            if found
            else None
        )
        statuses = invoices.get(found[0], []) if found else []
        event = last_events.get(key)
        items.append(
            Engagement(
                opportunity_id=opp,
                opportunity_ids=opp_refs.get(opp, {}),
                customer_id=customer_of.get(opp),
                project=project,
                billing_status=_billing(project, statuses),
                invoices=len(statuses),
                open_exceptions=int(open_counts.get(key, 0)),
                last_event_type=event[0] if event else None,
                last_event_at=event[1] if event else None,
            )
        )
    return EngagementPage(items=items, next_cursor=_encode(opp_ids[-1]) if more else None)


@router.get(
    "/engagements",
    response_model=EngagementPage,
    summary="Engagements: opportunity, project per system, billing status, open exceptions",
    responses={400: {"description": "Invalid cursor"}},
)
async def list_engagements(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> EngagementPage:
    """One page of the engagement read model, from Accord's store only."""
    after = _decode(cursor) if cursor else None
    engine: sa.Engine = request.app.state.services.engine
    return await asyncio.to_thread(_page, engine, after, limit)
