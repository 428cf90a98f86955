"""Customer master's compensation: every ERP keeps the same version of a customer.

A customer known in several ERPs (a legacy and a new ERP during a migration, one per group of
legal entities) gets each CRM version written to each of them in turn. When one refuses the
version, the ERPs written before it are written back to what they held
(:func:`revert_customer`, from the record :func:`snapshot_customer` read just before the
write), and the ERPs after it are not written at all (held): the customer stays at the version
last applied everywhere, and one exception (:func:`report_rejection`) says what was refused
and what was written back. The declaration is :data:`COMPENSATION`.

Parents created on the way (a new parent chain, top-down) are kept: they are real CRM accounts,
and the next version finds them in the xref.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any

from dbos import DBOS

from accord.connectors.roles import ErpCustomer
from accord.domain import Address, Customer
from accord.errors import PermanentError
from accord.flows import stepkit
from accord.flows.customer_master.steps import (
    FLOW,
    _open,
    read_back,
    rejection_dedupe_key,
    remember_write,
)
from accord.flows.shared.compensation import Saga, SagaStep, Undo
from accord.flows.shared.customers import ErpCustomerTarget, customer_lock, write_erp_customer
from accord.store import xref

__all__ = [
    "COMPENSATION",
    "RejectionRequest",
    "RevertRequest",
    "SnapshotRequest",
    "report_rejection",
    "restored",
    "revert_customer",
    "snapshot_customer",
]

WRITE_STEP = "cm.write_customer"
"""The update of one customer in one ERP (the step a refusal comes from)."""
CREATE_STEP = "cm.create_parent"
"""The creation of a parent the ERP lacks (a new parent chain)."""
_REVERT_STEP = "cm.revert_customer"
_ACCORD_ONLY = "exceptions and lineage in Accord"
_CARRIABLE = ("name", "parent_id", "bill_to", "tax_region")

COMPENSATION = Saga(
    flow=FLOW,
    steps=(
        SagaStep("cm.check_merge", None, Undo.NOTHING, note=_ACCORD_ONLY),
        SagaStep("cm.plan", None, Undo.NOTHING, note="reads; a broken hierarchy is an exception"),
        SagaStep(
            "cm.snapshot_customer",
            None,
            Undo.NOTHING,
            note="reads the ERP's record before the write, in a step of its own so that a "
            "write re-run after a crash never takes its own result for the old values",
        ),
        SagaStep(
            CREATE_STEP,
            "erp",
            Undo.KEEP,
            note="a parent the CRM has: kept when a later write is refused; found next time",
        ),
        SagaStep(
            WRITE_STEP,
            "erp",
            Undo.REVERT,
            by=_REVERT_STEP,
            note="written back from its snapshot when another ERP refuses the same version; "
            "ERPs after the refusing one are not written (held)",
        ),
        SagaStep(
            _REVERT_STEP, "erp", Undo.NOTHING, note="the compensation itself (the old values)"
        ),
        SagaStep("cm.report_rejection", None, Undo.NOTHING, note=_ACCORD_ONLY),
        SagaStep("cm.record_outcome", None, Undo.NOTHING, note=_ACCORD_ONLY),
        SagaStep(
            "shadow.queue_customers",
            None,
            Undo.NOTHING,
            note="queues the shadow ERP's copy of a migrating entity's customer; the shadow's "
            "outcome never reaches this run",
        ),
    ),
)
"""What undoes or holds each step (see :mod:`accord.flows.shared.compensation`)."""


def _known(connection: str, customer_id: str) -> str | None:
    with stepkit.engine().connect() as conn:
        return xref.get_external(
            conn, entity_type="customer", canonical_id=customer_id, connection=connection
        )


@dataclass(frozen=True)
class SnapshotRequest:
    """Input of :func:`snapshot_customer`: which customer, in which ERP."""

    target: dict[str, str]
    customer_id: str


@DBOS.step(name="cm.snapshot_customer", **stepkit.STEP_RETRIES)
def snapshot_customer(request: SnapshotRequest) -> dict[str, Any] | None:
    """The customer as the ERP holds it before this run writes it (``None``: not there yet)."""
    target = ErpCustomerTarget(**request.target)
    erp_id = _known(target.connection, request.customer_id)
    if erp_id is None:
        return None
    return dataclasses.asdict(read_back(target, erp_id))


def _address(parts: tuple[str | None, ...] | list[str | None] | None) -> Address | None:
    """The snapshot's billing address, or ``None`` when it cannot be written back whole."""
    if not parts or len(parts) != 6:
        return None
    line1, line2, city, state, postal_code, country = parts
    if not (line1 and city and country):
        return None
    return Address(
        line1=line1,
        line2=line2,
        city=city,
        state=state,
        postal_code=postal_code,
        country=country,
    )


def restored(
    customer: Customer, snapshot: ErpCustomer, connection: str, omit: frozenset[str]
) -> tuple[Customer, frozenset[str]]:
    """The customer with the snapshot's values, and the fields a write-back must leave alone.

    Only fields the ERP carries are written back; a value the snapshot cannot express (a
    partial address, a parent Accord does not know) is left as it is rather than blanked.
    """
    left = set(omit) | {
        f for f in ("name", "parent_id", "bill_to", "tax_region") if f not in snapshot.carried
    }
    update: dict[str, Any] = {"name": snapshot.name}
    address = _address(snapshot.bill_to)
    if address is None:
        left.add("bill_to")
    else:
        update["bill_to"] = address
    if snapshot.tax_region:
        update["tax_region"] = snapshot.tax_region
    else:
        left.add("tax_region")
    parent: str | None = None
    if snapshot.parent_erp_id:
        with stepkit.engine().connect() as conn:
            parent = xref.get_canonical(
                conn,
                entity_type="customer",
                connection=connection,
                external_id=snapshot.parent_erp_id,
            )
        if parent is None:
            left.add("parent_id")
    update["parent_id"] = parent
    return customer.model_copy(update=update), frozenset(left)


@dataclass(frozen=True)
class RevertRequest:
    """Input of :func:`revert_customer`: the customer, its ERP, and what the ERP held before."""

    target: dict[str, str]
    customer_json: str
    snapshot: dict[str, Any]
    omit: tuple[str, ...]


@DBOS.step(name=_REVERT_STEP, **stepkit.STEP_RETRIES)
def revert_customer(request: RevertRequest) -> dict[str, Any]:
    """Write a customer back to its snapshot in one ERP (the CRM-owned fields it carries).

    Returns:
        ``{"reverted": True, ...}``, or ``{"reverted": False, "refused": {...}}`` when the ERP
        refuses the old values too (the exception then says the ERP was left as written).
    """
    target = ErpCustomerTarget(**request.target)
    snapshot = ErpCustomer(
        **{
            **request.snapshot,
            "bill_to": tuple(request.snapshot["bill_to"])
            if request.snapshot.get("bill_to")
            else None,
            "carried": tuple(request.snapshot.get("carried") or ()),
        }
    )
    customer, omit = restored(
        Customer.model_validate_json(request.customer_json),
        snapshot,
        target.connection,
        frozenset(request.omit),
    )
    out = {"connection": target.connection, "erp_id": snapshot.erp_id}
    try:
        with customer_lock(f"customer:{target.connection}:{customer.id}"):
            write_erp_customer(target, customer, omit=omit, clear_parent="parent_id" not in omit)
    except PermanentError as exc:
        return {
            **out,
            "reverted": False,
            "refused": {"code": exc.code, "detail": exc.detail or str(exc)},
        }
    remember_write(target, customer.id, snapshot.erp_id)
    return {**out, "reverted": True}


@dataclass(frozen=True)
class RejectionRequest:
    """Input of :func:`report_rejection`: the refusal and what was written back."""

    customer_id: str
    customer_name: str
    business_key: str
    connection: str
    erp: str
    refusal: dict[str, Any]
    compensated: tuple[dict[str, Any], ...] = ()


@DBOS.step(name="cm.report_rejection", **stepkit.STEP_RETRIES)
def report_rejection(request: RejectionRequest) -> dict[str, Any]:
    """File the ERP's refusal with finance ops, saying which other ERPs were written back."""
    reverted = [c["connection"] for c in request.compensated if c.get("reverted")]
    failed = [c["connection"] for c in request.compensated if not c.get("reverted")]
    opened = _open(
        queue="finance-ops",
        business_key=request.business_key,
        code="customer.erp_rejected",
        title=f"{request.erp} refused the update of customer {request.customer_name}",
        detail={
            "customer_id": request.customer_id,
            "connection": request.connection,
            **request.refusal,
            "compensated": list(request.compensated),
            "state": "every ERP keeps the version last applied"
            if not failed
            else f"{', '.join(failed)} could not be written back: correct the customer there",
            "reverted": reverted,
        },
        dedupe_key=rejection_dedupe_key(request.customer_id, request.connection),
    )
    return {"exception_opened": opened}
