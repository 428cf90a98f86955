"""Console pages for business exceptions: the queues, one exception, and the actions on it.

The list is the owner queues (open count, aging buckets, amount at risk) above a page of
exceptions, oldest first by default, so the oldest finance exception is two clicks away:
*Exceptions*, then *finance-ops*. The detail page shows the record, the rule or target error,
the queue, the age, the run and its retries, the history, and (for operators) the actions.
"""

from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from accord.console import retry
from accord.console.web import (
    PAGE_SIZE,
    ConsoleRefusal,
    Paging,
    acting_session,
    console_settings,
    engine_of,
    page_of,
    redirect,
    render,
    services_of,
    session_of,
)
from accord.flows import replay
from accord.store import audit, runs
from accord.store import exceptions as exc_repo

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

QUEUE_ORDER = ["finance-ops", "delivery-ops", "sales-ops", "integration"]
"""Owner queues in the order the page shows them."""
STATUSES = ("open", "resolved", "ignored")
AGING_BUCKETS = (
    ("lt1h", "< 1 hour", timedelta(hours=1)),
    ("lt1d", "< 1 day", timedelta(days=1)),
    ("lt2d", "< 2 days", timedelta(days=2)),
    ("older", "older", None),
)
"""The queues' age buckets: key, label, upper bound (None: unbounded)."""
NOTICES = {
    "retry": "Retry started.",
    "resolved": "The retry succeeded: the exception is resolved.",
    "running": "Retry started: the new run is still going. Reload to see its outcome.",
    "failed": "The retry ran but did not clear the exception; see its run below.",
    "redate": "Re-dated; a retry with the new date started.",
    "assign": "Assignee saved.",
    "comment": "Comment added.",
    "ignore": "Exception ignored.",
}


@router.get("/exceptions")
def exceptions_page(request: Request) -> Response:
    """The owner queues and a page of exceptions (filter by queue and status; sort by age)."""
    session = session_of(request)
    q = request.query_params
    queue = q.get("queue") if q.get("queue") in exc_repo.QUEUES else None
    status = q.get("status", "open")
    status = status if status in STATUSES else "open"
    sort = "newest" if q.get("sort") == "newest" else "oldest"
    page = page_of(request)
    with engine_of(request).connect() as conn:
        found = exc_repo.aging(conn, buckets=[(key, bound) for key, _, bound in AGING_BUCKETS])
        total = exc_repo.count(conn, queue=queue, status=status)
        rows = exc_repo.list_(
            conn,
            queue=queue,
            status=status,
            order=sort,  # type: ignore[arg-type]  # checked above: "oldest" or "newest"
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
    params = {"status": status, "sort": sort, **({"queue": queue} if queue else {})}
    paging = Paging(
        page=page, size=PAGE_SIZE, total=total, shown=len(rows), base="/exceptions", params=params
    )
    return render(
        request,
        "exceptions.html",
        session,
        summary=[found.get(name) or exc_repo.QueueAging(queue=name) for name in QUEUE_ORDER],
        buckets=AGING_BUCKETS,
        queue=queue,
        status=status,
        statuses=STATUSES,
        sort=sort,
        rows=rows,
        paging=paging,
    )


def _error_text(value: Any) -> str | None:  # noqa: ANN401 - whatever the flow stored
    """The error an exception records, in words.

    A target's structured refusal (``code`` and ``detail`` or ``message``, as the ERP
    returned them) reads ``CODE: text`` rather than a Python dict.
    """
    if not value:
        return None
    if not isinstance(value, Mapping):
        return str(value)
    text = value.get("detail") or value.get("message") or value.get("error")
    code = value.get("code")
    if not text:
        return str(code) if code else None
    return f"{code}: {text}" if code else str(text)


@router.get("/exceptions/{exception_id}")
def exception_page(request: Request, exception_id: int) -> Response:
    """One exception: what failed, on which record, for whom, since when; and what to do."""
    session = session_of(request)
    engine = engine_of(request)
    # A retry that succeeded after the page that started it answered is settled here.
    retry.settle(engine, exception_id)
    with engine.connect() as conn:
        found = exc_repo.get(conn, id=exception_id)
        if found is None:
            return render(
                request,
                "error.html",
                session,
                status_code=404,
                message=f"There is no exception {exception_id}.",
            )
        overrides, retries = exc_repo.retry_state(conn, id=exception_id)
        run = runs.get_run(conn, found.run_id) if found.run_id else None
        retry_runs = runs.runs_by_id(conn, [str(r.get("run_id")) for r in retries])
        history = audit.list_(conn, target=f"exception:{exception_id}", limit=100)
    error = _error_text(
        found.detail.get("error") or found.detail.get("message") or found.detail.get("rule")
    )
    return render(
        request,
        "exception.html",
        session,
        exc=found,
        error=error,
        overrides=overrides,
        retries=[(r, retry_runs.get(str(r.get("run_id")))) for r in retries],
        run=run,
        history=history,
        notice=NOTICES.get(request.query_params.get("done", "")),
        today=date.today().isoformat(),  # noqa: DTZ011 - a default for the date picker only
    )


def _retry(
    request: Request,
    exception_id: int,
    actor: str,
    overrides: dict[str, str] | None,
    rules: str = "pinned",
) -> str:
    try:
        outcome = retry.retry(
            engine_of(request),
            services_of(request).runtime,
            exception_id=exception_id,
            actor=actor,
            overrides=overrides,
            wait_seconds=console_settings(request).retry_wait_seconds,
            rules="current" if rules == "current" else "pinned",
        )
    except exc_repo.ExceptionStateError as exc:
        raise ConsoleRefusal(409, str(exc)) from exc
    except replay.NotReplayableError as exc:
        raise ConsoleRefusal(409, f"This exception cannot be retried: {exc.reason}.") from exc
    except RuntimeError as exc:
        raise ConsoleRefusal(503, "The durable runtime is not running; try again shortly.") from exc
    if outcome is None:
        raise ConsoleRefusal(404, f"There is no exception {exception_id}.")
    if outcome.exception_status == "resolved":
        return "resolved"
    if outcome.run_status in {"ENQUEUED", "PENDING", None}:
        return "running"
    if overrides:
        return "redate"
    return "failed"


@router.post("/exceptions/{exception_id}/retry")
def retry_action(
    request: Request,
    exception_id: int,
    csrf: Annotated[str, Form(max_length=256)] = "",
    rules: Annotated[str, Form(max_length=16)] = "pinned",
) -> Response:
    """Re-run the event behind the exception; resolved when the new run clears it.

    ``rules``: the run's pinned rules version (default) or the active one (``current``).
    """
    session = acting_session(request, csrf)
    done = _retry(request, exception_id, session.actor, None, rules)
    return redirect(f"/exceptions/{exception_id}?done={done}")


@router.post("/exceptions/{exception_id}/redate")
def redate_action(
    request: Request,
    exception_id: int,
    *,
    csrf: Annotated[str, Form(max_length=256)] = "",
    new_date: Annotated[str, Form(max_length=10)] = "",
    field: Annotated[str, Form(max_length=100, pattern=r"^[a-z][a-z0-9_]*$")] = "posting_date",
    rules: Annotated[str, Form(max_length=16)] = "pinned",
) -> Response:
    """Retry with a new date (into an open period): the new run carries ``{field: date}``."""
    session = acting_session(request, csrf)
    try:
        chosen = date.fromisoformat(new_date)
    except ValueError as exc:
        raise ConsoleRefusal(400, "Pick a date (YYYY-MM-DD).") from exc
    done = _retry(request, exception_id, session.actor, {field: chosen.isoformat()}, rules)
    return redirect(f"/exceptions/{exception_id}?done={done}")


@router.post("/exceptions/{exception_id}/assign")
def assign_action(
    request: Request,
    exception_id: int,
    csrf: Annotated[str, Form(max_length=256)] = "",
    assignee: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Assign to a person (empty: unassign)."""
    session = acting_session(request, csrf)
    return _act(
        request,
        exception_id,
        "assign",
        lambda conn: exc_repo.assign(
            conn, id=exception_id, assignee=assignee.strip() or None, actor=session.actor
        ),
    )


@router.post("/exceptions/{exception_id}/comment")
def comment_action(
    request: Request,
    exception_id: int,
    csrf: Annotated[str, Form(max_length=256)] = "",
    text: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    """Add a comment."""
    session = acting_session(request, csrf)
    note = _required(text, "Write a comment first.")
    return _act(
        request,
        exception_id,
        "comment",
        lambda conn: exc_repo.comment(conn, id=exception_id, text=note, actor=session.actor),
    )


@router.post("/exceptions/{exception_id}/ignore")
def ignore_action(
    request: Request,
    exception_id: int,
    csrf: Annotated[str, Form(max_length=256)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Close the exception without fixing it; a reason is required and audited."""
    session = acting_session(request, csrf)
    why = _required(reason, "Say why the exception is ignored.")
    return _act(
        request,
        exception_id,
        "ignore",
        lambda conn: exc_repo.ignore(conn, id=exception_id, reason=why, actor=session.actor),
    )


def _required(value: str, refusal: str) -> str:
    """A form field without surrounding blanks; a 400 with ``refusal`` when nothing is left."""
    text = value.strip()
    if not text:
        raise ConsoleRefusal(400, refusal)
    return text


def _act(
    request: Request,
    exception_id: int,
    done: str,
    action: Callable[[sa.Connection], exc_repo.BusinessException | None],
) -> Response:
    """Run a repository action in one transaction, then back to the exception with a notice.

    Its errors become refusals (a closed exception 409, bad input 400, an unknown one 404),
    raised inside the transaction so that nothing of a refused action is kept.
    """
    with engine_of(request).begin() as conn:
        try:
            result = action(conn)
        except exc_repo.ExceptionStateError as exc:
            raise ConsoleRefusal(409, str(exc)) from exc
        except ValueError as exc:
            raise ConsoleRefusal(400, str(exc)) from exc
        if result is None:
            raise ConsoleRefusal(404, f"There is no exception {exception_id}.")
    return redirect(f"/exceptions/{exception_id}?done={done}")
