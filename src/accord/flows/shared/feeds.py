"""Capture through roles: a role's change feed as a capture pair, Accord's xref for a role.

A role hands "what changed since a cursor" as a :class:`~accord.connectors.roles.ChangeFeed`;
:func:`feed_spec` turns one into a :class:`~accord.flows.capture.CaptureSpec` whose hooks get
the feed afresh on every call (through ``feed``), so that a poll always uses the current
rules. :class:`ConnectionIds` is the :class:`~accord.connectors.roles.KnownIds` a role maps
records with: Accord's xref, bound to the role's connection.

Everything here runs inside a capture poll or a DBOS step (the flow context is installed).
"""

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from typing_extensions import override

from accord.connectors.roles import ChangeFeed, KnownIds
from accord.flows import stepkit
from accord.flows.capture import CaptureSpec, register_capture, unregister_capture
from accord.flows.shared.finance import start_cursor_at_now
from accord.store.journal import NewEvent
from accord.store.xref import XrefConflictError

__all__ = ["ConnectionIds", "Registrations", "feed_spec"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class ConnectionIds(KnownIds):
    """Accord's xref of one connection, for the connection's role."""

    def __init__(self, connection: str) -> None:
        self.connection = connection

    @override
    def canonical(self, entity_type: str, external_id: str) -> str | None:
        return stepkit.canonical_of(entity_type, self.connection, external_id)

    @override
    def external(self, entity_type: str, canonical_id: str) -> str | None:
        return stepkit.known_external(entity_type, canonical_id, self.connection)

    @override
    def remember(self, entity_type: str, canonical_id: str, external_id: str) -> bool:
        system = stepkit.connections().connector(self.connection).kind
        try:
            stepkit.link_xref(entity_type, canonical_id, system, self.connection, external_id)
        except XrefConflictError:
            logger.warning(
                "%s %s: %s is linked to another record of %s",
                entity_type,
                canonical_id,
                external_id,
                self.connection,
            )
            return False
        return True


def feed_spec(
    connection: str,
    name: str,
    feed: Callable[[], ChangeFeed[T]],
    to_events: Callable[[T], list[NewEvent]],
    *,
    interval: timedelta,
    overlap: timedelta,
) -> CaptureSpec:
    """The capture pair ``<connection>/<name>`` polling ``feed()`` (named ``name``).

    ``to_events`` maps each record's canonical value (``feed().canonical(record)``).
    """
    return CaptureSpec(
        connection=connection,
        resource=name,
        to_events=lambda record: to_events(feed().canonical(record)),
        interval=interval,
        overlap=overlap,
        read=lambda _connector, cursor, since, limit: feed().read(cursor, since, limit),
        describe=lambda record: feed().describe(record),
    )


class Registrations:
    """The capture pairs one flow's enabler registered in this process.

    A role names its feeds, so the pairs of a connection that is gone (or no longer plays
    the role) cannot be named again to unregister them: the enabler remembers them instead.
    """

    def __init__(self) -> None:
        self._pairs: set[tuple[str, str]] = set()

    def clear(self) -> None:
        """Unregister every pair registered through this object."""
        for connection, resource in self._pairs:
            unregister_capture(connection, resource)
        self._pairs.clear()

    def register(self, spec: CaptureSpec, *, from_now: bool = False) -> None:
        """Register a pair; ``from_now``: a pair never polled starts at the present."""
        if from_now:
            start_cursor_at_now(spec.connection, spec.resource)
        register_capture(spec)
        self._pairs.add((spec.connection, spec.resource))

    def __bool__(self) -> bool:
        return bool(self._pairs)
