"""Console pages of governed change: the environment, the active rules, proposals, what-if.

``/governance`` shows this environment on its promotion path, the active rules version, the
open proposals and the activation history, with a form to propose a rules document.
``/governance/proposals/{id}`` shows a proposal's field-by-field changes and, to admins, the
Approve and Activate buttons; ``/governance/proposals/{id}/whatif`` replays the window's
journaled events through it (writing nothing). The rules of change are the API's and the
CLI's (:mod:`accord.governance.changes`): a refused step shows its reason as an error page.
"""

import logging
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from accord.api.errors import Problem
from accord.api.ops.rules import Governed
from accord.console.web import ConsoleRefusal, acting_session, redirect, render, session_of
from accord.errors import ConfigError, GovernanceError
from accord.governance.changes import SelfApprovalError
from accord.governance.diff import MISSING, diff
from accord.governance.validate import check_references
from accord.governance.whatif import parse_since
from accord.rules import parse_rules
from accord.store import rulesets
from accord.store.keys import Role
from accord.store.rulesets import ProposalStatus

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

NOTICES = {
    "proposed": "Proposed. A second admin approves it, then an admin activates it.",
    "approved": "Approved. An admin can activate it now.",
    "activated": "Activated: new runs use this version; runs already started keep theirs.",
    "rolledback": "Rolled back: the previous version is active again.",
}
_WHATIF_LIMIT = 2000
"""Most events a what-if from the console evaluates (the CLI and API go to 10,000)."""


def _governed(request: Request) -> Governed:
    try:
        return Governed(request)
    except Problem as exc:
        raise ConsoleRefusal(exc.status, exc.detail or exc.title) from exc


def _admin(request: Request, csrf: str) -> str:
    session = acting_session(request, csrf)
    if session.role is not Role.ADMIN:
        raise ConsoleRefusal(403, "Approving, activating and rolling back rules need an admin key.")
    return session.actor


def _shown(value: Any) -> str:  # noqa: ANN401 - a JSON leaf
    return "—" if value is MISSING or value is None else str(value)


@router.get("/governance")
def governance_page(request: Request) -> Response:
    """This environment, the active version, open proposals and the activation history."""
    session = session_of(request)
    gov = _governed(request)
    try:
        active_rules = gov.current()
    except ConfigError as exc:
        raise ConsoleRefusal(500, f"The rules in force cannot be read: {exc.message}") from exc
    with gov.engine.connect() as conn:
        active = rulesets.active(conn)
        history = rulesets.activations(conn, limit=20)
        proposals = rulesets.list_proposals(conn, limit=50)
    return render(
        request,
        "governance.html",
        session,
        settings=gov.settings,
        active=active,
        active_rules=active_rules,
        history=history,
        proposals=proposals,
        open_statuses=(ProposalStatus.PROPOSED, ProposalStatus.APPROVED),
        notice=NOTICES.get(request.query_params.get("done", "")),
    )


@router.post("/governance/proposals")
def propose_action(
    request: Request,
    csrf: Annotated[str, Form(max_length=256)] = "",
    document: Annotated[str, Form(max_length=1024 * 1024)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Propose a rules document pasted as YAML (checked first)."""
    session = acting_session(request, csrf)
    gov = _governed(request)
    if not reason.strip():
        raise ConsoleRefusal(400, "Say why: the reason is kept with the proposal.")
    try:
        rules = parse_rules(yaml.safe_load(document), source=None)
    except (ConfigError, yaml.YAMLError) as exc:
        message = exc.message if isinstance(exc, ConfigError) else "not valid YAML"
        raise ConsoleRefusal(422, f"The rules are not valid: {message}") from exc
    errors = [f for f in check_references(rules, gov.connection_kinds()) if f.severity == "error"]
    if errors:
        listed = "; ".join(f"{f.path}: {f.message}" for f in errors)
        raise ConsoleRefusal(422, f"The rules do not fit this environment: {listed}")
    gov.current()
    try:
        proposal = gov.changes().propose(
            rules, source="console", reason=reason.strip(), actor=session.actor
        )
    except GovernanceError as exc:
        raise ConsoleRefusal(409, exc.message) from exc
    return redirect(f"/governance/proposals/{proposal.id}?done=proposed")


@router.get("/governance/proposals/{proposal_id}")
def proposal_page(request: Request, proposal_id: int) -> Response:
    """A proposal: who, why, what it changes (from the version active when proposed), actions."""
    session = session_of(request)
    gov = _governed(request)
    with gov.engine.connect() as conn:
        proposal = rulesets.get_proposal(conn, id=proposal_id)
    if proposal is None:
        raise ConsoleRefusal(404, f"There is no rules proposal #{proposal_id}.")
    active = gov.current()
    base = gov.resolver.version(proposal.base_version) if proposal.base_version else active
    proposed = gov.resolver.version(proposal.version)
    changes = diff(base.spec.model_dump(mode="json"), proposed.spec.model_dump(mode="json"))
    return render(
        request,
        "proposal.html",
        session,
        proposal=proposal,
        active=active,
        base=base,
        changes=[(c.path, c.kind, _shown(c.before), _shown(c.after)) for c in changes],
        settings=gov.settings,
        is_admin=session.role is Role.ADMIN,
        notice=NOTICES.get(request.query_params.get("done", "")),
    )


def _change(request: Request, proposal_id: int, csrf: str, step: str) -> Response:
    actor = _admin(request, csrf)
    gov = _governed(request)
    gov.current()
    changes = gov.changes()
    try:
        if step == "approve":
            changes.approve(proposal_id, actor=actor)
        else:
            changes.activate(proposal_id, actor=actor)
    except GovernanceError as exc:
        status = 403 if isinstance(exc, SelfApprovalError) else 409
        raise ConsoleRefusal(status, exc.message) from exc
    done = "approved" if step == "approve" else "activated"
    return redirect(f"/governance/proposals/{proposal_id}?done={done}")


@router.post("/governance/proposals/{proposal_id}/approve")
def approve_action(
    request: Request, proposal_id: int, csrf: Annotated[str, Form(max_length=256)] = ""
) -> Response:
    """Approve (an admin who did not propose it)."""
    return _change(request, proposal_id, csrf, "approve")


@router.post("/governance/proposals/{proposal_id}/activate")
def activate_action(
    request: Request, proposal_id: int, csrf: Annotated[str, Form(max_length=256)] = ""
) -> Response:
    """Activate (approved first, where approval is required)."""
    return _change(request, proposal_id, csrf, "activate")


@router.post("/governance/rollback")
def rollback_action(
    request: Request,
    csrf: Annotated[str, Form(max_length=256)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Activate again the version active before the current one."""
    actor = _admin(request, csrf)
    if not reason.strip():
        raise ConsoleRefusal(400, "Say why: the reason is kept in the activation log.")
    gov = _governed(request)
    gov.current()
    try:
        gov.changes().rollback(actor=actor, reason=reason.strip())
    except GovernanceError as exc:
        raise ConsoleRefusal(409, exc.message) from exc
    return redirect("/governance?done=rolledback")


@router.get("/governance/proposals/{proposal_id}/whatif")
def whatif_page(request: Request, proposal_id: int) -> Response:
    """Replay the window's journaled events through the proposal; nothing is written."""
    session = session_of(request)
    if not session.can_act:
        raise ConsoleRefusal(403, "A what-if reads the target systems: it needs an operator key.")
    gov = _governed(request)
    since = request.query_params.get("since", "7d").strip()[:40]
    try:
        start = parse_since(since)
    except ValueError as exc:
        raise ConsoleRefusal(400, "Window: 7d, 12h, 30m or an ISO time.") from exc
    with gov.engine.connect() as conn:
        proposal = rulesets.get_proposal(conn, id=proposal_id)
    if proposal is None:
        raise ConsoleRefusal(404, f"There is no rules proposal #{proposal_id}.")
    report = gov.whatif(proposal.version, since=start, limit=_WHATIF_LIMIT)
    rows = [
        (r, [(c.path, _shown(c.before), _shown(c.after)) for c in r.changes])
        for r in report.records
        if r.status != "unchanged"
    ]
    return render(
        request,
        "whatif.html",
        session,
        proposal=proposal,
        report=report,
        counts=report.counts(),
        rows=rows,
        since=since,
    )
