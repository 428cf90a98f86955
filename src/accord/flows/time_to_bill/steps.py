"""The posting step of time-to-bill: validate, post, and record a whole submission at once.

One DBOS step per submission, not per entry: a checkpoint per entry would cost more than the
posting itself in a quarter-end burst. Inside the step :func:`process_entries`

1. reads the ledger and drops the entries already ``posted`` (a retry, a redelivery, a
   re-executed step after a crash re-posts nothing);
2. reads the project and its legal entity's periods from the ERP (cached, :mod:`.erp`) and
   validates every entry (:func:`~.validation.check_entry`, every problem collected);
3. applies the closed-period policy: ``redate`` moves the posting to the first open period,
   ``hold`` keeps the entry for the hold release, ``ask`` files it for a person;
4. posts the rest in parallel (:mod:`.post`); a closed period the ERP refuses is learnt and
   handled by the same policy;
5. writes the ledger rows, the lineage edges and the exceptions in one transaction, and
   resolves this submission's exceptions whose entries are now posted.

A crash in the middle re-runs the step: every posting is an idempotent upsert by external id,
so nothing is created twice, and the ledger is written only at the end.

What does not belong here: the order of things (:mod:`.workflow`), the pure rules
(:mod:`.validation`), the ERP calls (:mod:`.erp`, :mod:`.post`), the hold release
(:mod:`.hold`).
"""

import datetime as dt
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Final

import sqlalchemy as sa
from dbos import DBOS

from accord.connectors.roles import PostingKind
from accord.domain import Expense, Money, TimeEntry, Timesheet
from accord.flows import stepkit
from accord.flows.context import flow_context
from accord.flows.record_event import journaled
from accord.flows.shared.exclusive import exclusive
from accord.flows.time_to_bill import erp
from accord.flows.time_to_bill.post import Outcome, amount_of, make_units, post_units
from accord.flows.time_to_bill.post import redated as redated_unit
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
from accord.store import exceptions, lineage, postings
from accord.store.postings import HELD, POSTED, REJECTED, Posting

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

FLOW: Final = "time_to_bill"
"""The flow's name in exceptions, metrics and lineage."""
_MAX_LISTED: Final = 200
"""Most entries one exception lists (the ledger has them all)."""


Entry = TimeEntry | Expense


def dedupe_key(kind: str, submission_id: str, code: str) -> str:
    """Dedupe key of one submission's exception for one failure code."""
    return f"{FLOW}:{kind}:{submission_id}:{code}"


@dataclass(frozen=True)
class Submission:
    """The entries of one approval event."""

    kind: str
    submission_id: str
    project_id: str
    entries: tuple[Entry, ...]


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


@dataclass
class PassResult:
    """What became of each entry in one pass."""

    posted: list[tuple[Entry, Outcome]]
    rejected: dict[str, list[tuple[Entry, dict[str, Any]]]]
    held: list[tuple[Entry, EntryPlan]]
    run_id: str | None = None
    """The event run this pass works for (its exceptions name it, so a retry can re-run it)."""


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


def _post(
    planned: list[tuple[Entry, EntryPlan]],
    *,
    facts: ProjectFacts,
    sub: Submission,
    settings: BillingSettings,
    result: PassResult,
) -> None:
    """Post the planned entries; refusals go to ``result`` by code, closed periods by policy.

    The submission's batch is posted under a lease on it: two passes over the same
    submission (a retry while a hold release runs, a run recovered while an operator's retry
    runs) never post at once, because an ERP without an upsert (Business Central stages and
    posts journal lines) could otherwise book one entry twice. The lease's holder is the
    executing workflow, so the same run re-executing this step after a crash takes it back at
    once.
    """
    batch_id = f"{sub.kind}:{sub.submission_id}"
    with exclusive(f"posting:{facts.connection}:{batch_id}"):
        _post_under_lease(
            planned, facts=facts, batch_id=batch_id, sub=sub, settings=settings, result=result
        )


def _post_under_lease(
    planned: list[tuple[Entry, EntryPlan]],
    *,
    facts: ProjectFacts,
    batch_id: str,
    sub: Submission,
    settings: BillingSettings,
    result: PassResult,
) -> None:
    target = stepkit.erp(facts.connection)
    summary = settings.posting == "summary_per_project_day"
    units = make_units(planned, summary=summary, submission_id=sub.submission_id)
    ttl = settings.cache_ttl_s
    outcomes = post_units(target, facts, units, batch_id=batch_id)
    refused_closed = [o for o in outcomes if o.code == PERIOD_CLOSED]
    if refused_closed:
        # The ERP knows a closed period our read did not show (NetSuite's period record is
        # closed only when every subsidiary is): remember it for the rest of the burst.
        for outcome in refused_closed:
            erp.note_closed(target, facts.legal_entity, outcome.unit.plan.posting_date)
        if settings.closed_period_policy == "redate":
            table = erp.periods(target, facts, ttl=ttl)
            for outcome in refused_closed:
                table = table.with_closed(f"{outcome.unit.plan.posting_date:%Y-%m}")
            again = []
            for outcome in refused_closed:
                day = table.first_open_on_or_after(outcome.unit.plan.posting_date)
                if day is not None:
                    plan = replace(outcome.unit.plan, posting_date=day, period_closed=False)
                    again.append(redated_unit(outcome.unit, plan))
            retried = post_units(target, facts, again, batch_id=batch_id) if again else []
            by_id = {o.unit.external_id: o for o in retried}
            outcomes = [by_id.get(o.unit.external_id, o) for o in outcomes]
    for outcome in outcomes:
        for entry in outcome.unit.entries:
            if outcome.posted:
                result.posted.append((entry, outcome))
            elif outcome.code == PERIOD_CLOSED and settings.closed_period_policy == "hold":
                result.held.append((entry, outcome.unit.plan))
            else:
                detail = dict(outcome.detail)
                if outcome.code and outcome.code.startswith("erp.dimension"):
                    detail["mapping"] = outcome.unit.plan.dimensions.get("mapping")
                result.rejected[outcome.code or "erp.posting.rejected"].append((entry, detail))


def _entry_summary(entry: Entry) -> dict[str, Any]:
    out: dict[str, Any] = {
        "entry_id": entry.id,
        "date": entry.date.isoformat(),
        "resource_id": entry.resource_id,
        "billable": entry.billable,
    }
    if isinstance(entry, TimeEntry):
        out["hours"] = str(entry.hours)
    else:
        out["amount"] = str(entry.amount.amount)
        out["currency"] = entry.amount.currency
    return out


def _at_risk(entries: Sequence[Entry], currency: str | None) -> Money | None:
    total = Decimal(0)
    for entry in entries:
        value = amount_of(entry)
        if value is not None and value.currency == currency:
            total += value.amount
    return Money.of(total, currency) if currency and total > 0 else None


def _ledger_row(
    entry: Entry,
    sub: Submission,
    *,
    status: str,
    event_id: str,
    run_id: str | None,
    facts: ProjectFacts | None,
    code: str | None = None,
    outcome: Outcome | None = None,
    plan: EntryPlan | None = None,
    detail: dict[str, Any] | None = None,
) -> Posting:
    amount = amount_of(entry)
    use = plan or (outcome.unit.plan if outcome else None)
    return Posting(
        kind=sub.kind,
        entry_id=entry.id,
        submission_id=sub.submission_id,
        project_id=sub.project_id,
        event_id=event_id,
        run_id=run_id,
        status=status,
        code=code,
        erp=facts.erp if facts else None,
        erp_connection=facts.connection if facts else None,
        erp_record_id=outcome.record_id if outcome else None,
        external_id=outcome.unit.external_id if outcome else None,
        entry_date=entry.date,
        posted_date=use.posting_date if (use and status == POSTED) else None,
        hours=entry.hours if isinstance(entry, TimeEntry) else None,
        amount=amount.amount if amount else None,
        currency=amount.currency if amount else None,
        entry_json=None if status == POSTED else entry.model_dump_json(),
        detail={**(detail or {}), **({"plan": use.treatment} if use else {})} or None,
    )


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
    """Ledger, lineage and exceptions of one pass, in the caller's transaction."""
    run_id = result.run_id
    rows = [
        _ledger_row(e, sub, status=POSTED, event_id=event_id, run_id=run_id, facts=facts, outcome=o)
        for e, o in result.posted
    ]
    rows += [
        _ledger_row(
            e,
            sub,
            status=HELD,
            event_id=event_id,
            run_id=run_id,
            facts=facts,
            code=PERIOD_CLOSED,
            plan=p,
        )
        for e, p in result.held
    ]
    rows += [
        _ledger_row(
            e,
            sub,
            status=REJECTED,
            event_id=event_id,
            run_id=run_id,
            facts=facts,
            code=code,
            detail=d,
        )
        for code, items in result.rejected.items()
        for e, d in items
    ]
    postings.record_many(conn, rows)
    entry_node = "time_entry" if sub.kind == "time" else "expense"
    kind: PostingKind = "time" if sub.kind == "time" else "expense"
    record_type = stepkit.erp(facts.connection).record_type(kind) if facts else "erp:record"
    for entry, outcome in result.posted:
        lineage.link(
            conn,
            from_type="psa_project",
            from_id=sub.project_id,
            to_type=entry_node,
            to_id=entry.id,
            relation="booked",
            run_id=run_id,
            event_id=event_id,
            status=POSTED,
        )
        lineage.link(
            conn,
            from_type=entry_node,
            from_id=entry.id,
            to_type=record_type,
            to_id=f"{facts.connection if facts else ''}:{outcome.record_id}",
            relation="posted_as",
            run_id=run_id,
            event_id=event_id,
            status=POSTED,
        )
    unposted = [(e, HELD) for e, _ in result.held] + [
        (e, REJECTED) for items in result.rejected.values() for e, _ in items
    ]
    for entry, status in unposted:
        lineage.link(
            conn,
            from_type="psa_project",
            from_id=sub.project_id,
            to_type=entry_node,
            to_id=entry.id,
            relation="booked",
            run_id=run_id,
            event_id=event_id,
            status=status,
        )
    failing = set(result.rejected) | ({PERIOD_CLOSED} if result.held else set())
    lineage.link(
        conn,
        from_type="event",
        from_id=event_id,
        to_type="timesheet" if sub.kind == "time" else "expense_submission",
        to_id=sub.submission_id,
        relation=event_type,
        run_id=run_id,
        event_id=event_id,
        status="needs_attention" if failing else POSTED,
    )
    opened = _open_exceptions(conn, sub, result, facts=facts, settings=settings, rules=rules)
    resolved = 0
    for code in previous_codes - failing:
        resolved += exceptions.auto_resolve(
            conn,
            dedupe_key=dedupe_key(sub.kind, sub.submission_id, code),
            resolution=f"posted by run {run_id}",
        )
    return {"exceptions": opened, "resolved_exceptions": resolved}


def _open_exceptions(
    conn: sa.Connection,
    sub: Submission,
    result: PassResult,
    *,
    facts: ProjectFacts | None,
    settings: BillingSettings,
    rules: Rules,
) -> list[int]:
    failures: dict[str, list[tuple[Entry, dict[str, Any]]]] = defaultdict(list)
    for code, items in result.rejected.items():
        failures[code].extend(items)
    for entry, _plan in result.held:
        failures[PERIOD_CLOSED].append((entry, {"problem": "held until the period reopens"}))
    opened: list[int] = []
    for code, items in sorted(failures.items()):
        route = rules.route(code)
        entries = [e for e, _ in items]
        first = items[0][1]
        detail: dict[str, Any] = {
            "kind": sub.kind,
            "submission_id": sub.submission_id,
            "project_id": sub.project_id,
            "erp": facts.erp if facts else None,
            "connection": facts.connection if facts else None,
            "legal_entity": facts.legal_entity if facts else None,
            "entries": [{**_entry_summary(e), **d} for e, d in items[:_MAX_LISTED]],
            "entry_count": len(items),
            "error": {k: v for k, v in first.items() if k != "mapping"},
            "retry": "fix the cause, then retry: only the entries not yet posted are re-posted",
        }
        if "mapping" in first:
            detail["mapping"] = first["mapping"]
        if code == PERIOD_CLOSED:
            policy = settings.closed_period_policy
            detail["policy"] = policy
            detail["retry"] = (
                "held: posted automatically when the period reopens"
                if result.held
                else "re-date into an open period (override posting_date), or reopen and retry"
            )
        noun = "entry" if len(items) == 1 else "entries"
        found = exceptions.open_(
            conn,
            queue=route.queue.value,
            severity=route.severity.value,
            flow=FLOW,
            run_id=result.run_id,
            business_key=f"project:{sub.project_id}",
            code=code,
            title=f"{len(items)} {sub.kind} {noun} of {sub.submission_id} not posted: {code}",
            detail=detail,
            amount=_at_risk(entries, facts.currency if facts else None),
            dedupe_key=dedupe_key(sub.kind, sub.submission_id, code),
        )
        opened.append(found.id)
    return opened


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
    """
    ctx = flow_context()
    config_file = ctx.settings.config_file
    settings = billing_settings(config_file)
    rules = stepkit.rules()
    with ctx.engine.connect() as conn:
        before = postings.get_many(conn, kind=sub.kind, entry_ids=[e.id for e in sub.entries])
    todo = [e for e in sub.entries if before.get(e.id) is None or before[e.id].status != POSTED]
    previous_codes = {p.code for p in before.values() if p.status != POSTED and p.code}
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
            ttl=settings.cache_ttl_s,
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
        if planned and facts is not None:
            _post(planned, facts=facts, sub=sub, settings=settings, result=result)
    with ctx.engine.begin() as conn:
        recorded = record_pass(
            conn,
            sub,
            result,
            event_id=event_id,
            event_type=event_type,
            facts=facts,
            settings=settings,
            rules=rules,
            previous_codes=previous_codes,
        )
    rejected = {code: [e.id for e, _ in items] for code, items in result.rejected.items()}
    return {
        "submission_id": sub.submission_id,
        "kind": sub.kind,
        "project_id": sub.project_id,
        "entries": len(sub.entries),
        "already_posted": len(sub.entries) - len(todo),
        "posted": len(result.posted),
        "held": [e.id for e, _ in result.held],
        "rejected": rejected,
        "rules_version": rules.version,
        **recorded,
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
