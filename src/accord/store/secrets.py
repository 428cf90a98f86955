"""Secrets Accord makes for itself when the settings give none, shared by every process.

Today one: the console's session secret (signing cookies), so that sessions survive a restart
and are valid on every API process. The first process to ask generates it; the rest read the
same row. Settings always win: a secret configured in the environment is never stored.

What does *not* belong here: keys that protect the database's own content (the audit key).
Anyone who can read this table can read these secrets, so a key that must hold against
someone with database access comes from settings only (see :mod:`accord.store.audit`).
"""

import base64
import secrets as _random

import sqlalchemy as sa

from accord.store.tables import secrets
from accord.store.util import utc_now

__all__ = ["get_or_create"]


def get_or_create(engine: sa.Engine, name: str, *, nbytes: int = 32) -> bytes:
    """The secret named ``name``, generated (``nbytes`` random bytes) by the first caller."""
    with engine.begin() as conn:
        found = conn.execute(sa.select(secrets.c.value).where(secrets.c.name == name)).scalar()
    if found is None:
        value = base64.urlsafe_b64encode(_random.token_bytes(nbytes)).decode()
        try:
            with engine.begin() as conn:
                conn.execute(
                    sa.insert(secrets).values(name=name, value=value, created_at=utc_now())
                )
        except sa.exc.IntegrityError:
            pass  # another process stored it first: read theirs
        with engine.connect() as conn:
            found = conn.execute(
                sa.select(secrets.c.value).where(secrets.c.name == name)
            ).scalar_one()
    return base64.urlsafe_b64decode(str(found))
