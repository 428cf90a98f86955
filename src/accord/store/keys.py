"""API keys: random secrets shown once, stored as SHA-256 hashes, each with one role.

Keys carry 256 bits of randomness, so a fast hash is the right tool (a password hash would
cost milliseconds on every request at 2,000 requests/s without adding security).
"""

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from accord.store import audit
from accord.store.tables import api_keys
from accord.store.util import as_utc, utc_now

__all__ = [
    "ApiKey",
    "DuplicateKeyNameError",
    "Role",
    "create",
    "get_active",
    "get_by_secret",
    "list_",
    "revoke",
]


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


@dataclass(frozen=True)
class ApiKey:
    """A stored key (never the secret itself)."""

    id: int
    name: str
    role: Role
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


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
    )


def create(conn: sa.Connection, *, name: str, role: Role, actor: str) -> tuple[ApiKey, str]:
    """Create a key; returns it with the secret, which is never stored or shown again."""
    if not name.strip():
        msg = "key name must not be empty"
        raise ValueError(msg)
    exists = conn.execute(sa.select(api_keys.c.id).where(api_keys.c.name == name)).first()
    if exists:
        msg = f"a key named {name!r} already exists"
        raise DuplicateKeyNameError(msg)
    prefix = secrets.token_hex(4)
    secret = f"acc_{prefix}_{secrets.token_urlsafe(32)}"
    now = utc_now()
    conn.execute(
        sa.insert(api_keys).values(
            name=name, role=role.value, prefix=prefix, key_hash=hash_secret(secret), created_at=now
        )
    )
    audit.append(
        conn,
        actor=actor,
        action="key.create",
        target=f"key:{name}",
        after={"name": name, "role": role.value, "prefix": prefix},
    )
    row = conn.execute(sa.select(api_keys).where(api_keys.c.name == name)).one()
    return _row(row), secret


def list_(conn: sa.Connection) -> list[ApiKey]:
    """Every key, oldest first."""
    return [_row(r) for r in conn.execute(sa.select(api_keys).order_by(api_keys.c.id))]


def revoke(conn: sa.Connection, *, name: str, actor: str) -> ApiKey | None:
    """Revoke a key by name; None when there is no such active key."""
    row = conn.execute(
        sa.select(api_keys).where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    conn.execute(sa.update(api_keys).where(api_keys.c.id == row.id).values(revoked_at=utc_now()))
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
    """The active key matching a presented secret, or None."""
    row = conn.execute(
        sa.select(api_keys).where(
            api_keys.c.key_hash == hash_secret(secret), api_keys.c.revoked_at.is_(None)
        )
    ).first()
    return _row(row) if row else None


def get_active(conn: sa.Connection, *, id: int) -> tuple[ApiKey, str] | None:  # noqa: A002
    """An active key by id with its stored hash (console sessions are sealed with it), or None."""
    row = conn.execute(
        sa.select(api_keys).where(api_keys.c.id == id, api_keys.c.revoked_at.is_(None))
    ).first()
    return (_row(row), str(row.key_hash)) if row else None
