"""API-key authentication and role checks (a FastAPI dependency per role set).

Verified keys are cached for ``api.key_cache_seconds`` so that intake at thousands of
requests per second does not read the key table every time; a revoked key stops working
within that many seconds.
"""

import asyncio
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sqlalchemy as sa
from fastapi import Request

from accord.api.errors import Problem
from accord.store import keys
from accord.store.keys import ApiKey, Role

__all__ = ["KeyVerifier", "Principal", "require"]


@dataclass(frozen=True)
class Principal:
    """Who is calling."""

    name: str
    role: Role

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"key:{self.name}"


class KeyVerifier:
    """Looks keys up by hash, with a short positive and negative cache."""

    def __init__(self, engine: sa.Engine, *, ttl: float = 5.0) -> None:
        self.engine = engine
        self.ttl = ttl
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()

    def cached(self, secret: str) -> tuple[bool, ApiKey | None]:
        """``(True, key)`` when the cache answers for this secret, else ``(False, None)``."""
        digest = hashlib.sha256(secret.encode()).hexdigest()
        with self._lock:
            hit = self._cache.get(digest)
        if hit and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def verify(self, secret: str) -> ApiKey | None:
        """The active key for a secret, or None (reads the database on a cache miss)."""
        found, key = self.cached(secret)
        if found:
            return key
        digest = hashlib.sha256(secret.encode()).hexdigest()
        now = time.monotonic()
        with self.engine.connect() as conn:
            key = keys.get_by_secret(conn, secret=secret)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now + self.ttl, key)
        return key


def require(*roles: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency admitting callers whose key has one of ``roles``.

    It is async so that a cache hit costs no thread hop; only a miss reads the database, on
    a worker thread.
    """
    allowed = frozenset(roles)

    async def dependency(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Problem(
                401,
                "Unauthorized",
                "send an API key as 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        verifier: KeyVerifier = request.app.state.key_verifier
        found, key = verifier.cached(secret.strip())
        if not found:
            key = await asyncio.to_thread(verifier.verify, secret.strip())
        if key is None:
            raise Problem(
                401,
                "Unauthorized",
                "unknown or revoked API key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if key.role not in allowed:
            wanted = ", ".join(sorted(r.value for r in allowed))
            raise Problem(403, "Forbidden", f"this action needs a key with role {wanted}")
        return Principal(name=key.name, role=key.role)

    return dependency
