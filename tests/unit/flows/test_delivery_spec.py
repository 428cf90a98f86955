"""Delivery's spec claims exactly the event types its workflow has a scenario for."""

from accord.flows import registry
from accord.flows.delivery.spec import FLOW
from accord.flows.delivery.workflow import EVENTS, SCENARIOS, WORKFLOW


def test_the_spec_claims_what_the_workflow_handles() -> None:
    assert FLOW.events == EVENTS
    assert WORKFLOW == FLOW.name == "delivery"
    assert all(registry.workflow_for(t) == "delivery" for t in SCENARIOS)
    assert "accord.flows.delivery.capture:enable_delivery_capture" in registry.capture_enablers()
