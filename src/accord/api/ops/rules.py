"""``/api/v1/rules``: governed rules: versions, diffs, proposals, approval, activation, what-if.

Viewers read (state, versions, history, proposals, diffs). Operators and admins propose and
run what-ifs (a what-if reads the target systems, spending their rate budget). Admins approve,
activate and roll back; an approval by the proposer is refused (403) and audited. Every
change writes its audit entry in the transaction that makes it (docs/governance.md).
"""

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import yaml
from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as Path_
from pydantic import BaseModel, Field, model_validator

from accord.api.errors import Problem
from accord.api.ops.common import PROBLEMS, Actor, Admin, Reader, engine_of
from accord.connectors.authorization import TokenStore
from accord.errors import ConfigError, GovernanceError
from accord.flows.connections import Connections
from accord.flows.pinning import resolver as process_resolver
from accord.flows.pinning import rules_path
from accord.governance import changes as changes_mod
from accord.governance.changes import RulesChanges
from accord.governance.diff import Change, diff
from accord.governance.refs import UnknownRefError, load_ref
from accord.governance.resolve import RulesResolver
from accord.governance.settings import GovernanceSettings, governance_settings
from accord.governance.validate import check_references, connection_kinds
from accord.governance.whatif import WhatIfReport, parse_since, run_whatif
from accord.rules import Rules, parse_rules
from accord.store import rulesets
from accord.store.rulesets import Activation, Proposal, ProposalStatus

__all__ = ["Governed", "governed", "router"]

router = APIRouter(prefix="/api/v1/rules", tags=["rules"], responses=PROBLEMS)

_MAX_DOCUMENT = 1024 * 1024
"""Largest rules document accepted (a firm's rules are tens of kilobytes)."""


class Governed:
    """What a governance route needs from the process: database, resolver, settings."""

    def __init__(self, request: Request) -> None:
        found = process_resolver()
        if found is None:
            raise Problem(503, "Service unavailable", "the durable runtime is not running")
        self.engine: sa.Engine = engine_of(request)
        self.resolver: RulesResolver = found
        self.config_file: Path | None = request.app.state.settings.config_file
        self.settings: GovernanceSettings = governance_settings(self.config_file)
        self._connections: Connections = request.app.state.connections

    @property
    def rules_path(self) -> Path:
        """The rules file ``accord.yaml`` names."""
        return rules_path(self.config_file)

    def current(self) -> Rules:
        """The active version (bootstrapped from the rules file on an empty database)."""
        return self.resolver.current(self.rules_path)

    def changes(self) -> RulesChanges:
        """Propose, approve, activate and roll back under this environment's policy."""
        return RulesChanges(self.engine, self.settings)

    def connection_kinds(self) -> dict[str, str]:
        """Connection name -> kind, from ``accord.yaml``."""
        return connection_kinds(self.config_file)

    @property
    def token_store(self) -> TokenStore | None:
        """Where the process's connections keep tokens of a consent step (a what-if reads)."""
        store: TokenStore | None = self._connections.token_store
        return store

    def whatif(
        self, version: str, *, since: datetime, until: datetime | None = None, limit: int
    ) -> WhatIfReport:
        """The window's journaled events under their runs' versions and under ``version``.

        Reads the target systems; writes nothing to them or to Accord's database.
        """
        self.current()
        return run_whatif(
            self.engine,
            proposal=self.resolver.version(version),
            version_of=self.resolver.version,
            config_file=self.config_file,
            since=since,
            until=until,
            limit=limit,
            token_store=self.token_store,
        )


def governed(request: Request) -> Governed:
    """The dependency giving a route its :class:`Governed`."""
    return Governed(request)


Gov = Annotated[Governed, Depends(governed)]


def _problem(exc: Exception) -> Problem:
    """The problem+json answer of a refused change."""
    if isinstance(exc, changes_mod.ProposalNotFoundError | UnknownRefError):
        return Problem(404, "Not found", str(exc))
    if isinstance(exc, changes_mod.SelfApprovalError):
        return Problem(403, "Forbidden", str(exc))
    if isinstance(exc, GovernanceError):
        return Problem(409, "Conflict", str(exc))
    return Problem(422, "Invalid rules", str(exc))


# ---------------------------------------------------------------------- models
class EnvironmentOut(BaseModel):
    """One environment of the promotion path."""

    name: str
    description: str
    url: str
    current: bool = Field(description="this deployment")


class ActivationOut(BaseModel):
    """One row of the activation log."""

    seq: int
    version: str
    previous_version: str | None
    proposal_id: int | None
    kind: str = Field(description="bootstrap, file, activate or rollback")
    source: str | None
    actor: str
    reason: str | None
    at: datetime

    @classmethod
    def of(cls, a: Activation) -> "ActivationOut":
        """From the store's value."""
        return cls(**{**a.__dict__, "kind": a.kind.value})


class StateOut(BaseModel):
    """This environment and the rules in force."""

    environment: str
    environments: list[EnvironmentOut]
    approval_required: bool
    active: ActivationOut | None
    open_proposals: int


class ProposalOut(BaseModel):
    """A proposed change of the active version."""

    id: int
    version: str
    base_version: str | None = Field(description="the active version when it was proposed")
    status: str = Field(description="proposed, approved, active or superseded")
    source: str | None
    reason: str
    proposed_by: str
    proposed_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    activated_by: str | None
    activated_at: datetime | None

    @classmethod
    def of(cls, p: Proposal) -> "ProposalOut":
        """From the store's value."""
        return cls(**{**p.__dict__, "status": p.status.value})


class ChangeOut(BaseModel):
    """One field that differs."""

    path: str
    kind: str = Field(description="added, removed or changed")
    before: Any = None
    after: Any = None

    @classmethod
    def of(cls, c: Change) -> "ChangeOut":
        """From a diff."""
        return cls(**c.as_json())


class ProposalDetailOut(ProposalOut):
    """A proposal with what it changes: its differences from its base version."""

    changes: list[ChangeOut] = Field(
        description="field by field, from base_version (the version active when proposed)"
    )


class ProposalList(BaseModel):
    """Proposals, newest first."""

    items: list[ProposalOut]


class HistoryOut(BaseModel):
    """The activation log, newest first."""

    items: list[ActivationOut]


class VersionOut(BaseModel):
    """A stored version and where it came from."""

    version: str
    source: str | None
    created_by: str
    created_at: datetime
    reason: str | None
    document: dict[str, Any] | None = Field(default=None, description="on the detail route")


class VersionList(BaseModel):
    """Stored versions, newest first."""

    items: list[VersionOut]


class DiffOut(BaseModel):
    """Field-by-field differences between two versions."""

    from_: str = Field(alias="from")
    to: str
    changes: list[ChangeOut]


class ProposeIn(BaseModel):
    """A rules document (JSON, or YAML text) and why it should become active."""

    document: dict[str, Any] | None = Field(default=None, description="the rules as JSON")
    yaml: str | None = Field(default=None, max_length=_MAX_DOCUMENT, description="or as YAML")
    reason: str = Field(min_length=1, max_length=2000, pattern=r"^[^\x00]*\S[^\x00]*$")
    source: str | None = Field(default=None, max_length=1024, pattern=r"^[^\x00]*$")

    @model_validator(mode="after")
    def _one(self) -> "ProposeIn":
        if (self.document is None) == (self.yaml is None):
            msg = "give exactly one of 'document' and 'yaml'"
            raise ValueError(msg)
        return self

    def rules(self) -> Rules:
        """The document validated into rules.

        Raises:
            ConfigError: Not YAML, or not valid rules.
        """
        raw: Any = self.document
        if self.yaml is not None:
            try:
                raw = yaml.safe_load(self.yaml)
            except yaml.YAMLError as exc:
                raise ConfigError("the 'yaml' field is not valid YAML") from exc
        return parse_rules(raw)


class RollbackIn(BaseModel):
    """Why the previous version is activated again."""

    reason: str = Field(min_length=1, max_length=2000, pattern=r"^[^\x00]*\S[^\x00]*$")


class WhatIfOut(BaseModel):
    """Per record, what the proposal would do differently (nothing was written)."""

    proposal_version: str
    since: datetime | None
    until: datetime | None
    events: int
    summary: dict[str, int] = Field(
        description="records unchanged, changed, newly_failing, newly_passing"
    )
    skipped: dict[str, int] = Field(description="events of flows without a what-if, by type")
    errors: list[dict[str, str]]
    truncated: bool
    writes_held: int = Field(description="writes the flows attempted and the what-if held back")
    records: list[dict[str, Any]] = Field(description="changed records (all with all=true)")


# ---------------------------------------------------------------------- routes
@router.get("", response_model=StateOut, summary="Environment and active rules")
def state(_p: Reader, gov: Gov) -> StateOut:
    """This environment, its promotion path, the approval policy and the active version."""
    gov.current()
    with gov.engine.connect() as conn:
        active = rulesets.active(conn)
        open_ = [
            p
            for p in rulesets.list_proposals(conn, limit=500)
            if p.status in (ProposalStatus.PROPOSED, ProposalStatus.APPROVED)
        ]
    return StateOut(
        environment=gov.settings.environment,
        environments=[
            EnvironmentOut(
                name=e.name,
                description=e.description,
                url=e.url,
                current=e.name == gov.settings.environment,
            )
            for e in gov.settings.promotion()
        ],
        approval_required=gov.settings.approval_required,
        active=ActivationOut.of(active) if active else None,
        open_proposals=len(open_),
    )


@router.get("/history", response_model=HistoryOut, summary="Activation log")
def history(_p: Reader, gov: Gov, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> HistoryOut:
    """What was active when, and how it became so, newest first."""
    gov.current()
    with gov.engine.connect() as conn:
        return HistoryOut(
            items=[ActivationOut.of(a) for a in rulesets.activations(conn, limit=limit)]
        )


@router.get("/versions", response_model=VersionList, summary="Stored versions")
def versions(
    _p: Reader, gov: Gov, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> VersionList:
    """Every stored version (content-addressed), newest first."""
    with gov.engine.connect() as conn:
        found = rulesets.list_versions(conn, limit=limit)
    return VersionList(items=[VersionOut(**{**v.__dict__, "document": None}) for v in found])


@router.get(
    "/versions/{version}",
    response_model=VersionOut,
    summary="One version with its document",
    responses={404: {"description": "No such version"}},
)
def version(
    version: Annotated[str, Path_(pattern=r"^[0-9a-f]{7,64}$")], _p: Reader, gov: Gov
) -> VersionOut:
    """A stored version (a unique prefix of seven hex characters or more will do)."""
    try:
        _, rules = load_ref(gov.engine, gov.resolver, version, rules_path=None, files=False)
    except (GovernanceError, ConfigError) as exc:
        raise _problem(exc) from exc
    with gov.engine.connect() as conn:
        stored = rulesets.get_version(conn, version=rules.version)
    assert stored is not None
    return VersionOut(**{**stored.__dict__, "document": rules.spec.model_dump(mode="json")})


@router.get(
    "/diff",
    response_model=DiffOut,
    summary="Differences between two versions",
    responses={404: {"description": "A version or proposal it names does not exist"}},
)
def diff_versions(
    _p: Reader,
    gov: Gov,
    from_: Annotated[
        str, Query(alias="from", max_length=80, pattern=r"^[#A-Za-z0-9]+$")
    ] = "active",
    to: Annotated[str, Query(max_length=80, pattern=r"^[#A-Za-z0-9]+$")] = "active",
) -> DiffOut:
    """Field by field; ``from``/``to`` are versions, proposal ids (``#3``) or ``active``."""
    try:
        label_a, a = load_ref(
            gov.engine, gov.resolver, from_, rules_path=gov.rules_path, files=False
        )
        label_b, b = load_ref(gov.engine, gov.resolver, to, rules_path=gov.rules_path, files=False)
    except (GovernanceError, ConfigError) as exc:
        raise _problem(exc) from exc
    changes = diff(a.spec.model_dump(mode="json"), b.spec.model_dump(mode="json"))
    return DiffOut.model_validate(
        {"from": label_a, "to": label_b, "changes": [ChangeOut.of(c) for c in changes]}
    )


@router.get("/proposals", response_model=ProposalList, summary="List proposals")
def list_proposals(
    _p: Reader,
    gov: Gov,
    status: Annotated[ProposalStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ProposalList:
    """Proposals, newest first, optionally of one status."""
    with gov.engine.connect() as conn:
        found = rulesets.list_proposals(conn, status=status, limit=limit)
    return ProposalList(items=[ProposalOut.of(p) for p in found])


def _detail(gov: Governed, proposal: Proposal) -> ProposalDetailOut:
    base = gov.resolver.version(proposal.base_version) if proposal.base_version else gov.current()
    proposed = gov.resolver.version(proposal.version)
    changes = diff(base.spec.model_dump(mode="json"), proposed.spec.model_dump(mode="json"))
    return ProposalDetailOut(
        **ProposalOut.of(proposal).model_dump(), changes=[ChangeOut.of(c) for c in changes]
    )


@router.post(
    "/proposals",
    response_model=ProposalDetailOut,
    status_code=201,
    summary="Propose a rules version",
    responses={
        409: {"description": "Already active or proposed"},
        422: {"description": "Invalid rules"},
    },
)
def propose(body: ProposeIn, principal: Actor, gov: Gov) -> ProposalDetailOut:
    """Check a rules document (schema, connections) and propose it (audited)."""
    try:
        rules = body.rules()
    except ConfigError as exc:
        raise _problem(exc) from exc
    findings = [f for f in check_references(rules, gov.connection_kinds()) if f.severity == "error"]
    if findings:
        raise Problem(
            422,
            "Invalid rules",
            "the rules name connections this environment does not have",
            errors=[{"field": f.path, "message": f.message} for f in findings],
        )
    gov.current()
    try:
        proposal = gov.changes().propose(
            rules, source=body.source or "api", reason=body.reason.strip(), actor=principal.actor
        )
    except GovernanceError as exc:
        raise _problem(exc) from exc
    return _detail(gov, proposal)


def _proposal(gov: Governed, proposal_id: int) -> Proposal:
    with gov.engine.connect() as conn:
        found = rulesets.get_proposal(conn, id=proposal_id)
    if found is None:
        raise Problem(404, "Not found", f"no rules proposal #{proposal_id}")
    return found


ProposalId = Annotated[int, Path_(ge=1, le=2**31 - 1)]


@router.get(
    "/proposals/{proposal_id}",
    response_model=ProposalDetailOut,
    summary="One proposal and its changes",
    responses={404: {"description": "No such proposal"}},
)
def get_proposal(proposal_id: ProposalId, _p: Reader, gov: Gov) -> ProposalDetailOut:
    """A proposal with its field-by-field differences from its base version."""
    return _detail(gov, _proposal(gov, proposal_id))


_CHANGE_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such proposal"},
    409: {"description": "The proposal is not in a state that allows this"},
}


@router.post(
    "/proposals/{proposal_id}/approve",
    response_model=ProposalOut,
    summary="Approve (a second admin)",
    responses={**_CHANGE_ERRORS, 403: {"description": "Not an admin, or the proposer"}},
)
def approve(proposal_id: ProposalId, principal: Admin, gov: Gov) -> ProposalOut:
    """Approve a proposal; refused (403, audited) when the caller proposed it."""
    try:
        return ProposalOut.of(gov.changes().approve(proposal_id, actor=principal.actor))
    except GovernanceError as exc:
        raise _problem(exc) from exc


@router.post(
    "/proposals/{proposal_id}/activate",
    response_model=ProposalOut,
    summary="Activate",
    responses=_CHANGE_ERRORS,
)
def activate(proposal_id: ProposalId, principal: Admin, gov: Gov) -> ProposalOut:
    """Make the proposal's version active: new runs use it, running runs keep theirs."""
    gov.current()
    try:
        return ProposalOut.of(gov.changes().activate(proposal_id, actor=principal.actor))
    except GovernanceError as exc:
        raise _problem(exc) from exc


@router.post(
    "/rollback",
    response_model=ActivationOut,
    summary="Roll back to the previous version",
    responses={409: {"description": "Nothing to roll back to"}},
)
def rollback(body: RollbackIn, principal: Admin, gov: Gov) -> ActivationOut:
    """Activate again the version that was active before the current one (audited)."""
    gov.current()
    try:
        done = gov.changes().rollback(actor=principal.actor, reason=body.reason.strip())
    except GovernanceError as exc:
        raise _problem(exc) from exc
    return ActivationOut.of(done)


@router.get(
    "/proposals/{proposal_id}/whatif",
    response_model=WhatIfOut,
    summary="What-if: replay journaled events through a proposal",
    responses={404: {"description": "No such proposal"}, 422: {"description": "Bad window"}},
)
def whatif(
    *,
    proposal_id: ProposalId,
    _p: Actor,
    gov: Gov,
    since: Annotated[str, Query(max_length=40, pattern=r"^[0-9A-Za-z:.+ -]+$")] = "7d",
    until: Annotated[str | None, Query(max_length=40, pattern=r"^[0-9A-Za-z:.+ -]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 2000,
    all_: Annotated[bool, Query(alias="all", description="list unchanged records too")] = False,
) -> WhatIfOut:
    """Each record of the window's events under its run's version and under the proposal.

    Reads the target systems; writes nothing to them or to Accord's database.
    """
    proposal = _proposal(gov, proposal_id)
    try:
        start = parse_since(since)
        end = parse_since(until) if until else None
    except ValueError as exc:
        raise Problem(422, "Invalid request", "since/until: 7d, 12h, 30m or an ISO time") from exc
    report = gov.whatif(proposal.version, since=start, until=end, limit=limit)
    return WhatIfOut(**report.as_json(only_differences=not all_))
