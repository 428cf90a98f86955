"""The posting step of time-to-bill: validate, queue, wait, and conclude a whole submission.

One DBOS step per submission, not per entry: a checkpoint per entry would cost more than the
posting itself in a quarter-end burst. Inside the step :func:`process_entries`

1. reads the ledger and drops the entries already ``posted`` or ``queued`` (a retry, a
   redelivery, a re-executed step after a crash posts nothing twice);
2. reads the project and its legal entity's periods from the ERP (cached, :mod:`.erp`) and
   validates every entry (:func:`~.validation.check_entry`, every problem collected);
3. applies the closed-period policy: ``redate`` moves the posting to the first open period,
   ``hold`` keeps the entry for the hold release, ``ask`` files it for a person;
4. in one transaction, records the refused and held entries and hands the rest to the ERP
   connection's dispatcher (ledger rows ``queued`` and outbox items, :mod:`.queue`), which
   posts them at the connection's full concurrency with those of every other run;
5. waits until the dispatcher has recorded every outcome, then concludes in one transaction:
   the event's lineage, one exception per failure code, and the resolution of this
   submission's exceptions whose entries are now posted (:mod:`.ledger`).

A crash anywhere re-runs the step: queued entries are not queued again, posted ones not posted
again (every posting is idempotent by its key at the ERP), and the wait resumes.

What does not belong here: the order of things (:mod:`.workflow`), the pure rules
(:mod:`.validation`), ERP reads (:mod:`.erp`), postings (:mod:`.post`, :mod:`.queue`), the
hold release (:mod:`.hold`).
"""

import datetime as dt
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import sqlalchemy as sa
from dbos import DBOS

from accord.connectors.roles import Erp, PostingKind
from accord.domain import Expense, TimeEntry, Timesheet
from accord.errors import RetryableError
from accord.flows import stepkit
from accord.flows.context import flow_context
from accord.flows.record_event import journaled
from accord.flows.time_to_bill import erp, queue
from accord.flows.time_to_bill.ledger import (
    FLOW,
    PassResult,
    Submission,
    conclude,
    dedupe_key,
    record_entries,
)
from accord.flows.time_to_bill.post import make_units
from accord.flows.time_to_bill.settings import BillingSettings, billing_settings
from accord.flows.time_to_bill.validation import (
    PERIOD_CLOSED,
    EntryPlan,
    PeriodTable,
    Problem,
    ProjectFacts,
    check_entry,
)
from accord.rules import Rules
from accord.store import outbox, postings
from accord.store.postings import HELD, POSTED, QUEUED, REJECTED

__all__ = [
    "FLOW",
    "PassResult",
    "Submission",
    "SubmissionRequest",
    "dedupe_key",
    "load_submission",
    "post_submission",
    "process_entries",
    "record_pass",
]

logger = logging.getLogger(__name__)

_WAIT_S: Final = 600.0
"""How long a step waits for the dispatcher before it is retried (and waits again)."""


Entry = TimeEntry | Expense


def _erp_as(connection: str, view: Rules) -> Erp:
    """The ERP role of a connection under ``view`` (a migrating entity's other ERP)."""
    return stepkit.connections().connector(connection).as_erp(view)


def load_submission(event_type: str, data: dict[str, Any]) -> Submission:
    """The entries of a ``timesheet.approved`` or ``expense.approved`` event's data."""
    if event_type == "expense.approved":
        expense = Expense.model_validate(data)
        return Submission("expense", expense.id, expense.project_id, (expense,))
    sheet = Timesheet.model_validate(data)
    return Submission("time", sheet.id, sheet.project_id, tuple(sheet.entries))


@dataclass(frozen=True)
class SubmissionRequest:
    """Input of :func:`post_submission`: where the event sits in the journal."""

    seq: int
    event_id: str
    event_type: str
    business_key: str
    overrides: dict[str, Any] | None = None


def _decide(
    entries: Sequence[Entry],
    *,
    facts: ProjectFacts | None,
    periods: PeriodTable,
    rules: Rules,
    settings: BillingSettings,
    posting_date: dt.date | None,
    result: PassResult,
) -> list[tuple[Entry, EntryPlan]]:
    """Validate each entry and apply the closed-period policy; returns what to post."""
    planned: list[tuple[Entry, EntryPlan]] = []
    for entry in entries:
        plan, problems = check_entry(
            entry, project=facts, periods=periods, rules=rules, posting_date=posting_date
        )
        if plan is None:
            result.rejected[problems[0].code].append((entry, _problem_detail(problems)))
            continue
        if plan.period_closed:
            policy = settings.closed_period_policy
            target = periods.first_open_on_or_after(plan.posting_date)
            if policy == "redate" and target is not None:
                plan = replace(plan, posting_date=target, period_closed=False)
            elif policy == "hold":
                result.held.append((entry, plan))
                continue
            else:
                result.rejected[PERIOD_CLOSED].append((entry, _problem_detail(problems)))
                continue
        planned.append((entry, plan))
    return planned


def _problem_detail(problems: Sequence[Problem]) -> dict[str, Any]:
    return {
        "problem": "; ".join(p.message for p in problems),
        "codes": [p.code for p in problems],
        **{k: v for p in problems for k, v in p.detail.items()},
    }


def record_pass(
    conn: sa.Connection,
    sub: Submission,
    result: PassResult,
    *,
    event_id: str,
    event_type: str,
    facts: ProjectFacts | None,
    settings: BillingSettings,
    rules: Rules,
    previous_codes: set[str],
) -> dict[str, Any]:
    """Record a pass whose outcomes are all known and conclude the submission (one transaction)."""
    kind: PostingKind = "time" if sub.kind == "time" else "expense"
    record_type = stepkit.erp(facts.connection).record_type(kind) if facts else "erp:record"
    record_entries(conn, sub, result, event_id=event_id, facts=facts, record_type=record_type)
    concluded = conclude(
        conn,
        sub,
        event_id=event_id,
        event_type=event_type,
        run_id=result.run_id,
        facts=facts,
        settings=settings,
        rules=rules,
        previous_codes=previous_codes,
    )
    return {k: concluded[k] for k in ("exceptions", "resolved_exceptions")}


def process_entries(
    sub: Submission,
    *,
    event_id: str,
    event_type: str,
    overrides: dict[str, Any] | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Validate, post and record the entries of ``sub`` not yet posted (see module docstring).

    ``run_id`` is the event run the pass works for (default: the current run); the hold
    release passes the run that held the entries, so that its exceptions stay retryable.

    Raises:
        RetryableError: The dispatcher did not settle the queued postings in time; the step is
            retried and waits again (nothing is queued twice).
    """
    ctx = flow_context()
    settings = billing_settings(ctx.settings.config_file)
    rules = stepkit.rules()
    with ctx.engine.connect() as conn:
        before = postings.get_many(conn, kind=sub.kind, entry_ids=[e.id for e in sub.entries])
    in_flight = {POSTED, QUEUED}
    todo = [e for e in sub.entries if e.id not in before or before[e.id].status not in in_flight]
    waiting = any(p.status == QUEUED for p in before.values())
    previous_codes = {p.code for p in before.values() if p.status not in in_flight and p.code}
    result = PassResult(
        posted=[], rejected=defaultdict(list), held=[], run_id=run_id or DBOS.workflow_id
    )
    facts: ProjectFacts | None = None
    if todo:
        facts = erp.project_facts(
            ctx.engine,
            stepkit.erp,
            sub.project_id,
            rules_version=rules.version,
            rules=rules,
            ttl=settings.cache_ttl_s,
            erp_as=_erp_as,
        )
        periods = PeriodTable()
        if facts is not None:
            periods = erp.periods(stepkit.erp(facts.connection), facts, ttl=settings.cache_ttl_s)
        raw_date = (overrides or {}).get("posting_date")
        posting_date = dt.date.fromisoformat(str(raw_date)) if raw_date else None
        planned = _decide(
            todo,
            facts=facts,
            periods=periods,
            rules=rules,
            settings=settings,
            posting_date=posting_date,
            result=result,
        )
        units = []
        if planned and facts is not None:
            summary = settings.posting == "summary_per_project_day"
            units = make_units(planned, summary=summary, submission_id=sub.submission_id)
        kind: PostingKind = "time" if sub.kind == "time" else "expense"
        record_type = stepkit.erp(facts.connection).record_type(kind) if facts else "erp:record"
        with ctx.engine.begin() as conn:
            record_entries(
                conn,
                sub,
                result,
                event_id=event_id,
                facts=facts,
                record_type=record_type,
                queued=units,
            )
            if facts is not None:
                items = queue.outbox_items(
                    units,
                    sub=sub,
                    facts=facts,
                    event_id=event_id,
                    event_type=event_type,
                    run_id=result.run_id,
                )
                outbox.enqueue(conn, items)
        waiting = waiting or bool(units)
    if waiting and not queue.wait_settled(ctx.engine, sub, timeout=_WAIT_S):
        raise RetryableError(f"postings of {sub.submission_id} are still queued", retry_after=5)
    if facts is None and waiting:
        facts = erp.project_facts(
            ctx.engine,
            stepkit.erp,
            sub.project_id,
            rules_version=rules.version,
            rules=rules,
            ttl=settings.cache_ttl_s,
            erp_as=_erp_as,
        )
    with ctx.engine.begin() as conn:
        concluded = conclude(
            conn,
            sub,
            event_id=event_id,
            event_type=event_type,
            run_id=result.run_id,
            facts=facts,
            settings=settings,
            rules=rules,
            previous_codes=previous_codes,
        )
    rows = concluded["rows"]
    todo_ids = {e.id for e in todo} | {i for i, p in before.items() if p.status == QUEUED}
    rejected: dict[str, list[str]] = defaultdict(list)
    for entry in sub.entries:
        row = rows.get(entry.id)
        if row is not None and row.status == REJECTED and row.code:
            rejected[row.code].append(entry.id)
    return {
        "submission_id": sub.submission_id,
        "kind": sub.kind,
        "project_id": sub.project_id,
        "entries": len(sub.entries),
        "already_posted": len(sub.entries) - len(todo_ids),
        "posted": sum(1 for i in todo_ids if i in rows and rows[i].status == POSTED),
        "held": [e.id for e in sub.entries if e.id in rows and rows[e.id].status == HELD],
        "rejected": dict(rejected),
        "rules_version": rules.version,
        "exceptions": concluded["exceptions"],
        "resolved_exceptions": concluded["resolved_exceptions"],
    }


@DBOS.step(name="ttb.post_submission", **stepkit.STEP_RETRIES)
def post_submission(request: SubmissionRequest) -> dict[str, Any]:
    """Post one approval event's entries (the whole submission in one step)."""
    _, data = journaled(request.seq, request.event_id)
    payload = json.loads(data) if isinstance(data, str) else data
    sub = load_submission(request.event_type, payload)
    return process_entries(
        sub,
        event_id=request.event_id,
        event_type=request.event_type,
        overrides=request.overrides,
    )
