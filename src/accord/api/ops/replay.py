"""``POST /api/v1/replay``: re-run journaled events by time range, type or business key.

Safe because every target write is idempotent; each event gets a new run id derived from its
first run's (``<run id>.r<n>``). ``dry_run`` lists what would run and starts nothing.
"""

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from accord.api.ops.common import PROBLEMS, Actor, Client, Engine, RuntimeDep
from accord.api.ops.runs import RerunOut, RulesChoiceIn
from accord.flows import replay as replay_flow

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["replay"], responses=PROBLEMS)

_SHOWN = 1000
"""Most run ids echoed in the answer (the count is always exact)."""


class ReplayIn(BaseModel):
    """Which journaled events to re-run (received in ``[since, until)``)."""

    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    type: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[^\x00]*$")
    business_key: str | None = Field(
        default=None, min_length=1, max_length=500, pattern=r"^[^\x00]*$"
    )
    dry_run: bool = False
    limit: int = Field(default=1000, ge=1, le=replay_flow.MAX_REPLAY)
    rules: RulesChoiceIn = "pinned"

    @model_validator(mode="after")
    def _window(self) -> "ReplayIn":
        if self.since and self.until and self.since >= self.until:
            msg = "since must be before until"
            raise ValueError(msg)
        return self


class ReplayOut(BaseModel):
    """What matched and what started (or would start, in a dry run)."""

    dry_run: bool
    matched: int
    truncated: bool = Field(description="more events matched than 'limit'")
    runs: list[RerunOut] = Field(description=f"at most the first {_SHOWN}")


@router.post("/replay", response_model=ReplayOut, status_code=202, summary="Replay events")
def replay(
    *,
    body: ReplayIn,
    principal: Actor,
    client: Client,
    engine: Engine,
    runtime: RuntimeDep,
) -> ReplayOut:
    """Re-run journaled events matching the filters (audited per batch)."""
    result = replay_flow.replay(
        engine,
        runtime,
        client,
        actor=principal.actor,
        since=body.since,
        until=body.until,
        type_=body.type,
        business_key=body.business_key,
        dry_run=body.dry_run,
        limit=body.limit,
        rules=body.rules,
    )
    return ReplayOut(
        dry_run=result.dry_run,
        matched=result.matched,
        truncated=result.truncated,
        runs=[RerunOut.of(r) for r in result.runs[:_SHOWN]],
    )
