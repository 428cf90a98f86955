"""Change capture of Salesforce opportunities: a ``Closed Won`` one becomes ``opportunity.won``.

:func:`opportunity_events` is the ``to_events`` mapper of the ``salesforce``/``Opportunity``
pair; :func:`register_opportunity_capture` registers it (``Services.start`` calls it before
capture starts, when the CRM connection is configured).

What is mapped:

- a record not in ``Closed Won`` means nothing to this flow (no event);
- a won record that already says ``Provisioned`` is not provisioned again: if its commercial
  terms differ from the contract's latest version it becomes ``contract.amended``
  (:func:`accord.flows.shared.amendments.amendment_events`); otherwise (the echo of Accord's
  own write-back, a non-commercial edit) it means nothing;
- a won record that maps becomes one ``opportunity.won`` event, whose id is
  ``<record id>@<SystemModstamp>`` (capture's): fixing the opportunity in Salesforce gives it a
  new ``SystemModstamp``, hence a new event and a new run.

A won record that does **not** map (a missing start date, a bad billing model...) cannot become
a canonical event: the event's data must be a valid ``Opportunity``. Rather than journal a
half-empty event, the mapper reports it itself: it opens the sales-ops exception listing every
field :class:`~accord.connectors.salesforce.records.RecordMappingError` names and writes
``Needs attention: ...`` back, both idempotent (an unchanged open exception and an unchanged
status are left alone), so the capture step's retries and the echo of that very write-back do
nothing. The exception's dedupe key is the one the workflow's validation uses, so the run that
follows the fix resolves it.
"""

import logging
from datetime import timedelta
from pathlib import Path

from accord.connectors.salesforce.mapping import opportunity_to_canonical
from accord.connectors.salesforce.records import RecordMappingError, canonical_id
from accord.connectors.types import RawRecord
from accord.errors import ConfigError
from accord.flows.capture import (
    CaptureSpec,
    canonical_event,
    register_capture,
    unregister_capture,
)
from accord.flows.connections import Connections
from accord.flows.context import flow_context
from accord.flows.lead_to_project import steps
from accord.flows.shared.amendments import amendment_events
from accord.flows.shared.settings import flow_settings
from accord.store.journal import NewEvent

__all__ = [
    "RESOURCE",
    "enable_opportunity_capture",
    "opportunity_events",
    "register_opportunity_capture",
]

logger = logging.getLogger(__name__)

RESOURCE = "Opportunity"
"""The polled Salesforce object."""
WON = "Closed Won"


def opportunity_events(record: RawRecord) -> list[NewEvent]:
    """The events one polled ``Opportunity`` version means (see the module docstring)."""
    if record.get("StageName") != WON:
        return []
    if record.get("Integration_Status__c") == "Provisioned":
        # Provisioned already: a change of its terms is an amendment (contract change);
        # the echo of Accord's own write-back changes no term and means nothing.
        return amendment_events(record)
    try:
        opportunity = opportunity_to_canonical(record)
    except RecordMappingError as exc:
        _report_unmappable(record, dict(exc.problems))
        return []
    return [canonical_event("opportunity.won", opportunity, subject=opportunity.id)]


def _report_unmappable(record: RawRecord, problems: dict[str, str]) -> None:
    sf_id = str(record.get("Id") or "")
    opportunity_id = canonical_id(sf_id, record.get("Accord_Id__c"))
    settings = flow_settings(flow_context().settings.config_file)
    request = steps.ReportRequest(
        opportunity_id=opportunity_id,
        opportunity_sf_id=sf_id,
        opportunity_name=str(record.get("Name") or sf_id),
        # The business key opportunity.won events of this opportunity carry.
        business_key=f"opportunity:{opportunity_id}",
        crm_connection=settings.crm_connection,
        problems=problems,
    )
    steps.open_validation_exception(request)
    if sf_id:
        steps.write_status(settings.crm_connection, sf_id, steps.needs_attention_status(problems))
    logger.info("opportunity %s needs attention: %d problem(s)", sf_id, len(problems))


def register_opportunity_capture(
    connection: str = "salesforce",
    *,
    interval: timedelta = timedelta(seconds=5),
    overlap: timedelta = timedelta(seconds=30),
) -> CaptureSpec:
    """Register polling of the CRM's opportunities with :func:`opportunity_events`."""
    spec = CaptureSpec(
        connection=connection,
        resource=RESOURCE,
        to_events=opportunity_events,
        interval=interval,
        overlap=overlap,
    )
    register_capture(spec)
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
    except ConfigError:
        # A broken accord.yaml must not stop the process here: the API still serves, and
        # whatever uses the connections reports the error where it is needed.
        logger.exception("lead-to-project capture not enabled: accord.yaml is invalid")
        return False
    if settings.capture_interval_s <= 0 or not configured:
        unregister_capture(settings.crm_connection, RESOURCE)
        return False
    register_opportunity_capture(
        settings.crm_connection, interval=timedelta(seconds=settings.capture_interval_s)
    )
    return True
