"""Contract change: amendments made in the CRM after provisioning reach the PSA and the ERP.

Modules: :mod:`.versions` (contract versions: where they live, terms, diffs), :mod:`.capture`
(a provisioned opportunity whose terms changed -> ``contract.amended``) and :mod:`.workflow`
(the durable run per version). Importing the package registers the workflow.
"""

from accord.flows.contract_change.capture import amendment_events
from accord.flows.contract_change.workflow import WORKFLOW, contract_change

__all__ = ["WORKFLOW", "amendment_events", "contract_change"]
