"""Time-to-bill as the runtime sees it: approved time and expense runs, the hold release.

Declared here, read by :mod:`accord.flows.registry`.
"""

from accord.flows.registry import FlowSpec

__all__ = ["FLOW"]

FLOW = FlowSpec(
    name="time_to_bill",
    module="accord.flows.time_to_bill",
    events=("timesheet.approved", "expense.approved"),
    capture=("accord.flows.time_to_bill.hold:enable_hold_release",),
)
"""The flow's spec."""
