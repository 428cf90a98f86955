"""The ERP billing schedule of a project: what the contract bills, and when, written to the ERP.

The schedule is derived from the plan (:func:`billing_lines`, pure) and written by one DBOS
step (:func:`write_billing_schedule`), after the ERP project exists, through the ERP role's
:meth:`~accord.connectors.roles.Erp.write_billing_plan` (a sales order, planning lines ...:
the role's business). A rewrite of the plan (an amendment) names the line keys written
before, so that lines the plan no longer has go.

Billing lines by billing model: **milestone** one line per milestone (key = milestone key
``<project id>-M<n>``, the milestone's canonical id); **fixed fee** one line for the whole fee
(``<project id>-FEE``, due at the end date); **retainer** one recurring line
(``<project id>-RET``: the contract amount spread over the months of the term, quantity =
months, rate = monthly fee, amount = the exact contract amount); **time and materials** none:
it is billed from approved time.

Xref: ``erp_billing_schedule`` (project id -> the ERP's id of the plan) and ``erp_milestone``
(line key -> the ERP's id of the line), so the milestone-billing and contract-change flows
find the ERP records of a milestone.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from dbos import DBOS

from accord.connectors.roles import BillingPlan, BillingPlanLine
from accord.errors import PermanentError
from accord.flows import stepkit
from accord.flows.shared.erp_project import ErpRejection, erp_dimensions
from accord.flows.shared.plan import Plan, _project
from accord.store import xref

__all__ = [
    "BillingLine",
    "BillingRequest",
    "billing_lines",
    "write_billing_schedule",
    "write_schedule",
]


@dataclass(frozen=True)
class BillingLine:
    """One line of a project's billing plan (amounts as exact decimal text)."""

    key: str
    description: str
    amount: str
    quantity: str = "1"
    rate: str = ""
    due_date: str | None = None

    @property
    def unit_rate(self) -> str:
        """The rate per unit (the amount when the line is a single unit)."""
        return self.rate or self.amount


def _months(start: dt.date, end: dt.date) -> int:
    return max(1, (end.year - start.year) * 12 + end.month - start.month)


def billing_lines(plan: Plan) -> tuple[BillingLine, ...]:
    """The billing lines of the plan's billing model (see the module docstring)."""
    if plan.billing_model == "milestone":
        return tuple(
            BillingLine(key=m.key, description=m.name, amount=m.amount, due_date=m.due_date)
            for m in plan.milestones
        )
    if plan.billing_model == "fixed_fee":
        return (
            BillingLine(
                key=f"{plan.project_id}-FEE",
                description=f"Fixed fee: {plan.project_name}",
                amount=plan.amount,
                due_date=plan.end_date,
            ),
        )
    if plan.billing_model == "retainer":
        start = dt.date.fromisoformat(plan.start_date)
        end = dt.date.fromisoformat(plan.end_date) if plan.end_date else start
        months = _months(start, end)
        fee = (Decimal(plan.amount) / months).quantize(Decimal("0.01"))
        return (
            BillingLine(
                key=f"{plan.project_id}-RET",
                description=f"Retainer: {months} x {fee} {plan.currency} per month",
                amount=plan.amount,
                quantity=str(months),
                rate=str(fee),
                due_date=plan.start_date,
            ),
        )
    return ()


def _plan_line(line: BillingLine) -> BillingPlanLine:
    return BillingPlanLine(
        key=line.key,
        description=line.description,
        amount=Decimal(line.amount),
        quantity=Decimal(line.quantity),
        rate=Decimal(line.rate) if line.rate else None,
        due_date=dt.date.fromisoformat(line.due_date) if line.due_date else None,
    )


def write_schedule(plan: Plan, erp_id: str, *, previous_keys: Sequence[str] = ()) -> dict[str, Any]:
    """Write the plan's billing schedule to its ERP and xref it; idempotent.

    Args:
        plan: The provisioning plan (or a contract version's plan).
        erp_id: The ERP project (as :func:`~.erp.write_erp_project` returned it).
        previous_keys: Line keys of the schedule written before (an amendment): lines no
            longer in the plan are removed.

    Returns:
        ``{"schedule_id": ..., "lines": {line key: ERP id}}``; no schedule for T&M.

    Raises:
        PermanentError: The ERP refused the schedule.
    """
    lines = billing_lines(plan)
    if not lines:
        return {"schedule_id": None, "lines": {}}
    written = stepkit.erp(plan.erp_connection).write_billing_plan(
        BillingPlan(
            project=_project(plan),
            erp_project_id=erp_id,
            lines=tuple(_plan_line(line) for line in lines),
            dimensions=erp_dimensions(plan),
            previous_keys=tuple(previous_keys),
        )
    )
    schedule_id, out = written.schedule_id, written.lines
    stepkit.link_xref(
        "erp_billing_schedule", plan.project_id, plan.erp, plan.erp_connection, schedule_id
    )
    for key, ext in out.items():
        stepkit.link_xref("erp_milestone", key, plan.erp, plan.erp_connection, ext)
    return {"schedule_id": schedule_id, "lines": out}


def known_schedule(plan: Plan) -> str | None:
    """The ERP id of the project's billing schedule, if one was written."""
    with stepkit.engine().connect() as conn:
        return xref.get_external(
            conn,
            entity_type="erp_billing_schedule",
            canonical_id=plan.project_id,
            connection=plan.erp_connection,
        )


@dataclass(frozen=True)
class BillingRequest:
    """Input of :func:`write_billing_schedule`: the plan and the ERP project it bills."""

    plan: dict[str, Any]
    erp_id: str
    run_id: str | None = None
    previous_keys: tuple[str, ...] = field(default=())


@DBOS.step(name="l2p.write_billing_schedule", **stepkit.STEP_RETRIES)
def write_billing_schedule(request: BillingRequest) -> dict[str, Any]:
    """Write the project's billing schedule; a refusal is returned (finance ops), not raised."""
    plan = Plan.from_json(request.plan)
    try:
        return write_schedule(plan, request.erp_id, previous_keys=request.previous_keys)
    except PermanentError as exc:
        return {"rejected": ErpRejection.from_error(exc).__dict__}
