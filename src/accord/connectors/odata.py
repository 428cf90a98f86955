"""What the OData v4 connectors (Business Central, Dynamics 365 Finance) share.

Both services answer a collection read with ``{"value": [...], "@odata.nextLink": ...}``,
quote string literals the same way, carry ``@odata.etag`` on records and page on their own
with next links that must stay on the service's origin (the bearer token goes wherever a link
points). What differs (paths, keys, companies, page sizes, the null date) stays in each
vendor package.
"""

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import httpx

from accord.connectors.base import Connector, ConnectorConfigT
from accord.connectors.roles.recon import held_moment
from accord.connectors.types import Page, RawRecord, latest

__all__ = [
    "ODataConnector",
    "chained",
    "odata_etag",
    "odata_string",
    "odata_time",
    "parse_odata_time",
]


class ODataConnector(Connector[ConnectorConfigT]):
    """A :class:`~accord.connectors.base.Connector` of an OData v4 service.

    Subclasses set :attr:`service` (how errors name the service).
    """

    service: ClassVar[str]
    """The service as an error names it (``the Business Central API``)."""

    def follow(self, next_link: str, *, resource: str) -> httpx.Response:
        """GET a page's ``@odata.nextLink`` verbatim, once it is known to stay on the service.

        Raises:
            ValueError: The link points at another origin.
        """
        target, base = httpx.URL(next_link), httpx.URL(self.config.base_url)
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            raise ValueError(f"cursor points outside {self.service}")
        return self.send("GET", next_link, resource=resource)

    def keyset_page(
        self,
        resource: str,
        cursor: str | None,
        size: int,
        *,
        request: Callable[[str | None], httpx.Response],
        modified: Callable[[RawRecord], datetime | None],
        keyset: Callable[[RawRecord], str],
    ) -> Page:
        """One page of a read ordered by a keyset (a modification time, then the key).

        A cursor that is a URL is the service's next link, followed verbatim; otherwise
        ``request`` sends the read after a keyset cursor (``None``: from the top). The next
        cursor is the service's next link when it pages on its own, else the last record's
        ``keyset`` position once the page is full.

        Args:
            resource: The entity set.
            cursor: The previous page's ``next_cursor``, or ``None``.
            size: The page size asked for (``$top``).
            request: Sends the read for a keyset cursor (or ``None``).
            modified: A record's modification time (the page's high watermark).
            keyset: A record's keyset position, as a cursor.
        """
        followed = cursor is not None and cursor.startswith(("http://", "https://"))
        if followed and cursor is not None:
            response = self.follow(cursor, resource=resource)
        else:
            response = request(cursor)
        records, next_cursor = self.value_page(response, resource=resource)
        if next_cursor is None and records and (followed or len(records) >= size):
            # After a nextLink chain the window's size is unknown: go on by keyset until empty.
            next_cursor = keyset(records[-1])
        watermark = latest(modified(r) for r in records)
        return Page(records=records, next_cursor=next_cursor, high_watermark=watermark)

    def value_page(
        self, response: httpx.Response, *, resource: str
    ) -> tuple[list[RawRecord], str | None]:
        """A collection answer's records (``value``) and its next link (``None`` at the end).

        Raises the translated error when the answer is a failure.
        """
        self.raise_for_status(response, resource=resource)
        body = self.json_object(response, resource=resource)
        records = [r for r in body.get("value") or () if isinstance(r, dict)]
        link = body.get("@odata.nextLink")
        return records, link if isinstance(link, str) and link else None


def odata_string(value: str) -> str:
    """An OData string literal for ``$filter`` and keys: quoted, quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def odata_time(moment: datetime, *, timespec: Literal["seconds", "milliseconds"]) -> str:
    """A UTC-aware time as an OData ``DateTimeOffset`` literal (``...Z``) at ``timespec``."""
    if moment.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_odata_time(value: object, *, null_date: str) -> datetime | None:
    """An OData timestamp as UTC, or ``None`` for a missing one.

    ``null_date`` is the prefix the service writes for "no date" (BC ``0001-``, F&O
    ``1900-01-01``); a naive timestamp is taken as UTC.
    """
    if not isinstance(value, str) or value.startswith(null_date):
        return None
    return held_moment(value)


def odata_etag(record: Mapping[str, Any]) -> str | None:
    """A record's ``@odata.etag``, or ``None`` when it carries none."""
    value = record.get("@odata.etag")
    return str(value) if value else None


def chained(
    read: Callable[[str | None], tuple[list[RawRecord], str | None]],
) -> Iterator[RawRecord]:
    """Every record of a paged read: ``read(None)`` first, then ``read(link)`` per next link."""
    records, link = read(None)
    yield from records
    while link is not None:
        records, link = read(link)
        yield from records
