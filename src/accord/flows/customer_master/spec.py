"""Customer master as the runtime sees it: ``customer.upserted`` runs, account capture.

Declared here, read by :mod:`accord.flows.registry`.
"""

from accord.flows.registry import FlowSpec

__all__ = ["FLOW"]

FLOW = FlowSpec(
    name="customer_master",
    module="accord.flows.customer_master",
    events=("customer.upserted",),
    capture=("accord.flows.customer_master.capture:enable_customer_capture",),
    compensation="accord.flows.customer_master.compensation:COMPENSATION",
)
"""The flow's spec."""
