"""The console's Retry and Re-date: start the re-run, and settle the exception once it succeeds.

Starting the re-run is :func:`accord.flows.replay.retry_exception` (the same rule as the ops
API: a new run ``<original run id>.r<n>`` of the event's workflow, audited, recorded on the
exception). A business flow resolves its own exception when the re-run succeeds
(``auto_resolve``). A workflow that opens no exceptions of its own (``record_event``, or a
flow that failed before it could) never would, so :func:`settle` adds one rule: when the
latest retry **succeeded** and the exception was **not raised again by that retry** (a flow
that fails again re-opens it with the retry's run id), the exception is resolved by Accord,
audited as ``exception.auto_resolve``.

What does not belong here: how runs are started (:mod:`accord.flows.replay`).
"""

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from accord.flows import replay
from accord.flows.runtime import Runtime
from accord.store import exceptions as exc_repo
from accord.store.runs import get_run

__all__ = ["RetryOutcome", "retry", "settle"]

logger = logging.getLogger(__name__)

_DONE = frozenset({"SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"})


@dataclass(frozen=True)
class RetryOutcome:
    """The re-run that was started and what became of the exception by the time we answered."""

    run_id: str
    run_status: str | None
    exception_status: str


def _latest_retry(engine: sa.Engine, exception_id: int) -> str | None:
    with engine.connect() as conn:
        _, retries = exc_repo.retry_state(conn, id=exception_id)
    ids = [str(r["run_id"]) for r in retries if r.get("run_id")]
    return ids[-1] if ids else None


def settle(engine: sa.Engine, exception_id: int) -> bool:
    """Resolve an open exception whose latest retry succeeded without raising it again.

    Returns:
        True when this call resolved it.
    """
    run_id = _latest_retry(engine, exception_id)
    if run_id is None:
        return False
    with engine.connect() as conn:
        run = get_run(conn, run_id)
    if run is None or run.status != "SUCCESS":
        return False
    with engine.begin() as conn:
        # A retry that ran into the same problem re-opened the exception: it stays open.
        if not exc_repo.resolve_after_retry(conn, id=exception_id, run_id=run_id):
            return False
    logger.info("exception %d resolved: retry %s succeeded", exception_id, run_id)
    return True


def retry(
    engine: sa.Engine,
    runtime: Runtime,
    *,
    exception_id: int,
    actor: str,
    overrides: Mapping[str, Any] | None = None,
    wait_seconds: float = 0.0,
    rules: replay.RulesChoice = "pinned",
) -> RetryOutcome | None:
    """Start a re-run for an exception, wait a little for it, and settle; None if no such id.

    Args:
        engine: Accord's database.
        runtime: The launched runtime (its DBOS client enqueues the run).
        exception_id: The exception.
        actor: Who asked (the audit log's actor).
        overrides: Re-date and similar: values the new run carries (see
            :func:`accord.flows.replay.run_overrides`).
        wait_seconds: How long to wait for the new run to finish before answering, so that a
            quick fix shows as resolved at once; the page says "running" otherwise.
        rules: The new run's rules version: the exception run's (pinned) or the active one.

    Raises:
        ExceptionStateError: The exception is closed.
        NotReplayableError: Its run is not a journaled event's.
        RuntimeError: The runtime is not launched.
    """
    client = runtime.client
    if client is None:
        raise RuntimeError("the durable runtime is not running")
    with engine.begin() as conn:
        started = replay.retry_exception(
            conn,
            runtime,
            client,
            exception_id=exception_id,
            actor=actor,
            overrides=overrides,
            action="exception.redate" if overrides else "exception.retry",
            rules=rules,
        )
    if started is None:
        return None
    run_id = started.rerun.run_id
    deadline = time.monotonic() + wait_seconds
    status: str | None = None
    while True:
        with engine.connect() as conn:
            run = get_run(conn, run_id)
        status = run.status if run else None
        if status in _DONE or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    settle(engine, exception_id)
    with engine.connect() as conn:
        now = exc_repo.get(conn, id=exception_id)
    return RetryOutcome(
        run_id=run_id,
        run_status=status,
        exception_status=now.status.value if now else "unknown",
    )
