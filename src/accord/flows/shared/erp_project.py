"""The ERP project of a provisioning plan (shared by lead-to-project and contract change).

:func:`write_erp_project` is the idempotent upsert through the ERP role (keyed by the project
id), shared with the contract-change flow, which rewrites dates and amount on an amendment;
:func:`create_erp_project` is lead-to-project's step around it, which returns a refusal
(:class:`ErpRejection`) instead of raising it, for the compensation.
"""

from dataclasses import dataclass
from typing import Any, Self

import sqlalchemy as sa
from dbos import DBOS

from accord.connectors.roles import BillingTerms, ErpProjectPlan
from accord.errors import PermanentError, is_retryable
from accord.flows import stepkit
from accord.flows.shared.customers import share_customer
from accord.flows.shared.plan import Plan, PlanRequest, _project

__all__ = [
    "ErpRejection",
    "create_erp_project",
    "erp_dimensions",
    "link_financed_by",
    "write_erp_project",
]


@dataclass(frozen=True)
class ErpRejection:
    """What the ERP said when it refused the project (kept verbatim for finance)."""

    error: str
    code: str | None
    detail: str | None
    status_code: int | None
    reason: str | None = None
    """What the refusal is about (:class:`~accord.errors.Reason`), if the ERP said."""

    @classmethod
    def from_error(cls, exc: PermanentError) -> Self:
        """The refusal an ERP's permanent error carries."""
        return cls(
            error=type(exc).__name__,
            code=exc.code,
            detail=exc.detail or str(exc),
            status_code=exc.status_code,
            reason=str(exc.reason) if exc.reason else None,
        )


def erp_dimensions(plan: Plan) -> dict[str, str]:
    """The rules' ERP values the plan pinned: the entity's subsidiary, department and class."""
    return {"subsidiary": plan.subsidiary, "department": plan.department, "class": plan.class_}


def write_erp_project(plan: Plan) -> str:
    """Upsert the plan's ERP project with its billing terms; returns its ERP id.

    Raises:
        PermanentError: The ERP refused it.
    """
    customer = stepkit.known_external("customer", plan.customer_id, plan.erp_connection)
    return stepkit.erp(plan.erp_connection).upsert_project(
        ErpProjectPlan(
            project=_project(plan),
            customer_erp_id=customer,
            dimensions=erp_dimensions(plan),
            terms=BillingTerms(
                basis=plan.billing_basis,
                recognition=plan.revenue_recognition,
                amount=plan.contract_value,
            ),
        )
    )


@DBOS.step(name="l2p.create_erp_project", **stepkit.STEP_RETRIES)
def create_erp_project(request: PlanRequest) -> dict[str, Any]:
    """Upsert the ERP project with its billing attributes; a refusal is returned, not raised.

    The project's customer is made available in the project's legal entity first
    (:func:`~accord.flows.shared.customers.share_customer`), so that a retry from this step
    after the ERP is fixed (a feature switched on) shares it then.

    Returns:
        ``{"erp_id": id}``, or ``{"rejected": {...}}`` when the ERP refused it (a business
        rule, an invalid dimension, a customer it does not share): not retried, it goes to
        finance ops.
    """
    plan = Plan.from_json(request.plan)
    try:
        share_customer(plan)
        erp_id = write_erp_project(plan)
    except PermanentError as exc:
        if is_retryable(exc):  # pragma: no cover - a PermanentError never is; be explicit
            raise
        return {"rejected": ErpRejection.from_error(exc).__dict__}
    stepkit.link_xref("erp_project", plan.project_id, plan.erp, plan.erp_connection, erp_id)
    with stepkit.engine().begin() as conn:
        link_financed_by(conn, plan, status="created")
    return {"erp_id": erp_id}


def link_financed_by(conn: sa.Connection, plan: Plan, *, status: str) -> None:
    """Record that the plan's PSA project is financed by its ERP project (idempotent)."""
    stepkit.link_edge(
        conn,
        ("psa_project", plan.project_id),
        ("erp_project", plan.project_id),
        "financed_by",
        status=status,
    )
