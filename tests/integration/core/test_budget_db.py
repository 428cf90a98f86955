"""The database-backed connection budget holds across processes (real SQLite, real processes)."""

import contextlib
import multiprocessing as mp
import threading
import time
from dataclasses import dataclass

import pytest

from accord.store import create_db_engine, migrate
from accord.store.budget import DatabaseBudget


@dataclass(frozen=True)
class Limits:
    name: str
    rate_per_s: float
    concurrency: int


def _hammer(db_url: str, limits: Limits, calls: int, threads: int, hold_s: float, q) -> None:
    engine = create_db_engine(db_url)
    budget = DatabaseBudget(engine, holder=f"p{mp.current_process().pid}")
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    def run() -> None:
        for _ in range(calls):
            with budget.acquire(limits):
                start = time.time()
                time.sleep(hold_s)
                end = time.time()
            with lock:
                spans.append((start, end))

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    budget.close()  # as Connections.close does: held slots go back at once
    engine.dispose()
    q.put(spans)


def _run(db_url: str, limits: Limits, *, procs: int, calls: int, threads: int, hold_s: float):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    ps = [
        ctx.Process(target=_hammer, args=(db_url, limits, calls, threads, hold_s, q))
        for _ in range(procs)
    ]
    for p in ps:
        p.start()
    spans = [s for _ in ps for s in q.get(timeout=120)]
    for p in ps:
        p.join(timeout=30)
    return spans


def _max_overlap(spans: list[tuple[float, float]]) -> int:
    points = sorted(
        [(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda p: (p[0], p[1])
    )
    cur = best = 0
    for _, d in points:
        cur += d
        best = max(best, cur)
    return best


@pytest.fixture
def migrated(db_url):
    engine = create_db_engine(db_url)
    migrate(engine)
    engine.dispose()
    return db_url


def test_concurrency_budget_holds_across_three_processes(migrated):
    limits = Limits("netsuite-us", rate_per_s=1000.0, concurrency=3)
    spans = _run(migrated, limits, procs=3, calls=4, threads=3, hold_s=0.03)
    assert len(spans) == 36
    assert _max_overlap(spans) <= 3
    assert _max_overlap(spans) >= 2  # the budget was actually contended


def test_rate_budget_holds_across_processes(migrated):
    limits = Limits("salesforce", rate_per_s=20.0, concurrency=50)
    t0 = time.time()
    spans = _run(migrated, limits, procs=3, calls=10, threads=1, hold_s=0.0)
    elapsed = max(e for _, e in spans) - t0
    assert len(spans) == 30
    # 30 grants at 20/s with a burst of at most 20 tokens need at least half a second.
    starts = sorted(s for s, _ in spans)
    window = [s for s in starts if s - starts[0] <= 1.0]
    # Timestamps are taken after each grant, so allow a little scheduling jitter.
    assert len(window) <= 24
    assert elapsed >= 0.45


def test_penalty_halves_the_rate_and_pauses(engine):
    limits = Limits("bc", rate_per_s=10.0, concurrency=5)
    budget = DatabaseBudget(engine)
    with budget.acquire(limits):
        pass
    budget.penalize(limits, retry_after=0.4)
    usage = budget.usage(limits)
    assert usage.penalties_total == 1
    assert usage.effective_rate_per_s == pytest.approx(5.0, rel=0.1)
    t0 = time.monotonic()
    with budget.acquire(limits):
        waited = time.monotonic() - t0
    assert waited >= 0.35
    assert budget.usage(limits).acquired_total == 2


def _hold_and_wait(db_url: str, limits: Limits, holder: str, ttl: float, ready) -> None:
    engine = create_db_engine(db_url)
    budget = DatabaseBudget(engine, holder=holder, lease_ttl_s=ttl)
    held = [budget.acquire(limits) for _ in range(limits.concurrency)]
    for cm in held:
        cm.__enter__()
    ready.set()
    time.sleep(600)  # until killed


def _killed_holder(db_url: str, limits: Limits, holder: str, ttl: float) -> None:
    """A process that takes every slot of ``limits`` and is SIGKILLed holding them."""
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_hold_and_wait, args=(db_url, limits, holder, ttl, ready))
    proc.start()
    assert ready.wait(60)
    proc.kill()
    proc.join(30)


def test_a_live_holder_keeps_its_slots_past_the_lease_lifetime(engine):
    limits = Limits("certinia", rate_per_s=100.0, concurrency=1)
    holder = DatabaseBudget(engine, holder="alive", lease_ttl_s=0.5)
    with holder.acquire(limits):
        time.sleep(1.5)  # three lifetimes: renewed, so the slot stays taken
        assert holder.usage(limits).in_flight == 1
    holder.close()


def test_a_killed_holders_slots_expire_within_the_lease_lifetime(migrated):
    limits = Limits("kantata", rate_per_s=100.0, concurrency=2)
    _killed_holder(migrated, limits, "worker-dead", ttl=1.0)
    engine = create_db_engine(migrated)
    alive = DatabaseBudget(engine, holder="worker-alive")
    t0 = time.monotonic()
    with alive.acquire(limits), alive.acquire(limits):
        waited = time.monotonic() - t0
    alive.close()
    engine.dispose()
    assert waited < 5


def test_recovering_a_dead_worker_frees_its_slots_at_once(migrated):
    from accord.flows.recovery import hand_over

    limits = Limits("netsuite", rate_per_s=100.0, concurrency=4)
    _killed_holder(migrated, limits, "worker-dead", ttl=600.0)
    engine = create_db_engine(migrated)
    alive = DatabaseBudget(engine, holder="worker-alive")
    assert alive.usage(limits).in_flight == 4
    result = hand_over(engine, "worker-dead", app_version="0", dry_run=True)
    assert result.slots_freed == 0
    assert hand_over(engine, "worker-dead", app_version="0").slots_freed == 4
    t0 = time.monotonic()
    with contextlib.ExitStack() as stack:
        for _ in range(4):
            stack.enter_context(alive.acquire(limits))
        waited = time.monotonic() - t0
    alive.close()
    engine.dispose()
    assert waited < 1


def test_a_restarted_holder_reclaims_its_leases_at_once(engine):
    limits = Limits("netsuite", rate_per_s=100.0, concurrency=1)
    before_kill = DatabaseBudget(engine, holder="worker-a", lease_ttl_s=600)
    held = before_kill.acquire(limits)
    held.__enter__()  # killed while holding the only slot (kept referenced: never released)
    restarted = DatabaseBudget(engine, holder="worker-a")
    assert restarted.release_held() == 1
    t0 = time.monotonic()
    with restarted.acquire(limits):
        assert time.monotonic() - t0 < 2
