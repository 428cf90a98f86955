"""Cash as the runtime sees it: invoice and payment runs, ERP invoice and payment capture.

Declared here, read by :mod:`accord.flows.registry`.
"""

from accord.flows.registry import FlowSpec

__all__ = ["FLOW"]

FLOW = FlowSpec(
    name="cash",
    module="accord.flows.cash.workflow",
    events=("invoice.posted", "invoice.paid", "payment.received"),
    capture=("accord.flows.cash.capture:enable_cash_capture",),
    compensation="accord.flows.cash.workflow:COMPENSATION",
)
"""The flow's spec."""
