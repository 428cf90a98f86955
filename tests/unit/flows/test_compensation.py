"""Every multi-system flow declares what undoes or holds each of its steps, and keeps to it."""

import ast
import importlib
from pathlib import Path

import pytest

import accord.flows
from accord.flows import registry
from accord.flows.shared.compensation import Saga, SagaStep, Undo

FLOWS_DIR = Path(accord.flows.__file__).parent


def _is_step(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "step"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "DBOS"
    )


def _steps_defined(module_name: str) -> dict[str, str]:
    """Function name -> DBOS step name, for every ``@DBOS.step(name=...)`` of one module."""
    module = importlib.import_module(module_name)
    path = Path(module.__file__ or "")
    found: dict[str, str] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if not _is_step(decorator):
                continue
            assert isinstance(decorator, ast.Call)
            (name,) = [k.value for k in decorator.keywords if k.arg == "name"]
            if isinstance(name, ast.Constant):
                found[node.name] = str(name.value)
            else:
                assert isinstance(name, ast.Name), ast.dump(name)
                found[node.name] = str(getattr(module, name.id))
    return found


def _step_names(package: str) -> set[str]:
    """The DBOS steps a flow package runs: its own, and those it imports from flows.shared."""
    names: set[str] = set()
    for path in sorted((FLOWS_DIR / package).glob("*.py")):
        names |= set(_steps_defined(f"accord.flows.{package}.{path.stem}").values())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "accord.flows.shared."
            ):
                shared = _steps_defined(str(node.module))
                names |= {shared[a.name] for a in node.names if a.name in shared}
    return names


def test_every_flow_with_a_workflow_declares_its_compensation() -> None:
    sagas = registry.compensations()
    with_workflow = {s.name for s in registry.flows() if s.module is not None}
    assert set(sagas) == with_workflow
    # Approvals only captures (time-to-bill runs its events): nothing to compensate.
    assert set(registry.FLOW_PACKAGES) - with_workflow == {"approvals"}


@pytest.mark.parametrize("package", sorted(registry.compensations()))
def test_every_step_of_the_flow_is_declared(package: str) -> None:
    saga = registry.compensations()[package]
    assert isinstance(saga, Saga)
    declared = {s.name for s in saga.steps}
    assert declared == _step_names(package)
    # Each compensation is a step of the flow itself, and is declared too.
    assert saga.compensating_steps <= declared
    for step in saga.steps:
        assert step.note, f"{step.name}: say why"


def test_the_docs_show_the_declarations() -> None:
    doc = (Path(__file__).parents[3] / "docs" / "flows" / "compensation.md").read_text()
    for package, saga in registry.compensations().items():
        section = doc.split(f"### {package}\n", 1)[1].split("\n### ", 1)[0]
        rows = [line for line in section.splitlines() if line.startswith("| `")]
        expected = [
            f"| `{r['step']}` | {r['writes'] or '-'} | {r['undo']} | "
            f"{'`' + r['by'] + '`' if r['by'] else ''} | {r['note']} |"
            for r in saga.describe()
        ]
        assert rows == expected, package


def test_contract_change_and_customer_master_revert_and_lead_to_project_holds() -> None:
    def undo(package: str, step: str) -> tuple[Undo, str | None]:
        found = registry.compensations()[package].step(step)
        return found.undo, found.by

    assert undo("lead_to_project", "l2p.provision_psa_project") == (
        Undo.HOLD,
        "l2p.hold_psa_project",
    )
    assert undo("contract_change", "contracts.update_erp") == (
        Undo.REVERT,
        "contracts.revert_erp",
    )
    assert undo("customer_master", "cm.write_customer") == (Undo.REVERT, "cm.revert_customer")
    assert undo("bill_milestone", "ms.bill") == (Undo.KEEP, None)


SAGA = Saga(
    flow="test",
    steps=(
        SagaStep("a", "erp", Undo.KEEP, note="kept"),
        SagaStep("b", "psa", Undo.HOLD, by="hold_b"),
        SagaStep("c", "erp", Undo.REVERT, by="revert_c"),
        SagaStep("hold_b", "psa", Undo.NOTHING, note="the compensation"),
        SagaStep("revert_c", "erp", Undo.NOTHING, note="the compensation"),
    ),
)


def test_unwind_runs_the_compensations_latest_first_once() -> None:
    calls: list[tuple[str, object]] = []
    ledger = SAGA.ledger()
    ledger.done("a")
    ledger.done("b", undo=lambda r: calls.append(("b", r["code"])) or {"held": True})
    ledger.done("c", undo=lambda r: calls.append(("c", r["code"])) or {"reverted": True})
    assert [s.name for s in ledger.pending] == ["c", "b"]
    out = ledger.unwind({"code": "X"})
    assert calls == [("c", "X"), ("b", "X")]
    assert out == [
        {"step": "c", "undo": "revert", "by": "revert_c", "reverted": True},
        {"step": "b", "undo": "hold", "by": "hold_b", "held": True},
    ]
    assert ledger.unwind({"code": "Y"}) == []


def test_a_run_that_disagrees_with_its_declaration_is_stopped() -> None:
    ledger = SAGA.ledger()
    with pytest.raises(KeyError):
        ledger.done("undeclared")
    with pytest.raises(ValueError, match="gave no compensation"):
        ledger.done("c")
    with pytest.raises(ValueError, match="gave a compensation"):
        ledger.done("a", undo=lambda _: {})


def test_a_declaration_must_be_whole() -> None:
    with pytest.raises(ValueError, match="names its compensating step"):
        SagaStep("x", "erp", Undo.REVERT)
    with pytest.raises(ValueError, match="names its compensating step"):
        SagaStep("x", "erp", Undo.KEEP, by="y")
    with pytest.raises(ValueError, match="say why"):
        SagaStep("x", "crm", Undo.NOTHING)
    with pytest.raises(ValueError, match="declared twice"):
        Saga(flow="f", steps=(SagaStep("x", None, Undo.NOTHING),) * 2)
