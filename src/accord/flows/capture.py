"""Polling change capture: read what changed since the last poll and hand it on as events.

:func:`poll_once` reads one page per connector call, from ``since = high_watermark - overlap``,
following ``next_cursor`` for at most ``max_pages`` pages. The overlap re-reads a window of
already-seen changes on purpose (clock skew between the system's servers, second-precision
stamps, transactions that commit late), and dedupe drops what was already handed on: a record
is new unless the same ``(id, modification stamp)`` pair is in the poller's bounded seen set.
For each page, the journal rows, their run starts and the new cursor commit in **one**
transaction, so a crash either hands a page on and moves the cursor, or does neither.

Mapping a raw record to canonical events is the business flow's job, not capture's: each
:class:`CaptureSpec` carries a ``to_events`` mapper (build its events with
:func:`canonical_event`). Capture stamps every event with CloudEvents
``source = accord/capture/<connection>/<resource>`` and ``id = <record id>@<stamp>`` (unless
the mapper named the event itself: ``canonical_event(..., event_id=...)``), so a re-read record
is also deduplicated by the journal. A pair whose source is a feed rather than a collection
gives its spec a ``read`` (and ``describe``) hook instead of the connector's ``read_page``;
:func:`feed_capture` builds such a spec from a role's
:class:`~accord.connectors.roles.ChangeFeed` (the pair is named after the feed, and the flow
maps canonical objects, never raw records).

Durable polling: :func:`capture_changes` is the DBOS workflow that polls one pair (the poll is
a step; retries follow :func:`accord.retry.backoff_delay`). Pairs are declared in code with
:func:`register_capture` (``ConnectorConfig`` has no polling field); :func:`start_capture`
turns each into a DBOS schedule that enqueues :func:`capture_changes` on
:data:`CAPTURE_QUEUE`, deduplicated per pair, so a slow poll is never run twice at once.
Webhook notifications enqueue the same workflow through :func:`enqueue_capture`.
"""

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

import sqlalchemy as sa
from dbos import DBOS, Queue, SetEnqueueOptions, WorkflowHandle
from pydantic import BaseModel

from accord.connectors.base import Connector
from accord.connectors.budget import Lane, lane
from accord.connectors.roles import ChangeFeed
from accord.connectors.types import Page, RawRecord, RecordMeta
from accord.domain import EVENT_TYPES, business_key
from accord.errors import ConfigError, MappingError, RetryableError
from accord.flows.connections import CONTEXT_KEY, Connections
from accord.flows.context import flow_context
from accord.flows.intake import journal_events
from accord.flows.retries import step_retries
from accord.flows.runtime import Runtime
from accord.store import cursors
from accord.store.cursors import CursorState, SeenKey
from accord.store.journal import NewEvent
from accord.store.util import write_lock

__all__ = [
    "CAPTURE_QUEUE",
    "RUNTIME_KEY",
    "CaptureResult",
    "CaptureSpec",
    "EventMapper",
    "PageReader",
    "RecordDescriber",
    "canonical_event",
    "capture_changes",
    "capture_source",
    "capture_specs",
    "enqueue_capture",
    "feed_capture",
    "poll_once",
    "register_capture",
    "start_capture",
    "unregister_capture",
]

logger = logging.getLogger(__name__)

CAPTURE_QUEUE = "accord-capture"
"""The queue capture runs are enqueued on (one run per pair at a time, by deduplication)."""
RUNTIME_KEY = "runtime"
"""Key of the :class:`~accord.flows.runtime.Runtime` in ``FlowContext.extras``."""
SCHEDULE_PREFIX = "capture:"
"""Prefix of the DBOS schedule names capture owns (stale ones are deleted at start)."""
DEFAULT_OVERLAP = timedelta(seconds=120)
"""Default overlap window: re-read this far behind the high watermark."""
DEFAULT_MAX_SEEN = 5000
"""Default bound of the seen set kept per pair."""

EventMapper = Callable[[RawRecord], list[NewEvent]]
"""Maps one raw record to the canonical events it means (possibly none)."""
PageReader = Callable[[Connector[Any], str | None, datetime | None, int | None], Page]
"""Reads one page as ``(connector, cursor, since, limit)``, for a pair that is not a collection."""
RecordDescriber = Callable[[RawRecord], RecordMeta]
"""Describes one record a :data:`PageReader` returned (its id and version stamp)."""


# ---------------------------------------------------------------------- specs and registry
@dataclass(frozen=True)
class CaptureSpec:
    """One polled (connection, resource) pair and how its records become events.

    Attributes:
        connection: Connection name in ``accord.yaml``.
        resource: The connector's resource name (``customer``, ``Opportunity`` ...).
        to_events: The flow's mapper from a raw record to canonical events.
        interval: How often to poll; whole seconds dividing a minute, whole minutes dividing
            an hour, or whole hours dividing a day (it becomes a cron schedule).
        overlap: How far behind the high watermark each sweep starts.
        max_pages: Pages read per poll at most; the cursor resumes the sweep next time.
        page_size: Page size asked of the connector (``None``: its maximum).
        read: Reads a page instead of ``connector.read_page(resource, ...)``: for a source
            that is a feed rather than a collection (Kantata's ``/subscribed_events``);
            ``resource`` is then only the pair's name.
        describe: Describes the records ``read`` returns instead of ``connector.describe``.
    """

    connection: str
    resource: str
    to_events: EventMapper
    interval: timedelta = timedelta(seconds=60)
    overlap: timedelta = DEFAULT_OVERLAP
    max_pages: int = 10
    page_size: int | None = None
    read: PageReader | None = None
    describe: RecordDescriber | None = None

    @property
    def key(self) -> str:
        """``<connection>/<resource>``: the pair's schedule and deduplication key."""
        return f"{self.connection}/{self.resource}"

    def cron(self) -> str:
        """The interval as a six-field (seconds first) cron expression.

        Raises:
            ConfigError: The interval cannot be expressed as an even cron step.
        """
        seconds = self.interval.total_seconds()
        whole = int(seconds)
        if whole == seconds and whole >= 1:
            if whole < 60 and 60 % whole == 0:
                return f"*/{whole} * * * * *"
            minutes, hours = whole // 60, whole // 3600
            if whole % 60 == 0 and minutes < 60 and 60 % minutes == 0:
                return f"0 */{minutes} * * * *"
            if whole % 3600 == 0 and hours <= 24 and 24 % hours == 0:
                return f"0 0 */{hours} * * *"
        msg = f"capture {self.key}: interval {self.interval} is not an even cron step"
        raise ConfigError(msg)


T = TypeVar("T")


def feed_capture(
    connection: str,
    feed: ChangeFeed[T],
    to_events: Callable[[T], list[NewEvent]],
    *,
    interval: timedelta = timedelta(seconds=60),
    overlap: timedelta = DEFAULT_OVERLAP,
) -> CaptureSpec:
    """A polled pair over a role's change feed; ``to_events`` maps its canonical objects.

    The pair's resource is the feed's name (its cursor and events' ``source`` are keyed by
    it); pages come from ``feed.read`` and each raw record reaches ``to_events`` as
    ``feed.canonical(record)``.
    """

    def read(
        connector: Connector[Any], cursor: str | None, since: datetime | None, limit: int | None
    ) -> Page:
        del connector  # the feed reads through its role's own connector
        return feed.read(cursor, since, limit)

    def mapped(record: RawRecord) -> list[NewEvent]:
        return to_events(feed.canonical(record))

    return CaptureSpec(
        connection=connection,
        resource=feed.name,
        to_events=mapped,
        interval=interval,
        overlap=overlap,
        read=read,
        describe=feed.describe,
    )


_specs: dict[tuple[str, str], CaptureSpec] = {}
_specs_lock = threading.Lock()
_REGISTRATION_WAIT_S: Final = 60.0
"""How long a recovered poll waits for this process to register capture."""


def register_capture(spec: CaptureSpec) -> None:
    """Declare a polled pair (replacing an earlier spec of the same pair); validates its cron."""
    spec.cron()
    with _specs_lock:
        _specs[spec.connection, spec.resource] = spec


def unregister_capture(connection: str, resource: str) -> None:
    """Forget a polled pair (its schedule is deleted at the next :func:`start_capture`)."""
    with _specs_lock:
        _specs.pop((connection, resource), None)


def capture_specs() -> tuple[CaptureSpec, ...]:
    """Every registered pair."""
    with _specs_lock:
        return tuple(_specs.values())


def _spec(connection: str, resource: str) -> CaptureSpec:
    with _specs_lock:
        spec = _specs.get((connection, resource))
    if spec is None:
        msg = f"no capture is registered for {connection}/{resource}"
        raise ConfigError(msg)
    return spec


def capture_source(connection: str, resource: str) -> str:
    """The CloudEvents ``source`` of events captured from a pair."""
    return f"accord/capture/{connection}/{resource}"


def canonical_event(
    event_type: str,
    data: BaseModel | Mapping[str, Any],
    *,
    subject: str | None = None,
    time: datetime | None = None,
    event_id: str = "",
) -> NewEvent:
    """A canonical event for a mapper to return; capture fills in ``source`` and ``id``.

    ``event_id`` names the event when it must stay the same across versions of the record
    (capture's ``<record id>@<stamp>`` otherwise).

    Raises:
        MappingError: ``event_type`` is not canonical or ``data`` fails its model.
    """
    model = EVENT_TYPES.get(event_type)
    if model is None:
        msg = f"unknown event type {event_type!r}"
        raise MappingError(msg)
    try:
        validated = model.model_validate(
            data.model_dump(mode="json") if isinstance(data, BaseModel) else data
        )
    except ValueError as exc:
        msg = f"{event_type}: data does not fit the model ({type(exc).__name__})"
        raise MappingError(msg) from None
    return NewEvent(
        source="",
        ce_id=event_id,
        type=event_type,
        subject=subject,
        business_key=business_key(event_type, validated),
        time=time,
        data_json=validated.model_dump_json(),
    )


# ---------------------------------------------------------------------- one poll
@dataclass(frozen=True)
class CaptureResult:
    """What one :func:`poll_once` handed on.

    Attributes:
        records: The new raw records (after dedupe), in read order.
        new_cursor: Where the next poll resumes the sweep, or ``None`` when it caught up.
        high_watermark: The persisted high watermark after this poll.
        pages: Pages read.
        journaled: Events newly journaled (their runs enqueued).
        duplicates: Records dropped because they were already seen.
        conflict: Another poller moved the cursor meanwhile; this poll stopped early.
    """

    records: list[RawRecord]
    new_cursor: str | None
    high_watermark: datetime | None = None
    pages: int = 0
    journaled: int = 0
    duplicates: int = 0
    conflict: bool = False

    def summary(self) -> dict[str, Any]:
        """Counts only (never payloads): what a run checkpoints and logs."""
        return {
            "records": len(self.records),
            "journaled": self.journaled,
            "duplicates": self.duplicates,
            "pages": self.pages,
            "caught_up": self.new_cursor is None,
            "conflict": self.conflict,
            "high_watermark": self.high_watermark.isoformat() if self.high_watermark else None,
        }


@dataclass
class _Sweep:
    """Mutable totals of one poll."""

    records: list[RawRecord] = field(default_factory=list)
    pages: int = 0
    journaled: int = 0
    duplicates: int = 0


def _stamp(meta: RecordMeta) -> str:
    # The modification time says "this version"; an etag does when there is no time.
    if meta.modified_at is not None:
        return meta.modified_at.astimezone(UTC).isoformat()
    return meta.etag or ""


def _encode_resume(next_cursor: str, since: datetime | None) -> str:
    # A connector cursor is only valid with the ``since`` it was issued for, so the sweep's
    # ``since`` is kept beside it; the connector's cursor itself stays opaque.
    return json.dumps({"next": next_cursor, "since": since.isoformat() if since else None})


def _decode_resume(text: str) -> tuple[str, datetime | None] | None:
    try:
        raw = json.loads(text)
        since = raw["since"]
        return str(raw["next"]), datetime.fromisoformat(since) if since else None
    except (ValueError, KeyError, TypeError):
        return None


def _prune(seen: list[SeenKey], cutoff: datetime | None, bound: int) -> tuple[SeenKey, ...]:
    kept: list[SeenKey] = []
    for record_id, stamp in seen:
        try:
            at = datetime.fromisoformat(stamp)
        except ValueError:
            at = None  # an etag stamp: kept until the bound pushes it out
        if cutoff is None or at is None or at.tzinfo is None or at >= cutoff:
            kept.append((record_id, stamp))
    return tuple(kept[-bound:])


def _events_for(
    record: RawRecord, meta: RecordMeta, stamp: str, to_events: EventMapper, source: str
) -> list[NewEvent]:
    base = f"{meta.id}@{stamp}"
    mapped = to_events(record)
    # A mapper may name its event itself (an id stable across record versions, such as
    # ``<submission>@approved``), so that the journal drops what a later version repeats.
    if len(mapped) == 1:
        return [replace(mapped[0], source=source, ce_id=mapped[0].ce_id or base)]
    # Several events of one record version: the type keeps each id stable across re-reads.
    out: list[NewEvent] = []
    counts: dict[str, int] = {}
    for event in mapped:
        n = counts[event.type] = counts.get(event.type, 0) + 1
        suffix = event.type if n == 1 else f"{event.type}.{n}"
        out.append(replace(event, source=source, ce_id=event.ce_id or f"{base}#{suffix}"))
    return out


def _hand_on(conn: sa.Connection, runtime: Runtime, events: Sequence[NewEvent]) -> int:
    """Journal the events not journaled yet and enqueue their runs; returns how many."""
    if not events:
        return 0
    journaled = journal_events(conn, runtime, events)
    return sum(1 for _, existed in journaled.values() if not existed)


def _commit_page(
    engine: sa.Engine,
    runtime: Runtime,
    *,
    expected: CursorState,
    new_state: CursorState,
    events: Sequence[NewEvent],
) -> tuple[CursorState, int] | None:
    """Hand a page's events on and move the cursor, in one transaction.

    Returns the saved state and the number of events journaled, or ``None`` when another
    poller moved the cursor since ``expected`` was read (nothing is written then).
    """
    try:
        with engine.begin() as conn:
            write_lock(conn)
            current = cursors.get(
                conn, connection=expected.connection, resource=expected.resource, for_update=True
            )
            if current.updated_at != expected.updated_at:
                return None
            journaled = _hand_on(conn, runtime, events)
            return cursors.save(conn, new_state), journaled
    except (sa.exc.IntegrityError, sa.exc.OperationalError) as exc:
        # Another writer journaled one of these events or holds the lock: the next attempt
        # finds the journaled ones as duplicates.
        msg = "capture commit lost a race"
        raise RetryableError(
            msg, connector=expected.connection, resource=expected.resource
        ) from exc


def poll_once(
    connector: Connector[Any],
    *,
    connection: str,
    resource: str,
    engine: sa.Engine,
    runtime: Runtime,
    to_events: EventMapper,
    overlap: timedelta = DEFAULT_OVERLAP,
    max_pages: int = 10,
    page_size: int | None = None,
    max_seen: int = DEFAULT_MAX_SEEN,
    read: PageReader | None = None,
    describe: RecordDescriber | None = None,
) -> CaptureResult:
    """Read what changed since the last poll and hand the new records on as journal events.

    Args:
        connector: The connection's connector.
        connection: Connection name (the cursor's key and the events' ``source``).
        resource: Resource to read.
        engine: Accord's database (cursors, journal and run starts).
        runtime: The launched durable runtime; each new event's run is enqueued with it.
        to_events: Maps a new raw record to canonical events (see :func:`canonical_event`).
        overlap: How far behind the high watermark a new sweep starts.
        max_pages: Pages read at most; an unfinished sweep resumes from its cursor next time.
        page_size: Page size asked of the connector.
        max_seen: Bound of the persisted seen set.
        read: Reads a page instead of ``connector.read_page`` (see :class:`CaptureSpec`).
        describe: Describes ``read``'s records instead of ``connector.describe``.

    Returns:
        The new records, the cursor the next poll resumes from, and counts.

    Raises:
        ConnectorError: The read failed (``RetryableError`` for transient failures).
        MappingError: ``to_events`` refused a record; nothing of that page is handed on.
        RetryableError: A concurrent writer won a race on the journal or the database lock.
    """
    source = capture_source(connection, resource)
    with engine.connect() as conn:
        state = cursors.get(conn, connection=connection, resource=resource)
    resume = _decode_resume(state.cursor) if state.cursor else None
    if resume is not None:
        page_cursor, since = resume
    else:
        page_cursor = None
        since = state.high_watermark - overlap if state.high_watermark else None
    seen = list(state.seen)
    seen_set = set(seen)
    watermark = state.high_watermark
    sweep = _Sweep()
    conflict = False
    next_cursor: str | None = None
    for _ in range(max(1, max_pages)):
        if read is not None:
            page = read(connector, page_cursor, since, page_size)
        else:
            page = connector.read_page(resource, cursor=page_cursor, since=since, limit=page_size)
        sweep.pages += 1
        fresh: list[RawRecord] = []
        events: list[NewEvent] = []
        for record in page.records:
            meta = describe(record) if describe else connector.describe(resource, record)
            pair = (meta.id, _stamp(meta))
            if pair in seen_set:
                sweep.duplicates += 1
                continue
            events.extend(_events_for(record, meta, pair[1], to_events, source))
            seen_set.add(pair)
            seen.append(pair)
            fresh.append(record)
        if page.high_watermark is not None and (
            watermark is None or page.high_watermark > watermark
        ):
            watermark = page.high_watermark
        next_cursor = page.next_cursor
        new_state = CursorState(
            connection=connection,
            resource=resource,
            cursor=_encode_resume(next_cursor, since) if next_cursor else None,
            high_watermark=watermark,
            seen=_prune(seen, watermark - overlap if watermark else None, max_seen),
        )
        committed = _commit_page(
            engine, runtime, expected=state, new_state=new_state, events=events
        )
        if committed is None:
            conflict = True
        else:
            state, journaled = committed
            sweep.journaled += journaled
        if conflict:
            logger.info("capture %s/%s: another poller moved the cursor", connection, resource)
            break
        sweep.records.extend(fresh)
        if next_cursor is None:
            break
        page_cursor = next_cursor
    return CaptureResult(
        records=sweep.records,
        new_cursor=None if conflict else next_cursor,
        high_watermark=state.high_watermark,
        pages=sweep.pages,
        journaled=sweep.journaled,
        duplicates=sweep.duplicates,
        conflict=conflict,
    )


# ---------------------------------------------------------------------- durable polling
@dataclass(frozen=True)
class CaptureRequest:
    """The input of the poll step: which pair to poll."""

    connection: str
    resource: str


@DBOS.step(name="poll_changes", **step_retries(5))
def _poll(
    spec: CaptureSpec, connections: Connections, engine: sa.Engine, runtime: Runtime
) -> CaptureResult:
    return poll_once(
        connections.connector(spec.connection),
        connection=spec.connection,
        resource=spec.resource,
        engine=engine,
        runtime=runtime,
        to_events=spec.to_events,
        overlap=spec.overlap,
        max_pages=spec.max_pages,
        page_size=spec.page_size,
        read=spec.read,
        describe=spec.describe,
    )


def poll_changes(request: CaptureRequest) -> dict[str, Any]:
    """Poll one pair once (one :func:`poll_once`); returns its counts."""
    ctx = flow_context()
    # A restarted process recovers its pending polls before it registers capture: wait for
    # the registrations a moment instead of ending the run in error.
    deadline = time.monotonic() + _REGISTRATION_WAIT_S
    while not capture_specs() and time.monotonic() < deadline:
        time.sleep(0.5)
    spec = _spec(request.connection, request.resource)
    connections: Connections = ctx.extras[CONTEXT_KEY]
    runtime: Runtime = ctx.extras[RUNTIME_KEY]
    # Polling waits on nobody: its calls go after people's and flows' on the budget.
    with lane(Lane.BULK):
        result = _poll(spec, connections, ctx.engine, runtime)
    logger.info(
        "captured %s: %d new, %d duplicate, %d page(s)",
        spec.key,
        len(result.records),
        result.duplicates,
        result.pages,
    )

    return {"connection": spec.connection, "resource": spec.resource, **result.summary()}


@DBOS.workflow(name="capture_changes")
def capture_changes(connection: str, resource: str) -> dict[str, Any]:
    """Poll one (connection, resource) pair and hand its changes on."""
    return poll_changes(CaptureRequest(connection=connection, resource=resource))


_queue: Queue | None = None


def _dedupe_id(connection: str, resource: str) -> str:
    return f"capture:{connection}/{resource}"


@DBOS.workflow(name="capture_tick")
def capture_tick(scheduled_at: datetime, context: Any) -> None:  # noqa: ANN401 - DBOS's context
    """A schedule's tick: enqueue the pair's capture run unless one is already waiting."""
    del scheduled_at  # the poll reads from its cursor, not from the tick time
    queue = _queue
    if queue is None or not isinstance(context, dict):
        logger.warning("capture tick ignored: capture is not started in this process")
        return
    connection, resource = str(context["connection"]), str(context["resource"])
    with SetEnqueueOptions(
        deduplication_id=_dedupe_id(connection, resource), duplication_policy="return-existing"
    ):
        queue.enqueue(capture_changes, connection, resource)


def enqueue_capture(runtime: Runtime, connection: str, resource: str) -> str:
    """Enqueue a capture run of a pair now, deduplicated with a waiting one; returns its id.

    Raises:
        ConfigError: The pair is not registered for capture.
    """
    _spec(connection, resource)
    client = runtime.client
    if client is None:
        msg = "the flow runtime is not launched in this process"
        raise RuntimeError(msg)
    options: Any = {
        "workflow_name": "capture_changes",
        "queue_name": CAPTURE_QUEUE,
        "app_version": runtime.app_version,
        "deduplication_id": _dedupe_id(connection, resource),
        "duplication_policy": "return-existing",
    }
    handle: WorkflowHandle[dict[str, Any]] = client.enqueue(options, connection, resource)
    return str(handle.workflow_id)


def start_capture(connections: Connections, *, concurrency: int = 4) -> list[str]:
    """Register the capture queue and one DBOS schedule per registered pair (after launch).

    Pairs whose connection is not configured are skipped with a warning; schedules of pairs
    no longer registered are deleted. Returns the pairs scheduled (``connection/resource``).
    """
    global _queue  # noqa: PLW0603 - one runtime per process, like the flow context
    _queue = DBOS.register_queue(
        CAPTURE_QUEUE,
        worker_concurrency=concurrency,
        polling_interval_sec=0.5,
        on_conflict="always_update",
    )
    specs = capture_specs()
    # Reading accord.yaml only when something is polled keeps connection loading lazy.
    configured = set(connections.names()) if specs else set()
    wanted: list[Any] = []
    for spec in specs:
        if spec.connection not in configured:
            logger.warning("capture %s skipped: no such connection", spec.key)
            continue
        wanted.append(
            {
                "schedule_name": SCHEDULE_PREFIX + spec.key,
                "workflow_fn": capture_tick,
                "schedule": spec.cron(),
                "context": {"connection": spec.connection, "resource": spec.resource},
                "queue_name": CAPTURE_QUEUE,
            }
        )
    names = {entry["schedule_name"] for entry in wanted}
    for existing in DBOS.list_schedules(schedule_name_prefix=SCHEDULE_PREFIX):
        if existing["schedule_name"] not in names:
            DBOS.delete_schedule(existing["schedule_name"])
    if wanted:
        DBOS.apply_schedules(wanted)
    return sorted(name.removeprefix(SCHEDULE_PREFIX) for name in names)
