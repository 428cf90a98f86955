"""``/api/v1/dead-letters``: runs that ended in error or exhausted their recovery attempts.

A dead letter stays listed after it is replayed (DBOS keeps the failed run); ``reruns``
names the re-runs already started, so people see it was handled.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from accord.api.ops.common import PROBLEMS, Actor, Client, Engine, Page, Reader, RuntimeDep
from accord.api.ops.runs import RerunOut, RunOut
from accord.flows import replay as replay_flow
from accord.flows import runs as runs_flow

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/dead-letters", tags=["dead letters"], responses=PROBLEMS)


class DeadLetterOut(RunOut):
    """A dead-lettered run and the re-runs started for it."""

    reruns: list[str]


class DeadLetterPage(Page):
    """A page of dead letters, newest first."""

    items: list[DeadLetterOut]


class ReplayIn(BaseModel):
    """Which dead letters to replay."""

    run_ids: list[Annotated[str, Field(max_length=300, pattern=r"^[^\x00]*$")]] = Field(
        min_length=1, max_length=500
    )
    reason: str = Field(
        default="dead-letter replay", min_length=1, max_length=500, pattern=r"^[^\x00]*$"
    )


class ReplayItem(BaseModel):
    """The outcome for one run id."""

    run_id: str
    ok: bool
    detail: str | None = None
    run: RerunOut | None = None


class ReplayOut(BaseModel):
    """Per-run outcomes, in request order."""

    succeeded: int
    failed: int
    results: list[ReplayItem]


@router.get("", response_model=DeadLetterPage, summary="List dead letters")
def list_dead_letters(
    *,
    _p: Reader,
    client: Client,
    engine: Engine,
    flow: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,
    business_key: Annotated[str | None, Query(max_length=500, pattern=r"^[^\x00]*$")] = None,
    order: Literal["newest", "oldest"] = "newest",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**7)] = 0,
) -> DeadLetterPage:
    """Runs in ERROR or MAX_RECOVERY_ATTEMPTS_EXCEEDED."""
    found = runs_flow.list_runs(
        client,
        engine,
        flow=flow,
        status=runs_flow.DEAD_STATUSES,
        business_key=business_key,
        limit=limit,
        offset=offset,
        newest_first=order == "newest",
    )
    reruns = runs_flow.list_reruns(client, [s.run_id for s in found])
    return DeadLetterPage(
        items=[
            DeadLetterOut(**RunOut.of(s).model_dump(), reruns=reruns.get(s.run_id, []))
            for s in found
        ],
        limit=limit,
        offset=offset,
        next_offset=offset + limit if len(found) == limit else None,
    )


@router.post("/replay", response_model=ReplayOut, status_code=202, summary="Replay dead letters")
def replay_dead_letters(
    *,
    body: ReplayIn,
    principal: Actor,
    client: Client,
    engine: Engine,
    runtime: RuntimeDep,
) -> ReplayOut:
    """Re-run the event behind each run (each in its own transaction, audited)."""
    results: list[ReplayItem] = []
    for run_id in body.run_ids:
        try:
            with engine.begin() as conn:
                started = replay_flow.rerun(
                    conn, runtime, client, run_id=run_id, actor=principal.actor, reason=body.reason
                )
        except replay_flow.NotReplayableError as exc:
            results.append(ReplayItem(run_id=run_id, ok=False, detail=exc.reason))
            continue
        results.append(ReplayItem(run_id=run_id, ok=True, run=RerunOut.of(started)))
    ok = sum(1 for r in results if r.ok)
    return ReplayOut(succeeded=ok, failed=len(results) - ok, results=results)
