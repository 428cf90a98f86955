"""Lead-to-project: a won opportunity becomes a provisioned, billable project in PSA and ERP.

Modules: :mod:`.plan` (validation and the provisioning plan, pure), :mod:`.steps` (the DBOS
steps), :mod:`.erp` and :mod:`.billing` (the ERP project and its billing schedule),
:mod:`.finish` (compensation and write-back), :mod:`.workflow` (the durable run) and
:mod:`.capture` (CRM opportunities -> ``opportunity.won``). The flow's settings are in
:mod:`accord.flows.shared.settings`. Every system is reached through its role
(:mod:`accord.connectors.roles`). Importing the package registers the workflow.
"""

from accord.flows.lead_to_project.capture import (
    opportunity_events,
    opportunity_version_events,
    register_opportunity_capture,
)
from accord.flows.lead_to_project.workflow import WORKFLOW, lead_to_project, retry_from_erp_step

__all__ = [
    "WORKFLOW",
    "lead_to_project",
    "opportunity_events",
    "opportunity_version_events",
    "register_opportunity_capture",
    "retry_from_erp_step",
]
