"""``/api/v1/exceptions``: queues, aging, amount at risk, and the actions people take.

Assign, comment, retry, re-date, resolve and ignore, one at a time or in bulk.

The store audits assign, comment, resolve and ignore; retry and re-date are audited by
:func:`accord.flows.replay.retry_exception`, in the transaction that starts the new run.
Bulk actions run each id in its own transaction and report each outcome, so one closed
exception does not undo the others.
"""

import datetime as dt
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

import sqlalchemy as sa
from dbos import DBOSClient
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field, model_validator

from accord.api.errors import Problem
from accord.api.ops.common import PROBLEMS, Actor, Client, Engine, Page, Reader, RuntimeDep
from accord.api.ops.runs import RerunOut, RulesChoiceIn
from accord.flows import replay as replay_flow
from accord.flows.runtime import Runtime
from accord.store import exceptions as repo
from accord.store.exceptions import AGE_BUCKETS
from accord.store.util import utc_now

__all__ = ["AGE_BUCKETS", "ExceptionOut", "router"]

router = APIRouter(prefix="/api/v1/exceptions", tags=["exceptions"], responses=PROBLEMS)

_MAX_ID: Final = 2**62
"""Largest id accepted (larger ones would overflow a database integer)."""
_NOT_FOUND: Final[dict[int | str, dict[str, Any]]] = {404: {"description": "No such exception"}}
_ACTION_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    404: {"description": "No such exception"},
    409: {"description": "The exception is closed or its run cannot be re-run"},
}

ExceptionId = Annotated[int, Path(ge=1, le=_MAX_ID, description="exception id")]
Queue = Literal["sales-ops", "delivery-ops", "finance-ops", "integration"]
Status = Literal["open", "resolved", "ignored"]


def _bucket(age: timedelta) -> str:
    for name, bound in AGE_BUCKETS:
        if bound is None or age < bound:
            return name
    return AGE_BUCKETS[-1][0]


class MoneyOut(BaseModel):
    """An amount of one currency (a decimal string, never a float)."""

    amount: str
    currency: str


class CommentOut(BaseModel):
    """A comment on an exception."""

    at: str
    actor: str
    text: str


class ExceptionOut(BaseModel):
    """One exception."""

    id: int
    queue: str
    status: str
    severity: str
    flow: str
    run_id: str | None
    business_key: str
    code: str
    title: str
    detail: dict[str, Any]
    amount: MoneyOut | None = Field(description="amount at risk")
    assignee: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    resolution: str | None
    occurrences: int
    comments: list[CommentOut]
    age_seconds: int
    age_bucket: str
    escalated_at: datetime | None = Field(
        default=None, description="when it passed its queue's SLA; null: not escalated"
    )
    escalated_to: str | None = Field(default=None, description="the queue's escalation owner")

    @classmethod
    def of(cls, e: repo.BusinessException, *, now: datetime | None = None) -> "ExceptionOut":
        """From the store's value."""
        age = (now or utc_now()) - e.created_at
        return cls(
            id=e.id,
            queue=e.queue,
            status=e.status.value,
            severity=e.severity,
            flow=e.flow,
            run_id=e.run_id,
            business_key=e.business_key,
            code=e.code,
            title=e.title,
            detail=e.detail,
            amount=(
                MoneyOut(amount=str(e.amount.amount), currency=e.amount.currency)
                if e.amount
                else None
            ),
            assignee=e.assignee,
            created_at=e.created_at,
            updated_at=e.updated_at,
            resolved_at=e.resolved_at,
            resolution=e.resolution,
            occurrences=e.occurrences,
            comments=[
                CommentOut(at=str(c.get("at")), actor=str(c.get("actor")), text=str(c.get("text")))
                for c in e.comments
            ],
            age_seconds=max(0, int(age.total_seconds())),
            age_bucket=_bucket(age),
            escalated_at=e.escalated_at,
            escalated_to=e.escalated_to,
        )


class ExceptionPage(Page):
    """A page of exceptions; ``next_after_id`` is the keyset cursor for deep pages."""

    items: list[ExceptionOut]
    next_after_id: int | None


class ExceptionDetailOut(ExceptionOut):
    """An exception with its retries and the overrides its retries carry."""

    overrides: dict[str, Any]
    retries: list[dict[str, Any]]


class QueueSummary(BaseModel):
    """One owner queue: how many, how old, how much at risk."""

    queue: str
    count: int
    age_buckets: dict[str, int]
    amount_at_risk: list[MoneyOut] = Field(description="one total per currency")
    oldest_created_at: datetime | None


class Summary(BaseModel):
    """Exceptions of one status by owner queue."""

    status: str
    queues: list[QueueSummary]


class AssignIn(BaseModel):
    """Who owns it now (null unassigns)."""

    assignee: str | None = Field(max_length=200, pattern=r"^[^\x00]*$")


class CommentIn(BaseModel):
    """A comment."""

    text: str = Field(min_length=1, max_length=5000, pattern=r"^[^\x00]*\S[^\x00]*$")


class ReasonIn(BaseModel):
    """Why it is ignored or resolved."""

    reason: str = Field(min_length=1, max_length=2000, pattern=r"^[^\x00]*\S[^\x00]*$")


class RetryIn(BaseModel):
    """Which rules version the retry uses (the choice is recorded in the audit log)."""

    rules: RulesChoiceIn = "pinned"


class RedateIn(BaseModel):
    """The new date, the override field the flow reads it from, and the rules version."""

    date: dt.date
    field: str = Field(
        default="posting_date", min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_]*$"
    )
    rules: RulesChoiceIn = "pinned"


class RetryOut(BaseModel):
    """The exception after the retry, and the run that was started."""

    exception: ExceptionOut
    run: RerunOut


class BulkIn(BaseModel):
    """One action on many exceptions."""

    ids: list[Annotated[int, Field(ge=1, le=_MAX_ID)]] = Field(min_length=1, max_length=500)
    action: Literal["assign", "comment", "retry", "redate", "resolve", "ignore"]
    assignee: str | None = Field(default=None, max_length=200, pattern=r"^[^\x00]*$")
    text: str | None = Field(default=None, max_length=5000, pattern=r"^[^\x00]*$")
    reason: str | None = Field(default=None, max_length=2000, pattern=r"^[^\x00]*$")
    date: dt.date | None = None
    field: str = Field(
        default="posting_date", min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_]*$"
    )
    rules: RulesChoiceIn = "pinned"

    @model_validator(mode="after")
    def _needs(self) -> "BulkIn":
        needed = {"comment": "text", "resolve": "reason", "ignore": "reason", "redate": "date"}
        name = needed.get(self.action)
        value = getattr(self, name) if name else None
        if name and (value is None or (isinstance(value, str) and not value.strip())):
            msg = f"action {self.action!r} needs {name!r}"
            raise ValueError(msg)
        return self


class BulkItem(BaseModel):
    """The outcome for one id: ``status`` is the HTTP status the single call would answer."""

    id: int
    ok: bool
    status: int
    detail: str | None = None
    run_id: str | None = None


class BulkOut(BaseModel):
    """Per-id outcomes, in request order."""

    succeeded: int
    failed: int
    results: list[BulkItem]


@router.get("", response_model=ExceptionPage, summary="List exceptions")
def list_exceptions(
    *,
    _p: Reader,
    engine: Engine,
    queue: Queue | None = None,
    status: Status | Literal["any"] = "open",
    business_key: Annotated[str | None, Query(max_length=500, pattern=r"^[^\x00]*$")] = None,
    min_age_hours: Annotated[float | None, Query(ge=0, le=10**6)] = None,
    order: Literal["oldest", "newest"] = "oldest",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**7)] = 0,
    after_id: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> ExceptionPage:
    """Exceptions by owner queue, status, business key and age; oldest first by default."""
    now = utc_now()
    with engine.connect() as conn:
        found = repo.list_(
            conn,
            queue=queue,
            status=None if status == "any" else status,
            business_key=business_key,
            older_than=timedelta(hours=min_age_hours) if min_age_hours is not None else None,
            limit=limit,
            offset=offset,
            after_id=after_id,
            order=order,
            now=now,
        )
    full = len(found) == limit
    return ExceptionPage(
        items=[ExceptionOut.of(e, now=now) for e in found],
        limit=limit,
        offset=offset,
        next_offset=offset + limit if full else None,
        next_after_id=found[-1].id if full else None,
    )


@router.get("/summary", response_model=Summary, summary="Counts, aging and amount at risk")
def summary(_p: Reader, engine: Engine, status: Status = "open") -> Summary:
    """Per owner queue: count, aging buckets, amount at risk per currency, oldest."""
    with engine.connect() as conn:
        found = repo.aging(conn, buckets=AGE_BUCKETS, status=status)
    queues = {
        name: QueueSummary(
            queue=name,
            count=a.count,
            age_buckets=a.buckets,
            amount_at_risk=[
                MoneyOut(amount=str(total.quantize(Decimal("0.01"))), currency=currency)
                for currency, total in sorted(a.at_risk.items())
            ],
            oldest_created_at=a.oldest_created_at,
        )
        for name, a in found.items()
    }
    return Summary(status=status, queues=[queues[k] for k in sorted(queues)])


@router.get(
    # The int convertor: GET /exceptions/bulk is then no exception id but a method that path
    # does not serve (405, Allow: POST), not a 422 about "bulk" not being a number.
    "/{exception_id:int}",
    response_model=ExceptionDetailOut,
    responses=_NOT_FOUND,
    summary="One exception",
)
def get_exception(exception_id: ExceptionId, _p: Reader, engine: Engine) -> ExceptionDetailOut:
    """An exception with its comments, retries and re-run overrides."""
    with engine.connect() as conn:
        found = repo.get(conn, id=exception_id)
        if found is None:
            raise Problem(404, "Not found", f"no exception {exception_id}")
        overrides, retries = repo.retry_state(conn, id=exception_id)
    return ExceptionDetailOut(
        **ExceptionOut.of(found).model_dump(), overrides=overrides, retries=retries
    )


def _act(fn: Callable[[], repo.BusinessException | None], exception_id: int) -> ExceptionOut:
    try:
        found = fn()
    except repo.ExceptionStateError as exc:
        raise Problem(409, "Conflict", str(exc)) from exc
    except replay_flow.NotReplayableError as exc:
        raise Problem(409, "Not replayable", str(exc)) from exc
    except ValueError as exc:
        raise Problem(422, "Invalid request", str(exc)) from exc
    if found is None:
        raise Problem(404, "Not found", f"no exception {exception_id}")
    return ExceptionOut.of(found)


def _assign(engine: sa.Engine, exception_id: int, assignee: str | None, actor: str) -> Any:  # noqa: ANN401
    with engine.begin() as conn:
        return repo.assign(conn, id=exception_id, assignee=assignee, actor=actor)


def _comment(engine: sa.Engine, exception_id: int, text: str, actor: str) -> Any:  # noqa: ANN401
    with engine.begin() as conn:
        return repo.comment(conn, id=exception_id, text=text, actor=actor)


def _close(engine: sa.Engine, exception_id: int, how: str, reason: str, actor: str) -> Any:  # noqa: ANN401
    with engine.begin() as conn:
        if how == "ignore":
            return repo.ignore(conn, id=exception_id, reason=reason, actor=actor)
        return repo.resolve(conn, id=exception_id, resolution=reason, actor=actor)


def _retry(  # noqa: PLR0917 - a private helper called positionally from lambdas
    engine: sa.Engine,
    runtime: Runtime,
    client: DBOSClient,
    exception_id: int,
    actor: str,
    overrides: dict[str, Any] | None = None,
    rules: replay_flow.RulesChoice = "pinned",
) -> replay_flow.ExceptionRetry | None:
    with engine.begin() as conn:
        return replay_flow.retry_exception(
            conn,
            runtime,
            client,
            exception_id=exception_id,
            actor=actor,
            overrides=overrides,
            action="exception.redate" if overrides else "exception.retry",
            rules=rules,
        )


@router.post(
    "/{exception_id}/assign",
    response_model=ExceptionOut,
    responses=_ACTION_ERRORS,
    summary="Assign (or unassign)",
)
def assign(
    exception_id: ExceptionId, body: AssignIn, principal: Actor, engine: Engine
) -> ExceptionOut:
    """Assign an open exception to a person; null unassigns."""
    return _act(lambda: _assign(engine, exception_id, body.assignee, principal.actor), exception_id)


@router.post(
    "/{exception_id}/comment",
    response_model=ExceptionOut,
    responses=_NOT_FOUND,
    summary="Comment",
)
def comment(
    exception_id: ExceptionId, body: CommentIn, principal: Actor, engine: Engine
) -> ExceptionOut:
    """Add a comment (open or closed exceptions)."""
    return _act(lambda: _comment(engine, exception_id, body.text, principal.actor), exception_id)


@router.post(
    "/{exception_id}/ignore",
    response_model=ExceptionOut,
    responses=_ACTION_ERRORS,
    summary="Ignore with a reason",
)
def ignore(
    exception_id: ExceptionId, body: ReasonIn, principal: Actor, engine: Engine
) -> ExceptionOut:
    """Close an open exception as ignored, with a reason."""
    return _act(
        lambda: _close(engine, exception_id, "ignore", body.reason, principal.actor), exception_id
    )


@router.post(
    "/{exception_id}/resolve",
    response_model=ExceptionOut,
    responses=_ACTION_ERRORS,
    summary="Resolve with a resolution",
)
def resolve(
    exception_id: ExceptionId, body: ReasonIn, principal: Actor, engine: Engine
) -> ExceptionOut:
    """Close an open exception as resolved (fixed outside Accord)."""
    return _act(
        lambda: _close(engine, exception_id, "resolve", body.reason, principal.actor), exception_id
    )


def _retry_out(result: replay_flow.ExceptionRetry | None, exception_id: int) -> RetryOut:
    if result is None:
        raise Problem(404, "Not found", f"no exception {exception_id}")
    return RetryOut(exception=ExceptionOut.of(result.exception), run=RerunOut.of(result.rerun))


def _guarded(
    fn: Callable[[], replay_flow.ExceptionRetry | None],
) -> replay_flow.ExceptionRetry | None:
    try:
        return fn()
    except repo.ExceptionStateError as exc:
        raise Problem(409, "Conflict", str(exc)) from exc
    except replay_flow.NotReplayableError as exc:
        raise Problem(409, "Not replayable", str(exc)) from exc


@router.post(
    "/{exception_id}/retry",
    response_model=RetryOut,
    status_code=202,
    responses=_ACTION_ERRORS,
    summary="Retry the run behind it",
)
def retry(
    *,
    exception_id: ExceptionId,
    principal: Actor,
    engine: Engine,
    runtime: RuntimeDep,
    client: Client,
    body: RetryIn | None = None,
) -> RetryOut:
    """Re-run the journaled event behind the exception's run as a new run (``.r<n>``).

    The exception stays open; the flow's success resolves it. The new run uses the rules
    version of the exception's run unless ``rules`` is ``current``.
    """
    rules = (body or RetryIn()).rules
    result = _guarded(
        lambda: _retry(engine, runtime, client, exception_id, principal.actor, None, rules)
    )
    return _retry_out(result, exception_id)


@router.post(
    "/{exception_id}/redate",
    response_model=RetryOut,
    status_code=202,
    responses=_ACTION_ERRORS,
    summary="Re-date and retry",
)
def redate(
    *,
    exception_id: ExceptionId,
    body: RedateIn,
    principal: Actor,
    engine: Engine,
    runtime: RuntimeDep,
    client: Client,
) -> RetryOut:
    """Store ``{field: date}`` as an override on the exception and retry with it.

    The new run carries the overrides in its attributes; a flow reads them with
    :func:`accord.flows.replay.run_overrides` (for example to post into an open period).
    """
    overrides = {body.field: body.date.isoformat()}
    result = _guarded(
        lambda: _retry(
            engine, runtime, client, exception_id, principal.actor, overrides, body.rules
        )
    )
    return _retry_out(result, exception_id)


def _bulk_one(
    body: "BulkIn",
    exc_id: int,
    *,
    actor: str,
    engine: sa.Engine,
    runtime: Runtime,
    client: DBOSClient,
) -> BulkItem:
    try:
        if body.action == "assign":
            _act(lambda: _assign(engine, exc_id, body.assignee, actor), exc_id)
        elif body.action == "comment":
            _act(lambda: _comment(engine, exc_id, body.text or "", actor), exc_id)
        elif body.action in ("resolve", "ignore"):
            _act(lambda: _close(engine, exc_id, body.action, body.reason or "", actor), exc_id)
        else:
            overrides = (
                {body.field: body.date.isoformat()}
                if body.action == "redate" and body.date
                else None
            )
            result = _guarded(
                lambda: _retry(engine, runtime, client, exc_id, actor, overrides, body.rules)
            )
            out = _retry_out(result, exc_id)
            return BulkItem(id=exc_id, ok=True, status=202, run_id=out.run.run_id)
    except Problem as problem:
        return BulkItem(id=exc_id, ok=False, status=problem.status, detail=problem.detail)
    return BulkItem(id=exc_id, ok=True, status=200)


@router.post("/bulk", response_model=BulkOut, summary="One action on many exceptions")
def bulk(
    *,
    body: BulkIn,
    principal: Actor,
    engine: Engine,
    runtime: RuntimeDep,
    client: Client,
) -> BulkOut:
    """Apply one action to each id (each in its own transaction); report each outcome."""
    results = [
        _bulk_one(
            body, exc_id, actor=principal.actor, engine=engine, runtime=runtime, client=client
        )
        for exc_id in body.ids
    ]
    ok = sum(1 for r in results if r.ok)
    return BulkOut(succeeded=ok, failed=len(results) - ok, results=results)
