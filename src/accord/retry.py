"""When to try a failed call again: exponential backoff with full jitter, derived from the error.

Every retry in Accord waits the time :func:`backoff_delay` gives: DBOS steps (through
:func:`accord.flows.stepkit.step_retries`) and in-step loops over one call
(:func:`call_with_retries`). Nobody sleeps a fixed interval of their own.

The wait is "full jitter" (a uniform draw between 0 and the exponential ceiling, as in the
AWS Architecture Blog's *Exponential Backoff and Jitter*), so that a crowd of workers refused
at the same instant does not come back at the same instant. Its base and ceiling come from
the kind of failure (:func:`backoff_for`):

=====================================  ========  =========
failure                                base (s)  cap (s)
=====================================  ========  =========
timeout, refused or broken connection  0.25      10
5xx, 408, 425 (the system is unwell)   0.5       30
429 (throttled)                        1         60
spent quota (``RateLimitExceeded``)    30        900
=====================================  ========  =========

A ``Retry-After`` the system sent is honoured: the wait is that many seconds *plus* the
jittered backoff, never less. A ``Retry-After`` longer than :data:`MAX_RETRY_AFTER_S` is not
waited out inside a call: the error is raised, the run ends in a dead letter or an exception,
and it is replayed once the system is back.

Business refusals, authentication failures and every other non-retryable error
(:func:`accord.errors.is_retryable`) are never retried.

What does *not* belong here: DBOS (the step adapter lives in :mod:`accord.flows.stepkit`),
and anything about one system (connectors translate answers into the error tree).
"""

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeVar

from accord.errors import RateLimitExceeded, RetryableError, is_retryable

__all__ = [
    "DEFAULT_ATTEMPTS",
    "MAX_RETRY_AFTER_S",
    "Backoff",
    "backoff_delay",
    "backoff_for",
    "call_with_retries",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

DEFAULT_ATTEMPTS: Final = 6
"""Attempts of one call or step, the first included."""
MAX_RETRY_AFTER_S: Final = 300.0
"""The longest ``Retry-After`` waited out in place; a longer one ends the attempt."""


@dataclass(frozen=True)
class Backoff:
    """The exponential ceiling of one kind of failure: ``min(cap_s, base_s * 2**attempt)``."""

    base_s: float
    cap_s: float

    def ceiling(self, attempt: int) -> float:
        """The longest jittered wait after failed attempt ``attempt`` (0 = the first)."""
        # 2**attempt overflows a float long after the cap is reached: clamp the exponent.
        return min(self.cap_s, self.base_s * 2.0 ** min(attempt, 32))


_TRANSPORT: Final = Backoff(0.25, 10.0)
_UNAVAILABLE: Final = Backoff(0.5, 30.0)
_THROTTLED: Final = Backoff(1.0, 60.0)
_QUOTA: Final = Backoff(30.0, 900.0)


def backoff_for(exc: BaseException) -> Backoff | None:
    """The backoff of an error's kind, or None when it must not be retried."""
    if not is_retryable(exc):
        return None
    if isinstance(exc, RateLimitExceeded):
        return _QUOTA
    if isinstance(exc, RetryableError):
        if exc.status_code == 429:
            return _THROTTLED
        if exc.status_code is None:
            # Translated transport failures carry no status (connectors.http).
            return _TRANSPORT
        return _UNAVAILABLE
    return _TRANSPORT  # a raw TimeoutError or ConnectionError


def backoff_delay(
    exc: BaseException, attempt: int, *, rng: Callable[[], float] = random.random
) -> float | None:
    """Seconds to wait before retrying after ``exc`` ended attempt ``attempt`` (0-based).

    Args:
        exc: The error the attempt ended with.
        attempt: How many attempts failed before this one (0 after the first).
        rng: A uniform draw in ``[0, 1)``; injected by tests.

    Returns:
        The wait, or None when the error must not be retried (not retryable, or its
        ``Retry-After`` is longer than :data:`MAX_RETRY_AFTER_S`).
    """
    backoff = backoff_for(exc)
    if backoff is None:
        return None
    jitter = rng() * backoff.ceiling(max(attempt, 0))
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is None:
        return jitter
    if retry_after > MAX_RETRY_AFTER_S:
        return None
    return max(float(retry_after), 0.0) + jitter


def call_with_retries(
    call: Callable[[], _T],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
) -> _T:
    """``call()``, retried on retryable errors after :func:`backoff_delay` (in place).

    For loops inside one step where letting the error end the step would redo the step's
    other calls (a burst of postings): each call is retried on its own.

    Args:
        call: The call; it must be idempotent (every outbound write in Accord is).
        attempts: Attempts in all, the first included.
        sleep: Injected by tests.
        rng: Injected by tests.

    Raises:
        Exception: The last error, when it is not retryable or attempts are spent.
    """
    for attempt in range(max(attempts, 1)):
        try:
            return call()
        except Exception as exc:
            delay = backoff_delay(exc, attempt, rng=rng)
            if delay is None or attempt >= attempts - 1:
                raise
            logger.info(
                "retrying in %.2fs after %s (attempt %d of %d)",
                delay,
                type(exc).__name__,
                attempt + 1,
                attempts,
            )
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
