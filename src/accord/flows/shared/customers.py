"""ERP customers: :func:`write_erp_customer` and the per-customer write lock.

Shared by lead-to-project (which creates customers) and customer master (which updates them),
through the ERP role (:meth:`~accord.connectors.roles.Erp.upsert_customer`).

A verify-before-create is a read then a write, which two runs for two opportunities of one
customer (or a provisioning and a master-data update) could interleave; :func:`customer_lock`
serialises the customer writes per customer (a process lock, plus a PostgreSQL advisory lock
across workers).
"""

from contextlib import AbstractContextManager
from dataclasses import dataclass

from accord.connectors.roles import CustomerBooking
from accord.domain import Customer
from accord.flows import stepkit
from accord.store.util import held_key_lock

__all__ = ["ErpCustomerTarget", "customer_lock", "write_erp_customer"]


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
