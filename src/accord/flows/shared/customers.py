"""ERP customers: :func:`write_erp_customer` and the per-customer write lock.

Shared by lead-to-project (which creates customers) and customer master (which updates them).

Business Central's verify-before-create is a read then a write, which two runs for two
opportunities of one customer (or a provisioning and a master-data update) could interleave;
:func:`customer_lock` serialises the customer writes per customer (a process lock, plus a
PostgreSQL advisory lock across workers).
"""

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from accord.connectors.business_central.mapping import (
    CUSTOMER_FIELDS as BC_CUSTOMER_FIELDS,
)
from accord.connectors.business_central.mapping import (
    bc_number,
)
from accord.connectors.business_central.mapping import (
    customer_from_canonical as bc_customer,
)
from accord.connectors.netsuite.mapping import CUSTOMER_FIELDS as NS_CUSTOMER_FIELDS
from accord.connectors.netsuite.mapping import NetSuiteLookups
from accord.connectors.netsuite.mapping import (
    customer_from_canonical as ns_customer,
)
from accord.domain import Customer
from accord.flows import stepkit
from accord.flows.shared.erp_project import _erp_connector_for
from accord.store import xref
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
        erp: ``netsuite`` or ``business_central``.
        connection: The ``accord.yaml`` connection of that ERP.
        legal_entity: The legal entity (NetSuite subsidiary / BC company) it is booked in.
        subsidiary: The NetSuite subsidiary id of that entity (unused on Business Central).
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
    them): NetSuite upserts by ``externalId`` (the canonical id), Business Central by the
    number :func:`~accord.connectors.business_central.mapping.bc_number` derives from it.
    The customer is booked in ``target.legal_entity``. The parent, if any, must already be in
    the xref of ``target.connection`` (callers write parents first).

    Args:
        target: The ERP, connection and legal entity.
        customer: The canonical customer (its ``currency`` is the entity's).
        omit: Canonical fields *not* to write (their native fields are left as the ERP has
            them): the fields the ERP owns, when an existing customer is updated.
        clear_parent: Write "no parent" when ``customer.parent_id`` is ``None`` (an update that
            detaches a customer; a create never needs it).
    """
    connector = _erp_connector_for(target.erp, target.connection, target.legal_entity)
    if target.erp == "netsuite":
        with stepkit.engine().connect() as conn:
            parent = (
                xref.get_external(
                    conn,
                    entity_type="customer",
                    canonical_id=customer.parent_id,
                    connection=target.connection,
                )
                if customer.parent_id
                else None
            )
        lookups = NetSuiteLookups(
            subsidiaries={
                customer.legal_entity: target.subsidiary,
                target.legal_entity: target.subsidiary,
            },
            currencies=stepkit.netsuite_currencies(target.connection),
            records={"customer": {customer.parent_id: parent}}
            if parent and customer.parent_id
            else {},
        )
        body = ns_customer(
            customer.model_copy(update={"legal_entity": target.legal_entity}), lookups=lookups
        )
        if clear_parent and customer.parent_id is None:
            body["parent"] = None
        body = _without(body, NS_CUSTOMER_FIELDS, omit)
        result = connector.upsert("customer", customer.id, body)
        return result.id, result.created
    number = bc_number(customer.id)
    body = _without(bc_customer(customer), BC_CUSTOMER_FIELDS, omit)
    result = connector.upsert("customers", number, body)
    # BC's customer is addressed by number everywhere else (projects, invoices).
    return number, result.created


def _without(
    body: dict[str, Any], natives: Mapping[str, tuple[str, ...]], omit: frozenset[str]
) -> dict[str, Any]:
    dropped = {name for field in omit for name in natives.get(field, ())}
    return {k: v for k, v in body.items() if k not in dropped}
