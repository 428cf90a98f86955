"""The side effects of customer master, one DBOS step each, with one frozen-dataclass input.

Retries come from the error class (``should_retry=is_retryable``). Every write is idempotent:
ERP customers are written with the write lead-to-project shares,
:func:`~accord.flows.shared.customers.write_erp_customer` (the ERP role's keyed upsert, under
the per-customer lock), so a step that ran but lost its checkpoint runs again harmlessly;
exceptions are deduplicated by key. Every system is reached through its role.

What does *not* belong here: the order of steps (:mod:`.workflow`), the comparisons
(:mod:`.views`), and ERP drift (:mod:`.drift`).
"""

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from dbos import DBOS

from accord.connectors.ownership import SystemRole, role_of
from accord.connectors.roles import CrmAccount, ErpCustomer
from accord.domain import Customer
from accord.errors import NotFoundError, PermanentError, is_retryable
from accord.flows import stepkit
from accord.flows.customer_master import history, views
from accord.flows.shared.customers import (
    ErpCustomerTarget,
    customer_lock,
    link_parent,
    write_erp_customer,
)
from accord.rules import Rules
from accord.store import exceptions, xref
from accord.store.exceptions import ExceptionStatus

__all__ = [
    "FLOW",
    "MAX_DEPTH",
    "MergeRequest",
    "OutcomeRequest",
    "PlanRequest",
    "WriteRequest",
    "check_merge",
    "create_parent",
    "erp_target",
    "plan_update",
    "read_back",
    "record_outcome",
    "write_customer",
]

logger = logging.getLogger(__name__)

FLOW = "customer_master"
"""The flow's name in exceptions, metrics and lineage."""
MAX_DEPTH = 10
"""Deepest account hierarchy followed; a longer chain is refused like a cycle."""


def _is_erp(system: str) -> bool:
    try:
        return role_of(system) is SystemRole.ERP
    except ValueError:
        return False


def merge_dedupe_key(loser_id: str) -> str:
    """Dedupe key of the sales-ops exception about an account merged away."""
    return f"{FLOW}:{loser_id}:merge"


def hierarchy_dedupe_key(customer_id: str) -> str:
    """Dedupe key of the sales-ops exception about a customer's parent (cycle, missing)."""
    return f"{FLOW}:{customer_id}:hierarchy"


def rejection_dedupe_key(customer_id: str, connection: str) -> str:
    """Dedupe key of the exception about an ERP refusing a customer update."""
    return f"{FLOW}:{customer_id}:{connection}:rejected"


def erp_target(rules: Rules, connection: str, preferred: str | None) -> ErpCustomerTarget | None:
    """The book a customer known on ``connection`` lives in, per the rules' legal entities.

    The customer's own legal entity wins when it lives on that connection; otherwise the first
    entity on it (lead-to-project books a customer in its first deal's entity).
    """
    entities = [
        (code, spec)
        for code, spec in rules.spec.legal_entities.items()
        if spec.connection == connection
    ]
    if not entities:
        return None
    code, spec = next(((c, s) for c, s in entities if c == preferred), entities[0])
    # The ERP role places the entity itself (its subsidiary, its company).
    return ErpCustomerTarget(
        erp=spec.erp.value, connection=connection, legal_entity=code, subsidiary=""
    )


def _entity_currency(rules: Rules, legal_entity: str) -> str:
    return rules.spec.legal_entities[legal_entity].currency


def _external(conn: sa.Connection, customer_id: str, connection: str) -> str | None:
    return xref.get_external(
        conn, entity_type="customer", canonical_id=customer_id, connection=connection
    )


def _ids(conn: sa.Connection, customer_id: str) -> dict[str, str]:
    rows = xref.list_for(conn, entity_type="customer", canonical_ids=[customer_id])
    return {r.connection: r.external_id for r in rows}


def _sf_id(customer: Customer, crm: str) -> str | None:
    """The CRM's id of a customer's account: its reference, its canonical id, or the xref."""
    role = stepkit.crm(crm)
    for ref in customer.refs:
        if ref.system == role.system:
            return ref.id
    direct = role.crm_id(customer.id)
    if direct is not None:
        return direct
    with stepkit.engine().connect() as conn:
        return _external(conn, customer.id, crm)


def _account_customer(account: CrmAccount, crm: str) -> Customer | None:
    """An account's customer, its parent named by the canonical id the xref knows (if any).

    An account read by id carries only its parent's CRM id, which the CRM role alone can
    turn into a canonical id only by its own convention; the xref knows better.
    """
    customer = account.customer
    if customer is None or account.parent_crm_id is None:
        return customer
    with stepkit.engine().connect() as conn:
        known = xref.get_canonical(
            conn, entity_type="customer", connection=crm, external_id=account.parent_crm_id
        )
    return customer.model_copy(update={"parent_id": known}) if known else customer


def _open(
    *,
    queue: str,
    business_key: str,
    code: str,
    title: str,
    detail: dict[str, Any],
    dedupe_key: str,
    severity: str = "high",
) -> bool:
    """Open an exception unless the same one is open already; True when opened or changed."""
    return stepkit.open_unless_same(
        queue=queue,
        severity=severity,
        flow=FLOW,
        run_id=DBOS.workflow_id,
        business_key=business_key,
        code=code,
        title=title,
        detail=detail,
        dedupe_key=dedupe_key,
        scan=200,
    )


# ---------------------------------------------------------------------- 1. merges
@dataclass(frozen=True)
class MergeRequest:
    """Input of :func:`check_merge`: the customer whose account may have absorbed others."""

    customer_json: str
    business_key: str


@DBOS.step(name="cm.check_merge", **stepkit.STEP_RETRIES)
def check_merge(request: MergeRequest) -> dict[str, Any]:
    """Find accounts merged into this one that Accord knows; each is a sales-ops exception.

    A CRM merge deletes the losing account (and names the survivor); its ERP and PSA records
    still exist. Accord never deletes or re-points them: a person decides. Until
    that exception is resolved or ignored, the surviving account's changes are held.

    Returns:
        ``{"blocked": bool, "merged": [loser canonical ids]}``.
    """
    customer = Customer.model_validate_json(request.customer_json)
    crm = stepkit.crm_connection()
    sf_id = _sf_id(customer, crm)
    if sf_id is None:
        return {"blocked": False, "merged": []}
    losers = stepkit.crm(crm).merged_accounts(sf_id)
    blocked: list[str] = []
    with stepkit.engine().connect() as conn:
        master_ids = _ids(conn, customer.id)
    for loser in losers:
        loser_sf = loser.crm_id
        with stepkit.engine().connect() as conn:
            loser_id = (
                xref.get_canonical(
                    conn, entity_type="customer", connection=crm, external_id=loser_sf
                )
                or loser.id
            )
            loser_ids = _ids(conn, loser_id)
            decided = [
                s
                for s in history.exceptions_by_key(
                    conn, business_key=f"customer:{loser_id}", dedupe_key=merge_dedupe_key(loser_id)
                )
                if s != ExceptionStatus.OPEN.value
            ]
        if not any(c != crm for c in loser_ids) or decided:
            # Unknown beyond the CRM (nothing to reconcile), or a person already decided.
            continue
        _open(
            queue="sales-ops",
            business_key=f"customer:{loser_id}",
            code="customer.merged",
            title=(
                f"Account {loser.name or loser_sf} was merged into {customer.name}: "
                "decide what happens to its ERP and PSA records"
            ),
            detail={
                "merged": {"account": loser_sf, "customer_id": loser_id, "ids": loser_ids},
                "master": {"account": sf_id, "customer_id": customer.id, "ids": master_ids},
                "action": "Accord did not delete or re-point anything; merge or keep the "
                "ERP/PSA records, then resolve this exception to release the master's changes.",
            },
            dedupe_key=merge_dedupe_key(loser_id),
        )
        with stepkit.engine().begin() as conn:
            stepkit.link_edge(
                conn,
                ("customer", loser_id),
                ("customer", customer.id),
                "merged_into",
                status="needs_decision",
            )
        blocked.append(loser_id)
    return {"blocked": bool(blocked), "merged": blocked}


# ---------------------------------------------------------------------- 2. plan
@dataclass(frozen=True)
class PlanRequest:
    """Input of :func:`plan_update`: the event's canonical customer."""

    customer_json: str
    business_key: str


class _HierarchyError(Exception):
    """The new parent chain cannot be applied (a cycle, a missing parent)."""

    def __init__(self, problem: str, account: str | None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.account = account


def _ancestors(
    customer: Customer, sf_id: str | None, connection: str, crm: str
) -> list[tuple[Customer, str]]:
    """The parent chain not yet in ``connection``, top-down (so parents are written first).

    The CRM chain is followed to its top even past a parent the ERP knows, so that a loop
    back to the customer (or any repeat) is found before anything is written.

    Raises:
        _HierarchyError: A parent is missing (deleted, unreadable) or the chain loops.
    """
    chain: list[tuple[Customer, str]] = []
    seen = {sf_id} if sf_id else set()
    collecting = True
    parent_id = customer.parent_id
    role = stepkit.crm(crm)
    for _ in range(MAX_DEPTH + 1):
        if parent_id is None:
            return list(reversed(chain))
        with stepkit.engine().connect() as conn:
            if collecting and _external(conn, parent_id, connection) is not None:
                collecting = False
            parent_sf = _external(conn, parent_id, crm) or role.crm_id(parent_id)
        if parent_id == customer.id or (parent_sf is not None and parent_sf in seen):
            raise _HierarchyError(
                f"the parent chain loops back at account {parent_sf or parent_id}", parent_sf
            )
        if parent_sf is None:
            raise _HierarchyError(f"parent {parent_id} is not a CRM account", None)
        seen.add(parent_sf)
        try:
            account = role.account(parent_sf)
        except NotFoundError:
            raise _HierarchyError(f"parent account {parent_sf} does not exist", parent_sf) from None
        parent = _account_customer(account, crm)
        if parent is None:
            raise _HierarchyError(
                f"parent account {parent_sf} cannot be mapped: {dict(account.problems)}",
                parent_sf,
            )
        if collecting:
            chain.append((parent, parent_sf))
        parent_id = parent.parent_id
    raise _HierarchyError(f"the parent chain is deeper than {MAX_DEPTH} accounts", None)


@DBOS.step(name="cm.plan", **stepkit.STEP_RETRIES)
def plan_update(request: PlanRequest) -> dict[str, Any]:
    """Decide what this CRM version changes, and in which order, in which ERP.

    Returns:
        ``{"status": "unchanged" | "unknown" | "hierarchy_refused" | "apply", ...}``; for
        ``apply``, ``writes`` lists the ERP writes in order (new parents top-down first).
    """
    customer = Customer.model_validate_json(request.customer_json)
    rules = stepkit.rules()
    crm = stepkit.crm_connection()
    owned = views.crm_owned(rules)
    fingerprint = views.fingerprint(views.customer_values(customer, owned))
    with stepkit.engine().connect() as conn:
        if history.last_applied(conn, customer.id) == fingerprint:
            return {"status": "unchanged", "fingerprint": fingerprint}
        rows = xref.list_for(conn, entity_type="customer", canonical_ids=[customer.id])
    # By connection name, so that every version meets the ERPs in the same order.
    erp_rows = sorted((r for r in rows if _is_erp(r.system)), key=lambda r: r.connection)
    psa = [
        {"system": r.system, "connection": r.connection, "id": r.external_id}
        for r in rows
        if role_of(r.system) is SystemRole.PSA
    ]
    if not erp_rows:
        return {"status": "unknown", "fingerprint": fingerprint}
    sf_id = _sf_id(customer, crm)
    omit = sorted(views.omitted(owned))
    writes: list[dict[str, Any]] = []
    for row in erp_rows:
        target = erp_target(rules, row.connection, customer.legal_entity)
        if target is None:
            logger.warning("customer %s: no legal entity on %s", customer.id, row.connection)
            continue
        if "parent_id" in owned and "parent_id" in stepkit.erp(row.connection).customer_fields:
            try:
                chain = _ancestors(customer, sf_id, row.connection, crm)
            except _HierarchyError as exc:
                _open(
                    queue="sales-ops",
                    business_key=request.business_key,
                    code="customer.hierarchy",
                    title=f"Customer {customer.name} cannot be re-parented: {exc.problem}",
                    detail={
                        "customer_id": customer.id,
                        "account": sf_id,
                        "parent_id": customer.parent_id,
                        "problem": exc.problem,
                        "account_at_fault": exc.account,
                    },
                    dedupe_key=hierarchy_dedupe_key(customer.id),
                )
                return {"status": "hierarchy_refused", "problem": exc.problem}
            for parent, parent_sf in chain:
                writes.append(
                    {
                        "target": target.__dict__,
                        "customer_json": parent.model_dump_json(),
                        "crm_id": parent_sf,
                        "create": True,
                        "omit": [],
                    }
                )
        writes.append(
            {
                "target": target.__dict__,
                "customer_json": customer.model_dump_json(),
                "crm_id": sf_id or "",
                "create": False,
                "omit": omit,
            }
        )
    return {"status": "apply", "fingerprint": fingerprint, "writes": writes, "psa": psa}


# ---------------------------------------------------------------------- 3. write
@dataclass(frozen=True)
class WriteRequest:
    """Input of :func:`write_customer`: one ERP write of the plan."""

    target: dict[str, str]
    customer_json: str
    crm_id: str
    create: bool
    omit: tuple[str, ...] | list[str]
    business_key: str
    event_id: str | None = None


def read_back(target: ErpCustomerTarget, erp_id: str) -> ErpCustomer:
    """The ERP customer as stored, in the target's legal entity."""
    return stepkit.erp(target.connection).customer(erp_id, legal_entity=target.legal_entity)


def remember_write(
    target: ErpCustomerTarget, customer_id: str, erp_id: str, *, event_id: str | None = None
) -> str:
    """Read the written customer back and remember its fingerprint; returns it."""
    stored = read_back(target, erp_id)
    fields = views.compared_fields(stored.carried, views.crm_owned(stepkit.rules()))
    view = views.erp_view(stored)
    fingerprint = views.fingerprint({f: view[f] for f in fields})
    with stepkit.engine().begin() as conn:
        history.record_written(
            conn,
            customer_id=customer_id,
            connection=target.connection,
            erp_id=erp_id,
            fingerprint=fingerprint,
            run_id=DBOS.workflow_id,
            event_id=event_id,
        )
    return fingerprint


def _link_customer(customer: Customer, target: ErpCustomerTarget, erp_id: str, crm_id: str) -> None:
    crm = stepkit.crm_connection()
    crm_system = stepkit.crm(crm).system
    with stepkit.engine().begin() as conn:
        stepkit.link_xref("customer", customer.id, target.erp, target.connection, erp_id, conn=conn)
        if crm_id:
            stepkit.link_xref("customer", customer.id, crm_system, crm, crm_id, conn=conn)


def _write(request: WriteRequest) -> dict[str, Any]:
    target = ErpCustomerTarget(**request.target)
    rules = stepkit.rules()
    customer = Customer.model_validate_json(request.customer_json)
    if "currency" in request.omit or request.create:
        # The entity's currency, as lead-to-project books customers; an update leaves it out.
        customer = customer.model_copy(
            update={"currency": _entity_currency(rules, target.legal_entity)}
        )
    key = f"customer:{target.connection}:{customer.id}"
    try:
        with customer_lock(key):
            with stepkit.engine().connect() as conn:
                known = _external(conn, customer.id, target.connection)
            if request.create and known is not None:
                return {"customer_id": customer.id, "erp_id": known, "created": False}
            erp_id, created = write_erp_customer(
                target,
                customer,
                omit=frozenset(request.omit),
                clear_parent="parent_id" not in request.omit,
            )
            if known is None:
                _link_customer(customer, target, erp_id, request.crm_id)
    except PermanentError as exc:
        if is_retryable(exc):  # pragma: no cover - a PermanentError never is; be explicit
            raise
        return {
            "customer_id": customer.id,
            "rejected": exc.detail or str(exc),
            "refusal": {
                "error": type(exc).__name__,
                "code": exc.code,
                "detail": exc.detail or str(exc),
            },
        }
    remember_write(target, customer.id, erp_id, event_id=request.event_id)
    with stepkit.engine().begin() as conn:
        link_parent(conn, customer)
        exceptions.auto_resolve(
            conn,
            dedupe_key=rejection_dedupe_key(customer.id, target.connection),
            resolution="a later update was accepted",
        )
    return {"customer_id": customer.id, "erp_id": erp_id, "created": created}


@DBOS.step(name="cm.write_customer", **stepkit.STEP_RETRIES)
def write_customer(request: WriteRequest) -> dict[str, Any]:
    """Update the CRM-owned fields of one customer in one ERP.

    A refusal by the ERP (a business rule) is returned (``rejected``, ``refusal``), not
    raised: the workflow writes back the ERPs written before it and files the exception
    (:mod:`.compensation`).
    """
    return _write(request)


@DBOS.step(name="cm.create_parent", **stepkit.STEP_RETRIES)
def create_parent(request: WriteRequest) -> dict[str, Any]:
    """Create a parent the ERP lacks (a new parent chain, written top-down); idempotent.

    A step of its own because its compensation differs: a parent created is kept.
    """
    return _write(request)


# ---------------------------------------------------------------------- 4. record
@dataclass(frozen=True)
class OutcomeRequest:
    """Input of :func:`record_outcome`: what the run did with one CRM version."""

    customer_id: str
    event_id: str
    status: str
    version: str
    fingerprint: str | None = None


@DBOS.step(name="cm.record_outcome", **stepkit.STEP_RETRIES)
def record_outcome(request: OutcomeRequest) -> None:
    """Link the event to the customer; an applied version is remembered (see :mod:`.history`)."""
    with stepkit.engine().begin() as conn:
        stepkit.link_edge(
            conn,
            ("event", request.event_id),
            ("customer", request.customer_id),
            "customer.upserted",
            status=request.status,
            event_id=request.event_id,
        )
        if request.status == "applied" and request.fingerprint is not None:
            history.record_applied(
                conn,
                customer_id=request.customer_id,
                version=request.version,
                fingerprint=request.fingerprint,
                run_id=DBOS.workflow_id,
                event_id=request.event_id,
            )
            exceptions.auto_resolve(
                conn,
                dedupe_key=hierarchy_dedupe_key(request.customer_id),
                resolution="a later version of the account was applied",
            )
