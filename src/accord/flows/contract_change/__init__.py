"""Contract change: amendments made in the CRM after provisioning reach the PSA and the ERP.

Modules: :mod:`.workflow` (the durable run per version). Importing the package registers the
workflow. Lead-to-project shares the rest, so it lives in :mod:`accord.flows.shared`:
:mod:`~accord.flows.shared.contracts` (contract versions: where they live, terms, diffs) and
:mod:`~accord.flows.shared.amendments` (a provisioned opportunity whose terms changed ->
``contract.amended``, called by lead-to-project's opportunity capture).
"""

from accord.flows.contract_change.workflow import WORKFLOW, contract_change

__all__ = ["WORKFLOW", "contract_change"]
