"""One run at a time over one thing: a lease in Accord's database, held by the running flow.

For writes to a system without an idempotent upsert (Business Central stages and posts journal
lines; its sales invoices are verified before they are created), two runs over the same
thing at the same moment could each find nothing and each write. :func:`exclusive` makes the
second wait for the first. The holder is the executing workflow, so the same run re-executing
its step after a crash takes its lease back at once instead of waiting for it to expire.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from dbos import DBOS

from accord.errors import RetryableError
from accord.flows import stepkit
from accord.store import leases

__all__ = ["exclusive"]

_TTL_S: Final = 300.0
"""How long a lease lasts: a killed holder's lease frees after this (its own run: at once)."""
_WAIT_S: Final = 60.0
"""How long a run waits for another run's hold to end before its step is retried later."""


@contextmanager
def exclusive(name: str, *, ttl_s: float = _TTL_S, wait_s: float = _WAIT_S) -> Iterator[None]:
    """Hold the lease ``name`` for the block, waiting for another run's hold to end.

    Raises:
        RetryableError: Another run held it for ``wait_s``; the step is retried later.
    """
    engine = stepkit.engine()
    holder = DBOS.workflow_id or "process"
    deadline = time.monotonic() + wait_s
    while not leases.acquire(engine, name, holder, ttl_s=ttl_s):
        if time.monotonic() > deadline:
            raise RetryableError(f"{name} is held by another run", retry_after=5)
        time.sleep(0.5)
    try:
        yield
    finally:
        leases.release(engine, name, holder)
