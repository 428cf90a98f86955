"""The process-wide handles a running flow needs (database engine, settings, connectors).

DBOS registers workflows and steps as module-level functions and recovers them by name after
a crash, so they cannot receive these handles as arguments. The runtime installs one
:class:`FlowContext` at launch; steps read it through :func:`flow_context`.
"""

import threading
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from accord.settings import Settings

__all__ = ["FlowContext", "flow_context", "install_context"]


@dataclass
class FlowContext:
    """What steps need from the outside world."""

    engine: sa.Engine
    settings: Settings
    extras: dict[str, Any] = field(default_factory=dict)
    """Later flows hang their services here (connectors, rules), keyed by name."""


_lock = threading.Lock()
_current: FlowContext | None = None


def install_context(ctx: FlowContext | None) -> None:
    """Install (or clear, with None) the process's flow context."""
    global _current  # noqa: PLW0603 - one runtime per process (module docstring)
    with _lock:
        _current = ctx


def flow_context() -> FlowContext:
    """The installed context; raises if the runtime was not launched."""
    ctx = _current
    if ctx is None:
        msg = "the flow runtime is not launched in this process"
        raise RuntimeError(msg)
    return ctx
