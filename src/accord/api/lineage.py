"""``GET /api/v1/lineage``: the graph around one business object, found by any system's id.

The given id is resolved through the xref first (a Salesforce opportunity id, a NetSuite job
id and the canonical id all name the same node); ids the xref does not know are looked up
as lineage node ids directly (events, business keys). From the start nodes, lineage edges
are walked breadth-first in both directions, bounded by ``depth`` and ``max_nodes``, and
every node is enriched with its id in each system.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from accord.api.auth import Principal, require
from accord.api.errors import Problem
from accord.domain import System
from accord.store import lineage as lineage_repo
from accord.store import postings as postings_repo
from accord.store import xref as xref_repo
from accord.store.keys import Role

__all__ = [
    "CANONICAL",
    "Amount",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "NodeRef",
    "PostedAmounts",
    "build_graph",
    "router",
]

CANONICAL = "accord"
"""The ``system`` value that names Accord's own canonical ids."""
MAX_DEPTH = 10
MAX_NODES = 1000

router = APIRouter(prefix="/api/v1", tags=["lineage"])

_Node = tuple[str, str]


class NodeRef(BaseModel):
    """A node's key: its type and (canonical or node) id."""

    model_config = ConfigDict(frozen=True)

    type: str
    id: str


class SystemRef(BaseModel):
    """The node's id in one connection of one system."""

    system: str
    connection: str
    id: str


class Amount(BaseModel):
    """An exact amount (decimal text) in one currency."""

    amount: str
    currency: str


class PostedAmounts(BaseModel):
    """What a posted time entry or expense is worth, as its ERP posting recorded it."""

    transaction: Amount = Field(description="in the posting's own currency (the project's)")
    base: Amount = Field(description="in the base currency of the project's legal entity")
    rate: str = Field(description="base units per transaction unit, the ERP's rate")
    rate_date: str | None = Field(description="effective date of the ERP's rate used")


class LineageNode(BaseModel):
    """A business object (or event) in the graph."""

    type: str
    id: str
    systems: dict[str, str] = Field(
        description="system -> external id (the first connection's, when there are several)"
    )
    refs: list[SystemRef] = Field(description="every external id, by connection")
    status: str | None = Field(description="status of the latest edge into the node")
    updated_at: datetime | None = None
    amounts: PostedAmounts | None = Field(
        default=None,
        description="a posted time entry's or expense's transaction and base amounts",
    )


class LineageEdge(BaseModel):
    """A link between two nodes, with the run that made it."""

    model_config = ConfigDict(populate_by_name=True)

    from_: NodeRef = Field(alias="from")
    to: NodeRef
    relation: str
    run_id: str | None
    event_id: str | None
    status: str | None
    created_at: datetime


class FieldChange(BaseModel):
    """One field of a contract amendment: its value before and after."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str | None = Field(alias="from")
    to: str | None


class ContractVersionEntry(BaseModel):
    """One version of a contract in the graph, with the field diff from the version before."""

    contract_id: str
    version: int
    event_id: str | None
    run_id: str | None
    at: datetime | None
    diff: dict[str, FieldChange]


class LineageGraph(BaseModel):
    """The answer: nodes, edges, the node(s) the id resolved to, and whether it was cut."""

    root: list[NodeRef]
    nodes: list[LineageNode]
    edges: list[LineageEdge]
    truncated: bool = Field(description="true when depth or max_nodes stopped the walk")
    amendments: list[ContractVersionEntry] = Field(
        default_factory=list,
        description="amendment history of the contracts in the graph, oldest version first",
    )


def _amendments(conn: sa.Connection, graph: LineageGraph) -> list[ContractVersionEntry]:
    # Imported here: the contract flow imports the durable runtime, which the rest of this
    # module does not need.
    from accord.flows.shared.contracts import history  # noqa: PLC0415

    out: list[ContractVersionEntry] = []
    for node in graph.nodes:
        if node.type != "contract":
            continue
        for entry in history(conn, node.id):
            changes = {
                name: FieldChange(from_=change["from"], to=change["to"])
                for name, change in entry["diff"].items()
            }
            out.append(ContractVersionEntry(contract_id=node.id, **{**entry, "diff": changes}))
    return out


def _start_nodes(
    conn: sa.Connection, *, node_id: str, system: str | None, node_type: str | None
) -> list[_Node]:
    rows = xref_repo.find_by_any_id(conn, node_id)
    starts: list[_Node] = []
    for r in rows:
        if node_type is not None and r.entity_type.casefold() != node_type.casefold():
            continue
        by_system = system is None or (
            (system == CANONICAL and r.canonical_id == node_id)
            or (r.system == system and r.external_id == node_id)
        )
        if by_system and (r.entity_type, r.canonical_id) not in starts:
            starts.append((r.entity_type, r.canonical_id))
    if starts or (system is not None and system != CANONICAL):
        return starts
    # Not an object id: maybe an event id or a business key used as a lineage node id.
    for t, i in lineage_repo.nodes_named(conn, node_id):
        if (node_type is None or t.casefold() == node_type.casefold()) and (t, i) not in starts:
            starts.append((t, i))
    return sorted(starts)


def _edge(r: lineage_repo.Link) -> LineageEdge:
    return LineageEdge(
        from_=NodeRef(type=r.from_type, id=r.from_id),
        to=NodeRef(type=r.to_type, id=r.to_id),
        relation=r.relation,
        run_id=r.run_id,
        event_id=r.event_id,
        status=r.status,
        created_at=r.created_at,
    )


def _edges_touching(conn: sa.Connection, nodes: Iterable[_Node]) -> list[tuple[int, LineageEdge]]:
    wanted = set(nodes)
    ids = sorted({i for _, i in wanted})
    # Filter on (type, id) here: ids alone may collide across types.
    return [
        (edge_id, _edge(r))
        for edge_id, r in lineage_repo.touching(conn, ids)
        if (r.from_type, r.from_id) in wanted or (r.to_type, r.to_id) in wanted
    ]


def _key(ref: NodeRef) -> _Node:
    return (ref.type, ref.id)


def build_graph(
    conn: sa.Connection,
    *,
    node_id: str,
    system: str | None = None,
    node_type: str | None = None,
    depth: int = 4,
    max_nodes: int = 200,
) -> LineageGraph | None:
    """The lineage graph around the object an id names; None when the id is unknown.

    Args:
        conn: Connection.
        node_id: An external id, a canonical id, or a lineage node id (event, business key).
        system: The system the id is from (``accord`` for canonical ids); any if None.
        node_type: The entity type (``Opportunity``), compared case-insensitively.
        depth: How many edges away from the start nodes to walk.
        max_nodes: Stop adding nodes beyond this many.
    """
    starts = _start_nodes(conn, node_id=node_id, system=system, node_type=node_type)
    if not starts:
        return None
    seen: dict[_Node, None] = dict.fromkeys(starts)
    edges: dict[int, LineageEdge] = {}
    frontier: list[_Node] = list(starts)
    truncated = False
    for _level in range(depth):
        if not frontier:
            break
        batch, frontier = frontier, []
        for edge_id, edge in _edges_touching(conn, batch):
            if edge_id in edges:
                continue
            ends = (_key(edge.from_), _key(edge.to))
            new = [end for end in ends if end not in seen]
            if new and len(seen) + len(new) > max_nodes:
                truncated = True
                continue
            edges[edge_id] = edge
            for end in new:
                seen[end] = None
                frontier.append(end)
    else:
        # The loop ran to ``depth``: anything still on the frontier may have more edges.
        truncated = truncated or bool(frontier and _edges_touching(conn, frontier))
    ordered = [edges[k] for k in sorted(edges)]
    return LineageGraph(
        root=[NodeRef(type=t, id=i) for t, i in starts],
        nodes=_nodes(conn, list(seen), ordered),
        edges=ordered,
        truncated=truncated,
    )


def _nodes(conn: sa.Connection, nodes: list[_Node], edges: list[LineageEdge]) -> list[LineageNode]:
    refs: dict[_Node, list[SystemRef]] = {n: [] for n in nodes}
    for r in xref_repo.list_for_ids(conn, [i for _, i in nodes]):
        key = (r.entity_type, r.canonical_id)
        if key in refs:
            refs[key].append(SystemRef(system=r.system, connection=r.connection, id=r.external_id))
    # Edges come oldest first, so the last edge into a node is its latest state.
    latest: dict[_Node, LineageEdge] = {}
    for e in edges:
        latest[_key(e.to)] = e
        latest.setdefault(_key(e.from_), e)
    amounts = _posted_amounts(conn, nodes)
    result = []
    for node in nodes:
        systems: dict[str, str] = {}
        for ref in refs[node]:
            systems.setdefault(ref.system, ref.id)
        edge = latest.get(node)
        result.append(
            LineageNode(
                type=node[0],
                id=node[1],
                systems=systems,
                refs=refs[node],
                status=edge.status if edge else None,
                updated_at=edge.created_at if edge else None,
                amounts=amounts.get(node),
            )
        )
    return result


_POSTED_KINDS = {"time_entry": "time", "expense": "expense"}


def _posted_amounts(conn: sa.Connection, nodes: list[_Node]) -> dict[_Node, PostedAmounts]:
    """The ledger's amounts (``detail.fx``) of the posted entries among ``nodes``."""
    out: dict[_Node, PostedAmounts] = {}
    for node_type, kind in _POSTED_KINDS.items():
        ids = sorted(i for t, i in nodes if t == node_type)
        if not ids:
            continue
        for entry_id, row in postings_repo.get_many(conn, kind=kind, entry_ids=ids).items():
            fx = (row.detail or {}).get("fx")
            if isinstance(fx, dict):
                out[(node_type, entry_id)] = PostedAmounts.model_validate(fx)
    return out


_SYSTEMS = "|".join([CANONICAL, *(s.value for s in System)])


@router.get(
    "/lineage",
    response_model=LineageGraph,
    responses={404: {"description": "no object or node is known by this id"}},
)
def get_lineage(
    *,
    request: Request,
    _principal: Annotated[Principal, Depends(require(Role.VIEWER, Role.OPERATOR, Role.ADMIN))],
    id: Annotated[str, Query(min_length=1, max_length=256, description="an id from any system")],  # noqa: A002
    system: Annotated[
        str | None,
        Query(pattern=f"^({_SYSTEMS})$", description="system the id is from; 'accord' = canonical"),
    ] = None,
    type: Annotated[  # noqa: A002 - the query parameter's public name
        str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_:.-]+$")
    ] = None,
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH)] = 4,
    max_nodes: Annotated[int, Query(ge=1, le=MAX_NODES)] = 200,
) -> LineageGraph:
    """The lineage graph around the object that ``id`` names in ``system`` (any, if omitted)."""
    engine: sa.Engine = request.app.state.services.engine
    with engine.connect() as conn:
        graph = build_graph(
            conn, node_id=id, system=system, node_type=type, depth=depth, max_nodes=max_nodes
        )
        if graph is not None:
            graph.amendments = _amendments(conn, graph)
    if graph is None:
        where = f" in {system}" if system else ""
        raise Problem(404, "Not found", f"nothing is known by id {id!r}{where}")
    return graph
