"""ERP-side drift: a change made in the ERP to a field the CRM owns is reverted or raised.

Polled ERP customers (the ERP role's customer feed) come here one version at a time, from the
capture step (:func:`check_erp_customer`). A version is compared on the fields the ERP carries
and the CRM owns (:func:`~.views.compared_fields`):

- equal to what Accord's last write left there (:func:`~.history.last_written`): Accord's own
  version (or a change to ERP-owned fields), nothing to do. This is what keeps a revert from
  looping with its own echo;
- equal to what the CRM says now: in accord (an open drift exception is resolved);
- otherwise it is drift, and ``customer_master.erp_drift`` decides: ``revert`` writes the CRM's
  values back (only the CRM-owned fields, with the shared customer write), ``raise`` opens a
  finance-ops exception showing both values per field.

Only customers Accord linked in the xref are checked. Everything here is idempotent (a write
of the same values, an exception deduplicated by key), as the capture step may run twice.

What does *not* belong here: propagating CRM changes (:mod:`.steps`).
"""

import logging
from typing import Any

from accord.connectors.roles import ErpCustomerChange
from accord.errors import NotFoundError, PermanentError
from accord.flows import stepkit
from accord.flows.customer_master import history, views
from accord.flows.customer_master.settings import customer_master_settings
from accord.flows.customer_master.steps import (
    FLOW,
    _account_customer,
    _entity_currency,
    _open,
    erp_target,
    remember_write,
)
from accord.flows.shared.customers import customer_lock, write_erp_customer
from accord.store import exceptions, xref

__all__ = ["check_erp_customer", "drift_dedupe_key"]

logger = logging.getLogger(__name__)


def drift_dedupe_key(customer_id: str, connection: str) -> str:
    """Dedupe key of the exception about a customer's drift in one ERP connection."""
    return f"{FLOW}:{customer_id}:{connection}:drift"


def _identify(connection: str, change: ErpCustomerChange) -> tuple[str, str] | None:
    """(canonical id, ERP id as the xref holds it) of a changed customer Accord knows."""
    if not change.erp_id:
        return None
    with stepkit.engine().connect() as conn:
        found = xref.get_canonical(
            conn, entity_type="customer", connection=connection, external_id=change.erp_id
        )
    return (found, change.erp_id) if found else None


def check_erp_customer(  # noqa: PLR0911 - one named outcome per case
    erp: str, connection: str, change: ErpCustomerChange
) -> str:
    """Compare one changed ERP customer with the CRM; revert or raise on drift.

    Args:
        erp: The ERP's system name (for people: exceptions name it).
        connection: The ERP connection polled.
        change: The changed customer from the ERP role's feed.

    Returns:
        What was concluded: ``unknown``, ``ours``, ``in_accord``, ``crm_unreadable``,
        ``reverted``, ``raised`` or ``rejected``.
    """
    identified = _identify(connection, change)
    if identified is None:
        return "unknown"
    customer_id, erp_id = identified
    rules = stepkit.rules()
    role = stepkit.erp(connection)
    fields = views.compared_fields(role.customer_fields, views.crm_owned(rules))
    # A feed that does not carry the whole record (no address book): read the customer.
    actual = views.erp_view(change.customer or role.customer(erp_id))
    with stepkit.engine().connect() as conn:
        written = history.last_written(conn, customer_id, connection, erp_id)
        sf_id = xref.get_external(
            conn,
            entity_type="customer",
            canonical_id=customer_id,
            connection=stepkit.crm_connection(),
        )
    if written is not None and views.fingerprint({f: actual[f] for f in fields}) == written:
        return "ours"
    if sf_id is None:
        return "crm_unreadable"
    crm = stepkit.crm_connection()
    try:
        found = _account_customer(stepkit.crm(crm).account(sf_id), crm)
    except NotFoundError:
        found = None
    if found is None:
        # A deleted (merged) or incomplete account: the merge check or sales ops handle it.
        return "crm_unreadable"
    customer = found
    with stepkit.engine().connect() as conn:
        parent_erp = (
            xref.get_external(
                conn,
                entity_type="customer",
                canonical_id=customer.parent_id,
                connection=connection,
            )
            if customer.parent_id
            else None
        )
    expected = views.expected_view(role.customer_fields, customer, parent_erp)
    drift = views.diff(actual, expected, fields)
    key = drift_dedupe_key(customer_id, connection)
    if not drift:
        with stepkit.engine().begin() as conn:
            exceptions.auto_resolve(conn, dedupe_key=key, resolution="the ERP agrees again")
        return "in_accord"
    target = erp_target(rules, connection, customer.legal_entity)
    policy = customer_master_settings(stepkit.config_file()).erp_drift
    revertible = target is not None and not (customer.parent_id and parent_erp is None)
    refused: str | None = None
    if policy == "revert" and target is not None and revertible:
        customer = customer.model_copy(
            update={"currency": _entity_currency(rules, target.legal_entity)}
        )
        owned = views.crm_owned(rules)
        try:
            with customer_lock(f"customer:{connection}:{customer_id}"):
                write_erp_customer(
                    target,
                    customer,
                    omit=views.omitted(owned),
                    clear_parent="parent_id" in owned,
                )
        except PermanentError as exc:
            refused = str(exc)  # the exception says the revert was refused
        else:
            remember_write(target, customer_id, erp_id)
            with stepkit.engine().begin() as conn:
                exceptions.auto_resolve(
                    conn, dedupe_key=key, resolution="reverted to the CRM value"
                )
            logger.info("customer %s: reverted %d field(s) in %s", customer_id, len(drift), erp)
            return "reverted"
    _raise(
        customer_id,
        name=customer.name,
        erp=erp,
        connection=connection,
        erp_id=erp_id,
        sf_id=sf_id,
        drift=drift,
        error=refused,
    )
    return "raised" if refused is None else "rejected"


def _raise(
    customer_id: str,
    *,
    name: str,
    erp: str,
    connection: str,
    erp_id: str,
    sf_id: str,
    drift: dict[str, dict[str, str]],
    error: str | None,
) -> None:
    detail: dict[str, Any] = {
        "customer_id": customer_id,
        "account": sf_id,
        "erp": erp,
        "connection": connection,
        "erp_id": erp_id,
        "fields": drift,
        "owner": "crm",
        "action": "change the account in the CRM (it owns these fields), or put the "
        "CRM value back in the ERP; then resolve this exception",
    }
    if error is not None:
        detail["revert_refused"] = error
    _open(
        queue="finance-ops",
        business_key=f"customer:{customer_id}",
        code="customer.erp_drift",
        title=(
            f"Customer {name}: {', '.join(sorted(drift))} changed in {erp}, but the CRM owns "
            f"{'it' if len(drift) == 1 else 'them'}"
        ),
        detail=detail,
        dedupe_key=drift_dedupe_key(customer_id, connection),
        severity="medium",
    )
