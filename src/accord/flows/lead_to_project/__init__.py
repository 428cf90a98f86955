"""Lead-to-project: a won opportunity becomes a provisioned, billable project in PSA and ERP.

Modules: :mod:`.steps` (the DBOS steps), :mod:`.finish` (compensation and write-back),
:mod:`.workflow` (the durable run) and :mod:`.capture` (CRM opportunities ->
``opportunity.won``). The plan (validation, pure), the ERP project and its billing schedule and
ERP customers are shared with contract change and customer master: :mod:`accord.flows.shared`
(``plan``, ``erp_project``, ``billing``, ``customers``; the flow's settings in ``settings``).
Every system is reached through its role (:mod:`accord.connectors.roles`). Importing the
package registers the workflow.
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
