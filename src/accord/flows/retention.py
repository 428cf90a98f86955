"""Retention: how long each data class is kept (the ``retention:`` section), and the purge.

``accord.yaml`` may carry::

    retention:
      archive_dir: var/archive     # relative to accord.yaml; archives are written here first
      journal: 90d                 # events (never one whose run has not finished)
      runs: 30d                    # finished runs and their steps (the durable runtime's history)
      lineage: 365d                # lineage edges
      exceptions: 180d             # resolved or ignored exceptions (open ones are kept)
      purge_hour_utc: 3            # the daily scheduled purge; omit it to purge by hand only

A class without a period is kept forever; the audit log has no period: it is archived at every
purge and never deleted. Periods are days (``90`` or ``90d``) or hours (``12h``). Each purge
writes compressed JSON Lines first and deletes only what it wrote
(:mod:`accord.store.retention`); ``accord purge`` runs it by hand, the schedule daily.

Run history is the durable runtime's: finished runs are read and deleted through its client
(``list_workflows`` / ``delete_workflows``), never by SQL on its tables. The journal's cutoff
never passes the oldest unfinished run, so a run always finds its event.

What does *not* belong here: the tables and the archive format (:mod:`accord.store.retention`).
"""

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from dbos import DBOS, DBOSClient

from accord.errors import ConfigError
from accord.flows.config_sections import PerFileCache, read_section
from accord.flows.context import flow_context
from accord.store import retention as store_retention
from accord.store.retention import PurgeResult
from accord.store.runs import tables_exist

__all__ = [
    "CLASSES",
    "SCHEDULE",
    "SECTION",
    "RetentionSettings",
    "enable_scheduled_purge",
    "load_retention_settings",
    "purge",
    "purge_tick",
]

logger = logging.getLogger(__name__)

SECTION: Final = "retention"
"""The top-level key of ``accord.yaml`` this module reads."""
SCHEDULE: Final = "retention:purge"
"""Name of the DBOS schedule of the daily purge."""
RUNS: Final = "runs"
CLASSES: tuple[str, ...] = (RUNS, "journal", "lineage", "exceptions", store_retention.AUDIT)
"""Every data class, in purge order (runs first: the journal waits for unfinished runs)."""
_FINISHED = ["SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"]
_ACTIVE = ["PENDING", "ENQUEUED", "DELAYED"]
_PERIOD = re.compile(r"^(?P<n>\d+)\s*(?P<unit>[dh]?)$")
_RUN_BATCH = 500


@dataclass(frozen=True)
class RetentionSettings:
    """The ``retention:`` section, resolved."""

    archive_dir: Path = Path("var/archive")
    periods: Mapping[str, timedelta] = field(default_factory=dict)
    """Retention per data class; a class not named is kept forever."""
    purge_hour_utc: int | None = None
    """Hour of the daily scheduled purge; None: by hand only."""
    configured: bool = False
    """Whether ``accord.yaml`` has the section at all."""


def _period(value: object, where: str) -> timedelta:
    match = _PERIOD.match(str(value).strip())
    if match is None:
        raise ConfigError(f"{where} must be days (90 or 90d) or hours (12h)")
    n = int(match["n"])
    return timedelta(hours=n) if match["unit"] == "h" else timedelta(days=n)


def load_retention_settings(config_file: Path | None) -> RetentionSettings:
    """Read the section (a missing file or section: keep everything, no schedule).

    Raises:
        ConfigError: A key is unknown or malformed.
    """
    raw = read_section(config_file, SECTION)
    if raw is None or config_file is None:
        return RetentionSettings()
    where = f"{config_file}: {SECTION}"
    known = {"archive_dir", "purge_hour_utc", *CLASSES}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (audit is never purged)")
    if store_retention.AUDIT in raw:
        raise ConfigError(f"{where}.audit: the audit log is archived, never purged")
    folder = Path(str(raw.get("archive_dir") or "var/archive")).expanduser()
    if not folder.is_absolute():
        folder = config_file.parent / folder
    hour = raw.get("purge_hour_utc")
    if hour is not None and (not isinstance(hour, int) or not 0 <= hour <= 23):
        raise ConfigError(f"{where}.purge_hour_utc must be an hour from 0 to 23")
    periods = {
        name: _period(raw[name], f"{where}.{name}") for name in CLASSES if raw.get(name) is not None
    }
    return RetentionSettings(
        archive_dir=folder, periods=periods, purge_hour_utc=hour, configured=True
    )


_settings = PerFileCache(load_retention_settings, reload=True)


# --------------------------------------------------------------------------- run history
def _status_record(status: Any, steps: Iterable[Mapping[str, Any]]) -> dict[str, Any]:  # noqa: ANN401 - DBOS's WorkflowStatus
    fields = (
        "workflow_id",
        "status",
        "name",
        "created_at",
        "updated_at",
        "completed_at",
        "queue_name",
        "executor_id",
        "app_version",
        "input",
        "output",
        "attributes",
    )
    record = {name: getattr(status, name, None) for name in fields}
    error = getattr(status, "error", None)
    record["error"] = repr(error) if error is not None else None
    record["steps"] = [
        {**step, "error": repr(step["error"]) if step.get("error") is not None else None}
        for step in steps
    ]
    return record


def _oldest_active_ms(client: DBOSClient) -> int | None:
    oldest = client.list_workflows(
        status=_ACTIVE, limit=1, sort_desc=False, load_input=False, load_output=False
    )
    return oldest[0].created_at if oldest else None


def _purge_runs(
    client: DBOSClient,
    engine: sa.Engine,
    *,
    cutoff: datetime,
    archive_dir: Path,
    dry_run: bool,
    progress: Callable[[int], None] | None,
) -> PurgeResult:
    result = PurgeResult(RUNS, cutoff=cutoff)
    query: dict[str, Any] = {"status": _FINISHED, "end_time": cutoff.isoformat()}
    if dry_run:
        result.archived = len(client.list_workflows(**query, load_input=False, load_output=False))
        return result
    writer = store_retention.ArchiveWriter(engine, archive_dir, RUNS, cutoff=cutoff, deleted=True)
    while True:
        batch = client.list_workflows(**query, limit=_RUN_BATCH, sort_desc=False)
        if not batch:
            break
        records = [
            _status_record(s, client.list_workflow_steps(s.workflow_id, load_output=True))
            for s in batch
        ]
        writer.write(records, first_key=batch[0].workflow_id, last_key=batch[-1].workflow_id)
        client.delete_workflows([s.workflow_id for s in batch])
        result.archived += len(batch)
        result.deleted += len(batch)
        if progress is not None:
            progress(result.archived)
    return writer.finish(result)


# --------------------------------------------------------------------------- the purge
def purge(
    engine: sa.Engine,
    settings: RetentionSettings,
    *,
    classes: Iterable[str] | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> list[PurgeResult]:
    """Archive then delete every data class past its period; archive the audit log.

    Args:
        engine: Accord's database (the durable runtime's tables included).
        settings: The retention settings.
        classes: Only these data classes (default: all).
        dry_run: Count what would be archived and deleted; change nothing.
        now: The current time (tests).
        progress: Called with a data class and the rows handled so far.

    Raises:
        ConfigError: A data class is unknown.
    """
    wanted = tuple(classes) if classes is not None else CLASSES
    unknown = [c for c in wanted if c not in CLASSES]
    if unknown:
        raise ConfigError(f"unknown data class {unknown[0]!r}: use {', '.join(CLASSES)}")
    moment = now or datetime.now(UTC)
    results: list[PurgeResult] = []

    def tick(data_class: str) -> Callable[[int], None] | None:
        return None if progress is None else lambda done: progress(data_class, done)

    # A database no worker ever ran on has no run history, and no unfinished run to wait for.
    client = DBOSClient(system_database_engine=engine) if tables_exist(engine) else None
    try:
        for data_class in wanted:
            if data_class == store_retention.AUDIT:
                results.append(
                    store_retention.archive_audit(
                        engine,
                        archive_dir=settings.archive_dir,
                        dry_run=dry_run,
                        progress=tick(data_class),
                    )
                )
                continue
            period = settings.periods.get(data_class)
            if period is None:
                continue
            cutoff = moment - period
            if data_class == RUNS:
                if client is None:
                    continue
                results.append(
                    _purge_runs(
                        client,
                        engine,
                        cutoff=cutoff,
                        archive_dir=settings.archive_dir,
                        dry_run=dry_run,
                        progress=tick(data_class),
                    )
                )
                continue
            if data_class == "journal":
                oldest = _oldest_active_ms(client) if client is not None else None
                if oldest is not None:
                    cutoff = min(cutoff, datetime.fromtimestamp(oldest / 1000, tz=UTC))
            results.append(
                store_retention.purge_class(
                    engine,
                    data_class,
                    cutoff=cutoff,
                    archive_dir=settings.archive_dir,
                    dry_run=dry_run,
                    progress=tick(data_class),
                )
            )
    finally:
        if client is not None:
            client.destroy()
    return results


@DBOS.step(name="retention.purge")
def purge_step() -> list[dict[str, Any]]:
    """The scheduled purge: every data class, as configured; returns what it did."""
    ctx = flow_context()
    settings = _settings(ctx.settings.config_file)
    done = purge(ctx.engine, settings)
    summary = [{"class": r.data_class, "archived": r.archived, "deleted": r.deleted} for r in done]
    logger.info("retention purge: %s", summary)
    return summary


@DBOS.workflow(name="retention.tick")
def purge_tick(scheduled_at: datetime, context: Any) -> None:  # noqa: ANN401 - DBOS's context
    """A schedule's tick: one purge."""
    del scheduled_at, context
    purge_step()


def enable_scheduled_purge(connections: object, config_file: Path | None) -> bool:
    """Schedule the daily purge (its registry spec's switch, at start); False when off."""
    del connections
    try:
        settings = _settings(config_file)
    except ConfigError:
        logger.exception("scheduled purge not enabled: accord.yaml is invalid")
        settings = RetentionSettings()
    if settings.purge_hour_utc is None:
        for existing in DBOS.list_schedules(schedule_name_prefix=SCHEDULE):
            DBOS.delete_schedule(existing["schedule_name"])
        return False
    cron = f"0 17 {settings.purge_hour_utc} * * *"  # minute 17: away from the hour's crowd
    DBOS.apply_schedules([{"schedule_name": SCHEDULE, "workflow_fn": purge_tick, "schedule": cron}])
    return True
