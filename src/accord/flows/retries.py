"""Retry options of DBOS steps: the error class decides, :func:`accord.retry.backoff_delay` waits.

A step also retries when Accord's own database could not be reached (a server restart or
failover, a dropped connection, a busy SQLite file): :func:`database_unavailable`, with a
backoff of its own (:data:`DATABASE_BACKOFF`), long enough to ride out a restart. The error
tree in :mod:`accord.errors` knows nothing of databases (connectors never touch one), so the
step adapter decides it here.

A leaf module (DBOS, SQLAlchemy and :mod:`accord.retry` only), so that every flow module and
the capture machinery can use it without import cycles; :mod:`accord.flows.stepkit`
re-exports it for the flows.
"""

import random
import threading
import time
from collections.abc import Callable
from typing import Any, Final

import sqlalchemy as sa
from dbos import DBOS

from accord.retry import DEFAULT_ATTEMPTS, Backoff, backoff_delay

__all__ = ["DATABASE_BACKOFF", "StepRetry", "database_unavailable", "step_retries"]

DATABASE_BACKOFF: Final = Backoff(1.0, 30.0)
"""Waits after a database that could not be reached: ceilings 1, 2, 4, 8, 16 s (about 15 s
over a step's attempts on average, more than a PostgreSQL restart takes)."""


def database_unavailable(exc: BaseException) -> bool:
    """Whether a database call failed for want of the database (worth retrying).

    SQLAlchemy's ``OperationalError`` (refused or broken connections, a server shutting down,
    a locked SQLite file) and ``InterfaceError``, and any DBAPI error that invalidated its
    connection.
    """
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError)


class StepRetry:
    """DBOS's ``should_retry`` for a step: decides by error class and waits the jittered backoff.

    DBOS waits ``interval_seconds * backoff_rate**attempt`` between attempts, without jitter
    and without ``Retry-After``. :func:`step_retries` sets that wait to zero and gives DBOS
    this object instead, which sleeps :func:`accord.retry.backoff_delay` itself before
    answering "retry". DBOS calls it on the step's own thread, inside the step's context, after
    each failed attempt, so the attempts of one step execution are counted per thread and per
    (run, step id).
    """

    def __init__(
        self,
        max_attempts: int,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] | None = None,
    ) -> None:
        self.max_attempts = max_attempts
        self.sleep = sleep
        self.rng = rng
        self._local = threading.local()

    def _attempt(self) -> int:
        key = (DBOS.workflow_id, DBOS.step_id)
        if getattr(self._local, "key", None) != key:
            self._local.key, self._local.failed = key, 0
        failed: int = self._local.failed
        self._local.failed = failed + 1
        return failed

    def __call__(self, exc: BaseException) -> bool:
        """Whether to retry after ``exc``; sleeps the backoff first when the answer is yes."""
        attempt = self._attempt()
        draw = self.rng or random.random
        if database_unavailable(exc):
            delay: float | None = draw() * DATABASE_BACKOFF.ceiling(attempt)
        else:
            delay = backoff_delay(exc, attempt, rng=draw)
        if delay is None or attempt >= self.max_attempts - 1:
            # Not retried, or DBOS gives up after this attempt: nothing to wait for, and the
            # next execution of this step (a recovery, a fork) counts from zero again.
            self._local.key = None
            return delay is not None
        self.sleep(delay)
        return True


def step_retries(max_attempts: int = DEFAULT_ATTEMPTS) -> dict[str, Any]:
    """``@DBOS.step(**step_retries(n))``: retried by error class with full jitter, n attempts."""
    return {
        "retries_allowed": True,
        "max_attempts": max_attempts,
        # The wait is StepRetry's (jittered, Retry-After honoured); DBOS's own stays zero.
        "interval_seconds": 0.0,
        "backoff_rate": 1.0,
        "should_retry": StepRetry(max_attempts),
    }
