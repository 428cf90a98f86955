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
    # Its runs hand their postings to the ERP connection's dispatcher (queue.py).
    # A migrating entity's accepted postings also go to its shadow ERP (shadow.py).
    outbox=(
        "accord.flows.time_to_bill.queue:PostingHandler",
        "accord.flows.time_to_bill.shadow:ShadowHandler",
    ),
    # Each approved entry posts by its own idempotency key, so one project's submissions post
    # in parallel: their runs need not wait in the project's partition.
    order_free=frozenset({"timesheet.approved", "expense.approved"}),
    compensation="accord.flows.time_to_bill.workflow:COMPENSATION",
)
"""The flow's spec."""
