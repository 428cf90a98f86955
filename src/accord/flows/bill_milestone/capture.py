"""Change capture of PSA milestones: a completed milestone becomes ``milestone.completed``.

Polled pairs (registered by :func:`enable_milestone_capture` when ``milestones:`` turns polling
on, for the PSA lead-to-project provisions in):

- Kantata ``stories`` of ``story_type`` ``milestone`` whose ``state`` is ``completed``; the
  milestone's canonical id is the external reference lead-to-project gave the story
  (``<project id>-M<n>``), its amount the story's budget estimate, its currency the
  workspace's;
- Certinia ``pse__Milestone__c`` approved (``pse__Status__c = 'Approved'`` or
  ``pse__Approved__c``) and not yet invoiced.

Every version of a completed milestone is an event (capture's id is ``<record id>@<stamp>``):
re-opened and completed again, or touched after completion, it is seen again, and the billing
workflow bills nothing the second time. A completed milestone Accord cannot place (a story it
did not create, a project it did not provision) opens a ``billing.unmappable`` exception
(finance-ops) naming what is missing instead of becoming a half-empty event.
"""

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from accord.connectors.certinia.mapping import milestone_to_canonical as certinia_milestone
from accord.connectors.kantata.mapping import KantataLookups
from accord.connectors.kantata.mapping import milestone_to_canonical as kantata_milestone
from accord.connectors.salesforce.records import RecordMappingError
from accord.connectors.types import RawRecord
from accord.domain import MilestoneStatus
from accord.errors import ConfigError, MappingError
from accord.flows import stepkit
from accord.flows.bill_milestone.steps import FLOW
from accord.flows.capture import (
    CaptureSpec,
    EventMapper,
    canonical_event,
    register_capture,
    unregister_capture,
)
from accord.flows.cash import common
from accord.flows.cash.settings import milestone_settings
from accord.flows.connections import Connections
from accord.flows.shared.settings import flow_settings, rules_for
from accord.store.journal import NewEvent

__all__ = [
    "CERTINIA_RESOURCE",
    "KANTATA_RESOURCE",
    "certinia_milestone_events",
    "enable_milestone_capture",
    "kantata_milestone_events",
]

logger = logging.getLogger(__name__)

KANTATA_RESOURCE = "stories"
CERTINIA_RESOURCE = "pse__Milestone__c"


def _unmappable(connection: str, resource: str, record: RawRecord, missing: str) -> None:
    record_id = str(record.get("id") or record.get("Id") or "")
    name = record.get("title") or record.get("Name") or record_id
    common.open_exception(
        code="billing.unmappable",
        title=f"Completed milestone {name} on {connection} cannot be billed: {missing}",
        detail={
            "connection": connection,
            "resource": resource,
            "record_id": record_id,
            "missing": missing,
        },
        business_key=f"milestone:{connection}:{record_id}",
        dedupe_key=f"milestones:{connection}:{record_id}:unmappable",
        flow=FLOW,
    )


def kantata_milestone_events(connection: str, record: RawRecord) -> list[NewEvent]:
    """The events of one polled Kantata story version (see the module docstring)."""
    if record.get("story_type") != "milestone" or record.get("state") != "completed":
        return []
    connector: Any = stepkit.connections().connector(connection)
    key = next(
        (
            str(ref.get("service_model_ref"))
            for ref in record.get("external_references") or ()
            if isinstance(ref, dict)
            and ref.get("service_name") == connector.config.service_name
            and ref.get("service_model") == "milestone"
        ),
        None,
    )
    workspace = str(record.get("workspace_id") or "")
    project = stepkit.canonical_of("psa_project", connection, workspace) if workspace else None
    if key is None or project is None:
        missing = "the milestone key (external reference)" if key is None else "the project"
        _unmappable(connection, KANTATA_RESOURCE, record, f"Accord does not know {missing}")
        return []
    currency = str(connector.get("workspaces", workspace).get("currency") or "")
    lookups = KantataLookups(
        records={"stories": {key: str(record["id"])}, "workspaces": {project: workspace}}
    )
    try:
        milestone = kantata_milestone(record, lookups=lookups, currency=currency)
    except MappingError as exc:
        _unmappable(connection, KANTATA_RESOURCE, record, str(exc))
        return []
    return [canonical_event("milestone.completed", milestone, subject=milestone.id)]


def certinia_milestone_events(connection: str, record: RawRecord) -> list[NewEvent]:
    """The events of one polled ``pse__Milestone__c`` version (approved, not invoiced)."""
    try:
        milestone = certinia_milestone(record)
    except (RecordMappingError, MappingError) as exc:
        if record.get("pse__Status__c") == "Approved" or record.get("pse__Approved__c"):
            _unmappable(connection, CERTINIA_RESOURCE, record, str(exc))
        return []
    if milestone.status is not MilestoneStatus.COMPLETED:
        return []
    return [canonical_event("milestone.completed", milestone, subject=milestone.id)]


def _mapper(system: str, connection: str) -> EventMapper:
    if system == "kantata":
        return lambda record: kantata_milestone_events(connection, record)
    return lambda record: certinia_milestone_events(connection, record)


def enable_milestone_capture(connections: Connections, config_file: Path | None) -> bool:
    """Register PSA milestone polling when ``milestones.capture_interval_s`` is set.

    The PSA is lead-to-project's (configuration, else the rules). Called by
    ``Services.start`` before capture schedules are applied; returns whether it registered.
    """
    try:
        settings = milestone_settings(config_file)
        if settings.capture_interval_s <= 0 or config_file is None:
            return False
        l2p = flow_settings(config_file)
        system, connection = l2p.psa(rules_for(l2p))
        configured = connection in connections.names()
    except ConfigError:
        logger.exception("milestone capture not enabled: accord.yaml is invalid")
        return False
    resource = KANTATA_RESOURCE if system == "kantata" else CERTINIA_RESOURCE
    if not configured:
        unregister_capture(connection, resource)
        return False
    common.start_cursor_at_now(connection, resource)
    register_capture(
        CaptureSpec(
            connection=connection,
            resource=resource,
            to_events=_mapper(system, connection),
            interval=timedelta(seconds=settings.capture_interval_s),
            overlap=timedelta(seconds=30),
        )
    )
    return True
