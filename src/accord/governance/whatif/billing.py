"""What-if for time-to-bill: each approved entry's validation and ERP posting under a version.

The flow's own functions decide, in the flow's order: the ERP's project facts (practice and
region mapped back through the rules), :func:`~accord.flows.time_to_bill.validation.check_entry`,
the closed-period policy of ``time_to_bill:``, the posting units, and finally the ERP role's
:meth:`~accord.connectors.roles.Erp.posting_body`: the body it would send (a NetSuite
``timeBill`` or ``expenseReport``, a Business Central journal line), field by field, which
reads reference data and writes nothing.

Every entry is evaluated as a first run would see it: entries already posted are evaluated
too (the question is what the proposal would do with them), and re-run overrides are not
applied. The time-to-bill ledger of each entry is reported as what actually happened.
"""

from dataclasses import replace
from typing import Any

from accord.connectors.roles import Erp, PostingBatch
from accord.errors import ConnectorError, MappingError
from accord.flows.time_to_bill import erp
from accord.flows.time_to_bill.post import classify, make_units, posting_of
from accord.flows.time_to_bill.settings import billing_settings
from accord.flows.time_to_bill.steps import load_submission
from accord.flows.time_to_bill.validation import (
    PERIOD_CLOSED,
    EntryPlan,
    PeriodTable,
    Problem,
    check_entry,
)
from accord.governance.diff import flatten
from accord.governance.whatif.report import Outcome
from accord.governance.whatif.run import EvalContext
from accord.rules import Rules
from accord.store import postings
from accord.store.journal import JournalEntry

__all__ = ["actual", "evaluate"]


def _failed(rules: Rules, target: str | None, problems: list[Problem]) -> Outcome:
    codes = tuple(sorted({p.code for p in problems}))
    return Outcome(
        valid=False,
        codes=codes,
        target=target,
        queue=rules.route(codes[0]).queue.value,
        body=flatten({"problems": sorted(p.message for p in problems)}),
    )


def evaluate(ctx: EvalContext, entry: JournalEntry, data: Any, rules: Rules) -> dict[str, Outcome]:  # noqa: ANN401
    """Each entry's validation and ERP body under ``rules`` (see the module docstring)."""
    sub = load_submission(entry.type, data)
    settings = billing_settings(ctx.config_file)
    ttl = settings.cache_ttl_s

    def role_of(connection: str) -> Erp:
        return ctx.connections.connector(connection).as_erp(rules)

    facts = erp.project_facts(
        ctx.engine, role_of, sub.project_id, rules_version=rules.version, ttl=ttl
    )
    role = role_of(facts.connection) if facts is not None else None
    periods = PeriodTable()
    if facts is not None and role is not None:
        periods = erp.periods(role, facts, ttl=ttl)
    target = f"{facts.erp}/{facts.connection}" if facts is not None else None
    out: dict[str, Outcome] = {}
    planned: list[tuple[Any, EntryPlan]] = []
    for item in sub.entries:
        key = f"{sub.kind} {item.id}"
        plan, problems = check_entry(item, project=facts, periods=periods, rules=rules)
        if plan is not None and plan.period_closed:
            moved = periods.first_open_on_or_after(plan.posting_date)
            if settings.closed_period_policy == "redate" and moved is not None:
                plan = replace(plan, posting_date=moved, period_closed=False)
            else:
                # Held or rejected, the entry waits in a period.closed exception.
                plan, problems = None, [p for p in problems if p.code == PERIOD_CLOSED]
        if plan is None:
            out[key] = _failed(rules, target, problems)
            continue
        planned.append((item, plan))
    if not planned or facts is None or role is None:
        return out
    units = make_units(
        planned,
        summary=settings.posting == "summary_per_project_day",
        submission_id=sub.submission_id,
    )
    batch = PostingBatch(
        batch_id=f"{sub.kind}:{sub.submission_id}",
        project=erp.erp_project(facts),
        postings=tuple(posting_of(u) for u in units),
    )
    for unit, posting in zip(units, batch.postings, strict=True):
        try:
            body = role.posting_body(batch, posting)
            outcome = Outcome(valid=True, target=target, body=flatten(body))
        except (ConnectorError, MappingError) as exc:
            code = classify(exc)
            outcome = _failed(rules, target, [Problem(code, str(exc))])
        for item in unit.entries:
            out[f"{sub.kind} {item.id}"] = outcome
    return out


def actual(ctx: EvalContext, entry: JournalEntry, data: Any) -> dict[str, dict[str, Any]]:  # noqa: ANN401
    """Each entry's row in the posting ledger: what time-to-bill did with it."""
    sub = load_submission(entry.type, data)
    with ctx.engine.connect() as conn:
        rows = postings.get_many(conn, kind=sub.kind, entry_ids=[e.id for e in sub.entries])
    return {
        f"{sub.kind} {entry_id}": {
            "status": row.status,
            "code": row.code,
            "target": f"{row.erp}/{row.erp_connection}" if row.erp else None,
            "erp_record_id": row.erp_record_id,
        }
        for entry_id, row in rows.items()
    }
