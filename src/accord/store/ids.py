"""Cheap unique ids: a random per-process prefix and a counter.

``uuid.uuid4()`` reads the kernel's random source on every call, which showed as a sixth of
the intake's request time; ids only need to be unique, not unpredictable.
"""

import itertools
import os
import threading

__all__ = ["next_id"]

_prefix = os.urandom(8).hex()
_counter = itertools.count(1)
_lock = threading.Lock()
_pid = os.getpid()


def next_id() -> str:
    """A 32-hex-character id unique across processes and restarts (random 64-bit prefix)."""
    global _prefix, _counter, _pid
    with _lock:
        if os.getpid() != _pid:
            _prefix, _counter, _pid = os.urandom(8).hex(), itertools.count(1), os.getpid()
        return f"{_prefix}{next(_counter):016x}"
