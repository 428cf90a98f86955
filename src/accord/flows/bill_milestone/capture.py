"""Change capture of PSA milestones: a completed milestone becomes ``milestone.completed``.

The polled pair (registered by :func:`enable_milestone_capture` when ``milestones:`` turns
polling on) is the completed-milestones feed
(:meth:`~accord.connectors.roles.Psa.completed_milestones`) of the PSA lead-to-project
provisions in. Which records it reads and when a milestone counts as completed is the PSA
role's business.

Every version of a completed milestone is an event (capture's id is ``<record id>@<stamp>``):
re-opened and completed again, or touched after completion, it is seen again, and the billing
workflow bills nothing the second time. A completed milestone Accord cannot place (a record it
did not create, a project it did not provision) opens a ``billing.unmappable`` exception
(finance-ops) naming what is missing instead of becoming a half-empty event.
"""

import logging
from datetime import timedelta
from pathlib import Path

from accord.connectors.roles import Mapped
from accord.domain import Milestone
from accord.errors import ConfigError, UnsupportedOperationError
from accord.flows import stepkit
from accord.flows.bill_milestone.settings import milestone_settings
from accord.flows.bill_milestone.steps import FLOW
from accord.flows.capture import CaptureSpec, canonical_event
from accord.flows.connections import Connections
from accord.flows.shared.feeds import ConnectionIds, Registrations, feed_spec
from accord.flows.shared.finance import open_exception
from accord.flows.shared.settings import flow_settings, rules_for
from accord.store.journal import NewEvent

__all__ = ["enable_milestone_capture", "milestone_events", "milestone_spec"]

logger = logging.getLogger(__name__)

_registered = Registrations()
"""Pairs :func:`enable_milestone_capture` registered in this process."""


def _unmappable(connection: str, resource: str, mapped: Mapped[Milestone]) -> None:
    missing = "; ".join(mapped.missing.values())
    open_exception(
        code="billing.unmappable",
        title=f"Completed milestone {mapped.label} on {connection} cannot be billed: {missing}",
        detail={
            "connection": connection,
            "resource": resource,
            "record_id": mapped.record_id,
            "missing": missing,
        },
        business_key=f"milestone:{connection}:{mapped.record_id}",
        dedupe_key=f"milestones:{connection}:{mapped.record_id}:unmappable",
        flow=FLOW,
    )


def milestone_events(
    connection: str, resource: str, mapped: Mapped[Milestone] | None
) -> list[NewEvent]:
    """The events of one polled milestone version (see the module docstring)."""
    if mapped is None:
        return []
    if mapped.value is None:
        _unmappable(connection, resource, mapped)
        return []
    milestone = mapped.value
    return [canonical_event("milestone.completed", milestone, subject=milestone.id)]


def milestone_spec(connection: str, *, interval: timedelta = timedelta(seconds=15)) -> CaptureSpec:
    """The capture pair of a PSA connection's completed milestones.

    Raises:
        UnsupportedOperationError: The connection is not a PSA.
    """
    ids = ConnectionIds(connection)
    name = stepkit.psa(connection).completed_milestones(ids).name
    return feed_spec(
        connection,
        name,
        lambda: stepkit.psa(connection).completed_milestones(ids),
        lambda mapped: milestone_events(connection, name, mapped),
        interval=interval,
        overlap=timedelta(seconds=30),
    )


def enable_milestone_capture(connections: Connections, config_file: Path | None) -> bool:
    """Register PSA milestone polling when ``milestones.capture_interval_s`` is set.

    The PSA is lead-to-project's (configuration, else the rules). Called by
    ``Services.start`` before capture schedules are applied; returns whether it registered.
    """
    _registered.clear()
    try:
        settings = milestone_settings(config_file)
        if settings.capture_interval_s <= 0 or config_file is None:
            return False
        l2p = flow_settings(config_file)
        _, connection = l2p.psa(rules_for(l2p))
        if connection not in connections.names():
            return False
        spec = milestone_spec(connection, interval=timedelta(seconds=settings.capture_interval_s))
    except ConfigError:
        logger.exception("milestone capture not enabled: accord.yaml is invalid")
        return False
    except UnsupportedOperationError:
        logger.warning("milestone capture not enabled: the PSA connection is not a PSA")
        return False
    _registered.register(spec, from_now=True)
    return True
