"""The backoff every retry in Accord waits (:mod:`accord.retry`)."""

import pytest

from accord.errors import (
    AuthError,
    BusinessRuleError,
    ConflictError,
    RateLimitExceeded,
    RetryableError,
)
from accord.retry import MAX_RETRY_AFTER_S, backoff_delay, backoff_for, call_with_retries

THROTTLED = RetryableError(status_code=429, connector="ns")
UNAVAILABLE = RetryableError(status_code=503, connector="ns")
TRANSPORT = RetryableError("request timed out", connector="ns", code="ReadTimeout")


@pytest.mark.parametrize(
    ("exc", "base", "cap"),
    [
        (TRANSPORT, 0.25, 10.0),
        (TimeoutError(), 0.25, 10.0),
        (ConnectionRefusedError(), 0.25, 10.0),
        (UNAVAILABLE, 0.5, 30.0),
        (RetryableError(status_code=500), 0.5, 30.0),
        (THROTTLED, 1.0, 60.0),
        (RateLimitExceeded(status_code=403), 30.0, 900.0),
    ],
)
def test_the_backoff_derives_from_the_kind_of_failure(exc, base, cap):
    backoff = backoff_for(exc)
    assert backoff is not None
    assert (backoff.base_s, backoff.cap_s) == (base, cap)
    # Exponential up to the cap: the ceiling after attempt n is base * 2**n.
    assert backoff.ceiling(0) == base
    assert backoff.ceiling(2) == min(cap, base * 4)
    assert backoff.ceiling(500) == cap


@pytest.mark.parametrize(
    "exc",
    [
        BusinessRuleError(status_code=400),
        ConflictError(status_code=409),
        AuthError(status_code=401),
        ValueError("a bug"),
    ],
)
def test_refusals_and_auth_failures_are_never_retried(exc):
    assert backoff_for(exc) is None
    assert backoff_delay(exc, 0) is None


def test_full_jitter_draws_between_zero_and_the_ceiling():
    assert backoff_delay(UNAVAILABLE, 3, rng=lambda: 0.0) == 0.0
    assert backoff_delay(UNAVAILABLE, 3, rng=lambda: 0.5) == pytest.approx(2.0)
    assert backoff_delay(UNAVAILABLE, 3, rng=lambda: 0.999) == pytest.approx(3.996)
    draws = {round(backoff_delay(UNAVAILABLE, 4) or 0.0, 6) for _ in range(50)}
    assert len(draws) > 40  # jittered, not a fixed schedule
    assert all(0 <= d <= 8.0 for d in draws)


def test_retry_after_is_a_floor_and_the_jitter_comes_on_top():
    exc = RetryableError(status_code=429, retry_after=7.0)
    assert backoff_delay(exc, 0, rng=lambda: 0.0) == 7.0
    assert backoff_delay(exc, 2, rng=lambda: 0.5) == pytest.approx(7.0 + 2.0)
    too_long = RetryableError(status_code=503, retry_after=MAX_RETRY_AFTER_S + 1)
    assert backoff_delay(too_long, 0) is None


def test_call_with_retries_waits_the_backoff_and_gives_up_after_the_attempts():
    waits: list[float] = []
    calls = iter([THROTTLED, UNAVAILABLE, "done"])

    def call() -> str:
        outcome = next(calls)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert call_with_retries(call, sleep=waits.append, rng=lambda: 0.5) == "done"
    assert waits == [0.5, 0.5]  # 429: half of 1 s; then a 503 after one failure: half of 1 s

    waits.clear()

    def always() -> None:
        raise UNAVAILABLE

    with pytest.raises(RetryableError):
        call_with_retries(always, attempts=3, sleep=waits.append, rng=lambda: 1.0)
    assert waits == [0.5, 1.0]


def test_call_with_retries_raises_a_refusal_at_once():
    waits: list[float] = []
    refused = BusinessRuleError(status_code=400)

    def call() -> None:
        raise refused

    with pytest.raises(BusinessRuleError):
        call_with_retries(call, sleep=waits.append)
    assert waits == []
