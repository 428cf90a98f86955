"""Replaying a window of journaled events through a proposed rules version, writing nothing.

For every journaled event of the window whose flow has a what-if (:func:`evaluators`), the
flow's own decisions are computed twice, with the same reads: under the version the event's
latest run was pinned to (what was done) and under the proposal. Both go through connectors
on a :class:`~accord.governance.whatif.dryrun.DryRunTransport`, so the target systems are read
but never written, and nothing is written to Accord's database either (no run, journal,
exception, xref or audit row). Reads spend the connections' shared rate budget like any call.

What does not belong here: what a flow decides (its evaluator module) and the report's shape.
"""

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
import sqlalchemy as sa

from accord.connectors.authorization import TokenStore
from accord.connectors.config import ConnectorConfig
from accord.flows.connections import Connections
from accord.governance.whatif.dryrun import DryRunTransport, WriteRecorder
from accord.governance.whatif.report import Outcome, RecordResult, WhatIfReport, compare
from accord.rules import Rules
from accord.store import exceptions as exc_repo
from accord.store import journal, rulesets
from accord.store.journal import JournalEntry
from accord.store.util import utc_now

__all__ = [
    "MAX_EVENTS",
    "ActualReader",
    "EvalContext",
    "Evaluator",
    "evaluators",
    "parse_since",
    "run_whatif",
]

logger = logging.getLogger(__name__)

MAX_EVENTS: Final = 10_000
"""Most events one what-if evaluates (``truncated`` says when more matched)."""
_DURATION: Final = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass
class EvalContext:
    """What an evaluator may use: the database (read only) and dry-run connections."""

    engine: sa.Engine
    connections: Connections
    config_file: Path | None
    recorder: WriteRecorder
    _memo: dict[Any, Any] = field(default_factory=dict)

    def memo(self, key: Any, load: Callable[[], Any]) -> Any:  # noqa: ANN401 - any read's value
        """A read made once per what-if (both versions see the same data)."""
        if key not in self._memo:
            self._memo[key] = load()
        return self._memo[key]


Evaluator = Callable[[EvalContext, JournalEntry, Any, Rules], dict[str, Outcome]]
"""``(context, journal entry, event data, rules) -> {record: outcome}``."""
ActualReader = Callable[[EvalContext, JournalEntry, Any], dict[str, dict[str, Any]]]
"""``(context, journal entry, event data) -> {record: what the records say happened}``."""


def evaluators() -> dict[str, tuple[Evaluator, ActualReader | None]]:
    """Event type -> (evaluator, actual reader), for the flows that have a what-if."""
    # Imported here: the evaluators import the flows, which the rest of governance must not.
    from accord.governance.whatif import billing, provisioning  # noqa: PLC0415

    return {
        "opportunity.won": (provisioning.evaluate, None),
        "timesheet.approved": (billing.evaluate, billing.actual),
        "expense.approved": (billing.evaluate, billing.actual),
    }


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """``7d``, ``12h``, ``30m``, ``2w`` (ago) or an ISO 8601 time (UTC when it has no offset).

    Raises:
        ValueError: Neither a duration nor an ISO time.
    """
    found = _DURATION.match(text.strip().lower())
    if found:
        delta = timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
        return (now or utc_now()) - delta
    parsed = datetime.fromisoformat(text.strip())
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _entries(
    engine: sa.Engine, since: datetime | None, until: datetime | None, limit: int
) -> list[JournalEntry]:
    found: list[JournalEntry] = []
    after = 0
    while len(found) < limit:
        with engine.connect() as conn:
            page = journal.list_(
                conn, since=since, until=until, after_seq=after, limit=min(500, limit - len(found))
            )
        if not page:
            break
        found += page
        after = page[-1].seq
    return found


def _exceptions(conn: sa.Connection, entry: JournalEntry) -> list[dict[str, Any]]:
    found = exc_repo.list_(conn, business_key=entry.business_key, status=None, limit=100)
    return [
        {"id": e.id, "code": e.code, "queue": e.queue, "status": e.status.value}
        for e in found
        if e.run_id and (e.run_id == entry.run_id or e.run_id.startswith(f"{entry.run_id}.r"))
    ]


def run_whatif(
    engine: sa.Engine,
    *,
    proposal: Rules,
    version_of: Callable[[str], Rules],
    config_file: Path | None,
    since: datetime | None,
    until: datetime | None = None,
    limit: int = MAX_EVENTS,
    progress: Callable[[int, int], None] | None = None,
    transport: Callable[[ConnectorConfig], httpx.BaseTransport | None] | None = None,
    token_store: TokenStore | None = None,
) -> WhatIfReport:
    """Evaluate the window's events under their runs' versions and under ``proposal``.

    Args:
        engine: Accord's database (read only).
        proposal: The proposed rules.
        version_of: Parses a stored version (a run's pinned one).
        config_file: ``accord.yaml`` (connections, flow settings).
        since: Events received at or after this time.
        until: Events received before this time.
        limit: Most events evaluated.
        progress: Called with (events done, events in the window) after each event.
        transport: The network transport under the dry-run one (tests); the real network
            when None.
        token_store: The tokens of connections authorized by a consent step (`accord
            connections authorize`); without it such a connection cannot be read.
    """
    report = WhatIfReport(proposal_version=proposal.version, since=since, until=until)
    by_type = evaluators()
    recorder = WriteRecorder()
    connections = Connections(
        engine,
        holder=f"whatif-{os.getpid()}",
        config_file=config_file,
        env=os.environ,
        transport=lambda config: DryRunTransport(
            recorder, transport(config) if transport is not None else None
        ),
        instrument=False,
        token_store=token_store,
    )
    ctx = EvalContext(
        engine=engine, connections=connections, config_file=config_file, recorder=recorder
    )
    with engine.connect() as conn:
        active = rulesets.active(conn)
    fallback = active.version if active is not None else proposal.version
    entries = _entries(engine, since, until, limit + 1)
    if len(entries) > limit:
        report.truncated, entries = True, entries[:limit]
    try:
        for n, entry in enumerate(entries, start=1):
            found = by_type.get(entry.type)
            if found is None:
                report.skipped[entry.type] += 1
            else:
                report.events += 1
                _evaluate(
                    ctx,
                    report,
                    entry,
                    evaluator=found,
                    proposal=proposal,
                    version_of=version_of,
                    fallback=fallback,
                )
            if progress is not None:
                progress(n, len(entries))
    finally:
        connections.close()
    report.writes_held = len(recorder.held)
    logger.info(
        "what-if of %s: %d event(s), %s", proposal.version[:12], report.events, report.counts()
    )
    return report


def _evaluate(
    ctx: EvalContext,
    report: WhatIfReport,
    entry: JournalEntry,
    *,
    evaluator: tuple[Evaluator, ActualReader | None],
    proposal: Rules,
    version_of: Callable[[str], Rules],
    fallback: str,
) -> None:
    evaluate, read_actual = evaluator
    with ctx.engine.connect() as conn:
        got = journal.get(conn, seq=entry.seq)
        pinned = rulesets.latest_pin(conn, run_id=entry.run_id)
        raised = _exceptions(conn, entry)
    data = got[1] if got else None
    baseline_version = pinned.version if pinned is not None else fallback
    try:
        baseline = version_of(baseline_version)
        before = evaluate(ctx, entry, data, baseline)
        after = evaluate(ctx, entry, data, proposal)
        actual = read_actual(ctx, entry, data) if read_actual is not None else {}
    except Exception as exc:  # noqa: BLE001 - one event's failure is reported, not fatal
        logger.warning("what-if of event %s failed: %s", entry.event_id, exc)
        report.errors.append(
            {"event_id": entry.event_id, "error": f"{type(exc).__name__}: {exc}"[:500]}
        )
        return
    missing = Outcome(valid=False, codes=("not_evaluated",))
    for record in sorted(set(before) | set(after)):
        old, new = before.get(record, missing), after.get(record, missing)
        status, changes = compare(old, new)
        report.records.append(
            RecordResult(
                event_id=entry.event_id,
                event_type=entry.type,
                run_id=entry.run_id,
                record=record,
                status=status,
                baseline_version=baseline_version,
                changes=changes,
                before=old,
                after=new,
                actual={**actual.get(record, {}), "exceptions": raised},
            )
        )
