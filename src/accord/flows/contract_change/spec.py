"""Contract change as the runtime sees it: ``contract.amended`` runs.

Its events come from lead-to-project's opportunity capture (a provisioned opportunity whose
terms changed, :mod:`accord.flows.shared.amendments`), so it has no capture switch of its own.

Declared here, read by :mod:`accord.flows.registry`.
"""

from accord.flows.registry import FlowSpec

__all__ = ["FLOW"]

FLOW = FlowSpec(
    name="contract_change",
    module="accord.flows.contract_change",
    events=("contract.amended",),
    compensation="accord.flows.contract_change.workflow:COMPENSATION",
)
"""The flow's spec."""
