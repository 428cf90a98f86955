"""A small thread-safe TTL cache for reference data read from remote systems.

Role implementations and flows read the same reference data (projects, periods, employees,
currency ids) thousands of times in a burst; each is kept for a short time per process.
"""

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

__all__ = ["TtlCache"]

_T = TypeVar("_T")


class TtlCache:
    """A thread-safe dictionary whose values expire ``ttl`` seconds after they were stored."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[Hashable, tuple[float, Any]] = {}

    def get_or_load(self, key: Hashable, ttl: float, load: Callable[[], _T]) -> _T:
        """The cached value of ``key``, or ``load()`` stored for ``ttl`` seconds."""
        now = self._clock()
        with self._lock:
            found = self._values.get(key)
        if found is not None and found[0] > now:
            value: _T = found[1]
            return value
        loaded = load()
        if ttl > 0:
            with self._lock:
                self._values[key] = (now + ttl, loaded)
        return loaded

    def has(self, key: Hashable) -> bool:
        """Whether ``key`` holds a value that has not expired."""
        with self._lock:
            found = self._values.get(key)
        return found is not None and found[0] > self._clock()

    def update(self, key: Hashable, change: Callable[[Any], Any]) -> None:
        """Replace a cached value with ``change(value)`` (nothing when it is not cached)."""
        with self._lock:
            found = self._values.get(key)
            if found is not None:
                self._values[key] = (found[0], change(found[1]))

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._values.clear()
