"""Registering the capture of approvals: which pairs are polled for the configured PSA.

``Services.start`` calls :func:`enable_approval_capture` (named by its flow spec)
before capture starts. It reads the ``approvals:`` section (:mod:`.settings`) and registers:

- Kantata: one pair, ``<connection>/approvals``, reading the ``/subscribed_events`` feed;
- Certinia: two pairs, ``<connection>/pse__Timecard_Header__c`` and
  ``<connection>/pse__Expense__c``, reading approved records.

``capture_interval_s: 0`` (or a PSA connection that is not configured) unregisters them.
"""

import logging
from datetime import timedelta
from pathlib import Path

from accord.errors import ConfigError
from accord.flows.approvals import certinia, kantata
from accord.flows.approvals.settings import ApprovalSettings, approval_settings
from accord.flows.capture import CaptureSpec, register_capture, unregister_capture
from accord.flows.connections import Connections

__all__ = ["OVERLAP", "approval_specs", "enable_approval_capture", "register_approval_capture"]

logger = logging.getLogger(__name__)

OVERLAP = timedelta(seconds=30)
"""How far behind the newest change each sweep re-reads (late or re-delivered events)."""


def approval_specs(
    system: str, connection: str, *, interval: timedelta = timedelta(seconds=5)
) -> list[CaptureSpec]:
    """The capture pairs that read a PSA's approvals.

    Raises:
        ConfigError: ``system`` is not a PSA Accord reads approvals from.
    """
    if system == "kantata":
        return [
            CaptureSpec(
                connection=connection,
                resource=kantata.FEED,
                to_events=kantata.approval_mapper(connection),
                interval=interval,
                overlap=OVERLAP,
                read=kantata.feed_reader(connection),
                describe=kantata.describe_event,
            )
        ]
    if system == "certinia":
        return [
            CaptureSpec(
                connection=connection,
                resource=certinia.TIMECARDS,
                to_events=certinia.timecard_mapper(connection),
                interval=interval,
                overlap=OVERLAP,
            ),
            CaptureSpec(
                connection=connection,
                resource=certinia.EXPENSES,
                to_events=certinia.expense_mapper(connection),
                interval=interval,
                overlap=OVERLAP,
            ),
        ]
    msg = f"approvals: no capture of approvals from {system!r}"
    raise ConfigError(msg)


def register_approval_capture(settings: ApprovalSettings) -> list[CaptureSpec]:
    """Register the pairs of ``settings``' PSA; returns them."""
    specs = approval_specs(
        settings.psa_system,
        settings.psa_connection,
        interval=timedelta(seconds=max(1, settings.capture_interval_s)),
    )
    for spec in specs:
        register_capture(spec)
    return specs


def _unregister(settings: ApprovalSettings) -> None:
    for spec in approval_specs(settings.psa_system, settings.psa_connection):
        unregister_capture(spec.connection, spec.resource)


def enable_approval_capture(connections: Connections, config_file: Path | None) -> bool:
    """Register approval polling when the PSA connection is configured and polling is on.

    Returns whether it registered. A broken ``accord.yaml`` is logged, not raised: the API
    still serves, and what uses the connections reports the error where it is needed.
    """
    if config_file is None or not config_file.exists():
        return False
    try:
        settings = approval_settings(config_file)
        configured = settings.psa_connection in connections.names()
    except ConfigError as exc:
        # Without a readable PSA choice there is nothing to poll; no traceback for that.
        logger.warning("approvals capture not enabled: %s", exc)
        return False
    if settings.capture_interval_s <= 0 or not configured:
        _unregister(settings)
        return False
    register_approval_capture(settings)
    return True
