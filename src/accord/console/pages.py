"""Console pages other than exceptions: sign-in, overview, runs, lineage, connections, audit.

Every page is read-only; the only POSTs here are sign-in and sign-out.
"""

import logging
import secrets
from datetime import UTC, datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from accord.api.lineage import LineageGraph, LineageNode, build_graph
from accord.console import charts
from accord.console.session import COOKIE, SIGNIN_COOKIE
from accord.console.web import (
    PAGE_SIZE,
    Paging,
    check_form,
    console_settings,
    engine_of,
    page_of,
    redirect,
    render,
    services_of,
    session_of,
    signer_of,
)
from accord.flows.connections import Connections
from accord.flows.runtime import Runtime
from accord.store import alerts, audit, keys, runs
from accord.store import budget as budget_repo
from accord.store import cursors as cursors_repo
from accord.store import outbox as outbox_repo
from accord.store.keys import Role
from accord.store.overview import overview
from accord.store.postings import HELD, POSTED, REJECTED

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)


def _safe_next(value: str | None) -> str:
    # Only same-site paths: "//host" or "https://..." would make sign-in an open redirect.
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


# ---------------------------------------------------------------------- sign-in
@router.get("/signin")
def signin_page(request: Request) -> Response:
    """The sign-in form (a double-submit cookie protects it against login CSRF)."""
    signer = signer_of(request)
    if signer.read(request.cookies.get(COOKIE)) is not None:
        return redirect(_safe_next(request.query_params.get("next")))
    token = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(24)
    response = render(
        request,
        "signin.html",
        None,
        csrf=token,
        next=_safe_next(request.query_params.get("next")),
        error=None,
        insecure=not signer.transport_allowed(request),
    )
    response.set_cookie(
        SIGNIN_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        secure=signer.secure_request(request),
        samesite="strict",
    )
    return response


@router.post("/signin")
def signin(
    request: Request,
    key: Annotated[str, Form(max_length=512)] = "",
    csrf: Annotated[str, Form(max_length=256)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/",  # noqa: A002 - the form field's name
) -> Response:
    """Check the API key and start a session."""
    signer = signer_of(request)
    target = _safe_next(next)

    def again(message: str, status: int) -> Response:
        return render(
            request,
            "signin.html",
            None,
            status_code=status,
            csrf=request.cookies.get(SIGNIN_COOKIE, ""),
            next=target,
            error=message,
            insecure=not signer.transport_allowed(request),
        )

    cookie = request.cookies.get(SIGNIN_COOKIE)
    if not cookie or not csrf or cookie != csrf:
        return again("The sign-in form expired. Please try again.", 403)
    if not signer.transport_allowed(request):
        return again("Sign in over https (plain http is allowed only on this machine).", 403)
    engine = engine_of(request)
    with engine.connect() as conn:
        found = keys.get_by_secret(conn, secret=key.strip()) if key.strip() else None
        active = keys.get_active(conn, id=found.id) if found else None
        key_hash = active[1] if active else None
    if found is None or key_hash is None:
        logger.info("console sign-in refused: unknown or revoked key")
        return again("Unknown or revoked API key.", 401)
    if found.role is Role.INGEST:
        return again("This key may only post events; use a viewer or operator key.", 403)
    response = redirect(target)
    signer.issue(
        response, key_id=found.id, key_hash=key_hash, secure=signer.secure_request(request)
    )
    response.delete_cookie(SIGNIN_COOKIE)
    logger.info("console sign-in: key %s (%s)", found.name, found.role.value)
    return response


@router.post("/signout")
def signout(request: Request, csrf: Annotated[str, Form(max_length=256)] = "") -> Response:
    """End the session (the cookie is removed)."""
    session = session_of(request)
    check_form(request, session, csrf)
    response = redirect("/signin")
    signer_of(request).clear(response, secure=signer_of(request).secure_request(request))
    return response


# ---------------------------------------------------------------------- overview
@router.get("/")
def overview_page(request: Request) -> Response:
    """Events, runs, latency, postings, queues and 429s over the last hour."""
    session = session_of(request)
    with engine_of(request).connect() as conn:
        ov = overview(conn)
        firing = _firing_alerts(conn)
    runs_lines = {status.lower(): values for status, values in sorted(ov.runs_per_minute.items())}
    return render(
        request,
        "overview.html",
        session,
        ov=ov,
        firing=firing,
        events_chart=charts.series(
            {"events": ov.events_per_minute}, ov.minutes, title="Events per minute"
        ),
        runs_chart=charts.series(
            runs_lines or {"finished": [0] * len(ov.minutes)},
            ov.minutes,
            title="Runs finished per minute",
        ),
        status_chart=charts.bars(
            sorted(ov.runs_by_status.items(), key=lambda kv: -kv[1]), title="Runs by status"
        ),
        posting_chart=charts.bars(
            [
                (status, sum(ov.posting_status[status].values()))
                for status in sorted(ov.posting_status, key=lambda s: (_POSTING_ORDER.get(s, 9), s))
            ],
            title="Posting status",
        ),
        depth_chart=charts.bars(sorted(ov.queue_depth.items()), title="Queue depth"),
        throttled_chart=charts.bars(sorted(ov.throttled.items()), title="429s by connection"),
        runs_legend=[(name, charts.colour_for(name, i)) for i, name in enumerate(runs_lines)],
    )


_POSTING_ORDER = {POSTED: 0, HELD: 1, REJECTED: 2}
"""The overview lists posting statuses in this order (unknown ones last)."""


def _firing_alerts(conn: sa.Connection) -> list[alerts.Alert] | None:
    """Firing alerts, critical first (None when the alerts table is not there yet)."""
    # Last on its connection: a failure here (say, on PostgreSQL) spoils no later query.
    try:
        return alerts.list_active_alerts(conn, limit=20)
    except sa.exc.DBAPIError:
        logger.warning("alerts could not be read")
        return None


# ---------------------------------------------------------------------- runs
RUN_VIEWS = {
    "stuck": "Stuck",
    "failed": "Failed",
    "dead": "Dead-lettered",
    "all": "All runs",
}


@router.get("/runs")
def runs_page(request: Request) -> Response:
    """Stuck, failed and dead-lettered runs (and all runs), a page at a time."""
    session = session_of(request)
    view = request.query_params.get("view", "stuck")
    if view not in RUN_VIEWS:
        view = "stuck"
    stuck = console_settings(request).stuck_minutes
    page = page_of(request)
    with engine_of(request).connect() as conn:
        counts = {
            v: runs.count_runs(conn, view=v, stuck_minutes=stuck)
            for v in ("stuck", "failed", "dead")
        }
        rows = runs.list_runs(
            conn,
            view=view,
            stuck_minutes=stuck,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
    errors = _errors(services_of(request).runtime, rows)
    paging = Paging(
        page=page,
        size=PAGE_SIZE,
        total=counts.get(view),
        shown=len(rows),
        base="/runs",
        params={"view": view},
    )
    return render(
        request,
        "runs.html",
        session,
        view=view,
        views=RUN_VIEWS,
        counts=counts,
        rows=rows,
        errors=errors,
        paging=paging,
        stuck_minutes=stuck,
    )


def _errors(runtime: Runtime, rows: list[runs.RunRow]) -> dict[str, str]:
    """The errors of the page's failed runs, read back through DBOS (which deserialises them).

    One call for the whole page; a page still renders (with the stored text) if it fails.
    """
    failed = [r.run_id for r in rows if r.status in {runs.FAILED, runs.DEAD}]
    client = runtime.client
    if client is None or not failed:
        return {}
    try:
        statuses = client.list_workflows(workflow_ids=failed, load_input=False)
    except Exception:  # noqa: BLE001 - an unreadable error must not hide the page
        logger.warning("could not read the errors of %d failed runs", len(failed))
        return {}
    out: dict[str, str] = {}
    for status in statuses:
        error = status.error
        if error is not None:
            text = str(error)
            out[status.workflow_id] = f"{type(error).__name__}: {text}"[:400]
    return out


# ---------------------------------------------------------------------- lineage
@router.get("/lineage")
def lineage_page(request: Request) -> Response:
    """Paste an id from any system; see the graph around the object it names."""
    session = session_of(request)
    node_id = request.query_params.get("id", "").strip()[:256]
    graph = None
    if node_id:
        with engine_of(request).connect() as conn:
            graph = build_graph(conn, node_id=node_id, depth=6, max_nodes=200)
            kind, colon, rest = node_id.partition(":")
            if graph is None and colon and kind and rest:
                # A business key (``opportunity:SF-006…``, the exception page's link) that is
                # no lineage node itself: the object of that type its flow linked.
                graph = build_graph(conn, node_id=rest, node_type=kind, depth=6, max_nodes=200)
    tree = _tree(graph) if graph is not None else []
    return render(request, "lineage.html", session, node_id=node_id, graph=graph, tree=tree)


def _tree(graph: LineageGraph) -> list[tuple[int, str, str, LineageNode | None]]:
    """The graph as an indented list from its roots: (depth, relation, label, node)."""
    nodes = {(n.type, n.id): n for n in graph.nodes}
    children: dict[tuple[str, str], list[tuple[str, tuple[str, str]]]] = {}
    parents: set[tuple[str, str]] = set()
    for e in graph.edges:
        src, dst = (e.from_.type, e.from_.id), (e.to.type, e.to.id)
        children.setdefault(src, []).append((e.relation, dst))
        parents.add(dst)
    # Start from nodes nothing points to (events, opportunities), then anything left over.
    starts = [k for k in nodes if k not in parents] or [(r.type, r.id) for r in graph.root]
    out: list[tuple[int, str, str, LineageNode | None]] = []
    seen: set[tuple[str, str]] = set()

    def walk(key: tuple[str, str], depth: int, relation: str) -> None:
        if key in seen or key not in nodes:
            if key in nodes:
                out.append((depth, relation, f"{key[0]} {key[1]} (shown above)", None))
            return
        seen.add(key)
        out.append((depth, relation, f"{key[0]} {key[1]}", nodes[key]))
        for rel, child in children.get(key, []):
            walk(child, depth + 1, rel)

    for key in starts:
        walk(key, 0, "")
    for key in nodes:
        if key not in seen:
            walk(key, 0, "")
    return out


# ---------------------------------------------------------------------- connections
@router.get("/connections")
def connections_page(request: Request) -> Response:
    """Each connection's budget (rate, slots, 429s, pause) and each poller's cursor."""
    session = session_of(request)
    connections: Connections = services_of(request).connections
    check = request.query_params.get("check")
    configured: list[dict[str, object]] = []
    problem: str | None = None
    try:
        names = connections.names()
    except Exception as exc:  # noqa: BLE001 - a broken accord.yaml must not hide the page
        names, problem = (), f"accord.yaml could not be read: {type(exc).__name__}: {exc}"
    with engine_of(request).connect() as conn:
        budgets = budget_repo.states(conn)
        positions = cursors_repo.positions(conn)
        waiting = outbox_repo.backlog(conn)
    now = datetime.now(UTC).timestamp()
    for name in names:
        config = connections.config(name)
        budget = budgets.get(name)
        health = "ok"
        if budget and budget.paused_until > now:
            health = "paused"
        elif budget and budget.rate_per_s < budget.max_rate_per_s:
            health = "throttled"
        checked = _check(connections, name) if check == name else None
        configured.append(
            {
                "name": name,
                "kind": config.kind,
                "rate": config.rate_per_s,
                "concurrency": config.concurrency,
                "budget": budget,
                "backlog": sum(n for (c, _), n in waiting.items() if c == name),
                "health": health,
                "checked": checked,
            }
        )
    unknown = [b for n, b in budgets.items() if n not in names]
    return render(
        request,
        "connections.html",
        session,
        configured=configured,
        unknown=unknown,
        cursors=positions,
        problem=problem,
    )


def _check(connections: Connections, name: str) -> str:
    try:
        connections.connector(name).check()
    except Exception as exc:  # noqa: BLE001 - the answer is shown, whatever it is
        return f"failed: {type(exc).__name__}: {str(exc)[:200]}"
    return "reachable, credentials accepted"


# ---------------------------------------------------------------------- audit
@router.get("/audit")
def audit_page(request: Request) -> Response:
    """The audit log, newest first, filtered and paged by sequence number."""
    session = session_of(request)
    params = {
        k: request.query_params.get(k, "").strip()[:256] for k in ("actor", "action", "target")
    }
    before: int | None
    try:
        before = int(request.query_params.get("before", ""))
    except ValueError:
        before = None
    verify = request.query_params.get("verify") == "1"
    with engine_of(request).connect() as conn:
        rows = audit.list_(
            conn,
            actor=params["actor"] or None,
            action=params["action"] or None,
            target=params["target"] or None,
            limit=PAGE_SIZE,
            before_seq=before,
        )
        broken = audit.verify(conn) if verify else None
    filters = {k: v for k, v in params.items() if v}
    return render(
        request,
        "audit.html",
        session,
        rows=rows,
        filters=filters,
        params=params,
        verified=verify,
        broken=broken,
        next_before=rows[-1].seq if len(rows) == PAGE_SIZE else None,
        before=before,
    )
