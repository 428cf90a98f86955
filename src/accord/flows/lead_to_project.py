"""Lead-to-project, the first business flow; it lives in :mod:`accord.flows.provisioning`.

This module is the stable import path the runtime registers ``opportunity.won`` with.
"""

from accord.flows.provisioning import (
    WORKFLOW,
    lead_to_project,
    opportunity_events,
    register_opportunity_capture,
    retry_from_erp_step,
)

__all__ = [
    "WORKFLOW",
    "lead_to_project",
    "opportunity_events",
    "register_opportunity_capture",
    "retry_from_erp_step",
]
