"""The shipped connector contract suite and test helpers (a pytest plugin, via ``pytest11``).

Every connector's tests subclass :class:`ConnectorContract` against its sandbox emulator and
override a handful of fixtures; the suite then checks what every connector must do: auth and a
cheap read, bounded paging to the end, incremental reads, lookups by id and external id,
idempotent upserts (the emulator's duplicate counter stays 0), the class and fields of each
error, and that the request budget holds under concurrency. Assertions check classes and
fields, never message strings.

Helpers for unit tests: :class:`MockRouter` (an ``httpx.MockTransport`` whose routes must all be
hit: the ``mock_router`` fixture fails the test otherwise), :class:`FakeClock` (UTC time,
monotonic time and sleep under test control: the ``fake_clock`` fixture) and
:class:`SandboxControl` (the emulators' ``/__sandbox/`` API).

Only tests import this module; production code never does (it imports pytest).
"""

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import yaml
from pydantic import ValidationError

from accord.connectors.base import Connector
from accord.connectors.budget import Budget, LocalBudget
from accord.connectors.config import ConnectorConfig, resolve_references
from accord.connectors.registry import config_model_for, create_connector
from accord.errors import (
    AuthError,
    BusinessRuleError,
    ConfigError,
    ConflictError,
    NotFoundError,
    RetryableError,
)

__all__ = [
    "LIVE_CONFIG_ENV",
    "ConnectorContract",
    "ConnectorFactory",
    "FakeClock",
    "LiveTenant",
    "MockRoute",
    "MockRouter",
    "SandboxControl",
    "fake_clock",
    "live_config",
    "live_values",
    "mock_router",
]

ConnectorFactory = Callable[..., Connector[Any]]
"""``make_connector(*, budget=None, **config_overrides) -> Connector``."""


# --------------------------------------------------------------------------- helpers
class FakeClock:
    """A clock under test control: UTC time, monotonic seconds and a sleep that advances both.

    Pass ``clock.now`` as a connector's ``clock``, and ``clock.monotonic`` / ``clock.sleep`` to
    :class:`~accord.connectors.budget.LocalBudget`. Thread-safe.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2025, 1, 1, tzinfo=UTC)
        self._mono = 1000.0
        self._lock = threading.Lock()
        self.slept: list[float] = []
        """Every duration passed to :meth:`sleep`, in order."""

    def now(self) -> datetime:
        """Current fake UTC time."""
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        """Current fake monotonic time in seconds."""
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        """Move both clocks forward."""
        with self._lock:
            self._now += timedelta(seconds=seconds)
            self._mono += seconds

    def sleep(self, seconds: float) -> None:
        """Record the sleep and advance the clocks instead of waiting."""
        self.slept.append(seconds)
        self.advance(seconds)


@dataclass
class MockRoute:
    """One registered route of a :class:`MockRouter` and the requests it received."""

    method: str
    path: str
    responses: list[httpx.Response]
    params: Mapping[str, str] | None = None
    calls: list[httpx.Request] = field(default_factory=list)

    def matches(self, request: httpx.Request) -> bool:
        """Same method and path, and every registered query parameter present."""
        if request.method != self.method or request.url.path != self.path:
            return False
        return all(request.url.params.get(k) == v for k, v in (self.params or {}).items())

    @property
    def called(self) -> bool:
        """Whether any request reached this route."""
        return bool(self.calls)


class MockRouter:
    """Routes for ``httpx.MockTransport``; every route must be hit by the end of the test.

    Responses of a route are answered in order, the last one repeating. A request no route
    matches fails the test. Use the ``mock_router`` fixture, which checks at teardown that every
    registered route was called (a recorded fixture nobody exercised is a test that lies).
    """

    def __init__(self) -> None:
        self.routes: list[MockRoute] = []
        self._lock = threading.Lock()

    def add(
        self,
        method: str,
        path: str,
        *responses: httpx.Response,
        params: Mapping[str, str] | None = None,
    ) -> MockRoute:
        """Register a route answering ``responses`` (later routes win on overlap)."""
        if not responses:
            raise ValueError("a route needs at least one response")
        route = MockRoute(method.upper(), path, list(responses), params)
        self.routes.insert(0, route)
        return route

    def handler(self, request: httpx.Request) -> httpx.Response:
        """The ``MockTransport`` handler."""
        request.read()
        # A snapshot: auth flows resend the same Request object with new headers.
        snapshot = httpx.Request(
            request.method, request.url, headers=request.headers.copy(), content=request.content
        )
        with self._lock:
            for route in self.routes:
                if route.matches(request):
                    index = min(len(route.calls), len(route.responses) - 1)
                    route.calls.append(snapshot)
                    template = route.responses[index]
                    break
            else:
                pytest.fail(f"unexpected request {request.method} {request.url}")
        return httpx.Response(
            template.status_code,
            headers=template.headers,
            content=template.content,
            request=request,
        )

    @property
    def transport(self) -> httpx.MockTransport:
        """A transport serving these routes."""
        return httpx.MockTransport(self.handler)

    def assert_all_called(self) -> None:
        """Fail when a registered route was never requested."""
        missed = [f"{r.method} {r.path}" for r in self.routes if not r.called]
        if missed:
            pytest.fail(f"routes never requested: {', '.join(reversed(missed))}")


class SandboxControl:
    """Client of an emulator's ``/__sandbox/`` control API (reset, faults, stats)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def reset(self) -> None:
        """Clear records, faults and stats; the emulator re-seeds its synthetic firm."""
        self.client.post("/__sandbox/reset").raise_for_status()

    def settle_and_reset_stats(self, timeout: float = 10.0) -> None:
        """Wait until no request is in flight at the emulator, then zero its counters.

        A request an earlier test gave up on (a client timeout) can still be running at the
        emulator; counting it would blame the next test for it.
        """
        deadline = time.monotonic() + timeout
        while self.stats().get("in_flight", 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.client.post("/__sandbox/stats/reset").raise_for_status()

    def stats(self) -> dict[str, Any]:
        """Request, write, duplicate, throttle and error counters, and ``max_in_flight``."""
        response = self.client.get("/__sandbox/stats")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def add_fault(self, **spec: Any) -> None:  # noqa: ANN401 - FaultSpec fields, as JSON
        """Activate a fault rule (``path``, ``method``, ``status``, ``error_rate`` ...)."""
        self.client.post("/__sandbox/faults", json=spec).raise_for_status()

    def clear_faults(self) -> None:
        """Deactivate injected faults (the emulator's default rules stay)."""
        self.client.delete("/__sandbox/faults").raise_for_status()

    def duplicates(self) -> int:
        """Records created twice so far (an idempotent client causes none)."""
        return int(self.stats()["duplicates"])


@pytest.fixture
def fake_clock() -> FakeClock:
    """A fresh :class:`FakeClock` at 2025-01-01T00:00:00Z."""
    return FakeClock()


@pytest.fixture
def mock_router() -> Iterator[MockRouter]:
    """A :class:`MockRouter` that fails the test if a registered route was never requested."""
    router = MockRouter()
    yield router
    router.assert_all_called()


# --------------------------------------------------------------------------- the contract
class ConnectorContract:
    """The contract every connector passes; subclass it as ``Test<Vendor>Contract``.

    Fixtures to override (those without a default must be):

    * ``sandbox`` -> :class:`SandboxControl` of the running emulator (required).
    * ``make_connector`` -> :data:`ConnectorFactory` building a connector against the emulator,
      with config fields overridden by keyword and an optional ``budget`` (required).
    * ``resource`` -> the resource the suite reads and writes (required).
    * ``make_record`` -> ``Callable[[str], dict]``: native fields of a valid new record whose
      external id is the argument (required).
    * ``bad_credentials`` -> config overrides that the system refuses (required).
    * ``missing_id`` -> an id that does not exist (default ``"999999999"``).
    * ``business_rule_violation`` -> ``Callable[[Connector], object]`` making a call the system
      refuses on a business rule, or ``None`` to skip (default ``None``).
    * ``conflict_violation`` -> the same for a conflicting write, or ``None`` (default).
    * ``fault_path`` -> the path glob that injected faults apply to (default ``"*"``).

    Class attributes tune the suite to the system; see each one's docstring.
    """

    page_size: ClassVar[int] = 2
    """Page size used by the paging tests (small, so that paging really happens)."""
    seed_count: ClassVar[int] = 5
    """Records created before the read tests."""
    max_pages: ClassVar[int] = 2000
    """Upper bound when paging to the end; reaching it means the cursor never ends."""
    throttle_has_retry_after: ClassVar[bool] = True
    """Whether the system's 429 carries ``Retry-After`` (NetSuite documents none)."""
    modification_resolution_s: ClassVar[float] = 1.0
    """Granularity of the system's modification times; the ``since`` test waits this long."""
    concurrency_threads: ClassVar[int] = 8
    """Threads the budget test runs at once."""
    concurrency_limit: ClassVar[int] = 2
    """The connection concurrency the budget test configures."""

    # ----------------------------------------------------------------- fixtures to override
    @pytest.fixture
    def sandbox(self) -> SandboxControl:
        """Control client of the emulator; override."""
        raise NotImplementedError("override the 'sandbox' fixture")

    @pytest.fixture
    def make_connector(self) -> ConnectorFactory:
        """Factory of connectors against the emulator; override."""
        raise NotImplementedError("override the 'make_connector' fixture")

    @pytest.fixture
    def resource(self) -> str:
        """Resource exercised by the suite; override."""
        raise NotImplementedError("override the 'resource' fixture")

    @pytest.fixture
    def make_record(self) -> Callable[[str], dict[str, Any]]:
        """Native fields of a valid record with the given external id; override."""
        raise NotImplementedError("override the 'make_record' fixture")

    @pytest.fixture
    def bad_credentials(self) -> dict[str, Any]:
        """Config overrides the system refuses; override."""
        raise NotImplementedError("override the 'bad_credentials' fixture")

    @pytest.fixture
    def missing_id(self) -> str:
        """An id that does not exist in the emulator."""
        return "999999999"

    @pytest.fixture
    def business_rule_violation(self) -> Callable[[Connector[Any]], object] | None:
        """A call refused on a business rule, or None to skip that test."""
        return None

    @pytest.fixture
    def conflict_violation(self) -> Callable[[Connector[Any]], object] | None:
        """A conflicting write, or None to skip that test."""
        return None

    @pytest.fixture
    def fault_path(self) -> str:
        """Path glob that injected faults apply to."""
        return "*"

    # ----------------------------------------------------------------- derived fixtures
    @pytest.fixture(autouse=True)
    def _fresh_sandbox(self, sandbox: SandboxControl | None) -> Iterator[None]:
        if sandbox is None:  # a real tenant (LiveTenant): nothing to reset
            yield
            return
        sandbox.reset()
        yield
        sandbox.clear_faults()

    @pytest.fixture
    def budget(self) -> LocalBudget:
        """The budget of the ``connector`` fixture (inspected by the throttle tests)."""
        return LocalBudget()

    @pytest.fixture
    def connector(
        self, make_connector: ConnectorFactory, budget: Budget
    ) -> Iterator[Connector[Any]]:
        """A connector with valid credentials, closed after the test."""
        conn = make_connector(budget=budget)
        with conn:
            yield conn

    @pytest.fixture
    def seeded(
        self,
        connector: Connector[Any],
        resource: str,
        make_record: Callable[[str], dict[str, Any]],
    ) -> dict[str, str]:
        """``seed_count`` records upserted through the connector: external id -> id."""
        out: dict[str, str] = {}
        for _ in range(self.seed_count):
            eid = _new_external_id()
            out[eid] = connector.upsert(resource, eid, make_record(eid)).id
        return out

    # ----------------------------------------------------------------- helpers
    def read_all(
        self, connector: Connector[Any], resource: str, *, since: datetime | None = None
    ) -> tuple[list[dict[str, Any]], datetime | None, int]:
        """Every record by paging to the end: (records, max high watermark, pages read)."""
        records: list[dict[str, Any]] = []
        cursor: str | None = None
        watermark: datetime | None = None
        for pages in range(1, self.max_pages + 1):
            page = connector.read_page(resource, cursor=cursor, since=since, limit=self.page_size)
            assert len(page.records) <= self.page_size
            records.extend(page.records)
            if page.high_watermark is not None:
                watermark = max(watermark or page.high_watermark, page.high_watermark)
            if page.next_cursor is None:
                return records, watermark, pages
            assert page.next_cursor != cursor, "the cursor must move"
            cursor = page.next_cursor
        pytest.fail(f"no last page after {self.max_pages} pages")

    # ----------------------------------------------------------------- the tests
    def test_check(self, connector: Connector[Any]) -> None:
        """Valid credentials authenticate and a cheap read succeeds."""
        connector.check()

    def test_discover_lists_reference_values(self, connector: Connector[Any]) -> None:
        """Reference lists (if any) are titled, say where their values go, and have ids."""
        for reference in connector.discover():
            assert reference.title
            assert reference.setting
            assert all(value.id for value in reference.values), reference.title

    def test_resources(self, connector: Connector[Any], resource: str) -> None:
        """The resource under test is declared, and the connector has a kind."""
        assert resource in connector.resources()
        assert isinstance(connector.kind, str)
        assert connector.kind

    @pytest.mark.usefixtures("seeded")
    def test_first_page(self, connector: Connector[Any], resource: str) -> None:
        """A first page is bounded by ``limit``, has a cursor and a UTC watermark."""
        page = connector.read_page(resource, limit=self.page_size)
        assert 0 < len(page.records) <= self.page_size
        assert all(isinstance(r, dict) for r in page.records)
        assert page.next_cursor is not None, "more records than one page: a cursor is due"
        assert page.high_watermark is not None
        assert page.high_watermark.utcoffset() == timedelta(0)

    def test_paging_to_end(
        self, connector: Connector[Any], resource: str, seeded: dict[str, str]
    ) -> None:
        """Following cursors reaches a last page; no record appears twice."""
        records, watermark, pages = self.read_all(connector, resource)
        ids = [connector.describe(resource, r).id for r in records]
        assert len(ids) == len(set(ids)), "a record appeared on two pages"
        assert set(seeded.values()) <= set(ids)
        assert pages > 1
        assert watermark is not None

    def test_incremental_since(
        self,
        connector: Connector[Any],
        resource: str,
        seeded: dict[str, str],
        make_record: Callable[[str], dict[str, Any]],
    ) -> None:
        """``since`` returns what changed after the watermark, not everything."""
        _, watermark, _ = self.read_all(connector, resource)
        assert watermark is not None
        threading.Event().wait(self.modification_resolution_s)
        eid = _new_external_id()
        new_id = connector.upsert(resource, eid, make_record(eid)).id
        changed, later_mark, _ = self.read_all(connector, resource, since=watermark)
        ids = {connector.describe(resource, r).id for r in changed}
        assert new_id in ids
        assert not set(seeded.values()) <= ids, "since must filter out older records"
        assert later_mark is not None
        assert later_mark > watermark
        for record in changed:
            modified = connector.describe(resource, record).modified_at
            assert modified is None or modified >= watermark - timedelta(
                seconds=self.modification_resolution_s
            )

    def test_get_and_get_by_external_id(
        self,
        connector: Connector[Any],
        resource: str,
        make_record: Callable[[str], dict[str, Any]],
    ) -> None:
        """A written record is found by id and by external id."""
        eid = _new_external_id()
        written = connector.upsert(resource, eid, make_record(eid))
        by_id = connector.describe(resource, connector.get(resource, written.id))
        assert by_id.id == written.id
        assert by_id.external_id == eid
        found = connector.get_by_external_id(resource, eid)
        assert found is not None
        assert connector.describe(resource, found).id == written.id
        assert connector.get_by_external_id(resource, _new_external_id()) is None

    def test_upsert_is_idempotent(
        self,
        connector: Connector[Any],
        resource: str,
        make_record: Callable[[str], dict[str, Any]],
        sandbox: SandboxControl | None,
    ) -> None:
        """Upserting twice leaves one record; the second reports an update."""
        eid = _new_external_id()
        fields = make_record(eid)
        first = connector.upsert(resource, eid, fields)
        second = connector.upsert(resource, eid, fields)
        assert first.created is True
        assert second.created is False
        assert second.id == first.id
        if sandbox is not None:
            assert sandbox.duplicates() == 0

    def test_update(
        self,
        connector: Connector[Any],
        resource: str,
        make_record: Callable[[str], dict[str, Any]],
    ) -> None:
        """A partial update by id succeeds and reports ``created=False``."""
        eid = _new_external_id()
        written = connector.upsert(resource, eid, make_record(eid))
        meta = connector.describe(resource, connector.get(resource, written.id))
        result = connector.update(resource, written.id, make_record(eid), etag=meta.etag)
        assert result.id == written.id
        assert result.created is False

    def test_throttle_is_retryable(
        self,
        connector: Connector[Any],
        resource: str,
        sandbox: SandboxControl | None,
        fault_path: str,
        budget: LocalBudget,
    ) -> None:
        """A 429 is a RetryableError and penalizes the budget."""
        control = _emulator(sandbox)
        connector.check()  # authenticate first: the fault must hit a data request
        control.add_fault(path=fault_path, error_rate=1.0, status=429)
        with pytest.raises(RetryableError) as caught:
            connector.read_page(resource, limit=self.page_size)
        assert caught.value.status_code == 429
        assert caught.value.connector == connector.name
        if self.throttle_has_retry_after:
            assert caught.value.retry_after is not None
            assert caught.value.retry_after > 0
        assert budget.usage(connector.config).penalties_total >= 1

    def test_server_error_is_retryable(
        self,
        connector: Connector[Any],
        resource: str,
        sandbox: SandboxControl | None,
        fault_path: str,
        missing_id: str,
    ) -> None:
        """A 5xx is a RetryableError carrying the status."""
        control = _emulator(sandbox)
        connector.check()
        control.add_fault(path=fault_path, error_rate=1.0, status=503)
        with pytest.raises(RetryableError) as caught:
            connector.get(resource, missing_id)
        assert caught.value.status_code == 503
        assert caught.value.connector == connector.name

    def test_timeout_is_retryable(
        self,
        make_connector: ConnectorFactory,
        resource: str,
        sandbox: SandboxControl | None,
        fault_path: str,
        missing_id: str,
    ) -> None:
        """A timed-out request is a RetryableError without a status."""
        control = _emulator(sandbox)
        with make_connector(timeout_s=0.2) as conn:
            conn.check()
            control.add_fault(path=fault_path, latency_ms=1000)
            with pytest.raises(RetryableError) as caught:
                conn.get(resource, missing_id)
        assert caught.value.status_code is None
        assert caught.value.connector == conn.name

    def test_bad_credentials_raise_auth_error(
        self, make_connector: ConnectorFactory, bad_credentials: dict[str, Any]
    ) -> None:
        """Refused credentials raise AuthError (after one re-authentication)."""
        with make_connector(**bad_credentials) as conn, pytest.raises(AuthError) as caught:
            conn.check()
        assert caught.value.connector == conn.name
        assert caught.value.status_code in {400, 401, 403}

    def test_missing_record_is_not_found(
        self, connector: Connector[Any], resource: str, missing_id: str
    ) -> None:
        """An unknown id raises NotFoundError with its context."""
        with pytest.raises(NotFoundError) as caught:
            connector.get(resource, missing_id)
        assert caught.value.status_code == 404
        assert caught.value.resource == resource
        assert caught.value.connector == connector.name

    def test_business_rule_error_keeps_code_and_text(
        self,
        connector: Connector[Any],
        business_rule_violation: Callable[[Connector[Any]], object] | None,
    ) -> None:
        """A business-rule refusal keeps the system's code and text."""
        if business_rule_violation is None:
            pytest.skip("the connector declares no business-rule refusal")
        with pytest.raises(BusinessRuleError) as caught:
            business_rule_violation(connector)
        assert caught.value.code
        assert caught.value.detail
        assert caught.value.status_code is not None
        assert 400 <= caught.value.status_code < 500

    def test_conflict_error(
        self,
        connector: Connector[Any],
        conflict_violation: Callable[[Connector[Any]], object] | None,
    ) -> None:
        """A conflicting write raises ConflictError."""
        if conflict_violation is None:
            pytest.skip("the connector declares no conflicting write")
        with pytest.raises(ConflictError) as caught:
            conflict_violation(connector)
        assert caught.value.status_code is not None
        assert caught.value.connector == connector.name

    def test_budget_holds_under_concurrency(
        self,
        make_connector: ConnectorFactory,
        resource: str,
        sandbox: SandboxControl | None,
        fault_path: str,
    ) -> None:
        """Many threads never exceed the connection's concurrency at the system."""
        control = _emulator(sandbox)
        budget = LocalBudget()
        limit = self.concurrency_limit
        with make_connector(budget=budget, concurrency=limit, rate_per_s=1000.0) as conn:
            conn.check()
            control.settle_and_reset_stats()
            control.add_fault(path=fault_path, latency_ms=40)

            def work(_: int) -> int:
                return len(conn.read_page(resource, limit=self.page_size).records)

            with ThreadPoolExecutor(self.concurrency_threads) as pool:
                list(pool.map(work, range(self.concurrency_threads * 2)))
            usage = budget.usage(conn.config)
        stats = control.stats()
        assert stats["max_in_flight"] <= limit
        assert stats["throttled"] == 0
        assert usage.max_in_flight <= limit
        assert usage.acquired_total >= self.concurrency_threads * 2


def _emulator(sandbox: SandboxControl | None) -> SandboxControl:
    """The emulator's control API, or skip: a real tenant cannot be told to fail or count."""
    if sandbox is None:
        pytest.skip("needs the emulator's control API (faults, counters): not on a real tenant")
    return sandbox


# --------------------------------------------------------------------------- live tenants
LIVE_CONFIG_ENV = "ACCORD_LIVE_CONFIG"
"""Names the ``accord.yaml``-style file that points the live suites at real tenants."""


def _live_document(env: Mapping[str, str]) -> tuple[Path, dict[str, Any]]:
    raw = env.get(LIVE_CONFIG_ENV)
    if not raw:
        pytest.skip(
            f"no real tenant: set {LIVE_CONFIG_ENV} to an accord.yaml whose connections: "
            "point at your sandboxes (docs/connectors.md, Live checks)"
        )
    path = Path(raw)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        pytest.fail(f"{LIVE_CONFIG_ENV}={raw}: cannot read it ({exc.__class__.__name__})")
    if not isinstance(document, dict):
        pytest.fail(f"{LIVE_CONFIG_ENV}={raw}: the top level must be a mapping")
    return path, document


def live_config(kind: str, env: Mapping[str, str] | None = None) -> ConnectorConfig:
    """The connection to a real tenant of ``kind`` for the live suites, or skip with why.

    The file named by ``ACCORD_LIVE_CONFIG`` has the format of ``accord.yaml`` (its
    ``connections:`` section, with ``${env:VAR}`` / ``${file:path}`` secrets); the first
    connection of ``kind`` is used, or the one ``ACCORD_LIVE_<KIND>`` names. Role contract
    suites use the same function, so one file drives every live suite.
    """
    environ = os.environ if env is None else env
    path, document = _live_document(environ)
    connections = document.get("connections") or {}
    wanted = environ.get(f"ACCORD_LIVE_{kind.upper()}")
    names = [
        str(name)
        for name, settings in connections.items()
        if isinstance(settings, dict) and settings.get("kind") == kind
    ]
    if wanted:
        names = [n for n in names if n == wanted]
    if not names:
        pytest.skip(f"{path}: no {kind} connection to test against")
    name = names[0]
    settings = {"name": name, **connections[name]}
    try:
        resolved = {
            key: resolve_references(
                value, env=environ, base_dir=path.parent, where=f"connection {name!r} key {key!r}"
            )
            for key, value in settings.items()
        }
        return config_model_for(kind).model_validate(resolved)
    except (ConfigError, ValidationError) as exc:
        # Not the ValidationError itself: its text would carry the secrets.
        why = exc if isinstance(exc, ConfigError) else "invalid settings"
        pytest.fail(f"{path}: {why}")


def live_values(kind: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Tenant-specific values a live suite writes with (``live: {<kind>: {...}}`` in the file).

    For instance the subsidiary a NetSuite test customer belongs to: a real account's ids are
    its own. Empty when the file has none.
    """
    _, document = _live_document(os.environ if env is None else env)
    values = (document.get("live") or {}).get(kind) or {}
    return dict(values) if isinstance(values, dict) else {}


class LiveTenant:
    """Mix into a contract suite to run it against a real tenant (marker ``live``).

    ``class TestNetSuiteLive(LiveTenant, TestNetSuiteContract): kind = "netsuite"``: the
    connector comes from :func:`live_config`; the tests that need the emulator's control API
    (injected faults, duplicate counters) skip; everything else runs as written. Records the
    suite creates stay in the tenant (their external ids start ``ACC-``): use a sandbox tenant.
    """

    pytestmark = pytest.mark.live
    kind: ClassVar[str]
    """The connector kind the live connection must have."""

    @pytest.fixture
    def sandbox(self) -> None:
        """No control API on a real tenant."""
        return

    @pytest.fixture
    def make_connector(self) -> ConnectorFactory:
        """Connectors to the live tenant, config fields overridable as the contract needs."""
        config = live_config(self.kind)

        def make(*, budget: Budget | None = None, **overrides: Any) -> Connector[Any]:  # noqa: ANN401 - config fields
            settings = {**config.model_dump(), **overrides}
            return create_connector(type(config).model_validate(settings), budget=budget)

        return make


def _new_external_id() -> str:
    """A fresh idempotency key: letters, digits and ``-`` only (safe in every system's URL)."""
    return f"ACC-{uuid.uuid4().hex[:16]}"
