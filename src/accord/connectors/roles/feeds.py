"""Change feeds: how a role hands "what changed since a cursor" to change capture.

A role method such as ``Crm.opportunity_changes()`` returns a :class:`ChangeFeed`: the pair's
name, how to read one page after a cursor or since a time, how to describe one raw record
(its id and version stamp, for capture's dedupe), and how to turn it into a canonical object.
Capture (``accord.flows.capture``) polls the feed and the flow maps the canonical objects to
events; the vendor's resource names, paging and field names stay in its package.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from accord.connectors.types import Page, RawRecord, RecordMeta

if TYPE_CHECKING:  # the connector base imports the roles: a cycle at run time only
    from accord.connectors.base import Connector

__all__ = ["ChangeFeed", "collection_feed"]

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


def collection_feed(
    connector: "Connector[Any]", resource: str, canonical: Callable[[RawRecord], T]
) -> ChangeFeed[T]:
    """The feed of one collection of a connector: its pages, named after the resource."""

    def read(cursor: str | None, since: datetime | None, limit: int | None) -> Page:
        return connector.read_page(resource, cursor=cursor, since=since, limit=limit)

    def describe(record: RawRecord) -> RecordMeta:
        return connector.describe(resource, record)

    return ChangeFeed(name=resource, read=read, describe=describe, canonical=canonical)
