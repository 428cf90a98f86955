"""The plain values connectors take and return: raw records, pages, write results, clocks.

These are the only shapes that cross the connector boundary; everything past the mapper is a
canonical model from :mod:`accord.domain`. ``typing.Any`` appears here, in ``RawRecord``, and
nowhere else in the connector framework.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "Clock",
    "Page",
    "RawRecord",
    "RecordMeta",
    "ReferenceList",
    "ReferenceValue",
    "WriteResult",
    "latest",
    "utc_now",
]

RawRecord = dict[str, Any]
"""One record in the system's own JSON shape, as the API returned it."""

Clock = Callable[[], datetime]
"""Returns the current time, UTC-aware; injected so that tests control time."""


def utc_now() -> datetime:
    """The current time, UTC-aware (the default :data:`Clock`)."""
    return datetime.now(UTC)


def latest(moments: Iterable[datetime | None]) -> datetime | None:
    """The latest of ``moments`` (a page's high watermark), ``None`` when there is none."""
    return max((m for m in moments if m is not None), default=None)


@dataclass(frozen=True, slots=True)
class Page:
    """One bounded read: some records and where to go on from.

    Attributes:
        records: The records of this page, in the system's stable order.
        next_cursor: Opaque token for the next page (pass it back as ``cursor``), or ``None``
            when this was the last page. Persist it as is; never parse it outside the connector.
        high_watermark: The latest modification time among ``records`` (UTC-aware), or
            ``None`` for an empty page. The poller keeps the maximum over a run and passes it
            (minus its overlap window) as ``since`` next time.
    """

    records: list[RawRecord]
    next_cursor: str | None = None
    high_watermark: datetime | None = None


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The outcome of a write.

    Attributes:
        id: The record's id in the target system (its internal id, never the external id).
        created: ``True`` when the write created the record, ``False`` when it updated one.
        etag: The record's new version tag, for systems with optimistic concurrency.
    """

    id: str
    created: bool
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class RecordMeta:
    """What the framework needs to know about a raw record without mapping it.

    Attributes:
        id: The system's id of the record.
        external_id: The idempotency key Accord wrote (or ``None`` for records Accord did not
            create).
        modified_at: Last modification time, UTC-aware, when the record carries one.
        etag: Version tag, for systems with optimistic concurrency.
    """

    id: str
    external_id: str | None = None
    modified_at: datetime | None = None
    etag: str | None = field(default=None)


@dataclass(frozen=True, slots=True)
class ReferenceValue:
    """One value a system offers for a setting (``accord connections discover``).

    Attributes:
        id: What a setting holds (an internal id, a code).
        name: The value's name in the system, for people.
        detail: More about it (its code, its currency, inactive ...), if anything.
    """

    id: str
    name: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ReferenceList:
    """The values a system offers for one kind of setting.

    Attributes:
        title: What the values are (``Service items``).
        setting: Where such a value is set: a connection setting (``billing_item``) or a key
            of the rules (``practices.<code>.netsuite_department_id``).
        values: The values, in the system's order.
    """

    title: str
    setting: str
    values: tuple[ReferenceValue, ...]
