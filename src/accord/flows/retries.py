"""Retry options of DBOS steps: the error class decides, :func:`accord.retry.backoff_delay` waits.

A leaf module (DBOS and :mod:`accord.retry` only), so that every flow module and the capture
machinery can use it without import cycles; :mod:`accord.flows.stepkit` re-exports it for
the flows.
"""

import threading
import time
from collections.abc import Callable
from typing import Any

from dbos import DBOS

from accord.retry import DEFAULT_ATTEMPTS, backoff_delay

__all__ = ["StepRetry", "step_retries"]


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
        delay = (
            backoff_delay(exc, attempt)
            if self.rng is None
            else backoff_delay(exc, attempt, rng=self.rng)
        )
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
