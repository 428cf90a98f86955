"""Re-running journaled events: retry of an exception's run, dead-letter replay, bulk replay.

Every re-run is a *new* run of the workflow that handles the event's type, with the same
input (the event's :class:`~accord.flows.record_event.EventRef`) and a derived id
``<original run id>.r<n>``: a DBOS workflow id is never reused with different arguments, the
id sorts right after the original's, and the run goes to the same queue partition so that
per-key ordering holds. Flows' target writes are idempotent, which is what makes a re-run
safe.

Overrides: a re-run may carry ``overrides`` (for example a new posting date after a re-date),
stored in the run's DBOS attributes as ``{"overrides": {...}}``. A flow reads them with
:func:`run_overrides` and applies them where it builds its target write; flows that know no
override simply ignore it. The first run of an event never has overrides.

Rules version: a re-run is pinned, in the transaction that starts it, to the rules version of
the run it re-runs (``rules="pinned"``, the default), or to the active version when the operator
chooses ``rules="current"``; the choice and the version are in the audit entry and in the pin
(:mod:`accord.store.rulesets`). A run that was never pinned (it read no rules) gives the active
version, recorded as ``current``.

Each re-run is enqueued inside the caller's transaction, so the audit row (and, for an
exception, the retry record) commits with the run start or not at all.
"""

import dataclasses
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

import sqlalchemy as sa
from dbos import DBOS, DBOSClient

from accord.errors import WorkflowError
from accord.flows.pinning import current_version
from accord.flows.record_event import EventRef
from accord.flows.registry import workflow_for
from accord.flows.runs import original_run_id, seq_of_run
from accord.flows.runtime import Runtime
from accord.store import audit, journal, rulesets
from accord.store import exceptions as exc_repo
from accord.store.journal import JournalEntry
from accord.store.util import key_lock, write_lock

__all__ = [
    "ExceptionRetry",
    "NotReplayableError",
    "ReplayResult",
    "Rerun",
    "RulesChoice",
    "replay",
    "rerun",
    "retry_exception",
    "run_overrides",
]

logger = logging.getLogger(__name__)

OVERRIDES_KEY: Final = exc_repo.RETRY_OVERRIDES
"""Attribute (on the run) and envelope key (on the exception) holding re-run overrides."""
RERUN_OF_KEY: Final = "rerun_of"
"""Attribute naming the original run of a re-run."""
MAX_REPLAY: Final = 10_000
"""Most events one replay call re-runs (a bigger window is split by the caller)."""

RulesChoice = Literal["pinned", "current"]
"""Which rules version a re-run uses: its original's (pinned) or the active one (current)."""


class NotReplayableError(WorkflowError):
    """The run cannot be re-run: it is no journaled event's run, or its event is gone."""

    default_message = "run cannot be re-run"

    def __init__(self, run_id: str, reason: str) -> None:
        self.run_id = run_id
        self.reason = reason
        super().__init__(f"run {run_id} cannot be re-run: {reason}")


@dataclass(frozen=True)
class Rerun:
    """A re-run that was started (or, in a dry run, would be)."""

    original_run_id: str
    run_id: str
    workflow: str
    seq: int
    event_type: str
    business_key: str
    rules_version: str | None = None
    """The version the re-run is pinned to (None: nothing active yet, or a dry run)."""
    rules: str | None = None
    """``pinned`` or ``current``: how that version was chosen."""


@dataclass
class ReplayResult:
    """What a replay matched and started."""

    matched: int = 0
    dry_run: bool = False
    runs: list[Rerun] = field(default_factory=list)
    truncated: bool = False


@dataclass(frozen=True)
class ExceptionRetry:
    """An exception whose run was retried, and the new run."""

    exception: exc_repo.BusinessException
    rerun: Rerun


def run_overrides() -> dict[str, Any]:
    """The overrides of the current run (call it inside a workflow); empty when it has none.

    Only re-runs (ids ``<run id>.r<n>``, see :func:`_next_id`) carry overrides, so a first run
    answers at once: reading the run's status is a checkpointed step, which every run of a
    quarter-end burst would otherwise pay for nothing.
    """
    workflow_id = DBOS.workflow_id
    if workflow_id is None or _RERUN_ID.search(workflow_id) is None:
        return {}
    status = DBOS.get_workflow_status(workflow_id)
    attributes = status.attributes if status is not None else None
    value = (attributes or {}).get(OVERRIDES_KEY)
    return dict(value) if isinstance(value, Mapping) else {}


_RERUN_ID: Final = re.compile(r"\.r\d+$")
"""The suffix :func:`_next_id` gives a re-run's id."""


def _next_id(client: DBOSClient, original: str, taken: set[str]) -> str:
    existing = client.list_workflows(
        workflow_id_prefix=f"{original}.r", load_input=False, load_output=False
    )
    numbers = [
        int(tail)
        for s in existing
        if (tail := s.workflow_id.removeprefix(f"{original}.r")).isdigit()
    ]
    n = max(numbers, default=0) + 1
    while f"{original}.r{n}" in taken:
        n += 1
    return f"{original}.r{n}"


def _entry_for(conn: sa.Connection, run_id: str) -> JournalEntry:
    original = original_run_id(run_id)
    seq = seq_of_run(original)
    if seq is None:
        raise NotReplayableError(run_id, "it is not the run of a journaled event")
    found = journal.get(conn, seq=seq)
    if found is None or found[0].run_id != original:
        raise NotReplayableError(run_id, "its event is not in the journal")
    return found[0]


def _pin(
    conn: sa.Connection, *, run_id: str, pin_from: str, rules: RulesChoice
) -> tuple[str | None, str]:
    """Pin a re-run as it starts: to ``pin_from``'s version, or to the active one."""
    held = rulesets.get_pin(conn, run_id=pin_from) if rules == "pinned" else None
    chosen = "pinned" if held is not None else "current"
    version = held.version if held is not None else current_version(conn)
    if version is None:
        # Nothing active yet: the run pins itself to the active version when it first reads.
        return None, chosen
    pinned = rulesets.pin(
        conn, run_id=run_id, version=version, choice=chosen, source_run_id=pin_from
    )
    return pinned.version, pinned.choice


def _start(
    conn: sa.Connection,
    runtime: Runtime,
    client: DBOSClient,
    entry: JournalEntry,
    *,
    overrides: Mapping[str, Any] | None,
    dry_run: bool = False,
    taken: set[str] | None = None,
    rules: RulesChoice = "pinned",
    pin_from: str | None = None,
) -> Rerun:
    original = entry.run_id
    if not dry_run:
        # Serialise id derivation per original run: two re-runs of one event must not pick
        # the same ``.r<n>``.
        key_lock(conn, f"rerun:{original}")
    new_id = _next_id(client, original, taken or set())
    if taken is not None:
        taken.add(new_id)
    rerun_ = Rerun(
        original_run_id=original,
        run_id=new_id,
        workflow=workflow_for(entry.type),
        seq=entry.seq,
        event_type=entry.type,
        business_key=entry.business_key,
    )
    if dry_run:
        return rerun_
    version, chosen = _pin(conn, run_id=new_id, pin_from=pin_from or original, rules=rules)
    rerun_ = dataclasses.replace(rerun_, rules_version=version, rules=chosen)
    options = runtime.enqueue_options(
        event_type=entry.type, run_id=new_id, business_key=entry.business_key
    )
    attributes: dict[str, Any] = {RERUN_OF_KEY: original}
    if overrides:
        attributes[OVERRIDES_KEY] = dict(overrides)
    options["attributes"] = attributes
    # A collision would mean another writer picked the same id: fail rather than attach.
    options["workflow_id_reuse_policy"] = "reject"
    client.enqueue_in_transaction(
        conn,
        options,
        EventRef.of(entry),
    )
    return rerun_


def rerun(
    conn: sa.Connection,
    runtime: Runtime,
    client: DBOSClient,
    *,
    run_id: str,
    actor: str,
    reason: str = "replay",
    overrides: Mapping[str, Any] | None = None,
    rules: RulesChoice = "pinned",
) -> Rerun:
    """Start a re-run of the event behind ``run_id`` in the caller's transaction (audited).

    ``rules`` chooses the re-run's rules version: ``run_id``'s pinned one, or the active one.

    Raises:
        NotReplayableError: ``run_id`` is not the run (or re-run) of a journaled event.
    """
    entry = _entry_for(conn, run_id)
    started = _start(
        conn, runtime, client, entry, overrides=overrides, rules=rules, pin_from=run_id
    )
    audit.append(
        conn,
        actor=actor,
        action="run.replay",
        target=f"run:{run_id}",
        before={"run_id": run_id},
        after={
            "run_id": started.run_id,
            "reason": reason,
            "overrides": dict(overrides or {}),
            **_rules_fields(started),
        },
    )
    return started


def _rules_fields(started: Rerun) -> dict[str, Any]:
    """What an audit entry records of a re-run's rules version and how it was chosen."""
    return {"rules": started.rules, "rules_version": started.rules_version}


def retry_exception(
    conn: sa.Connection,
    runtime: Runtime,
    client: DBOSClient,
    *,
    exception_id: int,
    actor: str,
    overrides: Mapping[str, Any] | None = None,
    action: str = "exception.retry",
    rules: RulesChoice = "pinned",
) -> ExceptionRetry | None:
    """Re-run the event behind an open exception's run; None when the exception does not exist.

    ``overrides`` are merged into those already stored on the exception (the envelope key
    ``overrides`` of its ``detail`` column, which the store keeps across updates) and the
    merged set goes to the new run. The exception stays open: the flow's success resolves it
    (``auto_resolve``), its failure updates it. The retry is recorded in the envelope
    (``retries``) and audited as ``action`` in the same transaction as the run start.
    ``rules`` chooses the new run's rules version: that of the exception's run, or the active.

    Raises:
        ExceptionStateError: The exception is resolved or ignored.
        NotReplayableError: It has no run, or its run is not a journaled event's.
    """
    # The store's own actions lock the row too: a concurrent ignore waits for the retry.
    exc_repo.lock_row(conn, id=exception_id)
    current = exc_repo.get(conn, id=exception_id)
    if current is None:
        return None
    if current.status is not exc_repo.ExceptionStatus.OPEN:
        raise exc_repo.ExceptionStateError(
            exception_id=exception_id, status=current.status.value, action="retry"
        )
    if not current.run_id:
        raise NotReplayableError(f"exception:{exception_id}", "the exception names no run")
    stored, _ = exc_repo.retry_state(conn, id=exception_id)
    merged = {**stored, **dict(overrides or {})}
    entry = _entry_for(conn, current.run_id)
    started = _start(
        conn,
        runtime,
        client,
        entry,
        overrides=merged or None,
        rules=rules,
        pin_from=current.run_id,
    )
    exc_repo.record_retry(
        conn,
        id=exception_id,
        overrides=merged,
        run_id=started.run_id,
        actor=actor,
        extra=_rules_fields(started),
    )
    after = exc_repo.get(conn, id=exception_id)
    assert after is not None
    audit.append(
        conn,
        actor=actor,
        action=action,
        target=f"exception:{exception_id}",
        before={**current.snapshot(), "run_id": current.run_id},
        after={
            **after.snapshot(),
            "run_id": started.run_id,
            "overrides": merged,
            **_rules_fields(started),
        },
    )
    return ExceptionRetry(exception=after, rerun=started)


def _matching(
    engine: sa.Engine,
    *,
    since: datetime | None,
    until: datetime | None,
    type_: str | None,
    business_key: str | None,
    limit: int,
) -> Iterator[JournalEntry]:
    after_seq, left = 0, limit
    while left > 0:
        with engine.connect() as conn:
            page = journal.list_(
                conn,
                type_=type_,
                business_key=business_key,
                since=since,
                until=until,
                after_seq=after_seq,
                limit=min(500, left),
            )
        if not page:
            return
        yield from page
        after_seq, left = page[-1].seq, left - len(page)


def replay(
    engine: sa.Engine,
    runtime: Runtime,
    client: DBOSClient,
    *,
    actor: str,
    since: datetime | None = None,
    until: datetime | None = None,
    type_: str | None = None,
    business_key: str | None = None,
    dry_run: bool = False,
    limit: int = MAX_REPLAY,
    batch_size: int = 200,
    progress: Callable[[int], None] | None = None,
    rules: RulesChoice = "pinned",
) -> ReplayResult:
    """Re-run every journaled event matching the filters (received in ``[since, until)``).

    Events are re-run in journal order, in batches of ``batch_size`` per transaction, each
    batch audited by one ``replay`` row (filters, count, first and last run id). A dry run
    starts nothing and writes nothing; it reports the runs that would start.

    Args:
        engine: Accord's database.
        runtime: Gives enqueue options (queue, partition, workflow) per event type.
        client: Enqueues the runs.
        actor: Who asked, for the audit log.
        since: Events received at or after this time.
        until: Events received before this time.
        type_: Only events of this type.
        business_key: Only events about this business object.
        dry_run: Report, do not start.
        limit: Most events to re-run; ``truncated`` says when more matched.
        batch_size: Re-runs per transaction.
        progress: Called with the number of events handled after each batch.
        rules: Each re-run's rules version: its event's first run's (pinned) or the active.
    """
    result = ReplayResult(dry_run=dry_run)
    filters = {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "type": type_,
        "business_key": business_key,
        "rules": rules,
    }
    batch: list[JournalEntry] = []

    def flush() -> None:
        if not batch:
            return
        if dry_run:
            with engine.connect() as conn:
                taken: set[str] = set()
                result.runs.extend(
                    _start(conn, runtime, client, e, overrides=None, dry_run=True, taken=taken)
                    for e in batch
                )
        else:
            with engine.begin() as conn:
                if conn.dialect.name == "sqlite":
                    write_lock(conn)
                started = [
                    _start(conn, runtime, client, e, overrides=None, rules=rules) for e in batch
                ]
                audit.append(
                    conn,
                    actor=actor,
                    action="replay",
                    target="journal",
                    before=filters,
                    after={
                        "count": len(started),
                        "first": started[0].run_id,
                        "last": started[-1].run_id,
                    },
                )
            result.runs.extend(started)
        result.matched += len(batch)
        batch.clear()
        if progress is not None:
            progress(result.matched)

    for entry in _matching(
        engine,
        since=since,
        until=until,
        type_=type_,
        business_key=business_key,
        limit=limit + 1,
    ):
        if result.matched + len(batch) >= limit:
            result.truncated = True
            break
        batch.append(entry)
        if len(batch) >= batch_size:
            flush()
    flush()
    logger.info("replay %s: %d event(s)", "dry run" if dry_run else "started", result.matched)
    return result
