"""What every emulator shares: record store, duplicate detection, stats, faults, control API.

An emulator subclasses :class:`Emulator`, adds its system's routes in :meth:`Emulator.add_routes`
and answers errors in its system's own shape through :meth:`Emulator.error_response`. Everything
here is in memory; :meth:`Emulator.dump_state` / :meth:`Emulator.load_state` persist it for
``accord sandbox --state FILE``.

What does *not* belong here: anything about one system's paths, payloads or auth.
"""

import asyncio
import fnmatch
import json
import random
import threading
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "BatchRun",
    "Emulator",
    "FaultSpec",
    "NaturalKeys",
    "PeriodRequest",
    "RecordStore",
    "Stats",
    "business_key",
    "retry_after_header",
    "utc_now",
]

DEFAULT_CLIENT_ID = "sandbox"
"""The client id every emulator accepts unless configured otherwise."""
DEFAULT_CLIENT_SECRET = "sandbox-secret"  # noqa: S105 - the sandbox's published demo secret
"""The client secret every emulator accepts unless configured otherwise."""

Record = dict[str, Any]
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_OPERATION = "accord_sandbox.operation"
"""ASGI scope key of a request that is one operation of a batch request (its :class:`BatchRun`)."""
_ANSWER_LOST = "accord_sandbox.answer_lost"
"""ASGI scope key set on a batch request whose answer is lost (see :class:`BatchRun`)."""
NaturalKeys = str | Iterable[str] | None
"""The identities of a created record: ``"<kind>:<value>"`` strings, or None for none.

Each emulator names two kinds. ``eid``-style kinds are the client's idempotency key (external
id, external reference, document number used as one); ``biz`` is the *business identity*:
the fields that make two records the same business fact whatever their external ids (a time
entry's employee, project, date, hours and source text; an invoice's customer, document number
and amount; a project's customer and name). Issue 21, deliver 6.
"""


def business_key(*parts: object) -> str | None:
    """``biz:`` + the parts joined, or None when any part is missing (no identity to compare).

    Numbers are normalised (``8``, ``8.0`` and ``"8.00"`` are one value) and text is compared
    case-insensitively without surrounding blanks, as a person checking for a double entry would.
    """
    out: list[str] = []
    for part in parts:
        if part is None or part == "":
            return None
        if isinstance(part, bool):
            out.append(str(part))
        elif isinstance(part, int | float | Decimal):
            out.append(format(Decimal(str(part)).normalize(), "f"))
        else:
            text = str(part).strip().casefold()
            try:
                out.append(format(Decimal(text).normalize(), "f"))
            except ArithmeticError:
                out.append(text)
    return "biz:" + "|".join(out)


def retry_after_header(retry_after: float | None) -> dict[str, str] | None:
    """``Retry-After`` in whole seconds (at least 1), or None when there is no delay to give."""
    return {"Retry-After": str(max(1, round(retry_after)))} if retry_after else None


def utc_now() -> datetime:
    """Return the current time, UTC-aware."""
    return datetime.now(UTC)


class FaultSpec(BaseModel):
    """One fault rule, posted to ``/__sandbox/faults``; scoped by method and path glob.

    Several rules may be active at once; each applies to the requests it matches.
    """

    model_config = ConfigDict(extra="forbid")

    method: str | None = Field(default=None, description="HTTP method to match, e.g. POST")
    path: str | None = Field(default=None, description="fnmatch glob on the path, e.g. */job*")
    latency_ms: int = Field(default=0, ge=0)
    jitter_ms: int = Field(default=0, ge=0)
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    status: int = Field(default=503, ge=400, le=599, description="status used by error_rate")
    message: str | None = Field(
        default=None, description="the injected error's message, in the system's error shape"
    )
    body_contains: str | None = Field(
        default=None,
        description="match only requests (or batch operations) whose body contains this text",
    )
    outage_seconds: float = Field(default=0.0, ge=0.0)
    rate_limit_per_s: float | None = Field(default=None, gt=0)
    limit_per_window: int | None = Field(
        default=None, ge=1, description="requests allowed in any sliding window of window_s"
    )
    window_s: float = Field(default=1.0, gt=0, description="length of that sliding window")
    concurrency: int | None = Field(default=None, ge=1)
    long_running_s: float | None = Field(
        default=None,
        gt=0,
        description="concurrency counts only requests in flight for this long already",
    )
    lose_response_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="apply the write, then answer 504 as a timed-out gateway would",
    )

    def matches(self, method: str, path: str, body: str | None = None) -> bool:
        """Whether this rule applies to a request (``body`` is read for ``body_contains``)."""
        if self.method and self.method.upper() != method.upper():
            return False
        if self.body_contains is not None and self.body_contains not in (body or ""):
            return False
        return not (self.path and not fnmatch.fnmatchcase(path, self.path))


@dataclass
class _ActiveFault:
    spec: FaultSpec
    created_at: float
    in_flight: int = 0
    window_start: float = 0.0
    window_count: int = 0
    recent: deque[float] = field(default_factory=deque)
    """Arrival times inside the sliding window (``limit_per_window``)."""
    started: dict[int, float] = field(default_factory=dict)
    """Start time of each request in flight, by a request key (``long_running_s``)."""

    def window_full(self, now: float) -> float | None:
        """Seconds until the sliding window has room, or None when it has room now.

        Room found is taken: the request counts in the window from now on.
        """
        limit = self.spec.limit_per_window
        if limit is None:
            return None
        while self.recent and self.recent[0] <= now - self.spec.window_s:
            self.recent.popleft()
        if len(self.recent) >= limit:
            return self.recent[0] + self.spec.window_s - now
        self.recent.append(now)
        return None

    def over_concurrency(self, now: float) -> bool:
        """Whether one more request would exceed the rule's concurrency."""
        limit = self.spec.concurrency or 0
        if self.spec.long_running_s is None:
            return self.in_flight >= limit
        long = sum(1 for t in self.started.values() if now - t >= self.spec.long_running_s)
        return long >= limit


class PeriodRequest(BaseModel):
    """Body of ``POST /__sandbox/periods``: open or close one accounting period."""

    model_config = ConfigDict(extra="forbid")

    entity: str = Field(description="subsidiary / company code, e.g. US01")
    period: str = Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")
    status: str = Field(pattern="^(open|closed)$")


@dataclass
class Stats:
    """Counters by endpoint (``METHOD /route/template``), returned by ``GET /__sandbox/stats``."""

    requests: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    writes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    duplicates: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    duplicates_by_identity: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """Duplicates by the kind of identity that matched first (``eid``, ``biz``, ...)."""
    throttled: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    operations: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """Operations carried inside batch requests, by the endpoint each would have on its own
    (a batch request itself counts once in ``requests``)."""
    window_units: int = 0
    """Requests and batch operations counted in a vendor's sliding window (``limit_per_window``):
    what the vendor's rate limit charged."""
    max_in_flight: int = 0

    def as_json(self) -> dict[str, Any]:
        """Totals plus per-endpoint breakdowns."""
        out: dict[str, Any] = {}
        for name in ("requests", "writes", "duplicates", "throttled", "errors", "operations"):
            by: dict[str, int] = getattr(self, name)
            out[name] = sum(by.values())
            out[f"{name}_by_endpoint"] = dict(sorted(by.items()))
        out["duplicates_by_identity"] = dict(sorted(self.duplicates_by_identity.items()))
        out["window_units"] = self.window_units
        out["max_in_flight"] = self.max_in_flight
        return out


class RecordStore:
    """Records by object name and id, plus natural-key tracking for duplicate detection.

    Emulators keep records in their native API shape; this class only stores and indexes them.
    """

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Record]] = defaultdict(dict)
        self._natural: dict[str, dict[str, str]] = defaultdict(dict)
        self.duplicate_count = 0
        self._lock = threading.RLock()
        self.generation = 0
        """Counts every change (a stored, deleted or reloaded record): while it stays the
        same, a listing computed earlier still holds."""

    def put(self, obj: str, record_id: str, record: Record) -> None:
        """Insert or replace one record."""
        with self._lock:
            self.generation += 1
            self.objects[obj][record_id] = record

    def get(self, obj: str, record_id: str) -> Record | None:
        """One record, or None."""
        return self.objects.get(obj, {}).get(record_id)

    def delete(self, obj: str, record_id: str) -> Record | None:
        """Remove and return one record."""
        with self._lock:
            self.generation += 1
            return self.objects.get(obj, {}).pop(record_id, None)

    def all(self, obj: str) -> list[Record]:
        """Every record of one object, in insertion order."""
        return list(self.objects.get(obj, {}).values())

    def note_created(self, obj: str, keys: NaturalKeys, record_id: str) -> str | None:
        """Remember the identities of a created record; the kind that duplicates, if any.

        A duplicate is a second live record with one of the identities of an earlier one (the
        same external id, or the same business fact under another external id): an idempotent
        client never causes one. A duplicate counts once however many identities match; the
        kind returned is that of the first matching identity (the part before ``:``).
        """
        wanted = [keys] if isinstance(keys, str) else [k for k in keys or () if k]
        if not wanted:
            return None
        with self._lock:
            seen = self._natural[obj]
            live = self.objects.get(obj, {})
            matched = next(
                (k for k in wanted if seen.get(k, record_id) != record_id and seen[k] in live),
                None,
            )
            for key in wanted:
                if key not in seen or seen[key] not in live:
                    seen[key] = record_id
            if matched is None:
                return None
            self.duplicate_count += 1
            return matched.partition(":")[0]

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self.generation += 1
            self.objects.clear()
            self._natural.clear()
            self.duplicate_count = 0

    def dump(self) -> dict[str, Any]:
        """A JSON-able snapshot."""
        return {
            "objects": {k: dict(v) for k, v in self.objects.items()},
            "natural": {k: dict(v) for k, v in self._natural.items()},
            "duplicate_count": self.duplicate_count,
        }

    def load(self, data: dict[str, Any]) -> None:
        """Replace the contents with a snapshot from :meth:`dump`."""
        with self._lock:
            self.clear()
            for k, v in data.get("objects", {}).items():
                self.objects[k] = dict(v)
            for k, v in data.get("natural", {}).items():
                self._natural[k] = dict(v)
            self.duplicate_count = int(data.get("duplicate_count", 0))


Handler = Callable[[Request], Awaitable[Response]]

_REQUEST_LOG = 10_000
"""Requests kept in an emulator's request log."""


class Emulator:
    """Base class of the four emulators: a FastAPI app with faults, stats and ``/__sandbox/``.

    Subclasses set :attr:`name`, implement :meth:`add_routes`, :meth:`error_response` and
    :meth:`seed`, and may override :meth:`reset_state`. Periods are kept here because two
    emulators (NetSuite, Business Central) close them and the control API opens them.
    """

    name: str = "emulator"
    """Short system name used in stats and logs."""

    def __init__(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        seed: int = 7,
        base_url: str = "http://127.0.0.1",
        limits: bool = True,
    ) -> None:
        self.enforce_limits = limits
        """Whether the vendor's documented limits (:meth:`vendor_limits`) are on (the default)."""
        self.client_id = client_id
        self.client_secret = client_secret
        self.seed = seed
        self.base_url = base_url.rstrip("/")
        self.rng = random.Random(seed)
        self.store = RecordStore()
        self.stats = Stats()
        self.periods: dict[tuple[str, str], str] = {}
        self._faults: list[_ActiveFault] = []
        self._fault_lock = asyncio.Lock()
        self._in_flight = 0
        self.request_log: deque[dict[str, Any]] = deque(maxlen=_REQUEST_LOG)
        """The latest requests in the order they were served: arrival, start and end times
        (seconds since the emulator started), method, path, status (``GET /__sandbox/requests``)."""
        self._started = time.monotonic()
        self.app = FastAPI(title=f"{self.name} emulator", docs_url=None, redoc_url=None)
        self.app.include_router(self._control_router())
        self.add_routes(self.app)
        self.app.middleware("http")(self._middleware)
        for spec in self.default_faults():
            self.add_fault(spec)

    # ----------------------------------------------------------------- subclass hooks
    def add_routes(self, app: FastAPI) -> None:
        """Register the system's own routes."""
        raise NotImplementedError

    def error_response(
        self, status: int, code: str, message: str, *, retry_after: float | None = None
    ) -> Response:
        """An error in the system's own shape (used for injected faults too)."""
        return JSONResponse(
            {"error": {"code": code, "message": message}},
            status,
            headers=retry_after_header(retry_after),
        )

    def seed_firm(self, firm: Any) -> None:  # noqa: ANN401 - accord_sandbox.firm.Firm, avoided cycle
        """Load the synthetic firm's records that live in this system."""

    def reset_state(self) -> None:
        """Clear everything stored; subclasses re-seed after calling super()."""
        self.store.clear()
        self.periods.clear()

    def natural_key_count(self) -> int:
        """Duplicates detected so far."""
        return self.store.duplicate_count

    # ----------------------------------------------------------------- helpers for subclasses
    def count_write(self, request: Request) -> None:
        """Count one write on the endpoint of ``request`` (the middleware counts requests)."""
        self.stats.writes[_endpoint(request)] += 1

    def count_duplicate(self, request: Request) -> None:
        """Count a refused create of a record the system already holds as a duplicate."""
        self.stats.duplicates[_endpoint(request)] += 1
        self.store.duplicate_count += 1

    def created(self, request: Request, obj: str, keys: NaturalKeys, record_id: str) -> None:
        """Record a create: counts a write, and a duplicate when one of its identities was seen.

        ``keys`` are the record's identities (see :data:`NaturalKeys`).
        """
        self.count_write(request)
        kind = self.store.note_created(obj, keys, record_id)
        if kind is not None:
            self.stats.duplicates[_endpoint(request)] += 1
            self.stats.duplicates_by_identity[kind] += 1

    def period_status(self, entity: str, day: str) -> str:
        """``open`` or ``closed`` for the month of ``day`` (YYYY-MM-DD); unknown ones are open."""
        return self.periods.get((entity, day[:7]), "open")

    # ----------------------------------------------------------------- persistence
    def dump_state(self) -> dict[str, Any]:
        """Everything needed to restore this emulator."""
        return {
            "store": self.store.dump(),
            "periods": [[e, p, s] for (e, p), s in self.periods.items()],
            "extra": self.dump_extra(),
        }

    def load_state(self, data: dict[str, Any]) -> None:
        """Restore from :meth:`dump_state`."""
        self.store.load(data.get("store", {}))
        self.periods = {(e, p): s for e, p, s in data.get("periods", [])}
        self.load_extra(data.get("extra", {}))

    def dump_extra(self) -> dict[str, Any]:
        """Subclass state beyond the record store (counters, sequences)."""
        return {}

    def load_extra(self, data: dict[str, Any]) -> None:
        """Restore :meth:`dump_extra`."""

    def save(self, path: Path) -> None:
        """Write the state to a JSON file."""
        path.write_text(json.dumps(self.dump_state(), default=str), encoding="utf-8")

    # ----------------------------------------------------------------- faults and stats
    async def _middleware(self, request: Request, call_next: Handler) -> Response:
        path = request.url.path
        endpoint = _endpoint(request, self.app)
        if path.startswith("/__sandbox/"):
            return await call_next(request)
        operation: BatchRun | None = request.scope.get(_OPERATION)
        (self.stats.requests if operation is None else self.stats.operations)[endpoint] += 1
        body = None
        if any(f.spec.body_contains is not None for f in self._faults):
            # Read only when a rule asks: Starlette keeps the body for the handler.
            body = (await request.body()).decode("utf-8", errors="replace")
        rules = [f for f in self._faults if f.spec.matches(request.method, path, body)]
        # A batch request counts in rate windows as its operations, which meet the rules of
        # their own paths; the batch itself is not counted again.
        batch = operation is None and self.is_batch_request(request.method, path)
        refused = self._refusal(rules, endpoint, windows=not batch)
        if refused is not None:
            return refused
        delay = 0.0
        lose = False
        for f in rules:
            s = f.spec
            delay += (s.latency_ms + self.rng.uniform(0, s.jitter_ms)) / 1000.0
            lose = lose or (s.lose_response_rate > 0 and self.rng.random() < s.lose_response_rate)
        lose = lose and request.method in WRITE_METHODS
        if operation is not None:
            # The batch request holds the connection: its operations meet no concurrency
            # limit. A lost answer of one of them loses the batch's answer (after the rest).
            response = await self._pass(request, call_next, endpoint, delay, [])
            operation.lost = operation.lost or lose
            return response
        limited = [f for f in rules if f.spec.concurrency is not None]
        now = time.monotonic()
        for f in limited:
            if f.over_concurrency(now):
                self.stats.throttled[endpoint] += 1
                return self.concurrency_response()
        response = await self._pass(request, call_next, endpoint, delay, limited)
        if lose or request.scope.get(_ANSWER_LOST):
            return Response(status_code=504, content=b"")
        return response

    async def _pass(
        self,
        request: Request,
        call_next: Handler,
        endpoint: str,
        delay: float,
        limited: list[_ActiveFault],
    ) -> Response:
        """Hand the request on (after ``delay``), counted in flight and in the stats.

        A batch operation is not a connection of its own: it is not counted in flight.
        """
        key = id(request)
        now = time.monotonic()
        for f in limited:
            f.in_flight += 1
            f.started[key] = now
        connection = 0 if _OPERATION in request.scope else 1
        self._in_flight += connection
        self.stats.max_in_flight = max(self.stats.max_in_flight, self._in_flight)
        entry: dict[str, Any] = {
            "at": round(now - self._started, 6),
            "method": request.method,
            "path": request.url.path,
        }
        try:
            if delay:
                await asyncio.sleep(delay)
            response = await call_next(request)
            entry["status"] = response.status_code
        finally:
            self._in_flight -= connection
            for f in limited:
                f.in_flight -= 1
                f.started.pop(key, None)
            entry["done"] = round(time.monotonic() - self._started, 6)
            if connection:
                # The log holds requests, as ``stats.requests`` does; a batch's operations
                # are inside its request (``stats.operations`` counts them).
                self.request_log.append(entry)
        if response.status_code == 429:
            self.stats.throttled[endpoint] += 1
        elif response.status_code >= 400:
            self.stats.errors[endpoint] += 1
        return response

    def _refusal(
        self, rules: list[_ActiveFault], endpoint: str, *, windows: bool = True
    ) -> Response | None:
        """The injected answer that refuses this request outright, if any rule does.

        ``windows`` False leaves the request out of rate windows (a batch request, whose
        operations are counted one by one).
        """
        now = time.monotonic()
        counted = False
        for f in rules:
            s = f.spec
            if s.outage_seconds and now - f.created_at < s.outage_seconds:
                self.stats.errors[endpoint] += 1
                return self.error_response(503, "SERVICE_UNAVAILABLE", "Service unavailable")
            if s.rate_limit_per_s is not None and windows:
                if now - f.window_start >= 1.0:
                    f.window_start, f.window_count = now, 0
                f.window_count += 1
                if f.window_count > s.rate_limit_per_s:
                    self.stats.throttled[endpoint] += 1
                    return self.throttle_response(retry_after=1.0 - (now - f.window_start))
            if windows and s.limit_per_window is not None:
                wait = f.window_full(now)
                if wait is not None:
                    self.stats.throttled[endpoint] += 1
                    return self.throttle_response(retry_after=wait)
                if not counted:
                    counted = True
                    self.stats.window_units += 1
            if s.error_rate and self.rng.random() < s.error_rate:
                self.stats.errors[endpoint] += 1
                if s.status == 429:
                    self.stats.throttled[endpoint] += 1
                    return self.throttle_response(retry_after=1.0)
                return self.error_response(
                    s.status, "INJECTED_FAULT", s.message or "Injected fault"
                )
        return None

    def is_batch_request(self, method: str, path: str) -> bool:
        """Whether a request is a batch of operations (see :class:`BatchRun`); none by default."""
        del method, path
        return False

    def throttle_response(self, *, retry_after: float) -> Response:
        """The system's answer to too many requests per second (default: 429 + Retry-After)."""
        return self.error_response(
            429, "TOO_MANY_REQUESTS", "Too many requests", retry_after=max(retry_after, 1.0)
        )

    def concurrency_response(self) -> Response:
        """The system's answer to too many concurrent requests (default: same as throttle)."""
        return self.throttle_response(retry_after=1.0)

    def add_fault(self, spec: FaultSpec) -> None:
        """Activate a fault rule (also used by emulator defaults such as NetSuite's limit)."""
        self._faults.append(_ActiveFault(spec=spec, created_at=time.monotonic()))

    def clear_faults(self) -> None:
        """Deactivate every fault rule."""
        self._faults.clear()

    def default_faults(self) -> list[FaultSpec]:
        """Rules that are always on after a reset: the vendor's limits, unless switched off."""
        return self.vendor_limits() if self.enforce_limits else []

    def vendor_limits(self) -> list[FaultSpec]:
        """The vendor's documented limits as rules (each subclass cites its source)."""
        return []

    # ----------------------------------------------------------------- control API
    def _control_router(self) -> APIRouter:
        router = APIRouter(prefix="/__sandbox", tags=["sandbox control"])

        @router.get("/stats")
        def stats() -> dict[str, Any]:
            return {"system": self.name, "in_flight": self._in_flight, **self.stats.as_json()}

        @router.post("/stats/reset", status_code=204)
        def reset_stats() -> None:
            # Counters only: records, faults and duplicate detection stay as they are.
            self.stats = Stats()
            self.request_log.clear()

        @router.get("/requests")
        def requests_log(limit: int = 1000) -> dict[str, Any]:
            """The latest requests served (not the control API's), oldest first."""
            entries = list(self.request_log)[-max(1, min(limit, _REQUEST_LOG)) :]
            return {"system": self.name, "requests": entries}

        @router.post("/faults", status_code=201)
        def add_fault(spec: FaultSpec) -> dict[str, Any]:
            self.add_fault(spec)
            return {"active": [f.spec.model_dump(exclude_defaults=True) for f in self._faults]}

        @router.get("/faults")
        def list_faults() -> dict[str, Any]:
            return {"active": [f.spec.model_dump(exclude_defaults=True) for f in self._faults]}

        @router.delete("/faults", status_code=204)
        def delete_faults() -> None:
            self.clear_faults()
            for spec in self.default_faults():
                self.add_fault(spec)

        @router.post("/reset", status_code=204)
        def reset() -> None:
            self.stats = Stats()
            self.clear_faults()
            for spec in self.default_faults():
                self.add_fault(spec)
            self.reset_state()

        @router.post("/periods")
        def set_period(body: PeriodRequest) -> dict[str, str]:
            self.periods[(body.entity, body.period)] = body.status
            return body.model_dump()

        @router.get("/periods")
        def list_periods() -> list[dict[str, str]]:
            return [
                {"entity": e, "period": p, "status": s}
                for (e, p), s in sorted(self.periods.items())
            ]

        @router.get("/records/{obj}")
        def records(obj: str) -> dict[str, Any]:
            rows = self.store.all(obj)
            return {"object": obj, "count": len(rows), "records": rows}

        return router


class BatchRun:
    """The operations of one batch request, each sent through the emulator's own app.

    An operation is handled exactly as the same request made on its own: same routes, auth
    and business rules, and the fault rules that match *its* method and path (latency,
    injected errors, rate windows: a batch of N operations counts N in a vendor's sliding
    window). Only concurrency limits do not apply, as the batch request holds one connection
    however many operations it carries. When the answer of any write operation is lost, the
    batch's whole answer is lost (a gateway timeout) after every operation was applied.

    Use it as an async context manager inside the batch request's handler::

        async with BatchRun(emulator, request) as run:
            answer = await run.send("POST", "/path", headers={...}, json={...})
    """

    def __init__(self, emulator: Emulator, request: Request) -> None:
        self.lost = False
        """Whether the answer of one of the operations is lost (set by the middleware)."""
        self._request = request
        app = emulator.app

        async def tagged(scope: Scope, receive: Receive, send: Send) -> None:
            scope[_OPERATION] = self
            await app(scope, receive, send)

        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=tagged), base_url=emulator.base_url
        )

    async def __aenter__(self) -> "BatchRun":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()
        if self.lost:
            self._request.scope[_ANSWER_LOST] = True

    async def send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        json: Any = None,  # noqa: ANN401 - the operation's JSON body
    ) -> httpx.Response:
        """One operation: ``path`` is the absolute path (with query) it would have on its own."""
        return await self._client.request(method, path, headers=dict(headers), json=json)


def _endpoint(request: Request, app: FastAPI | None = None) -> str:
    """``METHOD /route/template`` so that stats group by endpoint, not by record id."""
    route = request.scope.get("route")
    template = getattr(route, "path", None)
    if template is None and app is not None:
        for candidate in app.router.routes:
            match, _ = candidate.matches(request.scope)
            if match is Match.FULL:
                template = getattr(candidate, "path", None)
                break
    return f"{request.method} {template or request.url.path}"
