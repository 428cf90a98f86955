"""Change capture for customer master: CRM accounts become events, ERP customers are checked.

- ``salesforce``/``Account``: :func:`account_events` maps each polled version to one
  ``customer.upserted`` event (business key ``customer:<id>``, so one customer's versions run
  in order). An account that does not map (no legal entity, no billing address...) is skipped:
  it cannot be a canonical customer, and lead-to-project reports such accounts when a deal
  needs them. Echoes of Accord's own writes are recognised by the workflow (an unchanged
  fingerprint of the CRM-owned fields), not here.
- ``netsuite``/``customer`` and ``business-central``/``customers`` (every ERP connection the
  rules' legal entities use): :func:`erp_customer_events` runs the drift check of each polled
  version (:mod:`.drift`) and hands on no event: drift is not a business event of its own.

:func:`enable_customer_capture` registers the pairs (``Services.start`` calls it).
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from accord.connectors.salesforce.mapping import account_to_customer
from accord.connectors.salesforce.records import RecordMappingError
from accord.connectors.types import RawRecord
from accord.errors import ConfigError, MappingError
from accord.flows.capture import (
    CaptureSpec,
    canonical_event,
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
    "ACCOUNT",
    "DEFAULT_INTERVAL_S",
    "ERP_RESOURCES",
    "account_events",
    "enable_customer_capture",
    "erp_customer_events",
]

logger = logging.getLogger(__name__)

ACCOUNT = "Account"
"""The polled Salesforce object."""
ERP_RESOURCES = {"netsuite": "customer", "business_central": "customers"}
"""ERP system -> the polled customer resource."""
DEFAULT_INTERVAL_S = 30
"""Seconds between polls when ``customer_master.capture_interval_s`` is not set."""


def account_events(record: RawRecord) -> list[NewEvent]:
    """The ``customer.upserted`` event of one polled ``Account`` version (none if unmappable)."""
    try:
        customer = account_to_customer(record)
    except RecordMappingError as exc:
        logger.info(
            "account %s skipped: %d unmappable field(s)", record.get("Id"), len(exc.problems)
        )
        return []
    return [canonical_event("customer.upserted", customer, subject=customer.id)]


def erp_customer_events(erp: str, connection: str) -> Callable[[RawRecord], list[NewEvent]]:
    """The ``to_events`` of an ERP customer pair: the drift check, and never an event."""

    def to_events(record: RawRecord) -> list[NewEvent]:
        try:
            outcome = check_erp_customer(erp, connection, record)
        except MappingError:
            logger.exception("%s customer %s: drift check failed", connection, record.get("id"))
            return []
        if outcome not in {"unknown", "ours", "in_accord"}:
            logger.info("%s customer %s: %s", connection, record.get("id"), outcome)
        return []

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


def _erp_pairs(config_file: Path) -> list[tuple[str, str, str]]:
    """(erp, connection, resource) of every ERP connection the rules' legal entities use."""
    rules = rules_for(flow_settings(config_file))
    pairs = {
        (spec.erp.value, spec.connection, ERP_RESOURCES[spec.erp.value])
        for spec in rules.spec.legal_entities.values()
    }
    return sorted(pairs)


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
        crm = lead.crm_connection
        seconds = settings.capture_interval_s
        if seconds is None:
            # Master data changes rarely: poll less often than deals, and not at all when
            # lead-to-project's polling is off (a deployment driving capture itself).
            seconds = DEFAULT_INTERVAL_S if lead.capture_interval_s > 0 else 0
        names = set(connections.names())
        erp_pairs = [p for p in _erp_pairs(config_file) if p[1] in names]
    except ConfigError:
        logger.exception("customer master capture not enabled: accord.yaml is invalid")
        return False
    on = seconds > 0 and crm in names
    if not on:
        unregister_capture(crm, ACCOUNT)
        for _, connection, resource in erp_pairs:
            unregister_capture(connection, resource)
        return False
    interval = timedelta(seconds=seconds)
    for connection, resource in [(crm, ACCOUNT), *((c, r) for _, c, r in erp_pairs)]:
        _start_at_now(connections.engine, connection, resource)
    register_capture(
        CaptureSpec(
            connection=crm,
            resource=ACCOUNT,
            to_events=account_events,
            interval=interval,
            overlap=timedelta(seconds=30),
        )
    )
    for erp, connection, resource in erp_pairs:
        register_capture(
            CaptureSpec(
                connection=connection,
                resource=resource,
                to_events=erp_customer_events(erp, connection),
                interval=interval,
                overlap=timedelta(seconds=30),
            )
        )
    return True
