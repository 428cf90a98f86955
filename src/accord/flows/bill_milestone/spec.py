"""Milestone billing as the runtime sees it: ``milestone.completed`` runs, milestone capture.

Declared here, read by :mod:`accord.flows.registry`.
"""

from accord.flows.registry import FlowSpec

__all__ = ["FLOW"]

FLOW = FlowSpec(
    name="bill_milestone",
    module="accord.flows.bill_milestone.workflow",
    events=("milestone.completed",),
    capture=("accord.flows.bill_milestone.capture:enable_milestone_capture",),
    compensation="accord.flows.bill_milestone.workflow:COMPENSATION",
)
"""The flow's spec."""
