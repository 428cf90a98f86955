"""Kantata OX (PSA) over API v1: workspaces, stories, time, expenses, timesheets, invoices.

Idempotency key: an ``external_references`` entry (``service_name`` = the connection's,
``service_model`` per collection) written in the same create as the record. Change capture:
``/subscribed_events`` polling (de-duplicated by event id) plus ``updated_after`` reads. See
``docs/connectors.md``.
"""

from accord.connectors.kantata.config import KantataConfig
from accord.connectors.kantata.connector import (
    MAX_PAGE_SIZE,
    RESOURCES,
    EventPage,
    KantataConnector,
    KantataResource,
)
from accord.connectors.kantata.errors import KantataErrorBody, parse_error

__all__ = [
    "MAX_PAGE_SIZE",
    "RESOURCES",
    "EventPage",
    "KantataConfig",
    "KantataConnector",
    "KantataErrorBody",
    "KantataResource",
    "parse_error",
]
