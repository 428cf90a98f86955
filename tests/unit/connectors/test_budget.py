import threading
from dataclasses import dataclass

import pytest

from accord.connectors.budget import Budget, LocalBudget
from accord.connectors.testing import FakeClock


@dataclass(frozen=True)
class Limits:
    name: str = "ns"
    rate_per_s: float = 2.0
    concurrency: int = 2


def make(clock: FakeClock, **kw: float) -> LocalBudget:
    return LocalBudget(monotonic=clock.monotonic, sleep=clock.sleep, **kw)


def test_local_budget_satisfies_protocol(fake_clock: FakeClock) -> None:
    assert isinstance(make(fake_clock), Budget)


def test_rate_is_enforced_by_waiting_not_failing(fake_clock: FakeClock) -> None:
    budget = make(fake_clock)
    limits = Limits(rate_per_s=2.0)
    start = fake_clock.monotonic()
    for _ in range(5):
        with budget.acquire(limits):
            pass
    # One token is there at start; four more at 2/s take two seconds.
    assert fake_clock.monotonic() - start == pytest.approx(2.0)
    assert budget.usage(limits).acquired_total == 5


def test_penalty_pauses_halves_and_recovers(fake_clock: FakeClock) -> None:
    budget = make(fake_clock, recovery_s=10.0)
    limits = Limits(rate_per_s=4.0)
    with budget.acquire(limits):
        pass
    budget.penalize(limits, 3.0)
    usage = budget.usage(limits)
    assert usage.effective_rate_per_s == 2.0
    assert usage.penalties_total == 1
    before = fake_clock.monotonic()
    with budget.acquire(limits):
        pass
    assert fake_clock.monotonic() - before >= 3.0  # waited out Retry-After
    fake_clock.advance(2.0)
    assert 2.0 < budget.usage(limits).effective_rate_per_s < 4.0  # climbing back
    fake_clock.advance(20.0)
    assert budget.usage(limits).effective_rate_per_s == 4.0


def test_penalty_has_a_floor(fake_clock: FakeClock) -> None:
    budget = make(fake_clock, min_rate_fraction=0.25)
    limits = Limits(rate_per_s=4.0)
    for _ in range(10):
        budget.penalize(limits, None)
    assert budget.usage(limits).effective_rate_per_s == 1.0


def test_concurrency_slots_block_until_released(fake_clock: FakeClock) -> None:
    budget = make(fake_clock)
    limits = Limits(rate_per_s=1000.0, concurrency=2)
    entered = threading.Semaphore(0)
    release = threading.Event()

    def hold() -> None:
        with budget.acquire(limits):
            entered.release()
            release.wait(5)

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for t in threads:
        t.start()
    assert entered.acquire(timeout=2)
    assert entered.acquire(timeout=2)
    assert not entered.acquire(timeout=0.2)  # the third waits for a slot
    usage = budget.usage(limits)
    assert usage.in_flight == 2
    assert usage.waiting == 1
    release.set()
    assert entered.acquire(timeout=2)
    for t in threads:
        t.join(5)
    assert budget.usage(limits).max_in_flight == 2
    assert budget.usage(limits).in_flight == 0


def test_connections_are_independent(fake_clock: FakeClock) -> None:
    budget = make(fake_clock)
    a, b = Limits(name="a", rate_per_s=1.0), Limits(name="b", rate_per_s=1.0)
    with budget.acquire(a), budget.acquire(b):
        pass
    assert fake_clock.slept == []
