"""The payload of a queued posting: what the dispatcher needs to post it and record its outcome.

Shared by the posting handler (:mod:`.queue`) and the shadow handler (:mod:`.shadow`), which
posts the same unit to a migrating entity's shadow ERP.
"""

import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import Any

from accord.domain import BillingModel, Expense, TimeEntry
from accord.flows.time_to_bill.ledger import Submission
from accord.flows.time_to_bill.post import Unit
from accord.flows.time_to_bill.validation import EntryPlan, ProjectFacts

__all__ = ["Queued", "decode", "encode"]


@dataclass(frozen=True)
class Queued:
    """One queued posting with what recording its outcome needs."""

    unit: Unit
    sub: Submission
    facts: ProjectFacts
    event_id: str
    event_type: str
    run_id: str | None


def _plan_json(plan: EntryPlan) -> dict[str, Any]:
    return {**asdict(plan), "posting_date": plan.posting_date.isoformat()}


def _facts_json(facts: ProjectFacts) -> dict[str, Any]:
    out = asdict(facts)
    for name in ("start_date", "end_date"):
        value = out[name]
        out[name] = value.isoformat() if value else None
    out["billing_model"] = facts.billing_model.value
    return out


def encode(q: Queued) -> str:
    """The outbox payload of a queued posting."""
    unit = q.unit
    return json.dumps(
        {
            "key": unit.external_id,
            "entries": [e.model_dump(mode="json") for e in unit.entries],
            "plan": _plan_json(unit.plan),
            "redated_from": unit.redated_from.isoformat() if unit.redated_from else None,
            "sub": [q.sub.kind, q.sub.submission_id, q.sub.project_id],
            "facts": _facts_json(q.facts),
            "event": [q.event_id, q.event_type, q.run_id],
        },
        separators=(",", ":"),
    )


def _date(value: object) -> dt.date | None:
    return dt.date.fromisoformat(str(value)) if value else None


def decode(payload: str) -> Queued:
    """The queued posting of an outbox payload."""
    data = json.loads(payload)
    kind, submission_id, project_id = data["sub"]
    model = TimeEntry if kind == "time" else Expense
    entries = tuple(model.model_validate(e) for e in data["entries"])
    raw_plan = data["plan"]
    plan = EntryPlan(
        posting_date=dt.date.fromisoformat(raw_plan["posting_date"]),
        billable=bool(raw_plan["billable"]),
        period_closed=bool(raw_plan["period_closed"]),
        dimensions=dict(raw_plan["dimensions"]),
        treatment=dict(raw_plan["treatment"]),
        notes=tuple(raw_plan.get("notes") or ()),
    )
    raw_facts = data["facts"]
    facts = ProjectFacts(
        **{
            **raw_facts,
            "start_date": _date(raw_facts["start_date"]),
            "end_date": _date(raw_facts["end_date"]),
            "billing_model": BillingModel(raw_facts["billing_model"]),
        }
    )
    event_id, event_type, run_id = data["event"]
    unit = Unit(
        external_id=data["key"],
        entries=entries,
        plan=plan,
        redated_from=_date(data.get("redated_from")),
    )
    return Queued(unit, Submission(kind, submission_id, project_id, ()), facts,
                  event_id, event_type, run_id)  # fmt: skip
