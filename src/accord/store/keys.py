"""API keys: random secrets shown once, stored as SHA-256 hashes, each with one role.

Keys carry 256 bits of randomness, so a fast hash is the right tool (a password hash would
cost milliseconds on every request at 2,000 requests/s without adding security).

A key is a name and a role; each of its secrets is one row. A key may expire
(``expires_at``). :func:`rotate` gives a key a new secret and lets the old one keep working
for an overlap window (the old row is ``superseded_at`` and expires at the end of the window),
so that every client can switch before it stops. :func:`revoke` ends every secret of a key at
once. Only the current secret (not superseded) of a name may exist, which a partial unique
index holds. ``last_used_at`` is written at most once a minute per key (:func:`touch`).
"""

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa

from accord.store import audit
from accord.store.tables import api_keys
from accord.store.util import as_utc, utc_now

__all__ = [
    "LAST_USED_PRECISION",
    "ApiKey",
    "DuplicateKeyNameError",
    "Role",
    "UnknownKeyError",
    "create",
    "get_active",
    "get_by_secret",
    "list_",
    "revoke",
    "rotate",
    "touch",
]

LAST_USED_PRECISION: Final = timedelta(minutes=1)
"""``last_used_at`` is at most this much older than the key's last use."""


class Role(enum.StrEnum):
    """What a key may do."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"
    INGEST = "ingest"
    PROCESS = "process"
    """Calls the process APIs (validate accounts, provision projects, read receivables)."""


class DuplicateKeyNameError(ValueError):
    """A key with this name already exists."""


class UnknownKeyError(LookupError):
    """No active key has this name."""


@dataclass(frozen=True)
class ApiKey:
    """A stored key secret (never the secret itself)."""

    id: int
    name: str
    role: Role
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    superseded_at: datetime | None = None
    """When the key was rotated away from this secret (it works until ``expires_at``)."""

    def active(self, now: datetime) -> bool:
        """Whether this secret is accepted at ``now``: neither revoked nor expired."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def hash_secret(secret: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _row(r: sa.Row[*tuple[Any, ...]]) -> ApiKey:
    return ApiKey(
        id=r.id,
        name=r.name,
        role=Role(r.role),
        prefix=r.prefix,
        created_at=as_utc(r.created_at) or utc_now(),
        revoked_at=as_utc(r.revoked_at),
        expires_at=as_utc(r.expires_at),
        last_used_at=as_utc(r.last_used_at),
        superseded_at=as_utc(r.superseded_at),
    )


def _insert_secret(
    conn: sa.Connection, name: str, role: str, expires_at: datetime | None
) -> tuple[str, str]:
    """Store a new secret of a key; returns its prefix and the secret (shown once)."""
    prefix = secrets.token_hex(4)
    secret = f"acc_{prefix}_{secrets.token_urlsafe(32)}"
    conn.execute(
        sa.insert(api_keys).values(
            name=name,
            role=role,
            prefix=prefix,
            key_hash=hash_secret(secret),
            created_at=utc_now(),
            expires_at=expires_at,
        )
    )
    return prefix, secret


def _when(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _current(conn: sa.Connection, name: str) -> sa.Row[Any] | None:
    return conn.execute(
        sa.select(api_keys).where(
            api_keys.c.name == name,
            api_keys.c.superseded_at.is_(None),
            api_keys.c.revoked_at.is_(None),
        )
    ).first()


def create(
    conn: sa.Connection,
    *,
    name: str,
    role: Role,
    actor: str,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns it with the secret, which is never stored or shown again.

    Args:
        conn: In the caller's transaction (the audit row commits with the key).
        name: Unique among keys, revoked ones included.
        role: What the key may do.
        actor: Who creates it (the audit log's actor).
        expires_at: When it stops working; None: never.
    """
    if not name.strip():
        msg = "key name must not be empty"
        raise ValueError(msg)
    exists = conn.execute(sa.select(api_keys.c.id).where(api_keys.c.name == name)).first()
    if exists:
        msg = f"a key named {name!r} already exists"
        raise DuplicateKeyNameError(msg)
    prefix, secret = _insert_secret(conn, name, role.value, expires_at)
    audit.append(
        conn,
        actor=actor,
        action="key.create",
        target=f"key:{name}",
        after={"name": name, "role": role.value, "prefix": prefix, "expires_at": _when(expires_at)},
    )
    row = _current(conn, name)
    assert row is not None
    return _row(row), secret


def rotate(
    conn: sa.Connection,
    *,
    name: str,
    actor: str,
    overlap: timedelta,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, ApiKey, str]:
    """Give a key a new secret; the old one keeps working for ``overlap``, then stops.

    Args:
        conn: In the caller's transaction.
        name: The key.
        actor: Who rotates it.
        overlap: How long the old secret still works (0: it stops at once).
        expires_at: When the new secret stops working; None: never.

    Returns:
        ``(old, new, secret)``: the old secret's row as it is now, the new one, and the new
        secret (never stored or shown again).

    Raises:
        UnknownKeyError: No active key has this name.
    """
    row = _current(conn, name)
    now = utc_now()
    if row is None or not _row(row).active(now):
        msg = f"no active key named {name!r}"
        raise UnknownKeyError(msg)
    old_expiry = as_utc(row.expires_at)
    ends = now + max(overlap, timedelta(0))
    if old_expiry is not None:
        ends = min(ends, old_expiry)
    conn.execute(
        sa.update(api_keys)
        .where(api_keys.c.id == row.id)
        .values(superseded_at=now, expires_at=ends)
    )
    prefix, secret = _insert_secret(conn, name, row.role, expires_at)
    audit.append(
        conn,
        actor=actor,
        action="key.rotate",
        target=f"key:{name}",
        before={"prefix": row.prefix, "expires_at": _when(old_expiry)},
        after={
            "prefix": prefix,
            "expires_at": _when(expires_at),
            "previous_prefix": row.prefix,
            "previous_expires_at": _when(ends),
        },
    )
    old = _row(conn.execute(sa.select(api_keys).where(api_keys.c.id == row.id)).one())
    new = _current(conn, name)
    assert new is not None
    return old, _row(new), secret


def list_(conn: sa.Connection) -> list[ApiKey]:
    """Every key secret, oldest first (rotated-away ones too)."""
    return [_row(r) for r in conn.execute(sa.select(api_keys).order_by(api_keys.c.id))]


def revoke(conn: sa.Connection, *, name: str, actor: str) -> ApiKey | None:
    """Revoke a key by name, every secret of it; None when there is no such active key.

    Returns:
        The current secret's row, revoked.
    """
    row = _current(conn, name)
    if row is None:
        return None
    conn.execute(
        sa.update(api_keys)
        .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )
    audit.append(
        conn,
        actor=actor,
        action="key.revoke",
        target=f"key:{name}",
        before={"name": name, "role": row.role, "revoked": False},
        after={"name": name, "role": row.role, "revoked": True},
    )
    return _row(conn.execute(sa.select(api_keys).where(api_keys.c.id == row.id)).one())


def get_by_secret(conn: sa.Connection, *, secret: str) -> ApiKey | None:
    """The active (not revoked, not expired) key secret matching a presented secret, or None."""
    row = conn.execute(
        sa.select(api_keys).where(
            api_keys.c.key_hash == hash_secret(secret), api_keys.c.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    key = _row(row)
    return key if key.active(utc_now()) else None


def get_active(conn: sa.Connection, *, id: int) -> tuple[ApiKey, str] | None:  # noqa: A002
    """An active key by id with its stored hash (console sessions are sealed with it), or None.

    A revoked key, or one past its ``expires_at``, is not active: its sessions end with it.
    """
    row = conn.execute(
        sa.select(api_keys).where(api_keys.c.id == id, api_keys.c.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    key = _row(row)
    return (key, str(row.key_hash)) if key.active(utc_now()) else None


def touch(conn: sa.Connection, *, key_id: int, now: datetime | None = None) -> bool:
    """Record that a key secret was used, unless that was recorded in the last minute.

    Returns:
        Whether the row was written.
    """
    now = now or utc_now()
    result = conn.execute(
        sa.update(api_keys)
        .where(
            api_keys.c.id == key_id,
            sa.or_(
                api_keys.c.last_used_at.is_(None),
                api_keys.c.last_used_at < now - LAST_USED_PRECISION,
            ),
        )
        .values(last_used_at=now)
    )
    return bool(result.rowcount)
