"""Change capture for customer master: CRM accounts become events, ERP customers are checked.

- The CRM's account feed (:meth:`~accord.connectors.roles.Crm.account_changes`):
  :func:`account_version_events` maps each version to one ``customer.upserted`` event
  (business key ``customer:<id>``, so one customer's versions run in order). An account that
  does not map (no legal entity, no billing address...) is skipped: it cannot be a canonical
  customer, and lead-to-project reports such accounts when a deal needs them. Echoes of
  Accord's own writes are recognised by the workflow (an unchanged fingerprint of the
  CRM-owned fields), not here.
- The customer feed of every ERP connection the rules' legal entities use
  (:meth:`~accord.connectors.roles.Erp.customer_changes`): :func:`erp_customer_events` runs the
  drift check of each version (:mod:`.drift`) and hands on no event: drift is not a business
  event of its own.

:func:`enable_customer_capture` registers the pairs (``Services.start`` calls it).
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from accord.connectors.roles import CrmAccount, ErpCustomerChange
from accord.connectors.types import RawRecord
from accord.errors import ConfigError, MappingError
from accord.flows import stepkit
from accord.flows.capture import (
    CaptureSpec,
    canonical_event,
    feed_capture,
    register_capture,
    unregister_capture,
)
from accord.flows.connections import Connections
from accord.flows.customer_master.drift import check_erp_customer
from accord.flows.customer_master.settings import customer_master_settings
from accord.flows.shared.settings import flow_settings, rules_for
from accord.store import cursors
from accord.store.cursors import CursorState
from accord.store.journal import NewEvent

__all__ = [
    "DEFAULT_INTERVAL_S",
    "account_events",
    "account_version_events",
    "enable_customer_capture",
    "erp_customer_events",
    "erp_customer_version_events",
]

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 30
"""Seconds between polls when ``customer_master.capture_interval_s`` is not set."""
_OVERLAP = timedelta(seconds=30)

_registered: set[tuple[str, str]] = set()
"""Pairs this module registered, to unregister when polling is turned off."""


def account_version_events(account: CrmAccount) -> list[NewEvent]:
    """The ``customer.upserted`` event of one account version (none if it does not map)."""
    customer = account.customer
    if customer is None:
        logger.info(
            "account %s skipped: %d unmappable field(s)", account.crm_id, len(account.problems)
        )
        return []
    return [canonical_event("customer.upserted", customer, subject=customer.id)]


def account_events(record: RawRecord) -> list[NewEvent]:
    """:func:`account_version_events` of a raw account of the configured CRM."""
    crm = stepkit.crm(stepkit.crm_connection())
    return account_version_events(crm.account_changes().canonical(record))


def erp_customer_version_events(
    erp: str, connection: str
) -> Callable[[ErpCustomerChange], list[NewEvent]]:
    """The mapper of an ERP customer feed: the drift check, and never an event."""

    def to_events(change: ErpCustomerChange) -> list[NewEvent]:
        try:
            outcome = check_erp_customer(erp, connection, change)
        except MappingError:
            logger.exception("%s customer %s: drift check failed", connection, change.erp_id)
            return []
        if outcome not in {"unknown", "ours", "in_accord"}:
            logger.info("%s customer %s: %s", connection, change.erp_id, outcome)
        return []

    return to_events


def erp_customer_events(erp: str, connection: str) -> Callable[[RawRecord], list[NewEvent]]:
    """:func:`erp_customer_version_events` over raw records of ERP ``connection``'s feed."""
    mapper = erp_customer_version_events(erp, connection)

    def to_events(record: RawRecord) -> list[NewEvent]:
        return mapper(stepkit.erp(connection).customer_changes().canonical(record))

    return to_events


def _start_at_now(engine: sa.Engine, connection: str, resource: str) -> None:
    """Start a never-polled pair at the present: existing records are history, not changes."""
    with engine.begin() as conn:
        state = cursors.get(conn, connection=connection, resource=resource)
        if state.updated_at is not None or state.high_watermark is not None:
            return
        cursors.save(
            conn,
            CursorState(connection=connection, resource=resource, high_watermark=datetime.now(UTC)),
        )


def _erp_connections(config_file: Path) -> list[tuple[str, str]]:
    """(ERP system, connection) of every ERP connection the rules' legal entities use."""
    rules = rules_for(flow_settings(config_file))
    return sorted(
        {(spec.erp.value, spec.connection) for spec in rules.spec.legal_entities.values()}
    )


def _unregister() -> None:
    for connection, resource in list(_registered):
        unregister_capture(connection, resource)
        _registered.discard((connection, resource))


def enable_customer_capture(connections: Connections, config_file: Path | None) -> bool:
    """Register account and ERP customer polling when configured; returns whether it did.

    Called by ``Services.start`` before capture schedules are applied. ``capture_interval_s:
    0`` in ``customer_master:`` (or a missing CRM connection) unregisters the pairs.
    """
    if config_file is None or not config_file.exists():
        return False
    try:
        settings = customer_master_settings(config_file)
        lead = flow_settings(config_file)
        crm_name = lead.crm_connection
        seconds = settings.capture_interval_s
        if seconds is None:
            # Master data changes rarely: poll less often than deals, and not at all when
            # lead-to-project's polling is off (a deployment driving capture itself).
            seconds = DEFAULT_INTERVAL_S if lead.capture_interval_s > 0 else 0
        names = set(connections.names())
        erps = [pair for pair in _erp_connections(config_file) if pair[1] in names]
        on = seconds > 0 and crm_name in names
        specs: list[CaptureSpec] = []
        if on:
            interval = timedelta(seconds=seconds)
            rules = rules_for(lead)
            crm = connections.connector(crm_name).as_crm(rules)
            specs.append(
                feed_capture(
                    crm_name,
                    crm.account_changes(),
                    account_version_events,
                    interval=interval,
                    overlap=_OVERLAP,
                )
            )
            for system, name in erps:
                erp = connections.connector(name).as_erp(rules)
                specs.append(
                    feed_capture(
                        name,
                        erp.customer_changes(),
                        erp_customer_version_events(system, name),
                        interval=interval,
                        overlap=_OVERLAP,
                    )
                )
    except ConfigError:
        logger.exception("customer master capture not enabled: accord.yaml is invalid")
        return False
    _unregister()
    if not on:
        return False
    for spec in specs:
        _start_at_now(connections.engine, spec.connection, spec.resource)
    for spec in specs:
        register_capture(spec)
        _registered.add((spec.connection, spec.resource))
    return True
