"""API-key authentication and role checks (a FastAPI dependency per role set).

Verified keys are cached for ``api.key_cache_seconds`` (at most one second) so that intake at
thousands of requests per second does not read the key table every time; a revoked key stops
working in every process within that many seconds. An expired key stops at its expiry, cache
or not. A key's ``last_used_at`` is written when the cache is refreshed, at most once a minute.
"""

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sqlalchemy as sa
from fastapi import Request

from accord.api.errors import Problem
from accord.store import keys
from accord.store.keys import LAST_USED_PRECISION, ApiKey, Role
from accord.store.util import utc_now

__all__ = ["KeyVerifier", "Principal", "require"]

logger = logging.getLogger(__name__)


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

    def __init__(self, engine: sa.Engine, *, ttl: float = 0.5) -> None:
        self.engine = engine
        self.ttl = ttl
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._touched: dict[int, float] = {}
        self._lock = threading.Lock()

    def cached(self, secret: str) -> tuple[bool, ApiKey | None]:
        """``(True, key)`` when the cache answers for this secret, else ``(False, None)``."""
        digest = hashlib.sha256(secret.encode()).hexdigest()
        with self._lock:
            hit = self._cache.get(digest)
        if hit and hit[0] > time.monotonic():
            key = hit[1]
            if key is not None and not key.active(utc_now()):
                return True, None  # expired since it was cached
            return True, key
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
        if key is not None:
            self._touch(key, now)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now + self.ttl, key)
        return key

    def _touch(self, key: ApiKey, now: float) -> None:
        """Record the key's use, at most once a minute per key and process."""
        period = LAST_USED_PRECISION.total_seconds()
        with self._lock:
            if now - self._touched.get(key.id, -period) < period:
                return
            self._touched[key.id] = now
        try:
            with self.engine.begin() as conn:
                keys.touch(conn, key_id=key.id)
        except sa.exc.SQLAlchemyError:
            # A busy database must not refuse a valid key; the next minute tries again.
            logger.warning("could not record the use of key %s", key.name, exc_info=True)


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

    # The OpenAPI document reads this mark: a route behind it answers 401 and 403.
    dependency.accord_answers = (401, 403)  # type: ignore[attr-defined]
    return dependency
