"""Reading a flow's top-level section of ``accord.yaml``, and caching what a flow makes of it.

Every flow reads its own section the same way: a missing file or section means defaults, an
unreadable file or a section that is not a mapping is a :class:`~accord.errors.ConfigError`.
:func:`read_section` is that part; :class:`PerFileCache` keeps each flow's resolved settings
per file (read once, or re-read when the file changes).

What does *not* belong here: a flow's settings dataclass and the validation of its keys (each
flow's ``settings`` module), app settings (:mod:`accord.settings`), and connection configs.
"""

import threading
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml

from accord.errors import ConfigError

__all__ = ["PerFileCache", "read_section"]

T = TypeVar("T")


def read_section(config_file: Path | None, name: str) -> Mapping[str, Any] | None:
    """The ``name:`` section of ``config_file``; ``None`` when the file or section is missing.

    Raises:
        ConfigError: The file cannot be read or parsed, or the section is not a mapping.
    """
    if config_file is None or not config_file.exists():
        return None
    try:
        document = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {name} from {config_file}") from exc
    raw: Any = document.get(name) if isinstance(document, Mapping) else None
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{config_file}: {name!r} must be a mapping")
    return raw


def _stamp(config_file: Path | None) -> float:
    """The file's modification time; ``0.0`` when there is no file to watch."""
    try:
        return config_file.stat().st_mtime if config_file is not None else 0.0
    except OSError:
        return 0.0


class PerFileCache(Generic[T]):
    """What ``load`` makes of one ``accord.yaml``, kept per file (thread-safe).

    With ``reload=True`` the value is loaded again when the file's modification time changes;
    otherwise it is loaded once per file (and per ``key``, for values that also depend on
    something else, such as an environment variable).
    """

    def __init__(self, load: Callable[[Path | None], T], *, reload: bool) -> None:
        self._load = load
        self._reload = reload
        self._lock = threading.Lock()
        self._values: dict[tuple[Path | None, Hashable], tuple[float, T]] = {}

    def __call__(self, config_file: Path | None, *, key: Hashable = None) -> T:
        """The value for ``config_file``, loaded when not cached (or when the file changed)."""
        stamp = _stamp(config_file) if self._reload else 0.0
        with self._lock:
            found = self._values.get((config_file, key))
        if found is not None and found[0] == stamp:
            return found[1]
        value = self._load(config_file)
        with self._lock:
            if not self._reload:
                # Read once: a concurrent first load keeps whichever value was stored first.
                return self._values.setdefault((config_file, key), (stamp, value))[1]
            self._values[config_file, key] = (stamp, value)
        return value
