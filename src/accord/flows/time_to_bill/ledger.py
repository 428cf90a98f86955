"""What time-to-bill records: the posting ledger, lineage, exceptions, in the caller's transaction.

Two moments write here:

- :func:`record_entries`, when entries' outcomes are known: the ledger rows (``posted``,
  ``held``, ``rejected``, or ``queued`` for entries handed to the connection's dispatcher) and
  each entry's lineage (``psa_project -booked-> time_entry -posted_as-> <ERP record>``). A run
  records its validation outcomes and queued entries this way, and the dispatcher the ERP's
  outcomes.
- :func:`conclude`, when none of a submission's entries is queued any more: from the ledger,
  the event's lineage edge (``posted`` or ``needs_attention``), one exception per failure code
  (listing its entries with their errors, the amount at risk, the owner queue from the rules)
  and the resolution of the submission's earlier exceptions that no longer fail.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import sqlalchemy as sa

from accord.connectors.roles import IntercompanyCharge, PostingAmounts
from accord.domain import Expense, Money, TimeEntry
from accord.flows.time_to_bill.post import Outcome, Unit, amount_of
from accord.flows.time_to_bill.settings import BillingSettings
from accord.flows.time_to_bill.validation import PERIOD_CLOSED, EntryPlan, ProjectFacts
from accord.rules import Rules
from accord.store import exceptions, lineage, postings
from accord.store.lineage import Edge
from accord.store.postings import HELD, POSTED, QUEUED, REJECTED, Posting

__all__ = [
    "FLOW",
    "PassResult",
    "Submission",
    "conclude",
    "dedupe_key",
    "fx_detail",
    "intercompany_detail",
    "ledger_row",
    "ledger_writes",
    "record_entries",
]

FLOW: Final = "time_to_bill"
"""The flow's name in exceptions, metrics and lineage."""
_MAX_LISTED: Final = 200
"""Most entries one exception lists (the ledger has them all)."""
_HELD_PROBLEM: Final = "held until the period reopens"

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


@dataclass
class PassResult:
    """What became of entries in one pass (a run's validation, a dispatcher's outcomes)."""

    posted: list[tuple[Entry, Outcome]]
    rejected: dict[str, list[tuple[Entry, dict[str, Any]]]]
    held: list[tuple[Entry, EntryPlan]]
    run_id: str | None = None
    """The event run this pass works for (its exceptions name it, so a retry can re-run it)."""


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


def _money(value: Money) -> dict[str, str]:
    return {"amount": str(value.amount), "currency": value.currency}


def fx_detail(amounts: PostingAmounts) -> dict[str, Any]:
    """A posting's transaction and base amounts as the ledger keeps them (``detail.fx``).

    The amounts are the ERP posting's (one per external id: a summary's members share them).
    """
    return {
        "transaction": _money(amounts.transaction),
        "base": _money(amounts.base),
        "rate": str(amounts.rate),
        "rate_date": amounts.rate_date.isoformat() if amounts.rate_date else None,
    }


def intercompany_detail(charge: IntercompanyCharge) -> dict[str, Any]:
    """The intercompany pair of a posting as the ledger keeps it (``detail.intercompany``)."""
    return {
        "from_entity": charge.from_entity,
        "to_entity": charge.to_entity,
        "hours": str(charge.hours),
        "cost_rate": _money(charge.cost_rate),
        "markup_pct": str(charge.markup_pct),
        "amount": _money(charge.amount),
        "amount_to": _money(charge.amount_to),
        "rate": str(charge.rate),
        "rate_date": charge.rate_date.isoformat() if charge.rate_date else None,
        "record_id": charge.record_id,
    }


def _outcome_detail(outcome: Outcome | None) -> dict[str, Any]:
    if outcome is None:
        return {}
    found: dict[str, Any] = {}
    if outcome.amounts is not None:
        found["fx"] = fx_detail(outcome.amounts)
    if outcome.intercompany is not None:
        found["intercompany"] = intercompany_detail(outcome.intercompany)
    return found


def ledger_row(
    entry: Entry,
    sub: Submission,
    *,
    status: str,
    event_id: str,
    run_id: str | None,
    facts: ProjectFacts | None,
    code: str | None = None,
    outcome: Outcome | None = None,
    unit: Unit | None = None,
    plan: EntryPlan | None = None,
    detail: dict[str, Any] | None = None,
) -> Posting:
    """One entry's ledger row."""
    amount = amount_of(entry)
    posting = unit or (outcome.unit if outcome else None)
    use = plan or (posting.plan if posting else None)
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
        external_id=posting.external_id if posting else None,
        entry_date=entry.date,
        posted_date=use.posting_date if (use and status in (POSTED, QUEUED)) else None,
        hours=entry.hours if isinstance(entry, TimeEntry) else None,
        amount=amount.amount if amount else None,
        currency=amount.currency if amount else None,
        entry_json=None if status == POSTED else entry.model_dump_json(),
        detail={
            **(detail or {}),
            **_outcome_detail(outcome),
            **({"plan": use.treatment} if use else {}),
        }
        or None,
    )


def record_entries(
    conn: sa.Connection,
    sub: Submission,
    result: PassResult,
    *,
    event_id: str,
    facts: ProjectFacts | None,
    record_type: str,
    queued: Sequence[Unit] = (),
) -> None:
    """Ledger rows and lineage of entries whose outcome is known (or queued), see module doc."""
    rows, edges = ledger_writes(
        sub, result, event_id=event_id, facts=facts, record_type=record_type, queued=queued
    )
    postings.record_many(conn, rows)
    lineage.link_many(conn, edges)


def ledger_writes(
    sub: Submission,
    result: PassResult,
    *,
    event_id: str,
    facts: ProjectFacts | None,
    record_type: str,
    queued: Sequence[Unit] = (),
) -> tuple[list[Posting], list[Edge]]:
    """What :func:`record_entries` writes: the ledger rows and lineage edges (no I/O).

    A dispatcher gathers those of many submissions and writes them in one statement each.
    """
    run_id = result.run_id
    rows = [
        ledger_row(e, sub, status=POSTED, event_id=event_id, run_id=run_id, facts=facts, outcome=o)
        for e, o in result.posted
    ]
    rows += [
        ledger_row(
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
        ledger_row(
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
    rows += [
        ledger_row(e, sub, status=QUEUED, event_id=event_id, run_id=run_id, facts=facts, unit=u)
        for u in queued
        for e in u.entries
    ]
    node = "time_entry" if sub.kind == "time" else "expense"
    connection = facts.connection if facts else ""
    edges: list[Edge] = []
    for entry, outcome in result.posted:
        edges.append(Edge("psa_project", sub.project_id, node, entry.id, "booked", run_id,
                          event_id, POSTED))  # fmt: skip
        edges.append(Edge(node, entry.id, record_type, f"{connection}:{outcome.record_id}",
                          "posted_as", run_id, event_id, POSTED))  # fmt: skip
        charge = outcome.intercompany
        if charge is not None and charge.record_id is not None:
            # The recharge between the two entities (docs/flows/multi-entity.md).
            erp = facts.erp if facts else ""
            edges.append(Edge(node, entry.id, f"{erp}:intercompany",
                              f"{connection}:{charge.record_id}", "recharged_as", run_id,
                              event_id, POSTED))  # fmt: skip
    unposted = [(e, HELD) for e, _ in result.held] + [
        (e, REJECTED) for items in result.rejected.values() for e, _ in items
    ]
    edges.extend(
        Edge("psa_project", sub.project_id, node, e.id, "booked", run_id, event_id, status)
        for e, status in unposted
    )
    return rows, edges


def _entry_of(row: Posting) -> Entry:
    model = TimeEntry if row.kind == "time" else Expense
    return model.model_validate_json(row.entry_json or "{}")


def conclude(
    conn: sa.Connection,
    sub: Submission,
    *,
    event_id: str,
    event_type: str,
    run_id: str | None,
    facts: ProjectFacts | None,
    settings: BillingSettings,
    rules: Rules,
    previous_codes: set[str],
) -> dict[str, Any]:
    """The submission's event edge, exceptions and resolutions, from its ledger rows."""
    rows = postings.get_many(conn, kind=sub.kind, entry_ids=[e.id for e in sub.entries])
    failures: dict[str, list[tuple[Entry, dict[str, Any]]]] = defaultdict(list)
    held = False
    for row in rows.values():
        if row.status == REJECTED and row.code:
            kept = {k: v for k, v in (row.detail or {}).items() if k != "plan"}
            failures[row.code].append((_entry_of(row), kept))
        elif row.status == HELD:
            held = True
            failures[PERIOD_CLOSED].append((_entry_of(row), {"problem": _HELD_PROBLEM}))
    failing = set(failures)
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
            detail["policy"] = settings.closed_period_policy
            detail["retry"] = (
                "held: posted automatically when the period reopens"
                if held
                else "re-date into an open period (override posting_date), or reopen and retry"
            )
        noun = "entry" if len(items) == 1 else "entries"
        found = exceptions.open_(
            conn,
            queue=route.queue.value,
            severity=route.severity.value,
            flow=FLOW,
            run_id=run_id,
            business_key=f"project:{sub.project_id}",
            code=code,
            title=f"{len(items)} {sub.kind} {noun} of {sub.submission_id} not posted: {code}",
            detail=detail,
            amount=_at_risk(entries, facts.currency if facts else None),
            dedupe_key=dedupe_key(sub.kind, sub.submission_id, code),
        )
        opened.append(found.id)
    resolved = 0
    for code in previous_codes - failing:
        resolved += exceptions.auto_resolve(
            conn,
            dedupe_key=dedupe_key(sub.kind, sub.submission_id, code),
            resolution=f"posted by run {run_id}",
        )
    return {
        "exceptions": opened,
        "resolved_exceptions": resolved,
        "failing": sorted(failing),
        "rows": rows,
    }
