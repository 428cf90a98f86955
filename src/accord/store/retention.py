"""Archive, then purge, Accord's own tables past their retention; archive the audit log.

A purge of one data class reads its oldest rows in batches (by key), appends each batch to a
compressed JSON Lines file (one gzip member per batch, flushed to disk), records the file in
the ``accord_archives`` catalogue and only then deletes the batch, in one transaction. A purge
interrupted between the write and the delete archives those rows again next time: archives
are at least once, keyed by each row's ``key``. A file is written as ``<name>.part`` and renamed
when its purge finishes, so a ``.part`` file names an interrupted run.

Data classes here (the durable runtime's run history is purged by :mod:`accord.flows.retention`):

* ``journal``: events received before the cutoff. The newest event is always kept, so SQLite
  never reuses a sequence number (run ids are made of them).
* ``lineage``: edges created before the cutoff.
* ``exceptions``: resolved or ignored exceptions closed before the cutoff; open ones stay.
* ``audit``: archived (every row not archived yet), never deleted: the hash chain starts at the
  first row, and ``accord audit verify`` must keep passing.

What does *not* belong here: retention settings and the schedule (:mod:`accord.flows.retention`).
"""

import gzip
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa

from accord.store.tables import archives, audit_log, exceptions, journal, lineage
from accord.store.util import as_utc, utc_now

__all__ = [
    "AUDIT",
    "DATA_CLASSES",
    "ArchiveWriter",
    "PurgeResult",
    "archive_audit",
    "last_archived_key",
    "purge_class",
    "record_archive",
]

AUDIT: Final = "audit"
"""The data class archived but never purged."""
DEFAULT_BATCH = 5_000
"""Rows per batch: one gzip member and one delete transaction each."""


@dataclass(frozen=True)
class _Class:
    table: sa.Table
    key: sa.Column[Any]
    stamp: sa.Column[Any]
    extra: Callable[[], Sequence[sa.ColumnElement[bool]]] = lambda: ()


DATA_CLASSES: dict[str, _Class] = {
    "journal": _Class(journal, journal.c.seq, journal.c.received_at),
    "lineage": _Class(lineage, lineage.c.id, lineage.c.created_at),
    "exceptions": _Class(
        exceptions,
        exceptions.c.id,
        exceptions.c.resolved_at,
        lambda: (exceptions.c.status.in_(("resolved", "ignored")),),
    ),
}
"""The purgeable data classes of Accord's store, by name."""


@dataclass
class PurgeResult:
    """What one data class's purge did."""

    data_class: str
    archived: int = 0
    deleted: int = 0
    files: list[Path] = field(default_factory=list)
    cutoff: datetime | None = None


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return (as_utc(value) or value).isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


class ArchiveWriter:
    """Appends batches to ``<folder>/<data class>/<data class>-<UTC time>.jsonl.gz``, catalogued.

    Each batch is one complete gzip member, written and fsynced, and recorded in the
    ``accord_archives`` catalogue before the caller deletes what it holds; ``zcat`` and
    :func:`gzip.open` read the members back as one stream.

    Args:
        engine: Accord's database (the catalogue).
        folder: The archive folder.
        data_class: The data class (its sub-folder and file name).
        cutoff: The purge's cutoff, recorded with each batch.
        deleted: Whether the caller deletes what is archived (False for the audit log).
    """

    def __init__(
        self,
        engine: sa.Engine,
        folder: Path,
        data_class: str,
        *,
        cutoff: datetime | None,
        deleted: bool,
    ) -> None:
        self.engine = engine
        self.data_class = data_class
        self.cutoff = cutoff
        self.deleted = deleted
        target = folder / data_class
        target.mkdir(parents=True, exist_ok=True)
        self.path = target / f"{data_class}-{utc_now():%Y%m%dT%H%M%S%fZ}.jsonl.gz"
        self.part = self.path.with_name(self.path.name + ".part")
        self.rows = 0

    def write(
        self, records: Sequence[dict[str, Any]], *, first_key: object, last_key: object
    ) -> None:
        """Append one batch, make it durable and catalogue it."""
        text = "".join(
            json.dumps(r, default=_json_default, separators=(",", ":"), sort_keys=True) + "\n"
            for r in records
        )
        # Archives hold business data: readable by Accord's user only.
        with os.fdopen(
            os.open(self.part, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab"
        ) as fh:
            fh.write(gzip.compress(text.encode("utf-8"), compresslevel=6))
            fh.flush()
            os.fsync(fh.fileno())
        self.rows += len(records)
        record_archive(
            self.engine,
            data_class=self.data_class,
            path=self.path,
            rows=len(records),
            first_key=first_key,
            last_key=last_key,
            cutoff=self.cutoff,
            deleted=self.deleted,
        )

    def finish(self, result: PurgeResult) -> PurgeResult:
        """Rename the finished file into place and list it in ``result`` (when not empty)."""
        if self.rows:
            self.part.replace(self.path)
            result.files.append(self.path)
        return result


def record_archive(
    engine: sa.Engine,
    *,
    data_class: str,
    path: Path,
    rows: int,
    first_key: object,
    last_key: object,
    cutoff: datetime | None,
    deleted: bool,
) -> None:
    """Add one archive file (or one batch of it) to the catalogue."""
    with engine.begin() as conn:
        conn.execute(
            sa.insert(archives).values(
                data_class=data_class,
                path=str(path),
                rows=rows,
                first_key=None if first_key is None else str(first_key),
                last_key=None if last_key is None else str(last_key),
                cutoff=cutoff,
                deleted=deleted,
                created_at=utc_now(),
            )
        )


def last_archived_key(engine: sa.Engine, data_class: str) -> str | None:
    """The highest key of a data class ever archived (the audit log's archiving position)."""
    with engine.connect() as conn:
        keys = conn.execute(
            sa.select(archives.c.last_key).where(
                archives.c.data_class == data_class, archives.c.last_key.is_not(None)
            )
        ).scalars()
        return max(keys, key=int, default=None)


def _rows(result: sa.CursorResult[Any]) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in result]


def purge_class(
    engine: sa.Engine,
    data_class: str,
    *,
    cutoff: datetime,
    archive_dir: Path,
    dry_run: bool = False,
    batch: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
) -> PurgeResult:
    """Archive then delete one data class's rows older than ``cutoff``, batch by batch.

    Args:
        engine: Accord's database.
        data_class: ``journal``, ``lineage`` or ``exceptions``.
        cutoff: Rows stamped before this go.
        archive_dir: The archive folder (a sub-folder per data class).
        dry_run: Count what would go; write and delete nothing.
        batch: Rows per batch.
        progress: Called with the rows handled so far, after each batch.
    """
    spec = DATA_CLASSES[data_class]
    where = [spec.stamp < cutoff, *spec.extra()]
    if data_class == "journal":
        # Keep the newest event: SQLite would hand its sequence number out again otherwise.
        where.append(spec.key < sa.select(sa.func.max(spec.key)).scalar_subquery())
    result = PurgeResult(data_class, cutoff=cutoff)
    if dry_run:
        with engine.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(spec.table).where(*where))
            result.archived = int(count.scalar_one())
        return result
    writer = ArchiveWriter(engine, archive_dir, data_class, cutoff=cutoff, deleted=True)
    after: Any = None
    while True:
        query = sa.select(spec.table).where(*where).order_by(spec.key).limit(batch)
        if after is not None:
            query = query.where(spec.key > after)
        with engine.connect() as conn:
            records = _rows(conn.execute(query))
        if not records:
            break
        first, last = records[0][spec.key.name], records[-1][spec.key.name]
        writer.write(records, first_key=first, last_key=last)
        with engine.begin() as conn:
            # The same condition over the batch's key range: exactly the rows just archived.
            deleted = conn.execute(
                sa.delete(spec.table).where(spec.key >= first, spec.key <= last, *where)
            )
        result.archived += len(records)
        result.deleted += deleted.rowcount or 0
        after = last
        if progress is not None:
            progress(result.archived)
    return writer.finish(result)


def archive_audit(
    engine: sa.Engine,
    *,
    archive_dir: Path,
    dry_run: bool = False,
    batch: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
) -> PurgeResult:
    """Archive every audit row not archived yet; delete none (the chain must stay whole)."""
    result = PurgeResult(AUDIT)
    done = last_archived_key(engine, AUDIT)
    after = int(done) if done is not None else 0
    if dry_run:
        with engine.connect() as conn:
            count = conn.execute(
                sa.select(sa.func.count()).select_from(audit_log).where(audit_log.c.seq > after)
            )
            result.archived = int(count.scalar_one())
        return result
    writer = ArchiveWriter(engine, archive_dir, AUDIT, cutoff=None, deleted=False)
    while True:
        with engine.connect() as conn:
            records = _rows(
                conn.execute(
                    sa.select(audit_log)
                    .where(audit_log.c.seq > after)
                    .order_by(audit_log.c.seq)
                    .limit(batch)
                )
            )
        if not records:
            break
        after = records[-1]["seq"]
        writer.write(records, first_key=records[0]["seq"], last_key=after)
        result.archived += len(records)
        if progress is not None:
            progress(result.archived)
    return writer.finish(result)
