"""Change capture of ERP invoices and payments: posted / paid invoices and received payments.

Polled pairs (registered by :func:`enable_cash_capture` when the ``cash:`` section turns
polling on), for each ERP connection polled (``cash.erp_connections``, by default every
connection the rules' legal entities book on): the ERP role's invoice feed
(:meth:`~accord.connectors.roles.Erp.invoice_changes`) and, when the ERP has one, its payment
feed (:meth:`~accord.connectors.roles.Erp.payment_changes`; an ERP without one shows a
received payment as its invoices' new amount due). Which records a feed reads and how they map
is the ERP role's business.

What is mapped, per record version (capture makes the event id ``<record id>@<modified>``, so an
invoice that becomes paid later is a new event):

- an invoice posted and not fully paid -> ``invoice.posted`` (also after a part payment: the
  amount due changed); paid in full -> ``invoice.paid``; drafts and voided ones -> nothing;
- a customer payment -> ``payment.received`` with its applications.

A record Accord cannot place (a customer or project it does not know, a currency it cannot
map) never becomes a half-empty event: the mapper opens a ``billing.unmappable`` exception
(finance-ops) naming what is missing, and hands nothing on. The exception is refreshed, not
duplicated, when the record is read again, and resolved when a later version maps.
"""

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from accord.connectors.roles import ChangeFeed, Mapped
from accord.domain import Invoice, InvoiceStatus, Payment
from accord.errors import ConfigError, UnsupportedOperationError
from accord.flows import stepkit
from accord.flows.capture import CaptureSpec, canonical_event
from accord.flows.cash.settings import cash_settings
from accord.flows.connections import Connections
from accord.flows.shared.feeds import ConnectionIds, Registrations, feed_spec
from accord.flows.shared.finance import open_exception, resolve_exceptions
from accord.flows.shared.settings import flow_settings, rules_for
from accord.store.journal import NewEvent

__all__ = [
    "FLOW",
    "OVERLAP",
    "cash_specs",
    "enable_cash_capture",
    "invoice_event",
    "unmappable_key",
]

logger = logging.getLogger(__name__)

FLOW = "cash"
"""The flow's name (package, workflow, metrics label, exceptions)."""
OVERLAP = timedelta(seconds=30)
"""How far behind the newest change each sweep re-reads."""

T = TypeVar("T")

_registered = Registrations()
"""Pairs :func:`enable_cash_capture` registered in this process."""


def unmappable_key(connection: str, resource: str, record_id: str) -> str:
    """Dedupe key of the exception about an ERP record Accord cannot place."""
    return f"cash:{connection}:{resource}:{record_id}:unmappable"


def invoice_event(invoice: Invoice) -> list[NewEvent]:
    """``invoice.paid`` for a paid invoice, ``invoice.posted`` for an open one, else nothing."""
    if invoice.status is InvoiceStatus.PAID:
        return [canonical_event("invoice.paid", invoice, subject=invoice.id)]
    if invoice.status in (InvoiceStatus.POSTED, InvoiceStatus.PARTIALLY_PAID):
        return [canonical_event("invoice.posted", invoice, subject=invoice.id)]
    return []


def _placed(connection: str, resource: str, mapped: Mapped[T] | None) -> T | None:
    """The record's canonical object; ``None`` (and an exception) when it cannot be placed."""
    if mapped is None:
        return None
    key = unmappable_key(connection, resource, mapped.record_id)
    business_key = f"{mapped.kind}:{mapped.canonical_id}"
    if mapped.value is None:
        missing = dict(sorted(mapped.missing.items()))
        open_exception(
            code="billing.unmappable",
            title=f"{resource} {mapped.label} on {connection} cannot be placed: "
            + "; ".join(f"{k} {v}" for k, v in missing.items()),
            detail={
                "connection": connection,
                "resource": resource,
                "record_id": mapped.record_id,
                "number": mapped.label,
                "missing": missing,
            },
            business_key=business_key,
            dedupe_key=key,
            flow=FLOW,
        )
        logger.info(
            "%s %s on %s is unmappable: %s", resource, mapped.record_id, connection, list(missing)
        )
        return None
    resolve_exceptions(key, f"the {mapped.kind} maps now", business_key=business_key)
    return mapped.value


def _invoice_events(
    connection: str, resource: str
) -> Callable[[Mapped[Invoice] | None], list[NewEvent]]:
    def to_events(mapped: Mapped[Invoice] | None) -> list[NewEvent]:
        invoice = _placed(connection, resource, mapped)
        return invoice_event(invoice) if invoice is not None else []

    return to_events


def _payment_events(
    connection: str, resource: str
) -> Callable[[Mapped[Payment] | None], list[NewEvent]]:
    def to_events(mapped: Mapped[Payment] | None) -> list[NewEvent]:
        payment = _placed(connection, resource, mapped)
        if payment is None:
            return []
        return [canonical_event("payment.received", payment, subject=payment.id)]

    return to_events


def _payment_feed(connection: str, ids: ConnectionIds) -> ChangeFeed[Mapped[Payment] | None]:
    feed = stepkit.erp(connection).payment_changes(ids)
    if feed is None:
        msg = f"cash capture: {connection} has no payment feed any more"
        raise ConfigError(msg)
    return feed


def cash_specs(
    connection: str, *, interval: timedelta = timedelta(seconds=30)
) -> list[CaptureSpec]:
    """The capture pairs of one ERP connection's invoices and payments.

    Raises:
        UnsupportedOperationError: The connection is not an ERP.
    """
    ids = ConnectionIds(connection)
    erp = stepkit.erp(connection)
    invoices = erp.invoice_changes(ids).name
    specs = [
        feed_spec(
            connection,
            invoices,
            lambda: stepkit.erp(connection).invoice_changes(ids),
            _invoice_events(connection, invoices),
            interval=interval,
            overlap=OVERLAP,
        )
    ]
    payments = erp.payment_changes(ids)
    if payments is not None:
        specs.append(
            feed_spec(
                connection,
                payments.name,
                lambda: _payment_feed(connection, ids),
                _payment_events(connection, payments.name),
                interval=interval,
                overlap=OVERLAP,
            )
        )
    return specs


def _erp_connections(config_file: Path | None, listed: tuple[str, ...] | None) -> list[str]:
    if listed is not None:
        return list(listed)
    entities = rules_for(flow_settings(config_file)).spec.legal_entities.values()
    return sorted({entity.connection for entity in entities})


def enable_cash_capture(connections: Connections, config_file: Path | None) -> bool:
    """Register ERP invoice and payment polling when ``cash.capture_interval_s`` is set.

    Called by ``Services.start`` before capture schedules are applied; returns whether it
    registered anything. Each pair starts polling at the present the first time.
    """
    _registered.clear()
    try:
        settings = cash_settings(config_file)
        if settings.capture_interval_s <= 0:
            return False
        names = set(connections.names())
        wanted = _erp_connections(config_file, settings.erp_connections)
    except ConfigError:
        logger.exception("cash capture not enabled: accord.yaml is invalid")
        return False
    interval = timedelta(seconds=settings.capture_interval_s)
    for connection in wanted:
        if connection not in names:
            continue
        try:
            specs = cash_specs(connection, interval=interval)
        except UnsupportedOperationError:
            logger.warning("cash capture: connection %s is not an ERP", connection)
            continue
        for spec in specs:
            _registered.register(spec, from_now=True)
    return bool(_registered)
