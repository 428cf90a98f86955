"""ERP customers: writes, the per-customer lock, the legal entities a customer is in.

Shared by lead-to-project (which creates customers) and customer master (which updates them),
through the ERP role (:meth:`~accord.connectors.roles.Erp.upsert_customer`).

A verify-before-create is a read then a write, which two runs for two opportunities of one
customer (or a provisioning and a master-data update) could interleave; :func:`customer_lock`
serialises the customer writes per customer (a process lock, plus a PostgreSQL advisory lock
across workers).

A customer may be sold through several legal entities (docs/flows/multi-entity.md): the
lineage edge ``customer -available_in-> customer_book`` records each entity of each ERP
connection it is available in, so a later deal of that entity skips the ERP call.
"""

from contextlib import AbstractContextManager
from dataclasses import dataclass

import sqlalchemy as sa

from accord.connectors.roles import CustomerBooking
from accord.domain import Customer
from accord.flows import stepkit
from accord.flows.shared.plan import Plan
from accord.store import lineage
from accord.store.util import held_key_lock

__all__ = [
    "ErpCustomerTarget",
    "customer_book",
    "customer_lock",
    "link_customer_book",
    "link_parent",
    "share_customer",
    "write_erp_customer",
    "write_plan_customer",
]


def customer_lock(key: str) -> AbstractContextManager[None]:
    """Serialise writes of one customer (key ``customer:<conn>:<id>``).

    In this process, and across PostgreSQL workers (an advisory lock).
    """
    return held_key_lock(stepkit.engine(), key)


@dataclass(frozen=True)
class ErpCustomerTarget:
    """Where an ERP customer lives: the ERP, its connection and the legal entity's book.

    Attributes:
        erp: The ERP's system name (as the rules' legal entity says).
        connection: The ``accord.yaml`` connection of that ERP.
        legal_entity: The legal entity it is booked in.
        subsidiary: The ERP's id of that entity as the rules placed it (``""``: the ERP
            role's own mapping).
    """

    erp: str
    connection: str
    legal_entity: str
    subsidiary: str


def write_erp_customer(
    target: ErpCustomerTarget,
    customer: Customer,
    *,
    omit: frozenset[str] = frozenset(),
    clear_parent: bool = False,
) -> tuple[str, bool]:
    """Upsert one customer into an ERP; returns its ERP id and whether it was created.

    Shared by lead-to-project (which creates customers) and customer master (which updates
    them), through the ERP role's idempotent :meth:`~accord.connectors.roles.Erp.upsert_customer`.
    The customer is booked in ``target.legal_entity``. The parent, if any, must already be in
    the xref of ``target.connection`` (callers write parents first).

    Args:
        target: The ERP, connection and legal entity.
        customer: The canonical customer (its ``currency`` is the entity's).
        omit: Canonical fields *not* to write (the ERP keeps its values): the fields the ERP
            owns, when an existing customer is updated.
        clear_parent: Write "no parent" when ``customer.parent_id`` is ``None`` (an update that
            detaches a customer; a create never needs it).
    """
    parent = (
        stepkit.known_external("customer", customer.parent_id, target.connection)
        if customer.parent_id
        else None
    )
    booking = CustomerBooking(
        customer=customer,
        legal_entity=target.legal_entity,
        parent_erp_id=parent,
        omit=omit,
        clear_parent=clear_parent,
        dimensions={"subsidiary": target.subsidiary} if target.subsidiary else {},
    )
    return stepkit.erp(target.connection).upsert_customer(booking)


def write_plan_customer(plan: Plan, customer: Customer) -> tuple[str, bool]:
    """Upsert ``customer`` into the plan's ERP, in the plan's legal entity (its subsidiary)."""
    target = ErpCustomerTarget(
        erp=plan.erp,
        connection=plan.erp_connection,
        legal_entity=plan.legal_entity,
        subsidiary=plan.subsidiary,
    )
    return write_erp_customer(target, customer)


def customer_book(customer_id: str, connection: str, legal_entity: str) -> tuple[str, str]:
    """The lineage node of a customer's availability in one legal entity of one ERP."""
    return "customer_book", f"{customer_id}@{connection}:{legal_entity}"


def link_customer_book(conn: sa.Connection, plan: Plan, customer_id: str, status: str) -> None:
    """Record that the customer is available in the plan's legal entity (idempotent).

    Args:
        conn: The open transaction.
        plan: The provisioning plan (its ERP connection and legal entity).
        customer_id: The canonical customer id.
        status: ``created`` (booked there first), ``matched`` (found there) or ``shared``
            (made available later).
    """
    stepkit.link_edge(
        conn,
        ("customer", customer_id),
        customer_book(customer_id, plan.erp_connection, plan.legal_entity),
        "available_in",
        status=status,
    )


def link_parent(conn: sa.Connection, customer: Customer) -> None:
    """Record the customer's place under its parent (``parent_of``; none for a top customer)."""
    if customer.parent_id is not None:
        stepkit.link_edge(
            conn,
            ("customer", customer.parent_id),
            ("customer", customer.id),
            "parent_of",
            status="resolved",
        )


def share_customer(plan: Plan) -> bool:
    """Make the project's customer available in the project's legal entity, once.

    A customer first booked for a deal of another legal entity is not yet one of this
    entity's: the ERP role makes it so (its own mechanism: NetSuite's customer-subsidiary
    relationship, a customer in Business Central's company of the entity), and the lineage
    edge ``customer -available_in-> customer_book`` records it, so later deals skip the call.

    Returns:
        Whether the ERP was asked (``False``: the lineage already says it is available).

    Raises:
        PermanentError: The ERP refused (``entity_not_shared``: it does not share customers
            across these entities, e.g. the feature is off).
    """
    node = customer_book(plan.customer_id, plan.erp_connection, plan.legal_entity)
    with stepkit.engine().connect() as conn:
        if lineage.list_for(conn, node_type=node[0], node_id=node[1]):
            return False
    found = next((c for c in plan.customers if c.canonical_id == plan.customer_id), None)
    if found is None:
        return False
    customer = Customer.model_validate_json(found.customer_json)
    customer = customer.model_copy(update={"currency": plan.currency})
    with customer_lock(f"customer:{plan.erp_connection}:{customer.id}"):
        erp_id, created = write_plan_customer(plan, customer)
    stepkit.link_xref("customer", customer.id, plan.erp, plan.erp_connection, erp_id)
    with stepkit.engine().begin() as conn:
        link_customer_book(conn, plan, customer.id, "created" if created else "shared")
    return True
