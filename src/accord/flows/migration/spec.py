"""Migrations as the runtime sees them: a schedule, no event type.

Declared here, read by :mod:`accord.flows.registry`.
"""

from accord.flows.registry import FlowSpec

__all__ = ["FLOW"]

FLOW = FlowSpec(
    name="migration",
    module="accord.flows.migration",
    capture=("accord.flows.migration:enable_migration_schedule",),
    compensation="accord.flows.migration.schedule:COMPENSATION",
)
"""The flow's spec."""
