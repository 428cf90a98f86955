"""Lead-to-project as the runtime sees it: ``opportunity.won`` runs, opportunity capture.

Declared here, read by :mod:`accord.flows.registry`.
"""

from accord.flows.registry import FlowSpec

__all__ = ["FLOW"]

FLOW = FlowSpec(
    name="lead_to_project",
    module="accord.flows.lead_to_project",
    events=("opportunity.won",),
    capture=("accord.flows.lead_to_project.capture:enable_opportunity_capture",),
    # A migrating entity's customers, project and billing plan also go to its shadow ERP.
    outbox=("accord.flows.shared.shadow_masters:ShadowMasterHandler",),
    compensation="accord.flows.lead_to_project.workflow:COMPENSATION",
)
"""The flow's spec."""
