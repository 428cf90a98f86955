"""Signed webhooks already accepted: a replay of one within its window is refused.

A signature covers the timestamp and the body, and a timestamp is accepted for
:data:`accord.connectors.webhooks.REPLAY_WINDOW_S` either way, so a captured request could be
sent again within that window and still verify. Each accepted signature is recorded here (its
SHA-256, with the connection); a second request with the same one is a replay, whichever API
process receives it. Rows older than twice the window can no longer matter and are purged.
"""

import hashlib
import time
from typing import Final

import sqlalchemy as sa

from accord.store.tables import webhook_replays

__all__ = ["first_use"]

_PURGE_EVERY_S: Final = 60.0
_last_purge = 0.0


def first_use(engine: sa.Engine, *, connection: str, signature: str, window_s: float) -> bool:
    """Record a verified signature; False when it was seen before (a replay).

    Args:
        engine: Accord's database.
        connection: The connection the webhook came in on.
        signature: The request's signature header, as sent.
        window_s: The replay window of the signature's timestamp.
    """
    global _last_purge  # noqa: PLW0603 - a per-process throttle, nothing more
    now = time.time()
    digest = hashlib.sha256(f"{connection}\x1f{signature.strip().lower()}".encode()).hexdigest()
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(webhook_replays).values(digest=digest, seen_at=now))
    except sa.exc.IntegrityError:
        return False
    if now - _last_purge > _PURGE_EVERY_S:
        _last_purge = now
        with engine.begin() as conn:
            conn.execute(
                sa.delete(webhook_replays).where(webhook_replays.c.seen_at < now - 2 * window_s)
            )
    return True
