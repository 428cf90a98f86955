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
    """A thread-safe dictionary of values with the time each was loaded.

    Each reader says how old a value it accepts (``ttl``): ``ttl=0`` always loads, and what it
    loads refreshes the value for every later reader (the hold release reads periods fresh;
    the runs after it see what it read). Values older than ``max_age`` are dropped as they are
    met, so keys that are no longer read do not keep their values for ever.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, *, max_age: float = 3600.0
    ) -> None:
        self._clock = clock
        self._max_age = max_age
        self._lock = threading.Lock()
        self._values: dict[Hashable, tuple[float, Any]] = {}

    def get_or_load(self, key: Hashable, ttl: float, load: Callable[[], _T]) -> _T:
        """The value of ``key`` if loaded less than ``ttl`` seconds ago, else ``load()``."""
        now = self._clock()
        with self._lock:
            found = self._values.get(key)
        if found is not None and now - found[0] < ttl:
            value: _T = found[1]
            return value
        loaded = load()
        with self._lock:
            if len(self._values) > 1024:
                self._values = {k: v for k, v in self._values.items() if now - v[0] < self._max_age}
            self._values[key] = (now, loaded)
        return loaded

    def has(self, key: Hashable, ttl: float) -> bool:
        """Whether ``key`` holds a value loaded less than ``ttl`` seconds ago."""
        with self._lock:
            found = self._values.get(key)
        return found is not None and self._clock() - found[0] < ttl

    def update(self, key: Hashable, change: Callable[[Any], Any]) -> None:
        """Replace a cached value with ``change(value)`` (nothing when it is not cached).

        The value keeps its load time: what ``change`` adds is forgotten with it.
        """
        with self._lock:
            found = self._values.get(key)
            if found is not None:
                self._values[key] = (found[0], change(found[1]))

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._values.clear()
