"""``/api/v1/runs``: list and inspect runs (DBOS workflows) and re-run one.

Lists are paged with ``limit``/``offset`` over DBOS's ``workflow_status`` (indexed on
creation time and status by DBOS); the business-key filter goes through the journal's
``(business_key, seq)`` index first.
"""

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from accord.api.errors import Problem
from accord.api.ops.common import PROBLEMS, Actor, Client, Engine, Page, Reader, RuntimeDep
from accord.flows import replay as replay_flow
from accord.flows import runs as runs_flow
from accord.store import rulesets

__all__ = [
    "PinOut",
    "RerunOut",
    "RulesChoiceIn",
    "RunDetailOut",
    "RunOut",
    "RunPage",
    "router",
]

router = APIRouter(prefix="/api/v1/runs", tags=["runs"], responses=PROBLEMS)

RunId = Annotated[str, Path(max_length=300, pattern=r"^[^\x00]+$", description="run id")]
RunStatus = Literal[
    "ENQUEUED",
    "PENDING",
    "SUCCESS",
    "ERROR",
    "CANCELLED",
    "MAX_RECOVERY_ATTEMPTS_EXCEEDED",
    "DELAYED",
]


class RunOut(BaseModel):
    """One run."""

    run_id: str
    flow: str = Field(description="the workflow name")
    status: str
    business_key: str | None
    event_type: str | None
    queue: str | None
    created_at: datetime | None
    updated_at: datetime | None
    completed_at: datetime | None
    app_version: str | None
    rerun_of: str | None = Field(description="the original run, for a retry or replay")
    error: str | None

    @classmethod
    def of(cls, s: runs_flow.RunSummary) -> "RunOut":
        """From the read model."""
        return cls(**s.__dict__)


class RunPage(Page):
    """A page of runs."""

    items: list[RunOut]


class StepOut(BaseModel):
    """One step of a run."""

    step_id: int
    name: str
    output: Any = None
    error: str | None
    child_run_id: str | None
    started_at: datetime | None
    completed_at: datetime | None


class PinOut(BaseModel):
    """The rules version a run uses to its end, and how it was chosen."""

    version: str
    choice: str = Field(description="start, pinned (a re-run kept its original's) or current")
    source_run_id: str | None = Field(description="for a re-run: whose version it kept")
    pinned_at: datetime


class RunDetailOut(RunOut):
    """A run with its input, output, steps and the rules/mapping version it used."""

    input: Any = None
    output: Any = None
    steps: list[StepOut]
    versions: dict[str, str] = Field(
        description="rules_version / mapping_version, when the run's output names them"
    )
    attributes: dict[str, Any] = Field(description="e.g. rerun_of and overrides of a re-run")
    rules_pin: PinOut | None = Field(
        default=None, description="the rules version the run is pinned to (once it read rules)"
    )


RulesChoiceIn = Annotated[
    Literal["pinned", "current"],
    Field(description="the re-run's rules version: the original run's (pinned) or the active one"),
]
"""Which rules version a re-run uses (the choice is recorded in the audit log)."""


class RerunIn(BaseModel):
    """Why a run is re-run (kept in the audit log), and with which rules version."""

    reason: str = Field(
        default="manual replay", min_length=1, max_length=500, pattern=r"^[^\x00]*$"
    )
    rules: RulesChoiceIn = "pinned"


class RerunOut(BaseModel):
    """A re-run that was started."""

    original_run_id: str
    run_id: str
    flow: str
    event_type: str
    business_key: str
    rules_version: str | None = Field(
        default=None, description="the rules version the re-run is pinned to"
    )
    rules: str | None = Field(default=None, description="pinned or current: how it was chosen")

    @classmethod
    def of(cls, r: replay_flow.Rerun) -> "RerunOut":
        """From the flows layer's value."""
        return cls(
            original_run_id=r.original_run_id,
            run_id=r.run_id,
            flow=r.workflow,
            event_type=r.event_type,
            business_key=r.business_key,
            rules_version=r.rules_version,
            rules=r.rules,
        )


@router.get("", response_model=RunPage, summary="List runs")
def list_runs(
    *,
    _p: Reader,
    client: Client,
    engine: Engine,
    flow: Annotated[
        str | None, Query(max_length=200, pattern=r"^[^\x00]*$", description="workflow name")
    ] = None,
    status: Annotated[list[RunStatus] | None, Query()] = None,
    business_key: Annotated[str | None, Query(max_length=500, pattern=r"^[^\x00]*$")] = None,
    min_age_s: Annotated[int | None, Query(ge=0, le=10**9, description="older than")] = None,
    max_age_s: Annotated[int | None, Query(ge=0, le=10**9, description="younger than")] = None,
    order: Literal["newest", "oldest"] = "newest",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**7)] = 0,
) -> RunPage:
    """Runs filtered by flow, status, business key and age, newest first by default."""
    found = runs_flow.list_runs(
        client,
        engine,
        flow=flow,
        status=status,
        business_key=business_key,
        min_age=timedelta(seconds=min_age_s) if min_age_s is not None else None,
        max_age=timedelta(seconds=max_age_s) if max_age_s is not None else None,
        limit=limit,
        offset=offset,
        newest_first=order == "newest",
    )
    return RunPage(
        items=[RunOut.of(s) for s in found],
        limit=limit,
        offset=offset,
        next_offset=offset + limit if len(found) == limit else None,
    )


@router.get("/{run_id}", response_model=RunDetailOut, summary="One run with its steps")
def get_run(
    *,
    run_id: RunId,
    _p: Reader,
    client: Client,
    engine: Engine,
) -> RunDetailOut:
    """A run with input, output, error, steps and the rules version it is pinned to."""
    found = runs_flow.get_run(client, run_id)
    if found is None:
        raise Problem(404, "Not found", f"no run {run_id!r}")
    with engine.connect() as conn:
        pin = rulesets.get_pin(conn, run_id=run_id)
    return RunDetailOut(
        rules_pin=PinOut(**pin.__dict__) if pin is not None else None,
        **RunOut.of(found.summary).model_dump(),
        input=found.input,
        output=found.output,
        steps=[StepOut(**s.__dict__) for s in found.steps],
        versions=found.versions,
        attributes=found.attributes,
    )


@router.post(
    "/{run_id}/replay",
    response_model=RerunOut,
    status_code=202,
    summary="Re-run the event behind a run",
    responses={404: {"description": "No such run"}, 409: {"description": "Not replayable"}},
)
def replay_run(
    *,
    run_id: RunId,
    principal: Actor,
    client: Client,
    engine: Engine,
    runtime: RuntimeDep,
    body: RerunIn | None = None,
) -> RerunOut:
    """Start a new run (``<run id>.r<n>``) of the journaled event behind ``run_id``."""
    if runs_flow.get_run(client, run_id) is None:
        raise Problem(404, "Not found", f"no run {run_id!r}")
    body = body or RerunIn()
    try:
        with engine.begin() as conn:
            started = replay_flow.rerun(
                conn,
                runtime,
                client,
                run_id=run_id,
                actor=principal.actor,
                reason=body.reason,
                rules=body.rules,
            )
    except replay_flow.NotReplayableError as exc:
        raise Problem(409, "Not replayable", str(exc)) from exc
    return RerunOut.of(started)
