"""What a real flow retries and what it does not, against the sandbox's fault injection.

Lead-to-project provisions an opportunity while NetSuite misbehaves at the ERP step
(``PUT .../record/v1/job/...``): a 429 storm, 503s, answers slower than the client's timeout
and refused connections are retried (with the jittered backoff of :mod:`accord.retry`, a
``Retry-After`` honoured) until the project exists, once; a business refusal and an
authentication failure are not retried at all.

NetSuite is reached through a :class:`~accord_sandbox.gate.TcpGate`, a TCP forwarder the test
can close (connections refused) and open again, and with a 2 s client timeout.
"""

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dbos import DBOS
from tests.e2e.lead_to_project.conftest import Accord, start_accord

from accord.errors import BusinessRuleError, RetryableError
from accord.flows.retries import StepRetry
from accord.observability.metrics import get_metrics
from accord_sandbox.common import FaultSpec
from accord_sandbox.gate import TcpGate as Gate
from accord_sandbox.server import SandboxHandle

PSA = "kantata"
JOB = "*/record/v1/job/*"
PUT_RECORD = "PUT /services/rest/record/v1/{record_type}/{key}"


# ---------------------------------------------------------------------- a step's waits
_sleeps: list[float] = []
_outcomes: list[Exception | None] = []


@DBOS.step(
    name="test.retries.flaky",
    retries_allowed=True,
    max_attempts=4,
    interval_seconds=0.0,
    backoff_rate=1.0,
    should_retry=StepRetry(4, sleep=_sleeps.append, rng=lambda: 0.5),
)
def _flaky() -> int:
    outcome = _outcomes.pop(0)
    if outcome is not None:
        raise outcome
    return len(_outcomes)


@DBOS.workflow(name="test.retries.flaky_run")
def _flaky_run() -> int:
    return _flaky()


def _run_flaky(*outcomes: Exception | None) -> tuple[object, list[float]]:
    _sleeps.clear()
    _outcomes[:] = list(outcomes)
    handle = DBOS.start_workflow(_flaky_run)
    try:
        return handle.get_result(), list(_sleeps)
    except Exception as exc:
        return exc, list(_sleeps)


class _Routed:
    """The module's sandbox, with NetSuite's URL replaced by the gate's."""

    def __init__(self, sandbox: SandboxHandle, gate: Gate) -> None:
        self.emulators = sandbox.emulators
        self.urls = {**sandbox.urls, "netsuite": gate.url}


@pytest.fixture(scope="module")
def gate(sandbox: SandboxHandle) -> Iterator[Gate]:
    g = Gate(sandbox.urls["netsuite"])
    g.open()
    # The account's URL is the gate's, as behind a proxy: a token assertion's audience (and
    # every link) names the URL the client calls.
    emulator = sandbox.emulators["netsuite"]
    before, emulator.base_url = emulator.base_url, g.url
    yield g
    emulator.base_url = before
    g.close()


@pytest.fixture(scope="module")
def accord(
    sandbox: SandboxHandle, gate: Gate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Accord]:
    def tweak(document: dict[str, Any]) -> None:
        document["connections"]["netsuite"]["timeout_s"] = 2

    yield from start_accord(
        tmp_path_factory.mktemp("l2p-retries"), _Routed(sandbox, gate), psa=PSA, tweak=tweak
    )


@pytest.fixture
def netsuite(accord: Accord) -> Iterator[Any]:
    emulator = accord.sandbox.emulators["netsuite"]
    yield emulator
    _clear(emulator)


def _clear(emulator: Any) -> None:
    emulator.clear_faults()
    for spec in emulator.default_faults():
        emulator.add_fault(spec)


def _errors(kind: str) -> float:
    return get_metrics().connector_errors.labels("netsuite", kind)._value.get()


def until(condition: Callable[[], bool], then: Callable[[], None], timeout: float = 60) -> None:
    """In the background: once ``condition()`` holds, call ``then()`` (the fault is lifted)."""

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.005)
        then()

    threading.Thread(target=watch, daemon=True).start()


def _refused(emulator: Any) -> int:
    stats = emulator.stats
    return stats.errors.get(PUT_RECORD, 0) + stats.throttled.get(PUT_RECORD, 0)


def _put_count(emulator: Any) -> int:
    return emulator.stats.requests.get(PUT_RECORD, 0)


def provision(accord: Accord) -> tuple[str, dict[str, Any], float]:
    account = accord.account(entity="US01")
    opp = accord.opportunity(account)
    started = time.monotonic()
    run = accord.provision(opp)
    return opp, run, time.monotonic() - started


def assert_provisioned_once(accord: Accord, opp: str, run: dict[str, Any]) -> None:
    assert run["status"] == "provisioned", run
    jobs = [j for j in accord.records("netsuite", "job") if j.get("externalId") == f"PRJ-SF-{opp}"]
    assert len(jobs) == 1
    assert set(accord.duplicates().values()) == {0}


# ---------------------------------------------------------------------- a step's waits
def test_a_step_waits_the_jittered_backoff_and_honours_retry_after(accord: Accord) -> None:
    throttled = RetryableError(status_code=429, retry_after=0.2)
    unavailable = RetryableError(status_code=503)
    result, sleeps = _run_flaky(throttled, unavailable, throttled, None)
    assert result == 0
    # Half of each ceiling (rng 0.5): 429 base 1 s, 503 base 0.5 s, doubling per attempt;
    # a Retry-After comes on top.
    assert sleeps == pytest.approx([0.2 + 0.5, 0.5, 0.2 + 2.0])


def test_a_step_gives_up_after_its_attempts_without_a_last_wait(accord: Accord) -> None:
    unavailable = RetryableError(status_code=503)
    result, sleeps = _run_flaky(unavailable, unavailable, unavailable, unavailable)
    assert isinstance(result, Exception)
    assert len(sleeps) == 3


def test_a_step_refused_is_not_retried(accord: Accord) -> None:
    result, sleeps = _run_flaky(BusinessRuleError(status_code=400), None)
    assert isinstance(result, BusinessRuleError)
    assert sleeps == []
    assert _outcomes == [None]  # the second attempt never ran


# ---------------------------------------------------------------------- retried
def test_a_429_storm_is_retried_after_retry_after(accord: Accord, netsuite: Any) -> None:
    netsuite.add_fault(FaultSpec(method="PUT", path=JOB, error_rate=1.0, status=429))
    before = netsuite.stats.throttled.get(PUT_RECORD, 0)
    seen: list[float] = []

    def third_refusal() -> bool:
        count = netsuite.stats.throttled.get(PUT_RECORD, 0) - before
        if count > len(seen):
            seen.append(time.monotonic())
        return count >= 3

    until(third_refusal, netsuite.clear_faults)
    opp, run, _ = provision(accord)
    assert_provisioned_once(accord, opp, run)
    assert len(seen) >= 3
    # Each 429 said "Retry-After: 1": no retry came sooner (DBOS's own schedule would have
    # retried after 0.5 s).
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    assert min(gaps) >= 0.95, gaps


def test_5xx_answers_are_retried(accord: Accord, netsuite: Any) -> None:
    netsuite.add_fault(FaultSpec(method="PUT", path=JOB, error_rate=1.0, status=503))
    before = _refused(netsuite)
    until(lambda: _refused(netsuite) >= before + 3, netsuite.clear_faults)
    opp, run, _ = provision(accord)
    assert_provisioned_once(accord, opp, run)
    assert _refused(netsuite) >= before + 3


def test_answers_slower_than_the_timeout_are_retried(accord: Accord, netsuite: Any) -> None:
    # The slow write is applied after the client gave up: the retry's upsert finds it.
    netsuite.add_fault(FaultSpec(method="PUT", path=JOB, latency_ms=2500))
    before = _errors("timeout")
    until(lambda: _errors("timeout") >= before + 2, netsuite.clear_faults)
    opp, run, _ = provision(accord)
    assert_provisioned_once(accord, opp, run)
    assert _errors("timeout") >= before + 2


def test_refused_connections_are_retried(accord: Accord, gate: Gate) -> None:
    gate.close()
    before = _errors("transport")
    until(lambda: _errors("transport") >= before + 2, gate.open)
    opp, run, _ = provision(accord)
    assert_provisioned_once(accord, opp, run)
    assert _errors("transport") >= before + 2


# ---------------------------------------------------------------------- not retried
def test_a_business_refusal_is_not_retried(accord: Accord, netsuite: Any) -> None:
    store = netsuite.store
    original = dict(store.get("department", "103"))
    store.put("department", "103", {**original, "isInactive": True})
    try:
        before = _refused(netsuite)
        account = accord.account(entity="US01")
        opp = accord.opportunity(account, Practice__c="DATA")
        run = accord.provision(opp)
    finally:
        store.put("department", "103", original)
    assert run["status"] == "erp_rejected", run
    assert _refused(netsuite) == before + 1


def test_an_authentication_failure_is_not_retried(accord: Accord, netsuite: Any) -> None:
    # Echoes of earlier tests' write-backs are polled first: only this test's run meets the 401.
    accord.poll()
    accord.settle()
    netsuite.add_fault(FaultSpec(method="PUT", path=JOB, error_rate=1.0, status=401))
    before_puts, before_auth = _put_count(netsuite), _errors("auth")
    account = accord.account(entity="US01")
    opp = accord.opportunity(account)
    accord.poll()
    runs = [r for r in accord.settle() if isinstance(r["output"], dict) or r["status"] == "ERROR"]
    _clear(netsuite)
    # One attempt: the request, then one re-authentication and the resend (the auth flow's
    # own). Six attempts would have sent a dozen.
    assert _errors("auth") - before_auth == 2
    assert _put_count(netsuite) - before_puts < 6
    assert any(r["status"] == "ERROR" for r in runs)
    jobs = [j for j in accord.records("netsuite", "job") if j.get("externalId") == f"PRJ-SF-{opp}"]
    assert jobs == []
