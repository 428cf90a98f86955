"""Per-key rate limits hold across API processes: buckets in the database."""

import pytest

from accord.store.ratelimit import DatabaseRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def two_processes(engine, db_url):
    """Two limiters with engines of their own: nothing shared but the database."""
    from accord.store import create_db_engine

    clock = Clock()
    other = create_db_engine(db_url)
    yield clock, [DatabaseRateLimiter(e, rate=10.0, burst=4, clock=clock) for e in (engine, other)]
    other.dispose()


def test_a_keys_limit_holds_across_processes(two_processes):
    clock, (a, b) = two_processes
    # Alternating between the processes: four at once (the burst), then refused in both.
    granted = [limiter.acquire("key-1") for limiter in (a, b, a, b)]
    assert granted == [0.0, 0.0, 0.0, 0.0]
    assert a.acquire("key-1") == pytest.approx(0.1)
    assert b.acquire("key-1") == pytest.approx(0.1)
    # Another key has a bucket of its own.
    assert b.acquire("key-2") == 0.0
    # 0.35 s later: three more tokens for the key, wherever they are asked for.
    clock.now += 0.35
    assert [b.acquire("key-1"), a.acquire("key-1"), b.acquire("key-1")] == [0.0, 0.0, 0.0]
    assert a.acquire("key-1") > 0


def test_a_process_spends_a_chunk_locally_and_drops_it_when_stale(engine, db_url):
    clock = Clock()
    limiter = DatabaseRateLimiter(engine, rate=100.0, burst=50, clock=clock)
    assert limiter.acquire("busy") == 0.0  # one transaction took ten tokens (0.1 s worth)
    assert all(limiter.try_local("busy") for _ in range(9))
    assert not limiter.try_local("busy")
    assert limiter.acquire("busy") == 0.0
    clock.now += 1.0  # the nine left go stale
    assert not limiter.try_local("busy")


def test_zero_rate_disables_limiting(engine):
    limiter = DatabaseRateLimiter(engine, rate=0.0, burst=1)
    assert all(limiter.acquire("a") == 0.0 for _ in range(50))
