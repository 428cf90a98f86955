"""The flow registry: every package's FlowSpec, the tables built from them, one name per flow."""

import importlib
import inspect

import pytest
from dbos._dbos import _get_or_create_dbos_registry

from accord.domain import EVENT_TYPES
from accord.flows import registry
from accord.flows.registry import FLOW_PACKAGES, FlowSpec
from accord.flows.runtime import BULK_QUEUE, EVENTS_QUEUE, Runtime
from accord.settings import Settings


def test_every_flow_package_declares_its_spec_under_its_own_name() -> None:
    specs = registry.flows()
    assert [s.name for s in specs] == list(FLOW_PACKAGES)
    for spec in specs:
        assert importlib.import_module(f"accord.flows.{spec.name}.spec").FLOW is spec
        assert set(spec.events) <= set(EVENT_TYPES), spec.name


def test_every_named_module_and_function_resolves() -> None:
    for spec in (*registry.flows(), *registry.services()):
        if spec.module is not None:
            assert inspect.ismodule(registry.resolve(spec.module))
        for target in (*spec.capture, *spec.outbox):
            assert callable(registry.resolve(target)), target
        if spec.compensation is not None:
            assert registry.resolve(spec.compensation).flow == spec.name


def test_each_event_type_starts_a_registered_workflow_of_its_flow() -> None:
    for module in registry.modules():
        importlib.import_module(module)
    # DBOS keeps its workflows by name in a process-wide registry (not public API).
    registered = _get_or_create_dbos_registry().workflow_info_map
    for spec in registry.flows():
        for event_type in spec.events:
            workflow = registry.workflow_for(event_type)
            assert workflow in registered, (event_type, workflow)
            assert workflow == spec.name
    assert registry.workflow_for("opportunity.updated") == registry.DEFAULT_WORKFLOW


def test_services_switch_on_after_every_flow_and_subscriptions_last() -> None:
    # Business Central is subscribed to what the flows' capture switches turned on.
    enablers = registry.capture_enablers()
    flows = [t for spec in registry.flows() for t in spec.capture]
    assert list(enablers[: len(flows)]) == flows
    assert enablers[-1] == "accord.flows.subscriptions:enable_subscription_upkeep"
    assert {"accord.flows.retention", "accord.flows.subscriptions"} <= set(registry.modules())
    assert registry.outbox_handlers() == (
        "accord.flows.shared.shadow_masters:ShadowMasterHandler",
        "accord.flows.time_to_bill.queue:PostingHandler",
        "accord.flows.time_to_bill.shadow:ShadowHandler",
    )
    assert registry.order_free() == {"timesheet.approved", "expense.approved"}


def test_a_service_that_claims_an_event_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "SERVICES", (FlowSpec(name="s", module="m", events=("x",)),))
    with pytest.raises(ValueError, match="no flow"):
        registry.services()


def test_a_flow_uses_its_name_for_workflow_metrics_and_exceptions() -> None:
    # WORKFLOW is the workflow name (and the metrics label finish_run counts under); FLOW is the
    # ``flow`` of the flow's exceptions and the prefix of its dedupe keys.
    for spec in registry.flows():
        package = f"accord.flows.{spec.name}"
        for module_name in ("", ".workflow", ".steps", ".common", ".resolve"):
            try:
                module = importlib.import_module(package + module_name)
            except ModuleNotFoundError:
                continue
            for constant in ("FLOW", "WORKFLOW"):
                value = getattr(module, constant, None)
                if isinstance(value, str):
                    assert value == spec.name, (module.__name__, constant, value)


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ((FlowSpec(name="b", module="m"), FlowSpec(name="a")), "use its package name"),
        (
            (FlowSpec(name="a", module="m", events=("x",)), FlowSpec(name="b", events=("x",))),
            "claimed by a and b",
        ),
        (
            (FlowSpec(name="a", module="m", order_free=frozenset({"x"})), FlowSpec(name="b")),
            "not among",
        ),
        ((FlowSpec(name="a", events=("x",)), FlowSpec(name="b")), "names no workflow module"),
        ((FlowSpec(name="a", module="m"), FlowSpec(name="b")), "declares no compensation"),
    ],
)
def test_specs_that_disagree_are_refused(specs: tuple[FlowSpec, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        registry.check(specs, ("a", "b"))


def test_order_free_runs_go_on_the_bulk_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = Runtime(Settings(database_url="sqlite://"), engine=None)  # type: ignore[arg-type]
    monkeypatch.setattr(registry, "order_free", lambda: frozenset({"timesheet.approved"}))

    def options(event_type: str) -> list[dict[str, str]]:
        return [
            runtime.enqueue_options(event_type=event_type, run_id=f"r{n}", business_key="k")
            for n in range(40)
        ]

    # 40 runs of one business key: ordered runs wait in the key's bucket of the events queue,
    # order-free ones go on the bulk queue, unpartitioned (they never hold an events slot).
    ordered = options("contract.amended")
    assert {o["queue_name"] for o in ordered} == {EVENTS_QUEUE}
    assert len({o["queue_partition_key"] for o in ordered}) == 1
    free = options("timesheet.approved")
    assert {o["queue_name"] for o in free} == {BULK_QUEUE}
    assert all("queue_partition_key" not in o for o in free)
