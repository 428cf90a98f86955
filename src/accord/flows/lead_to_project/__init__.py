"""Lead-to-project: a won opportunity becomes a provisioned, billable project in PSA and ERP.

Modules: :mod:`.steps` (the DBOS steps), :mod:`.workflow` (the durable run) and :mod:`.capture`
(Salesforce opportunities -> ``opportunity.won``). The plan (validation, pure) and the bounded
reads are shared with contract change: :mod:`accord.flows.shared.plan`,
:mod:`accord.flows.shared.reads`. Importing the package registers the workflow.
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
