"""Capture of approvals: the configured PSA's approved time and expenses become events.

``Services.start`` calls :func:`enable_approval_capture` (named by its flow spec)
before capture starts. It reads the ``approvals:`` section (:mod:`.settings`) and registers one
pair per approval feed of the PSA's role
(:meth:`~accord.connectors.roles.Psa.approval_feeds`: an event feed, or one feed of approved
records per kind). ``capture_interval_s: 0`` (or a PSA connection that is not configured)
unregisters them.

Each approval the role reads becomes one event, ``timesheet.approved`` (all the timesheet's
entries) or ``expense.approved`` (one expense), whose id is the approval's key: the same
whenever the approval is read again, so the journal drops re-deliveries and re-reads. An
approval that does not map becomes a delivery-ops exception (:mod:`.resolve`) instead.

**Retries.** An approval that did not map may have left its feed by the time its owner fixes
the mapping (an event feed keeps a window). So each sweep of the PSA's first approval feed
also hands on, at most once per ``retry_every``, one synthetic ``accord:retry`` record per open
``psa.approval.unmapped`` exception of the connection (its stamp is the current slot, so
capture's seen set lets one through per slot): the role reads the approval again
(:meth:`~accord.connectors.roles.Psa.approval`); mapped now, it becomes its event (same stable
id) and the exception is resolved; still unmapped, the unchanged exception is left alone.
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from accord.connectors.roles import ChangeFeed, Mapped
from accord.connectors.types import Page, RawRecord, RecordMeta
from accord.domain import Expense, Timesheet
from accord.errors import ConfigError, UnsupportedOperationError
from accord.flows import stepkit
from accord.flows.approvals.resolve import (
    Unmapped,
    open_unmapped,
    report_unmapped,
    resolve_mapped,
)
from accord.flows.approvals.settings import approval_settings
from accord.flows.capture import CaptureSpec, PageReader, canonical_event
from accord.flows.connections import Connections
from accord.flows.shared.feeds import ConnectionIds, Registrations, feed_spec
from accord.store.journal import NewEvent

__all__ = [
    "OVERLAP",
    "RETRY",
    "RETRY_EVERY",
    "approval_events",
    "approval_specs",
    "enable_approval_capture",
    "feed_reader",
]

logger = logging.getLogger(__name__)

OVERLAP = timedelta(seconds=30)
"""How far behind the newest change each sweep re-reads (late or re-delivered events)."""
RETRY = "accord:retry"
"""Event type of the synthetic records that retry an approval waiting for a fix."""
RETRY_EVERY = timedelta(seconds=60)
"""How often an approval waiting for a fix is tried again."""

Approval = Mapped[Timesheet | Expense]

_registered = Registrations()
"""Pairs :func:`enable_approval_capture` registered in this process."""


def approval_events(connection: str, mapped: Approval | None) -> list[NewEvent]:
    """The event of one approval the PSA role read (none, and an exception, if unmapped)."""
    if mapped is None:
        return []
    unmapped = Unmapped(
        kind=mapped.kind,
        system=stepkit.connections().connector(connection).kind,
        connection=connection,
        psa_id=mapped.record_id,
        label=mapped.label,
        problems=mapped.missing,
        record=mapped.context,
    )
    value = mapped.value
    if value is None:
        report_unmapped(unmapped)
        return []
    resolve_mapped(unmapped.business_key, unmapped.dedupe_key)
    return [
        canonical_event(
            f"{mapped.kind}.approved",
            value,
            subject=value.id,
            time=value.approved_at,
            event_id=mapped.key or "",
        )
    ]


def _feeds(connection: str, ids: ConnectionIds) -> tuple[ChangeFeed[Approval | None], ...]:
    return stepkit.psa(connection).approval_feeds(ids)


def _nth(
    connection: str, ids: ConnectionIds, index: int
) -> Callable[[], ChangeFeed[Approval | None]]:
    """The PSA's ``index``-th approval feed, got afresh on every call (current rules)."""
    return lambda: _feeds(connection, ids)[index]


def _retry_slot(now: datetime, every: timedelta) -> datetime:
    step = max(1, int(every.total_seconds()))
    return datetime.fromtimestamp(int(now.timestamp()) // step * step, UTC)


def feed_reader(connection: str, *, retry_every: timedelta = RETRY_EVERY) -> PageReader:
    """Reads the PSA's first approval feed, plus the retries of approvals waiting for a fix.

    The retries come first, at the start of a sweep (see the module docstring).
    """
    first = _nth(connection, ConnectionIds(connection), 0)

    def read(
        _connector: object, cursor: str | None, since: datetime | None, limit: int | None
    ) -> Page:
        page = first().read(cursor, since, limit)
        if cursor is not None:
            return page  # only at the start of a sweep
        slot = _retry_slot(datetime.now(UTC), retry_every).isoformat()
        retries: list[RawRecord] = [
            {
                "id": f"retry-{kind}-{psa_id}",
                "event_type": RETRY,
                "subject_type": kind,
                "subject_id": psa_id,
                "subject_changed_at": slot,
            }
            for kind, psa_id in open_unmapped(connection)
        ]
        return Page(
            records=[*retries, *page.records],
            next_cursor=page.next_cursor,
            high_watermark=page.high_watermark,
        )

    return read


def _retrying_spec(spec: CaptureSpec, connection: str) -> CaptureSpec:
    """The first feed's pair, which also carries the retries."""
    ids = ConnectionIds(connection)
    feed = _nth(connection, ids, 0)

    def describe(record: RawRecord) -> RecordMeta:
        if record.get("event_type") != RETRY:
            return feed().describe(record)
        stamp = datetime.fromisoformat(str(record["subject_changed_at"]))
        return RecordMeta(id=str(record["id"]), modified_at=stamp)

    def to_events(record: RawRecord) -> list[NewEvent]:
        if record.get("event_type") != RETRY:
            return approval_events(connection, feed().canonical(record))
        kind, psa_id = record.get("subject_type"), str(record.get("subject_id") or "")
        if kind not in ("timesheet", "expense"):
            return []
        return approval_events(connection, stepkit.psa(connection).approval(kind, psa_id, ids))

    return CaptureSpec(
        connection=spec.connection,
        resource=spec.resource,
        to_events=to_events,
        interval=spec.interval,
        overlap=spec.overlap,
        read=feed_reader(connection),
        describe=describe,
    )


def approval_specs(
    connection: str, *, interval: timedelta = timedelta(seconds=5)
) -> list[CaptureSpec]:
    """The capture pairs that read a PSA connection's approvals.

    Raises:
        UnsupportedOperationError: The connection is not a PSA.
    """
    ids = ConnectionIds(connection)
    specs: list[CaptureSpec] = []
    for index, found in enumerate(_feeds(connection, ids)):
        spec = feed_spec(
            connection,
            found.name,
            _nth(connection, ids, index),
            lambda mapped: approval_events(connection, mapped),
            interval=interval,
            overlap=OVERLAP,
        )
        specs.append(_retrying_spec(spec, connection) if index == 0 else spec)
    return specs


def enable_approval_capture(connections: Connections, config_file: Path | None) -> bool:
    """Register approval polling when the PSA connection is configured and polling is on.

    Returns whether it registered. A broken ``accord.yaml`` is logged, not raised: the API
    still serves, and what uses the connections reports the error where it is needed.
    """
    _registered.clear()
    if config_file is None or not config_file.exists():
        return False
    try:
        settings = approval_settings(config_file)
        configured = settings.psa_connection in connections.names()
        if settings.capture_interval_s <= 0 or not configured:
            return False
        specs = approval_specs(
            settings.psa_connection,
            interval=timedelta(seconds=max(1, settings.capture_interval_s)),
        )
    except (ConfigError, UnsupportedOperationError) as exc:
        # Without a readable PSA choice there is nothing to poll; no traceback for that.
        logger.warning("approvals capture not enabled: %s", exc)
        return False
    for spec in specs:
        _registered.register(spec)
    return True
