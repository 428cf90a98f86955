"""Business exceptions: what Accord could not do by itself, in the owner queues of people.

An exception is opened by a flow with a ``dedupe_key`` (usually flow + business key + code):
while one with that key is open, opening it again updates it and counts the occurrence
instead of piling up duplicates. A later success closes it with :func:`auto_resolve`.
People assign, comment, resolve and ignore; each of those is audited (who, before, after)
in the same transaction as the change.

The ``detail`` column holds a JSON envelope ``{"data": ..., "comments": [...],
"occurrences": n}`` so that comments survive an update of the flow's detail.

What does not belong here: routing a failure code to a queue (:mod:`accord.rules`) and
retrying the run behind an exception (the flows layer).
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

import sqlalchemy as sa

from accord.domain import Money
from accord.store import audit
from accord.store.tables import exceptions
from accord.store.util import as_utc, key_lock, utc_now, write_lock

__all__ = [
    "AGE_BUCKETS",
    "QUEUES",
    "RETRY_OVERRIDES",
    "SEVERITIES",
    "AgeBuckets",
    "BusinessException",
    "ExceptionStateError",
    "ExceptionStatus",
    "QueueAging",
    "aging",
    "assign",
    "auto_resolve",
    "comment",
    "count",
    "count_open_by_key",
    "escalate_overdue",
    "get",
    "ignore",
    "list_",
    "lock_row",
    "open_",
    "open_keys",
    "open_with_codes",
    "record_retry",
    "resolve",
    "resolve_after_retry",
    "retry_state",
]

QUEUES = frozenset({"sales-ops", "delivery-ops", "finance-ops", "integration"})
"""The owner queues (the values of :class:`accord.rules.OwnerQueue`)."""
SEVERITIES = frozenset({"low", "medium", "high", "critical"})
"""The severities (the values of :class:`accord.rules.Severity`)."""
SYSTEM_ACTOR = "accord"
"""How the audit log names Accord itself (auto-resolution)."""


class ExceptionStatus(StrEnum):
    """Lifecycle of an exception: only open ones can be acted on."""

    OPEN = "open"
    RESOLVED = "resolved"
    IGNORED = "ignored"


class ExceptionStateError(ValueError):
    """The action needs an open exception and this one is closed."""

    def __init__(self, *, exception_id: int, status: str, action: str) -> None:
        self.exception_id = exception_id
        self.status = status
        super().__init__(f"cannot {action} exception {exception_id}: it is {status}")


@dataclass(frozen=True)
class BusinessException:
    """One exception as read back."""

    id: int
    queue: str
    status: ExceptionStatus
    severity: str
    flow: str
    run_id: str | None
    business_key: str
    dedupe_key: str
    code: str
    title: str
    detail: dict[str, Any]
    amount: Money | None
    assignee: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    resolution: str | None
    occurrences: int = 1
    comments: list[dict[str, Any]] = field(default_factory=list)
    escalated_at: datetime | None = None
    """When it passed its queue's SLA and went to the escalation owner (None: not yet)."""
    escalated_to: str | None = None

    def snapshot(self) -> dict[str, Any]:
        """The fields people act on, for audit before/after."""
        return {
            "status": self.status.value,
            "queue": self.queue,
            "assignee": self.assignee,
            "resolution": self.resolution,
            "comments": len(self.comments),
            "escalated_to": self.escalated_to,
        }


def _envelope(r: sa.Row[*tuple[Any, ...]]) -> dict[str, Any]:
    try:
        value = json.loads(r.detail)
    except ValueError:
        value = None
    if not isinstance(value, dict) or "data" not in value:
        # Rows written by something else: treat the whole column as the flow's detail.
        return {"data": value, "comments": [], "occurrences": 1}
    return value


def _row(r: sa.Row[*tuple[Any, ...]]) -> BusinessException:
    env = _envelope(r)
    amount = None
    if r.amount is not None and r.currency:
        amount = Money(amount=r.amount, currency=r.currency)
    data = env.get("data")
    return BusinessException(
        id=r.id,
        queue=r.queue,
        status=ExceptionStatus(r.status),
        severity=r.severity,
        flow=r.flow,
        run_id=r.run_id,
        business_key=r.business_key,
        dedupe_key=r.dedupe_key,
        code=r.code,
        title=r.title,
        detail=data if isinstance(data, dict) else {"value": data},
        amount=amount,
        assignee=r.assignee,
        created_at=as_utc(r.created_at) or utc_now(),
        updated_at=as_utc(r.updated_at) or utc_now(),
        resolved_at=as_utc(r.resolved_at),
        resolution=r.resolution,
        occurrences=int(env.get("occurrences", 1)),
        comments=list(env.get("comments", [])),
        escalated_at=as_utc(r.escalated_at),
        escalated_to=r.escalated_to,
    )


def _dump(env: dict[str, Any]) -> str:
    return json.dumps(env, sort_keys=True, default=str, separators=(",", ":"))


def _check(queue: str, severity: str) -> None:
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; expected one of {sorted(QUEUES)}")
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}; expected one of {sorted(SEVERITIES)}")


def open_(
    conn: sa.Connection,
    *,
    queue: str,
    flow: str,
    run_id: str | None,
    business_key: str,
    code: str,
    title: str,
    detail: dict[str, Any],
    severity: str = "medium",
    amount: Money | None = None,
    dedupe_key: str,
    now: datetime | None = None,
) -> BusinessException:
    """Open an exception, or update the open one with the same ``dedupe_key``.

    An update replaces queue, severity, code, title, detail, amount and run id, keeps the
    comments and assignee, and counts the occurrence. ``now`` is the clock, injected by tests.

    Raises:
        ValueError: ``queue`` or ``severity`` is not one Accord knows.
    """
    _check(queue, severity)
    key_lock(conn, f"exception:{dedupe_key}")
    now = now or utc_now()
    values: dict[str, Any] = {
        "queue": queue,
        "severity": severity,
        "flow": flow,
        "run_id": run_id,
        "business_key": business_key,
        "code": code,
        "title": title,
        "amount": amount.amount if amount else None,
        "currency": amount.currency if amount else None,
        "updated_at": now,
    }
    current = conn.execute(
        sa.select(exceptions)
        .where(exceptions.c.dedupe_key == dedupe_key, exceptions.c.status == ExceptionStatus.OPEN)
        .order_by(exceptions.c.id)
        .limit(1)
    ).first()
    if current is not None:
        env = _envelope(current)
        env["data"] = detail
        env["occurrences"] = int(env.get("occurrences", 1)) + 1
        conn.execute(
            sa.update(exceptions)
            .where(exceptions.c.id == current.id)
            .values(detail=_dump(env), **values)
        )
        exc_id = int(current.id)
    else:
        env = {"data": detail, "comments": [], "occurrences": 1}
        result = conn.execute(
            sa.insert(exceptions).values(
                status=ExceptionStatus.OPEN.value,
                dedupe_key=dedupe_key,
                detail=_dump(env),
                created_at=now,
                **values,
            )
        )
        exc_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    found = get(conn, id=exc_id)
    assert found is not None
    return found


def get(conn: sa.Connection, *, id: int) -> BusinessException | None:  # noqa: A002 - repo style
    """One exception by id, or None."""
    row = conn.execute(sa.select(exceptions).where(exceptions.c.id == id)).first()
    return _row(row) if row else None


def _filters(
    *,
    queue: str | None,
    status: ExceptionStatus | str | None,
    business_key: str | None,
    older_than: timedelta | None,
    now: datetime | None,
) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if queue is not None:
        where.append(exceptions.c.queue == queue)
    if status is not None:
        where.append(exceptions.c.status == ExceptionStatus(status).value)
    if business_key is not None:
        where.append(exceptions.c.business_key == business_key)
    if older_than is not None:
        where.append(exceptions.c.created_at < (now or utc_now()) - older_than)
    return where


def list_(
    conn: sa.Connection,
    *,
    queue: str | None = None,
    status: ExceptionStatus | str | None = None,
    business_key: str | None = None,
    older_than: timedelta | None = None,
    limit: int = 50,
    offset: int = 0,
    after_id: int | None = None,
    order: Literal["oldest", "newest"] = "oldest",
    now: datetime | None = None,
) -> list[BusinessException]:
    """Exceptions matching the filters, oldest first by default.

    Args:
        conn: Connection.
        queue: Only this owner queue.
        status: Only this status.
        business_key: Only exceptions about this business object.
        older_than: Only exceptions created more than this long before ``now``.
        limit: Page size.
        offset: Rows to skip (simple paging).
        after_id: Keyset cursor: the id of the last row of the previous page. Prefer it to
            ``offset`` for deep pages (10,000 open exceptions).
        order: ``oldest`` (created first comes first) or ``newest``.
        now: The clock, injected by tests.
    """
    where = _filters(
        queue=queue, status=status, business_key=business_key, older_than=older_than, now=now
    )
    newest = order == "newest"
    if after_id is not None:
        # Keyset on (created_at, id): rows strictly after the cursor row in the chosen order.
        cur = (
            sa.select(exceptions.c.created_at).where(exceptions.c.id == after_id).scalar_subquery()
        )
        if newest:
            where.append(
                sa.or_(
                    exceptions.c.created_at < cur,
                    sa.and_(exceptions.c.created_at == cur, exceptions.c.id < after_id),
                )
            )
        else:
            where.append(
                sa.or_(
                    exceptions.c.created_at > cur,
                    sa.and_(exceptions.c.created_at == cur, exceptions.c.id > after_id),
                )
            )
    keys = (
        (exceptions.c.created_at.desc(), exceptions.c.id.desc())
        if newest
        else (exceptions.c.created_at, exceptions.c.id)
    )
    q = sa.select(exceptions).where(*where).order_by(*keys).limit(limit).offset(offset)
    return [_row(r) for r in conn.execute(q)]


def count(
    conn: sa.Connection,
    *,
    queue: str | None = None,
    status: ExceptionStatus | str | None = None,
    older_than: timedelta | None = None,
    now: datetime | None = None,
) -> int:
    """How many exceptions match the filters (queue depth)."""
    where = _filters(queue=queue, status=status, business_key=None, older_than=older_than, now=now)
    q = sa.select(sa.func.count()).select_from(exceptions).where(*where)
    return int(conn.execute(q).scalar_one())


def _open_for_action(conn: sa.Connection, *, id: int, action: str) -> BusinessException | None:  # noqa: A002
    # Two operators acting at once: the second waits here, then sees the first's outcome.
    lock_row(conn, id=id)
    current = get(conn, id=id)
    if current is not None and current.status is not ExceptionStatus.OPEN:
        raise ExceptionStateError(exception_id=id, status=current.status.value, action=action)
    return current


def _update(
    conn: sa.Connection,
    exc_id: int,
    now: datetime | None = None,
    **values: Any,  # noqa: ANN401 - column values
) -> BusinessException:
    conn.execute(
        sa.update(exceptions)
        .where(exceptions.c.id == exc_id)
        .values(updated_at=now or utc_now(), **values)
    )
    found = get(conn, id=exc_id)
    assert found is not None
    return found


def _audited_update(
    conn: sa.Connection,
    before: BusinessException,
    *,
    actor: str,
    action: str,
    now: datetime | None,
    note: Mapping[str, Any] | None = None,
    **values: Any,  # noqa: ANN401 - column values
) -> BusinessException:
    """Set columns of an exception and audit the change; the exception as stored after it.

    ``before`` is the exception as read (under the caller's lock); ``note`` adds fields to the
    audit entry's ``after`` (what the columns do not show, e.g. a comment's text).
    """
    after = _update(conn, before.id, now, **values)
    audit.append(
        conn,
        actor=actor,
        action=action,
        target=f"exception:{before.id}",
        before=before.snapshot(),
        after={**after.snapshot(), **(note or {})},
        now=now,
    )
    return after


def assign(
    conn: sa.Connection,
    *,
    id: int,  # noqa: A002 - repository style
    assignee: str | None,
    actor: str,
    now: datetime | None = None,
) -> BusinessException | None:
    """Assign an open exception to a person (``None`` unassigns); None when it does not exist.

    Raises:
        ExceptionStateError: The exception is closed.
    """
    current = _open_for_action(conn, id=id, action="assign")
    if current is None:
        return None
    return _audited_update(
        conn, current, actor=actor, action="exception.assign", now=now, assignee=assignee
    )


def comment(
    conn: sa.Connection,
    *,
    id: int,  # noqa: A002 - repository style
    text: str,
    actor: str,
    now: datetime | None = None,
) -> BusinessException | None:
    """Add a comment (to an open or closed exception); None when it does not exist."""
    if not text.strip():
        raise ValueError("a comment must not be empty")
    q = sa.select(exceptions).where(exceptions.c.id == id)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    elif not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        write_lock(conn)
    row = conn.execute(q).first()
    if row is None:
        return None
    before = _row(row)
    env = _envelope(row)
    now = now or utc_now()
    entry = {"at": now.isoformat(), "actor": actor, "text": text}
    env["comments"] = [*env.get("comments", []), entry]
    return _audited_update(
        conn,
        before,
        actor=actor,
        action="exception.comment",
        now=now,
        note={"comment": text},
        detail=_dump(env),
    )


def _close(
    conn: sa.Connection,
    *,
    id: int,  # noqa: A002
    status: ExceptionStatus,
    resolution: str,
    actor: str,
    action: str,
    now: datetime | None,
) -> BusinessException | None:
    if not resolution.strip():
        raise ValueError(f"{action} needs a non-empty reason")
    current = _open_for_action(conn, id=id, action=action.removeprefix("exception."))
    if current is None:
        return None
    now = now or utc_now()
    return _audited_update(
        conn,
        current,
        actor=actor,
        action=action,
        now=now,
        status=status.value,
        resolution=resolution,
        resolved_at=now,
    )


def resolve(
    conn: sa.Connection,
    *,
    id: int,  # noqa: A002 - repository style
    resolution: str,
    actor: str,
    now: datetime | None = None,
) -> BusinessException | None:
    """Resolve an open exception; None when it does not exist.

    Raises:
        ExceptionStateError: It is already resolved or ignored.
        ValueError: ``resolution`` is empty.
    """
    return _close(
        conn,
        id=id,
        status=ExceptionStatus.RESOLVED,
        resolution=resolution,
        actor=actor,
        action="exception.resolve",
        now=now,
    )


def ignore(
    conn: sa.Connection,
    *,
    id: int,  # noqa: A002 - repository style
    reason: str,
    actor: str,
    now: datetime | None = None,
) -> BusinessException | None:
    """Ignore an open exception with a reason; None when it does not exist.

    Raises:
        ExceptionStateError: It is already resolved or ignored.
        ValueError: ``reason`` is empty.
    """
    return _close(
        conn,
        id=id,
        status=ExceptionStatus.IGNORED,
        resolution=reason,
        actor=actor,
        action="exception.ignore",
        now=now,
    )


def auto_resolve(
    conn: sa.Connection, *, dedupe_key: str, resolution: str, now: datetime | None = None
) -> int:
    """Resolve the open exception(s) with this dedupe key, made moot by a later success.

    ``now`` is the clock, injected by tests.

    Returns:
        How many were resolved (0 when none was open; calling it is always safe).
    """
    key_lock(conn, f"exception:{dedupe_key}")
    rows = conn.execute(
        sa.select(exceptions).where(
            exceptions.c.dedupe_key == dedupe_key, exceptions.c.status == ExceptionStatus.OPEN
        )
    ).all()
    now = now or utc_now()
    for r in rows:
        _audited_update(
            conn,
            _row(r),
            actor=SYSTEM_ACTOR,
            action="exception.auto_resolve",
            now=now,
            status=ExceptionStatus.RESOLVED.value,
            resolution=resolution,
            resolved_at=now,
        )
    return len(rows)


def lock_row(conn: sa.Connection, *, id: int) -> None:  # noqa: A002 - repository style
    """Hold an exception until the transaction ends: the store's actions on it wait meanwhile.

    For an action that spans more than the store (a retry starts a run, then records it).
    PostgreSQL locks the row; SQLite takes its write lock (unless the transaction began).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(exceptions.c.id).where(exceptions.c.id == id).with_for_update())
    elif not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        write_lock(conn)


def open_keys(conn: sa.Connection, *, flow: str, code: str, limit: int = 100) -> list[str]:
    """Business keys of a flow's open exceptions with this code, oldest first."""
    rows = conn.execute(
        sa.select(exceptions.c.business_key)
        .where(
            exceptions.c.status == ExceptionStatus.OPEN.value,
            exceptions.c.code == code,
            exceptions.c.flow == flow,
        )
        .order_by(exceptions.c.id)
        .limit(limit)
    )
    return [str(key) for (key,) in rows]


def open_with_codes(
    conn: sa.Connection, *, flow: str, codes: Sequence[str], limit: int = 100
) -> list[BusinessException]:
    """A flow's open exceptions with one of these codes, oldest first."""
    rows = conn.execute(
        sa.select(exceptions)
        .where(
            exceptions.c.status == ExceptionStatus.OPEN.value,
            exceptions.c.flow == flow,
            exceptions.c.code.in_(list(codes)),
        )
        .order_by(exceptions.c.id)
        .limit(limit)
    )
    return [_row(r) for r in rows]


def count_open_by_key(conn: sa.Connection, business_keys: list[str]) -> dict[str, int]:
    """How many open exceptions each of these business keys has (keys without any: absent)."""
    if not business_keys:
        return {}
    rows = conn.execute(
        sa.select(exceptions.c.business_key, sa.func.count())
        .where(
            exceptions.c.business_key.in_(business_keys),
            exceptions.c.status == ExceptionStatus.OPEN.value,
        )
        .group_by(exceptions.c.business_key)
    )
    return {str(key): int(n) for key, n in rows}


# ---------------------------------------------------------------------- retries
RETRY_OVERRIDES = "overrides"
"""Envelope key of the overrides a retry (re-date) stored on the exception."""


def retry_state(
    conn: sa.Connection,
    *,
    id: int,  # noqa: A002 - repository style
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The overrides stored on an exception (by re-date) and the retries started for it."""
    row = conn.execute(sa.select(exceptions.c.detail).where(exceptions.c.id == id)).first()
    env = _envelope(row) if row is not None else {}
    value = env.get(RETRY_OVERRIDES)
    retries = env.get("retries")
    return (
        dict(value) if isinstance(value, dict) else {},
        [dict(r) for r in retries if isinstance(r, dict)] if isinstance(retries, list) else [],
    )


def record_retry(
    conn: sa.Connection,
    *,
    id: int,  # noqa: A002 - repository style
    overrides: dict[str, Any],
    run_id: str,
    actor: str,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Record a retry on an exception: the overrides it ran with (kept for the next) and its run.

    ``extra`` adds fields to the retry's record (what else the caller wants remembered of it).
    """
    row = conn.execute(sa.select(exceptions.c.detail).where(exceptions.c.id == id)).one()
    env = _envelope(row)
    env[RETRY_OVERRIDES] = overrides
    retry = {"at": utc_now().isoformat(), "actor": actor, "run_id": run_id, **(extra or {})}
    env["retries"] = [*env.get("retries", []), retry]
    _update(conn, id, detail=_dump(env))


def resolve_after_retry(conn: sa.Connection, *, id: int, run_id: str) -> bool:  # noqa: A002
    """Resolve an open exception because its retry ``run_id`` succeeded; audited as Accord's.

    Returns:
        True when this call resolved it; False when it is closed already, or when ``run_id``
        itself raised it again (the exception then names that run and stays open).
    """
    lock_row(conn, id=id)
    current = get(conn, id=id)
    if current is None or current.status is not ExceptionStatus.OPEN:
        return False
    if current.run_id == run_id:
        return False
    _audited_update(
        conn,
        current,
        actor=SYSTEM_ACTOR,
        action="exception.auto_resolve",
        now=None,
        note={"run_id": run_id},
        status=ExceptionStatus.RESOLVED.value,
        resolution=f"retry {run_id} succeeded",
        resolved_at=utc_now(),
    )
    return True


# ---------------------------------------------------------------------- aging
AgeBuckets = Sequence[tuple[str, timedelta | None]]
"""Age buckets: name and upper bound of the age, youngest first; the last is unbounded."""
AGE_BUCKETS: AgeBuckets = (
    ("lt_1h", timedelta(hours=1)),
    ("1h_1d", timedelta(days=1)),
    ("1d_2d", timedelta(days=2)),
    ("2d_7d", timedelta(days=7)),
    ("gt_7d", None),
)
"""The aging buckets of the ops API's summary and of the exception gauges."""


@dataclass
class QueueAging:
    """One owner queue's exceptions of a status: count, aging buckets, oldest, amount at risk."""

    queue: str
    count: int = 0
    buckets: dict[str, int] = field(default_factory=dict)
    oldest_created_at: datetime | None = None
    at_risk: dict[str, Decimal] = field(default_factory=dict)
    """Currency -> the sum of the exceptions' amounts."""


def _as_datetime(value: object) -> datetime | None:
    # SQLite returns MIN() over a DateTime column as text: the type is lost in the aggregate.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_utc(value) if isinstance(value, datetime) else None


def aging(
    conn: sa.Connection,
    *,
    buckets: AgeBuckets,
    status: ExceptionStatus | str = ExceptionStatus.OPEN,
    now: datetime | None = None,
) -> dict[str, QueueAging]:
    """Per queue that has any: how many exceptions of ``status``, by age, oldest, amount at risk.

    One grouped query; naming every queue lets the ``(queue, status, created_at)`` index serve
    the filter and the buckets, and only the amounts are read from the rows. An exception is in
    the first bucket whose bound its age is under.
    """
    now = now or utc_now()
    names = [name for name, _ in buckets]
    bucket = sa.case(
        *((exceptions.c.created_at > now - bound, name) for name, bound in buckets if bound),
        else_=names[-1],
    ).label("bucket")
    q = (
        sa.select(
            exceptions.c.queue,
            bucket,
            exceptions.c.currency,
            sa.func.count().label("n"),
            sa.func.min(exceptions.c.created_at).label("oldest"),
            sa.func.sum(exceptions.c.amount).label("amount"),
        )
        .where(
            exceptions.c.queue.in_(sorted(QUEUES)),
            exceptions.c.status == ExceptionStatus(status).value,
        )
        .group_by(exceptions.c.queue, bucket, exceptions.c.currency)
    )
    out: dict[str, QueueAging] = {}
    for r in conn.execute(q):
        entry = out.setdefault(r.queue, QueueAging(queue=r.queue, buckets=dict.fromkeys(names, 0)))
        entry.count += int(r.n)
        entry.buckets[r.bucket] += int(r.n)
        oldest = _as_datetime(r.oldest)
        if oldest is not None and (
            entry.oldest_created_at is None or oldest < entry.oldest_created_at
        ):
            entry.oldest_created_at = oldest
        if r.currency and r.amount is not None:
            total = entry.at_risk.get(r.currency, Decimal(0)) + Decimal(str(r.amount))
            entry.at_risk[r.currency] = total
    return out


def escalate_overdue(
    conn: sa.Connection, *, queue: str, owner: str, older_than: timedelta, now: datetime
) -> list[BusinessException]:
    """Escalate the open exceptions of ``queue`` older than ``older_than`` (once each).

    Each is assigned to ``owner`` and stamped ``escalated_at``; the escalation is audited
    (``exception.escalate``, actor ``accord``) in the caller's transaction. Call it in a
    transaction that holds the write lock (SQLite) so that two workers do not both escalate.

    Returns:
        The exceptions escalated now (none twice).
    """
    rows = conn.execute(
        sa.select(exceptions.c.id)
        .where(
            exceptions.c.queue == queue,
            exceptions.c.status == ExceptionStatus.OPEN,
            exceptions.c.escalated_at.is_(None),
            exceptions.c.created_at < now - older_than,
        )
        .order_by(exceptions.c.id)
        .limit(500)
    ).all()
    done: list[BusinessException] = []
    for (exc_id,) in rows:
        # The guard makes a second worker's concurrent pass a no-op (PostgreSQL, no lock).
        claimed = conn.execute(
            sa.update(exceptions)
            .where(exceptions.c.id == exc_id, exceptions.c.escalated_at.is_(None))
            .values(escalated_at=now, escalated_to=owner)
        )
        if not claimed.rowcount:
            continue
        before = get(conn, id=int(exc_id))
        assert before is not None
        after = _update(conn, int(exc_id), assignee=owner)
        hours = older_than.total_seconds() / 3600
        audit.append(
            conn,
            actor=SYSTEM_ACTOR,
            action="exception.escalate",
            target=f"exception:{exc_id}",
            before={**before.snapshot(), "assignee": before.assignee, "escalated_to": None},
            after={**after.snapshot(), "sla_hours": round(hours, 3)},
        )
        done.append(after)
    return done
