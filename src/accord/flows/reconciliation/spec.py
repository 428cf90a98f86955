"""Reconciliation as the runtime sees it: its own workflow and schedule, no event type.

Runs start on a schedule (``enable_reconciliation`` registers it from ``accord.yaml``) or on
demand (``accord reconcile``, ``POST /api/v1/reconciliations``); no event starts one.

Declared here, read by :mod:`accord.flows.registry`.
"""

from accord.flows.registry import FlowSpec

__all__ = ["FLOW"]

FLOW = FlowSpec(
    name="reconciliation",
    module="accord.flows.reconciliation",
    capture=("accord.flows.reconciliation:enable_reconciliation",),
    compensation="accord.flows.reconciliation.workflow:COMPENSATION",
)
"""The flow's spec."""
