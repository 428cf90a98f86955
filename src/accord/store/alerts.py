"""The alerts table: one row per firing of an alert instance, and its notifications.

An alert *instance* is one rule applied to one thing (an event, an exception, a connection, a
label set). While it fires, its row's ``active_key`` (``<rule>|<instance>``) is set and unique,
which is what makes one webhook notification per instance until it clears hold across every
worker evaluating rules. When it clears, ``active_key`` goes back to NULL and one ``resolved``
notification follows. A row owes a ``firing`` notification until ``fired_sent_at`` is set, and
(once resolved, if the firing one went out) a ``resolved`` one until ``resolved_sent_at`` is.

Also here: the store reads rules make (events past their SLA, exceptions open too long,
exceptions escalated past their queue's SLA).
What does not belong here: the rules and their evaluation (:mod:`accord.alerts`).
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from accord.store.tables import alerts, exceptions, journal, lineage
from accord.store.util import as_utc, utc_now

__all__ = [
    "AgedException",
    "Alert",
    "AlertKind",
    "AlertState",
    "EscalatedException",
    "Instance",
    "OverdueEvent",
    "active_keys",
    "aged_exceptions",
    "claim_notification",
    "count_firing",
    "escalated_exceptions",
    "get",
    "list_",
    "list_active_alerts",
    "notifications_due",
    "overdue_events",
    "record_notification",
    "sync_rule",
]

AlertKind = Literal["firing", "resolved"]
"""What a notification announces (and an alert's status)."""


@dataclass(frozen=True)
class Instance:
    """One firing instance, as a rule's evaluation reports it."""

    key: str
    summary: str
    labels: dict[str, str] = field(default_factory=dict)
    value: float | None = None


@dataclass(frozen=True)
class Alert:
    """One alert row, for the API and the console."""

    id: int
    rule: str
    instance_key: str
    status: AlertKind
    severity: str
    summary: str
    labels: dict[str, str]
    value: float | None
    fired_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    notified_at: datetime | None
    """When the firing notification was delivered (None: pending, failing or no webhook)."""
    attempts: int
    last_error: str | None


def _alert(r: sa.Row[Any]) -> Alert:
    try:
        labels = json.loads(r.labels)
    except ValueError:
        labels = {}
    now = utc_now()
    return Alert(
        id=r.id,
        rule=r.rule,
        instance_key=r.instance_key,
        status=r.status,
        severity=r.severity,
        summary=r.summary,
        labels=labels if isinstance(labels, dict) else {},
        value=r.value,
        fired_at=as_utc(r.fired_at) or now,
        last_seen_at=as_utc(r.last_seen_at) or now,
        resolved_at=as_utc(r.resolved_at),
        notified_at=as_utc(r.fired_sent_at),
        attempts=r.attempts,
        last_error=r.last_error,
    )


def list_active_alerts(conn: sa.Connection, *, limit: int = 500) -> list[Alert]:
    """Firing alerts, critical first, then oldest first (what the console shows)."""
    severity_rank = sa.case(
        (alerts.c.severity == "critical", 0), (alerts.c.severity == "warning", 1), else_=2
    )
    q = (
        sa.select(alerts)
        .where(alerts.c.status == "firing")
        .order_by(severity_rank, alerts.c.fired_at, alerts.c.id)
        .limit(limit)
    )
    return [_alert(r) for r in conn.execute(q)]


def list_(
    conn: sa.Connection,
    *,
    status: AlertKind | None = None,
    rule: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Alert]:
    """Alerts newest first, filtered."""
    q = sa.select(alerts).order_by(alerts.c.fired_at.desc(), alerts.c.id.desc())
    if status:
        q = q.where(alerts.c.status == status)
    if rule:
        q = q.where(alerts.c.rule == rule)
    return [_alert(r) for r in conn.execute(q.limit(limit).offset(offset))]


def _active_key(rule: str, key: str) -> str:
    return f"{rule}|{key}"[:660]


def sync_rule(
    conn: sa.Connection,
    *,
    rule: str,
    severity: str,
    instances: Sequence[Instance],
    known: set[str] | None,
    now: datetime | None = None,
) -> tuple[list[str], list[str]]:
    """Make the table match one evaluation of a rule; returns (fired, resolved) instance keys.

    Args:
        conn: A connection inside a transaction.
        rule: The rule's name.
        severity: Its severity, stored on new rows.
        instances: What fires now.
        known: Instance keys whose state the evaluation could judge; a firing row outside it
            is left alone (a connection this worker never called). None means all.
        now: Evaluation time.
    """
    now = now or utc_now()
    rows = conn.execute(
        sa.select(alerts.c.id, alerts.c.instance_key).where(
            alerts.c.rule == rule, alerts.c.status == "firing"
        )
    ).all()
    active = {r.instance_key: r.id for r in rows}
    current = {i.key: i for i in instances}
    fired: list[str] = []
    for key, inst in current.items():
        if key in active:
            continue
        try:
            # A savepoint, so that losing the race to another worker keeps our transaction.
            with conn.begin_nested():
                conn.execute(
                    sa.insert(alerts).values(
                        rule=rule,
                        instance_key=key[:512],
                        active_key=_active_key(rule, key),
                        status="firing",
                        severity=severity,
                        summary=inst.summary[:512],
                        labels=json.dumps(inst.labels, sort_keys=True),
                        value=inst.value,
                        fired_at=now,
                        last_seen_at=now,
                    )
                )
            fired.append(key)
        except sa.exc.IntegrityError:
            continue
    still = [active[k] for k in current if k in active]
    if still:
        conn.execute(sa.update(alerts).where(alerts.c.id.in_(still)).values(last_seen_at=now))
    gone = [(k, i) for k, i in active.items() if k not in current and (known is None or k in known)]
    if gone:
        conn.execute(
            sa.update(alerts)
            .where(alerts.c.id.in_([i for _, i in gone]))
            .values(
                status="resolved",
                active_key=None,
                resolved_at=now,
                # The resolved notice gets a fresh set of delivery attempts.
                attempts=0,
                next_attempt_at=0,
                last_error=None,
            )
        )
    return fired, [k for k, _ in gone]


def count_firing(conn: sa.Connection) -> dict[str, int]:
    """Firing instances by rule."""
    rows = conn.execute(
        sa.select(alerts.c.rule, sa.func.count().label("n"))
        .where(alerts.c.status == "firing")
        .group_by(alerts.c.rule)
    )
    return {r.rule: int(r.n) for r in rows}


def get(conn: sa.Connection, *, id: int) -> Alert | None:  # noqa: A002 - repository style
    """One alert by id, or None."""
    row = conn.execute(sa.select(alerts).where(alerts.c.id == id)).first()
    return _alert(row) if row else None


def active_keys(conn: sa.Connection, *, rule: str) -> list[str]:
    """Instance keys of a rule's firing alerts."""
    return list(
        conn.execute(
            sa.select(alerts.c.instance_key).where(
                alerts.c.rule == rule, alerts.c.status == "firing"
            )
        ).scalars()
    )


# ---------------------------------------------------------------------- what rules read
@dataclass(frozen=True)
class OverdueEvent:
    """An event whose flow has not reached a done status in time."""

    event_id: str
    business_key: str
    received_at: datetime | None


def overdue_events(
    conn: sa.Connection,
    *,
    event_type: str,
    done_statuses: Sequence[str],
    received_before: datetime,
    received_since: datetime,
    limit: int,
    also: Sequence[str] = (),
) -> list[OverdueEvent]:
    """Events of a type received in a window, oldest first, no lineage edge of which is done.

    Args:
        conn: The database.
        event_type: The event type.
        done_statuses: Lineage statuses that mean the event is done.
        received_before: Only events received before this (the SLA's deadline).
        received_since: Only events received since this (the lookback).
        limit: At most this many from the window.
        also: Event ids checked whatever their age (instances already firing).
    """
    done = (
        sa.select(lineage.c.id)
        .where(lineage.c.event_id == journal.c.event_id, lineage.c.status.in_(done_statuses))
        .exists()
    )
    cols = (journal.c.event_id, journal.c.business_key, journal.c.received_at)
    rows = list(
        conn.execute(
            sa.select(*cols)
            .where(
                journal.c.type == event_type,
                journal.c.received_at < received_before,
                journal.c.received_at >= received_since,
                ~done,
            )
            .order_by(journal.c.received_at)
            .limit(limit)
        )
    )
    if also:
        rows += conn.execute(sa.select(*cols).where(journal.c.event_id.in_(also), ~done)).all()
    return [OverdueEvent(r.event_id, r.business_key, as_utc(r.received_at)) for r in rows]


@dataclass(frozen=True)
class AgedException:
    """An exception open for longer than a rule allows."""

    id: int
    queue: str
    code: str
    business_key: str
    created_at: datetime | None


def aged_exceptions(
    conn: sa.Connection,
    *,
    created_before: datetime,
    queues: Sequence[str] = (),
    limit: int,
    also: Sequence[int] = (),
) -> list[AgedException]:
    """Open exceptions created before a time (in these queues, if any), oldest first.

    ``also`` names exception ids checked past the limit (instances already firing).
    """
    cols = (
        exceptions.c.id,
        exceptions.c.queue,
        exceptions.c.code,
        exceptions.c.business_key,
        exceptions.c.created_at,
    )
    where = [exceptions.c.status == "open", exceptions.c.created_at < created_before]
    if queues:
        where.append(exceptions.c.queue.in_(queues))
    rows = list(
        conn.execute(sa.select(*cols).where(*where).order_by(exceptions.c.created_at).limit(limit))
    )
    if also:
        rows += conn.execute(sa.select(*cols).where(*where, exceptions.c.id.in_(also))).all()
    return [
        AgedException(int(r.id), r.queue, r.code, r.business_key, as_utc(r.created_at))
        for r in rows
    ]


@dataclass(frozen=True)
class EscalatedException:
    """An open exception escalated past its queue's SLA, and to whom."""

    id: int
    queue: str
    code: str
    business_key: str
    escalated_to: str | None


def escalated_exceptions(conn: sa.Connection, *, limit: int) -> list[EscalatedException]:
    """Open exceptions that were escalated, earliest escalation first."""
    rows = conn.execute(
        sa.select(
            exceptions.c.id,
            exceptions.c.queue,
            exceptions.c.code,
            exceptions.c.business_key,
            exceptions.c.escalated_to,
        )
        .where(exceptions.c.status == "open", exceptions.c.escalated_at.is_not(None))
        .order_by(exceptions.c.escalated_at)
        .limit(limit)
    ).all()
    return [
        EscalatedException(int(r.id), r.queue, r.code, r.business_key, r.escalated_to) for r in rows
    ]


# ---------------------------------------------------------------------- notifications
@dataclass(frozen=True)
class AlertState:
    """A notification owed: the alert, what it announces, and the attempts made so far."""

    id: int
    kind: AlertKind
    attempts: int


def notifications_due(
    conn: sa.Connection, *, now: float, max_attempts: int, limit: int
) -> list[AlertState]:
    """The notifications owed and due at ``now`` (Unix time), oldest alert first."""
    retry = sa.and_(alerts.c.attempts < max_attempts, alerts.c.next_attempt_at <= now)
    firing = sa.and_(alerts.c.status == "firing", alerts.c.fired_sent_at.is_(None))
    resolved = sa.and_(
        alerts.c.status == "resolved",
        alerts.c.fired_sent_at.is_not(None),
        alerts.c.resolved_sent_at.is_(None),
    )
    rows = conn.execute(
        sa.select(alerts.c.id, alerts.c.status, alerts.c.attempts)
        .where(retry, sa.or_(firing, resolved))
        .order_by(alerts.c.id)
        .limit(limit)
    ).all()
    return [
        AlertState(r.id, "firing" if r.status == "firing" else "resolved", r.attempts) for r in rows
    ]


def claim_notification(conn: sa.Connection, due: AlertState, *, now: float, until: float) -> bool:
    """Claim one attempt until ``until`` (Unix time); False when another worker has it."""
    result = conn.execute(
        sa.update(alerts)
        .where(
            alerts.c.id == due.id,
            alerts.c.attempts == due.attempts,
            alerts.c.next_attempt_at <= now,
        )
        .values(next_attempt_at=until)
    )
    return result.rowcount == 1


def record_notification(
    conn: sa.Connection,
    due: AlertState,
    *,
    error: str | None,
    next_attempt_at: float = 0,
) -> None:
    """Record an attempt: delivered (``error`` None), or failed and due again at a time."""
    if error is None:
        sent = "fired_sent_at" if due.kind == "firing" else "resolved_sent_at"
        conn.execute(
            sa.update(alerts)
            .where(alerts.c.id == due.id)
            .values({sent: utc_now(), "attempts": 0, "next_attempt_at": 0, "last_error": None})
        )
        return
    conn.execute(
        sa.update(alerts)
        .where(alerts.c.id == due.id)
        .values(
            attempts=due.attempts + 1,
            next_attempt_at=next_attempt_at,
            last_error=f"{due.kind} notification: {error}"[:512],
        )
    )
