"""Lead-to-project: a won opportunity becomes a provisioned, billable project in PSA and ERP.

Modules: :mod:`.settings` (the ``lead_to_project:`` section of ``accord.yaml``), :mod:`.plan`
(validation and the provisioning plan, pure), :mod:`.reads` (bounded reads), :mod:`.steps`
(the DBOS steps), :mod:`.workflow` (the durable run) and :mod:`.capture` (Salesforce
opportunities -> ``opportunity.won``). Importing the package registers the workflow.
"""

from accord.flows.lead_to_project.capture import opportunity_events, register_opportunity_capture
from accord.flows.lead_to_project.workflow import WORKFLOW, lead_to_project, retry_from_erp_step

__all__ = [
    "WORKFLOW",
    "lead_to_project",
    "opportunity_events",
    "register_opportunity_capture",
    "retry_from_erp_step",
]
