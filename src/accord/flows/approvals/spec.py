"""Approvals as the runtime sees it: capture only.

Approved time and expenses become ``timesheet.approved`` / ``expense.approved`` events, which
time-to-bill's workflow runs; approvals has no workflow of its own.

Declared here, read by :mod:`accord.flows.registry`.
"""

from accord.flows.registry import FlowSpec

__all__ = ["FLOW"]

FLOW = FlowSpec(
    name="approvals",
    capture=("accord.flows.approvals.capture:enable_approval_capture",),
)
"""The flow's spec."""
