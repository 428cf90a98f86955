"""Vendor costs both ways, one DBOS step each: PSA expenses to ERP bills, ERP bills to the PSA.

PSA vendor expenses become ERP vendor bills, and vendor bills keyed in the ERP become PSA
project expenses.

**Never billed twice.** A vendor expense's bill has the canonical id ``VB-<expense id>``, the
idempotency key the ERP role writes it under (NetSuite's external id, Business Central's vendor
invoice number). Before writing, :func:`bill_vendor_expense` asks the xref (``vendor_bill``);
then the ERP role posts the bill exactly once (``Erp.post_vendor_bill`` finds a bill it already
holds, a draft included). The call holds a lease on the bill (an ERP
without an upsert verifies before it creates); the lease's holder is the run, so the same run
recovering after a crash takes it back at once.

**Recorded once.** Each line of an ERP vendor bill is recorded on its project in the PSA
under the key ``<bill id>-<line number>`` (an upsert by Accord's reference or external id), so
reading the bill again, or re-running the step after a crash, records nothing more.

A refusal is returned (``{"rejected": ...}``), not raised: the workflow files it with finance
ops. Lineage: ``expense -billed_as-> vendor_bill``, ``psa_project -vendor_cost-> vendor_bill``,
``vendor_bill -recorded_as-> psa_expense``.
"""

from dataclasses import dataclass
from typing import Any

from dbos import DBOS

from accord.connectors.roles import VendorBillRequest, VendorCost
from accord.domain import Expense, VendorBill, VendorBillLine, VendorBillStatus
from accord.errors import PermanentError
from accord.flows import stepkit
from accord.flows.delivery.waiting import no_erp_project
from accord.flows.shared.exclusive import exclusive
from accord.flows.shared.feeds import ConnectionIds
from accord.flows.shared.finance import place_project, refusal

__all__ = [
    "BillRequest",
    "ExpenseRequest",
    "bill_id_for",
    "bill_vendor_expense",
    "record_vendor_bill",
]


def bill_id_for(expense_id: str) -> str:
    """The canonical id (and the ERP's idempotency key) of a vendor expense's bill."""
    return f"VB-{expense_id}"


# ---------------------------------------------------------------------- PSA -> ERP
@dataclass(frozen=True)
class ExpenseRequest:
    """Input of :func:`bill_vendor_expense`: the approved vendor expense."""

    expense_json: str
    event_id: str


@DBOS.step(name="delivery.bill_vendor_expense", **stepkit.STEP_RETRIES)
def bill_vendor_expense(request: ExpenseRequest) -> dict[str, Any]:  # noqa: PLR0911 - one answer per outcome
    """Post the expense as a vendor bill in its project's ERP, unless it was already.

    Returns:
        ``{"bill_id", "erp_id", "number", "created", "erp"}``; ``{"unplaced": why}`` (no ERP
        project, no vendor on the expense); ``{"vendor_unknown": why}``; ``{"rejected": ...}``.
    """
    expense = Expense.model_validate_json(request.expense_json)
    bill_id = bill_id_for(expense.id)
    out: dict[str, Any] = {"bill_id": bill_id, "expense_id": expense.id,
                           "project_id": expense.project_id, "vendor_id": expense.vendor_id,
                           "amount": str(expense.amount.amount),
                           "currency": expense.amount.currency}  # fmt: skip
    if expense.vendor_id is None:
        return {**out, "unplaced": "the expense names no vendor"}
    placed = place_project(expense.project_id)
    if placed.erp is None:
        return {**out, **no_erp_project(expense.project_id)}
    system, connection, erp_project = placed.erp
    out["erp"] = [system, connection]
    known = stepkit.known_external("vendor_bill", bill_id, connection)
    if known is not None:
        return {**out, "erp_id": known, "number": None, "created": False, "already": True}
    erp = stepkit.erp(connection)
    project = erp.project(erp_project)
    if project is None:
        return {**out, "unplaced": f"{connection} has no project {erp_project}"}
    vendor = erp.vendor(expense.vendor_id, project.legal_entity)
    if vendor is None:
        why = f"vendor {expense.vendor_id} is not set up in {project.legal_entity} ({connection})"
        return {**out, "vendor_unknown": why, "legal_entity": project.legal_entity}
    bill = VendorBill(
        id=bill_id,
        vendor_id=expense.vendor_id,
        legal_entity=project.legal_entity,
        bill_date=expense.date,
        currency=expense.amount.currency,
        status=VendorBillStatus.OPEN,
        lines=(
            VendorBillLine(
                project_id=expense.project_id,
                amount=expense.amount,
                description=expense.description,
                billable=expense.billable,
                category=expense.category,
            ),
        ),
        memo=f"{expense.description or 'Vendor expense'} ({expense.id})",
        source_id=expense.id,
    )
    try:
        # Two runs billing one expense at once must not both find nothing and create.
        with exclusive(f"vendor_bill:{connection}:{bill_id}"):
            posted = erp.post_vendor_bill(
                VendorBillRequest(bill=bill, vendor=vendor, projects={expense.project_id:
                                                                       erp_project}),
                ConnectionIds(connection),
            )  # fmt: skip
    except PermanentError as exc:
        return {**out, "rejected": refusal(exc)}
    with stepkit.engine().begin() as conn:
        stepkit.link_edge(
            conn, ("expense", expense.id), ("vendor_bill", bill_id), "billed_as",
            status="posted", event_id=request.event_id,
        )  # fmt: skip
        stepkit.link_edge(conn, ("psa_project", expense.project_id), ("vendor_bill", bill_id),
                          "vendor_cost", status="posted")  # fmt: skip
    return {**out, "erp_id": posted.erp_id, "number": posted.number, "created": posted.created}


# ---------------------------------------------------------------------- ERP -> PSA
@dataclass(frozen=True)
class BillRequest:
    """Input of :func:`record_vendor_bill`: a vendor bill posted in the ERP."""

    bill_json: str
    event_id: str


@DBOS.step(name="delivery.record_vendor_bill", **stepkit.STEP_RETRIES)
def record_vendor_bill(request: BillRequest) -> dict[str, Any]:
    """Record each line on its project in the PSA as a project expense, once.

    Returns:
        ``{"recorded": [{key, project_id, psa_id, psa}], "unplaced": [...], "rejected": [...]}``.
    """
    bill = VendorBill.model_validate_json(request.bill_json)
    recorded: list[dict[str, Any]] = []
    unplaced: list[dict[str, str]] = []
    rejected: list[dict[str, Any]] = []
    for number, line in enumerate(bill.lines, start=1):
        key = f"{bill.id}-{number}"
        placed = place_project(line.project_id)
        if placed.psa is None:
            unplaced.append({"key": key, "project_id": line.project_id,
                             "why": "the project has no PSA project"})  # fmt: skip
            continue
        _, connection, psa_project = placed.psa
        task = (
            stepkit.known_external("psa_task", line.task_id, connection) if line.task_id else None
        )
        cost = VendorCost(key=key, bill=bill, line=line, project=psa_project, task=task)
        try:
            with exclusive(f"vendor_cost:{connection}:{key}"):
                psa_id = stepkit.psa(connection).record_vendor_cost(cost, ConnectionIds(connection))
        except PermanentError as exc:
            rejected.append({"key": key, "project_id": line.project_id, **refusal(exc)})
            continue
        with stepkit.engine().begin() as conn:
            stepkit.link_edge(
                conn, ("psa_project", line.project_id), ("vendor_bill", bill.id), "vendor_cost",
                status="recorded", event_id=request.event_id,
            )  # fmt: skip
            stepkit.link_edge(conn, ("vendor_bill", bill.id), ("psa_expense", key),
                              "recorded_as", status="recorded")  # fmt: skip
        recorded.append({"key": key, "project_id": line.project_id, "psa_id": psa_id,
                         "psa": connection, "amount": str(line.amount.amount)})  # fmt: skip
    return {"bill_id": bill.id, "vendor_id": bill.vendor_id, "recorded": recorded,
            "unplaced": unplaced, "rejected": rejected}  # fmt: skip
