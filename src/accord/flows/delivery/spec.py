"""Delivery as the runtime sees it: status, field, task, people and vendor-cost runs.

Declared here, read by :mod:`accord.flows.registry`.
"""

from accord.flows.registry import FlowSpec

__all__ = ["FLOW"]

FLOW = FlowSpec(
    name="delivery",
    module="accord.flows.delivery.workflow",
    # accord.flows.delivery.workflow.EVENTS lists the same (a unit test holds them equal):
    # the spec names no module's attribute, so that reading it imports no flow.
    events=(
        "project.status_changed",
        "project.activated",
        "project.fields_changed",
        "task.upserted",
        "assignment.upserted",
        "vendor_expense.approved",
        "vendor_bill.posted",
    ),
    capture=(
        "accord.flows.delivery.capture:enable_delivery_capture",
        # Re-runs what waited for a project's ERP project once it has one (waiting.py).
        "accord.flows.delivery.waiting:enable_release",
    ),
    compensation="accord.flows.delivery.workflow:COMPENSATION",
)
"""The flow's spec."""
