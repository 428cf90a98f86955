"""Change capture of the CRM's opportunities: a won one becomes ``opportunity.won``.

The CRM role's opportunity feed (:meth:`~accord.connectors.roles.Crm.opportunity_changes`)
is polled; :func:`opportunity_version_events` maps each version it hands on (and
:func:`opportunity_events` does the same for a raw record of the configured CRM).
:func:`register_opportunity_capture` registers the pair (``Services.start`` calls
:func:`enable_opportunity_capture` before capture starts, when the CRM connection is
configured).

What is mapped:

- a deal not closed and won means nothing to this flow (no event);
- a won deal that already says ``Provisioned`` is not provisioned again: if its commercial
  terms differ from the contract's latest version it becomes ``contract.amended``
  (:func:`accord.flows.shared.amendments.amendment_events`); otherwise (the echo of Accord's
  own write-back, a non-commercial edit) it means nothing;
- a won deal that maps becomes one ``opportunity.won`` event, whose id is
  ``<record id>@<version stamp>`` (capture's): fixing the opportunity in the CRM gives it a new
  stamp, hence a new event and a new run.

A won deal that does **not** map (a missing start date, a bad billing model...) cannot become
a canonical event: the event's data must be a valid ``Opportunity``. Rather than journal a
half-empty event, the mapper reports it itself: it opens the sales-ops exception listing every
field the CRM role names and writes ``Needs attention: ...`` back, both idempotent (an
unchanged open exception and an unchanged status are left alone), so the capture step's
retries and the echo of that very write-back do nothing. The exception's dedupe key is the
one the workflow's validation uses, so the run that follows the fix resolves it.
"""

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from accord.connectors.roles import Crm, CrmOpportunity
from accord.connectors.types import RawRecord
from accord.errors import ConfigError
from accord.flows import stepkit
from accord.flows.capture import (
    CaptureSpec,
    canonical_event,
    feed_capture,
    register_capture,
    unregister_capture,
)
from accord.flows.connections import Connections
from accord.flows.lead_to_project import steps
from accord.flows.shared.amendments import amendment_events
from accord.flows.shared.settings import flow_settings, rules_for
from accord.store.journal import NewEvent

__all__ = [
    "enable_opportunity_capture",
    "opportunity_events",
    "opportunity_version_events",
    "register_opportunity_capture",
]

logger = logging.getLogger(__name__)

_registered: set[tuple[str, str]] = set()
"""Pairs this module registered, to unregister when polling is turned off."""


def opportunity_events(record: RawRecord) -> list[NewEvent]:
    """The events one raw opportunity version of the configured CRM means."""
    connection = stepkit.crm_connection()
    change = stepkit.crm(connection).opportunity_changes().canonical(record)
    return opportunity_version_events(change, connection=connection)


def opportunity_version_events(change: CrmOpportunity, *, connection: str) -> list[NewEvent]:
    """The events one opportunity version of CRM ``connection`` means (module docstring)."""
    if not change.won:
        return []
    if change.status == steps.PROVISIONED:
        # Provisioned already: a change of its terms is an amendment (contract change);
        # the echo of Accord's own write-back changes no term and means nothing.
        return amendment_events(change)
    if change.opportunity is None:
        _report_unmappable(change, connection)
        return []
    opportunity = change.opportunity
    return [canonical_event("opportunity.won", opportunity, subject=opportunity.id)]


def _report_unmappable(change: CrmOpportunity, connection: str) -> None:
    problems = dict(change.problems)
    request = steps.ReportRequest(
        opportunity_id=change.id,
        opportunity_sf_id=change.crm_id,
        opportunity_name=change.name,
        # The business key opportunity.won events of this opportunity carry.
        business_key=f"opportunity:{change.id}",
        crm_connection=connection,
        problems=problems,
    )
    steps.open_validation_exception(request)
    if change.crm_id:
        steps.write_status(connection, change.crm_id, steps.needs_attention_status(problems))
    logger.info("opportunity %s needs attention: %d problem(s)", change.crm_id, len(problems))


def _mapper(connection: str) -> Callable[[CrmOpportunity], list[NewEvent]]:
    def to_events(change: CrmOpportunity) -> list[NewEvent]:
        return opportunity_version_events(change, connection=connection)

    return to_events


def register_opportunity_capture(
    crm: Crm,
    *,
    interval: timedelta = timedelta(seconds=5),
    overlap: timedelta = timedelta(seconds=30),
) -> CaptureSpec:
    """Register polling of the CRM's opportunity feed with :func:`opportunity_version_events`."""
    spec = feed_capture(
        crm.connection,
        crm.opportunity_changes(),
        _mapper(crm.connection),
        interval=interval,
        overlap=overlap,
    )
    register_capture(spec)
    _registered.add((spec.connection, spec.resource))
    return spec


def enable_opportunity_capture(connections: Connections, config_file: Path | None) -> bool:
    """Register opportunity polling when the CRM connection is configured and polling is on.

    Called by ``Services.start`` before capture schedules are applied; returns whether it
    registered. Reads ``accord.yaml`` only when the file exists.
    """
    if config_file is None or not config_file.exists():
        return False
    try:
        settings = flow_settings(config_file)
        configured = settings.crm_connection in connections.names()
        crm = (
            connections.connector(settings.crm_connection).as_crm(rules_for(settings))
            if configured and settings.capture_interval_s > 0
            else None
        )
    except ConfigError:
        # A broken accord.yaml must not stop the process here: the API still serves, and
        # whatever uses the connections reports the error where it is needed.
        logger.exception("lead-to-project capture not enabled: accord.yaml is invalid")
        return False
    if crm is None:
        for connection, resource in list(_registered):
            unregister_capture(connection, resource)
            _registered.discard((connection, resource))
        return False
    register_opportunity_capture(crm, interval=timedelta(seconds=settings.capture_interval_s))
    return True
