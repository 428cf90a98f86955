"""The ERP billing schedule of a project: what the contract bills, and when, written to the ERP.

The schedule is derived from the plan (:func:`billing_lines`, pure) and written by one DBOS
step (:func:`write_billing_schedule`), after the ERP project exists:

- **NetSuite**: one ``salesOrder`` per project, upserted by ``externalId``
  ``SO-<project id>`` (``PUT salesOrder/eid:...``), its entity the project's ``job``, one item
  line per billing line (amount, quantity x rate, the due date in the description, ``job``
  ref). A PUT replaces the item sublist, so a rewrite of the plan (an amendment) is one call.
- **Business Central**: the standard API has no planning lines; reference 5.4 points to a
  custom API page, which the sandbox serves as ``projectPlanningLines`` (Job Planning Lines of
  line type ``Billable``). One line per billing line, keyed by ``documentNumber``
  (:func:`~accord.connectors.business_central.mapping.bc_number` of the line key),
  verify-before-create like every BC write; lines the plan no longer has are deleted.

Billing lines by billing model: **milestone** one line per milestone (key = milestone key
``<project id>-M<n>``, the milestone's canonical id); **fixed fee** one line for the whole fee
(``<project id>-FEE``, due at the end date); **retainer** one recurring line
(``<project id>-RET``: the contract amount spread over the months of the term, quantity =
months, rate = monthly fee, amount = the exact contract amount); **time and materials** none:
it is billed from approved time.

Xref: ``erp_billing_schedule`` (project id -> sales order internal id / BC project number) and
``erp_milestone`` (line key -> ``<sales order id>:<line n>`` / BC ``documentNumber``), so the
milestone-billing and contract-change flows find the ERP records of a milestone.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from dbos import DBOS

from accord.connectors.business_central.mapping import bc_number
from accord.errors import PermanentError
from accord.flows import stepkit
from accord.flows.shared.erp_project import ErpRejection, _erp_connector
from accord.flows.shared.plan import Plan
from accord.store import xref

__all__ = [
    "NETSUITE_BILLING_ITEM",
    "BillingLine",
    "BillingRequest",
    "bc_line_number",
    "billing_lines",
    "sales_order_id",
    "write_billing_schedule",
    "write_schedule",
]

NETSUITE_BILLING_ITEM = "1"
"""NetSuite service item of billing-plan lines [inferred]: the firm's "Professional Services"
item; the sandbox does not validate item references."""


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


def sales_order_id(project_id: str) -> str:
    """The NetSuite ``externalId`` of a project's billing-plan sales order."""
    return f"SO-{project_id}"


def bc_line_number(line_key: str) -> str:
    """The BC ``documentNumber`` of a billing line (``Code[20]``)."""
    return bc_number(line_key)


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


def _number(text: str) -> float:
    # The wire needs a JSON number; the value is exact to the cent, so float is lossless here.
    return float(Decimal(text))


def _netsuite_order(plan: Plan, job_id: str, lines: Sequence[BillingLine]) -> dict[str, Any]:
    items = []
    for line in lines:
        due = f" (due {line.due_date})" if line.due_date else ""
        items.append(
            {
                "item": {"id": NETSUITE_BILLING_ITEM},
                "description": f"{line.key}: {line.description}{due}"[:4000],
                "quantity": _number(line.quantity),
                "rate": _number(line.unit_rate),
                "amount": _number(line.amount),
                "job": {"id": job_id},
            }
        )
    body: dict[str, Any] = {
        "entity": {"id": job_id},
        "subsidiary": {"id": plan.subsidiary},
        "currency": {"id": stepkit.netsuite_currencies(plan.erp_connection)[plan.currency]},
        "department": {"id": plan.department},
        "class": {"id": plan.class_},
        "tranDate": plan.start_date,
        "startDate": plan.start_date,
        "otherRefNum": plan.project_id,
        "memo": f"Billing plan of {plan.project_name} ({plan.billing_model})"[:999],
        "item": {"items": items},
    }
    if plan.end_date:
        body["endDate"] = plan.end_date
    return body


def _bc_line(plan: Plan, line: BillingLine) -> dict[str, Any]:
    return {
        "projectNumber": bc_number(plan.project_id),
        "lineType": "Billable",
        "planningDate": line.due_date or plan.start_date,
        "description": f"{line.key}: {line.description}"[:100],
        "quantity": _number(line.quantity),
        "unitPrice": _number(line.unit_rate),
        "lineAmount": _number(line.amount),
        "currencyCode": plan.currency,
    }


def write_schedule(plan: Plan, erp_id: str, *, previous_keys: Sequence[str] = ()) -> dict[str, Any]:
    """Write the plan's billing schedule to its ERP and xref it; idempotent.

    Args:
        plan: The provisioning plan (or a contract version's plan).
        erp_id: The ERP project (NetSuite ``job`` internal id, BC project number).
        previous_keys: Line keys of the schedule written before (an amendment): BC lines
            no longer in the plan are deleted (NetSuite's PUT replaces the sublist).

    Returns:
        ``{"schedule_id": ..., "lines": {line key: ERP id}}``; no schedule for T&M.

    Raises:
        PermanentError: The ERP refused the schedule.
    """
    lines = billing_lines(plan)
    if not lines:
        return {"schedule_id": None, "lines": {}}
    connector = _erp_connector(plan)
    out: dict[str, str] = {}
    if plan.erp == "netsuite":
        result = connector.upsert(
            "salesOrder", sales_order_id(plan.project_id), _netsuite_order(plan, erp_id, lines)
        )
        schedule_id = result.id
        out = {line.key: f"{schedule_id}:{i}" for i, line in enumerate(lines, start=1)}
    else:
        schedule_id = bc_number(plan.project_id)
        for line in lines:
            number = bc_line_number(line.key)
            connector.upsert("projectPlanningLines", number, _bc_line(plan, line))
            out[line.key] = number
        keep = {line.key for line in lines}
        for key in previous_keys:
            if key in keep:
                continue
            found = connector.get_by_external_id("projectPlanningLines", bc_line_number(key))
            if found is not None:
                connector.delete("projectPlanningLines", str(found["id"]))
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
