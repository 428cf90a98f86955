"""Hash-chained audit log: each row stores the hash of the previous one.

Appends happen inside the caller's transaction so the audit row commits with the change it
describes. Writers are serialised (SQLite: IMMEDIATE transactions; PostgreSQL: a transaction
advisory lock) so that two appends never chain to the same predecessor.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from accord.store.tables import audit_log
from accord.store.util import as_utc, utc_now, write_lock

__all__ = ["GENESIS_HASH", "AuditRow", "append", "list_", "verify"]

GENESIS_HASH = "0" * 64
"""The predecessor hash of the first row."""
_LOCK_ID = 0x41554449  # "AUDI"


@dataclass(frozen=True)
class AuditRow:
    """One audit entry as read back."""

    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    before: Any
    after: Any
    prev_hash: str
    hash: str


def _digest(prev_hash: str, at: datetime, *fields: str) -> str:
    material = json.dumps([prev_hash, at.isoformat(), *fields], separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()


def _dump(value: Any) -> str:  # noqa: ANN401 - audit payloads are arbitrary JSON
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def append(
    conn: sa.Connection,
    *,
    actor: str,
    action: str,
    target: str,
    before: Any = None,  # noqa: ANN401 - arbitrary JSON
    after: Any = None,  # noqa: ANN401 - arbitrary JSON
) -> int:
    """Append one entry in the caller's transaction; returns its sequence number."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
    elif not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        # First statement of the transaction: take the write lock before reading the chain.
        write_lock(conn)
    prev = conn.execute(
        sa.select(audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).scalar_one_or_none()
    prev_hash = prev or GENESIS_HASH
    # Microseconds are dropped so the timestamp hashes the same after a database round trip.
    at = utc_now().replace(microsecond=0)
    b, a = _dump(before), _dump(after)
    digest = _digest(prev_hash, at, actor, action, target, b, a)
    result = conn.execute(
        sa.insert(audit_log).values(
            at=at,
            actor=actor,
            action=action,
            target=target,
            before=b,
            after=a,
            prev_hash=prev_hash,
            hash=digest,
        )
    )
    pk = result.inserted_primary_key
    return int(pk[0]) if pk else 0


def _row(r: sa.Row[*tuple[Any, ...]]) -> AuditRow:
    return AuditRow(
        seq=r.seq,
        at=as_utc(r.at) or utc_now(),
        actor=r.actor,
        action=r.action,
        target=r.target,
        before=json.loads(r.before) if r.before else None,
        after=json.loads(r.after) if r.after else None,
        prev_hash=r.prev_hash,
        hash=r.hash,
    )


def list_(
    conn: sa.Connection,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    target_prefix: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    before_seq: int | None = None,
) -> list[AuditRow]:
    """Newest first, filtered (``since`` inclusive, ``until`` exclusive)."""
    q = sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
    if actor:
        q = q.where(audit_log.c.actor == actor)
    if action:
        q = q.where(audit_log.c.action == action)
    if target:
        q = q.where(audit_log.c.target == target)
    if target_prefix is not None:
        escaped = target_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        q = q.where(audit_log.c.target.like(f"{escaped}%", escape="\\"))
    # Audit times are stored without microseconds (they are hashed), so compare at seconds.
    if since:
        q = q.where(audit_log.c.at >= since.replace(microsecond=0))
    if until:
        q = q.where(audit_log.c.at < until)
    if before_seq is not None:
        q = q.where(audit_log.c.seq < before_seq)
    return [_row(r) for r in conn.execute(q)]


def verify(conn: sa.Connection) -> int | None:
    """Walk the chain; return the sequence number of the first broken row, or None if intact."""
    prev_hash = GENESIS_HASH
    for r in conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)):
        at = as_utc(r.at)
        if at is None or r.prev_hash != prev_hash:
            return int(r.seq)
        expected = _digest(
            prev_hash, at, r.actor, r.action, r.target, r.before or "null", r.after or "null"
        )
        if expected != r.hash:
            return int(r.seq)
        prev_hash = r.hash
    return None
