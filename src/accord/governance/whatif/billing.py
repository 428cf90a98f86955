"""What-if for time-to-bill: each approved entry's validation and ERP posting under a version.

The flow's own functions decide, in the flow's order: the ERP's project facts (practice and
region mapped back through the rules), :func:`~accord.flows.billing.validation.check_entry`,
the closed-period policy of ``time_to_bill:``, the posting units, and finally
:func:`~accord.flows.billing.post.post_units`, whose ERP write goes to the dry-run transport:
the body it would have sent (a NetSuite ``timeBill`` or ``expenseReport``, a Business Central
journal line) is captured there, field by field, and never reaches the ERP.

Every entry is evaluated as a first run would see it: entries already posted are evaluated
too (the question is what the proposal would do with them), and re-run overrides are not
applied. The time-to-bill ledger of each entry is reported as what actually happened.
"""

from dataclasses import replace
from typing import Any

from accord.flows.billing import erp
from accord.flows.billing.post import make_units, post_units
from accord.flows.billing.settings import billing_settings
from accord.flows.billing.steps import load_submission
from accord.flows.billing.validation import (
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
    facts = erp.project_facts(ctx.engine, ctx.connections.connector, rules, sub.project_id, ttl=ttl)
    connector = ctx.connections.connector(facts.connection) if facts is not None else None
    periods = PeriodTable()
    if facts is not None and connector is not None:
        periods = erp.periods(connector, facts, ttl=ttl)
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
    if not planned or facts is None or connector is None:
        return out
    units = make_units(
        planned,
        summary=settings.posting == "summary_per_project_day",
        submission_id=sub.submission_id,
    )
    for unit in units:
        with ctx.recorder.capture() as writes:
            (result,) = post_units(connector, facts, [unit], max_workers=1, ttl=ttl)
        body = writes[-1].body if writes else {}
        for item in unit.entries:
            key = f"{sub.kind} {item.id}"
            if result.code is not None:
                out[key] = _failed(
                    rules,
                    target,
                    [Problem(result.code, str(result.detail.get("detail") or result.code))],
                )
            else:
                out[key] = Outcome(valid=True, target=target, body=flatten(body))
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
