"""The ERP project (NetSuite ``job`` / Business Central project) of a provisioning plan.

:func:`write_erp_project` is the idempotent upsert (NetSuite by ``externalId``, BC by
``number``), shared with the contract-change flow, which rewrites dates and amount on an
amendment; :func:`create_erp_project` is lead-to-project's step around it, which returns a
refusal (:class:`ErpRejection`) instead of raising it, for the compensation.
"""

from dataclasses import dataclass
from typing import Any, Self

from dbos import DBOS

from accord.connectors.business_central.mapping import BusinessCentralLookups, bc_number
from accord.connectors.business_central.mapping import (
    project_from_canonical as bc_project,
)
from accord.connectors.netsuite.mapping import NetSuiteLookups
from accord.connectors.netsuite.mapping import (
    project_from_canonical as ns_project,
)
from accord.errors import PermanentError, is_retryable
from accord.flows import stepkit
from accord.flows.shared.plan import Plan, PlanRequest, _project
from accord.store import xref

__all__ = ["ErpRejection", "create_erp_project", "write_erp_project"]


@dataclass(frozen=True)
class ErpRejection:
    """What the ERP said when it refused the project (kept verbatim for finance)."""

    error: str
    code: str | None
    detail: str | None
    status_code: int | None

    @classmethod
    def from_error(cls, exc: PermanentError) -> Self:
        """The refusal an ERP's permanent error carries."""
        return cls(
            error=type(exc).__name__,
            code=exc.code,
            detail=exc.detail or str(exc),
            status_code=exc.status_code,
        )


def _erp_connector(plan: Plan) -> Any:  # noqa: ANN401 - a connector, maybe narrowed to a company
    return _erp_connector_for(plan.erp, plan.erp_connection, plan.legal_entity)


def _erp_connector_for(erp: str, connection: str, legal_entity: str) -> Any:  # noqa: ANN401
    connector: Any = stepkit.connections().connector(connection)
    if erp == "business_central":
        return connector.for_company(legal_entity)
    return connector


def write_erp_project(plan: Plan) -> str:
    """Upsert the plan's ERP project (NetSuite ``job`` / BC project); returns its ERP id.

    Raises:
        PermanentError: The ERP refused it.
    """
    project = _project(plan)
    if plan.erp == "netsuite":
        with stepkit.engine().connect() as conn:
            customer = xref.get_external(
                conn,
                entity_type="customer",
                canonical_id=plan.customer_id,
                connection=plan.erp_connection,
            )
        lookups = NetSuiteLookups(
            subsidiaries={plan.legal_entity: plan.subsidiary},
            currencies=stepkit.netsuite_currencies(plan.erp_connection),
            departments={plan.practice: plan.department},
            classes={plan.region: plan.class_},
            records={"customer": {plan.customer_id: customer}} if customer else {},
        )
        body = ns_project(project, lookups=lookups)
        body["comments"] = (
            f"Billing: {plan.billing_model} ({plan.billing_basis}); revenue "
            f"{plan.revenue_recognition}; amount {plan.amount} {plan.currency}"
        )
        return str(_erp_connector(plan).upsert("job", plan.project_id, body).id)
    bc_lookups = BusinessCentralLookups(
        legal_entity=plan.legal_entity,
        departments={plan.practice: plan.department},
        areas={plan.region: plan.class_},
        records={"customers": {plan.customer_id: bc_number(plan.customer_id)}},
    )
    number = bc_number(plan.project_id, prefix="")
    _erp_connector(plan).upsert("projects", number, bc_project(project, lookups=bc_lookups))
    return number


@DBOS.step(name="l2p.create_erp_project", **stepkit.STEP_RETRIES)
def create_erp_project(request: PlanRequest) -> dict[str, Any]:
    """Upsert the ERP project with its billing attributes; a refusal is returned, not raised.

    Returns:
        ``{"erp_id": id}``, or ``{"rejected": {...}}`` when the ERP refused it (a business
        rule, an invalid dimension): not retried, it goes to finance ops.
    """
    plan = Plan.from_json(request.plan)
    try:
        erp_id = write_erp_project(plan)
    except PermanentError as exc:
        if is_retryable(exc):  # pragma: no cover - a PermanentError never is; be explicit
            raise
        return {"rejected": ErpRejection.from_error(exc).__dict__}
    stepkit.link_xref("erp_project", plan.project_id, plan.erp, plan.erp_connection, erp_id)
    with stepkit.engine().begin() as conn:
        stepkit.link_edge(
            conn,
            ("psa_project", plan.project_id),
            ("erp_project", plan.project_id),
            "financed_by",
            status="created",
        )
    return {"erp_id": erp_id}
