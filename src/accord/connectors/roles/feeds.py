"""Change feeds: how a role hands "what changed since a cursor" to change capture.

A role method such as ``Crm.opportunity_changes()`` returns a :class:`ChangeFeed`: the pair's
name, how to read one page after a cursor or since a time, how to describe one raw record
(its id and version stamp, for capture's dedupe), and how to turn it into a canonical object.
Capture (``accord.flows.capture``) polls the feed and the flow maps the canonical objects to
events; the vendor's resource names, paging and field names stay in its package.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from accord.connectors.types import Page, RawRecord, RecordMeta

if TYPE_CHECKING:  # the connector base builds on the roles: no import at run time
    from accord.connectors.base import Connector

__all__ = ["ChangeFeed", "Mapped", "collection_feed"]

T = TypeVar("T")


@dataclass(frozen=True)
class ChangeFeed(Generic[T]):
    """One source of changes of one kind of canonical object (see the module docstring).

    Attributes:
        name: The pair's name within its connection (a cursor is kept per name).
        read: One page as ``(cursor, since, limit)``; ``since`` is exclusive.
        describe: A raw record's id and version stamp.
        canonical: The raw record as a canonical object; raises
            :class:`~accord.errors.MappingError` (with what is missing) when it cannot be one.
    """

    name: str
    read: Callable[[str | None, datetime | None, int | None], Page]
    describe: Callable[[RawRecord], RecordMeta]
    canonical: Callable[[RawRecord], T]


@dataclass(frozen=True)
class Mapped(Generic[T]):
    """One changed record as its role read it: its canonical object, or what Accord lacks.

    A feed's ``canonical`` returns one of these (or ``None`` for a record that means nothing
    to the flow, such as a draft or a rejection). A record that does not map never becomes a
    half-empty object: ``value`` is ``None`` and ``missing`` says why, in the system's words,
    so that the flow can open an exception its owner can act on.

    Attributes:
        kind: What the record is, in canonical words (``timesheet``, ``expense``,
            ``invoice``, ``payment``, ``milestone``).
        record_id: The system's id of the record (opaque; the role takes it back).
        canonical_id: The canonical id the record has, or would have once it maps.
        label: How its owner recognises it (a number, a name, a week).
        value: The canonical object; ``None`` when it does not map.
        missing: What is missing or wrong, by field (system wording); empty when it maps.
        context: The system's ids of what the record names, shown to its owner.
        key: The change's id when it must stay the same across re-reads (an approval: one
            event however often it is read); ``None``: each version is a change of its own.
    """

    kind: str
    record_id: str
    canonical_id: str
    label: str
    value: T | None = None
    missing: Mapping[str, str] = field(default_factory=dict)
    context: Mapping[str, object] = field(default_factory=dict)
    key: str | None = None


def collection_feed(
    source: "Connector[Any]", resource: str, canonical: Callable[[RawRecord], T]
) -> ChangeFeed[T]:
    """The feed of a connector resource's changed records (``read_page``), named for it."""
    return ChangeFeed(
        name=resource,
        read=lambda cursor, since, limit: source.read_page(
            resource, cursor=cursor, since=since, limit=limit
        ),
        describe=lambda record: source.describe(resource, record),
        canonical=canonical,
    )
