"""Delivery sync end to end with Kantata as the PSA and DE01 booked on Dynamics 365 Finance.

D365 takes part in delivery for project status (its project stage) only: capture polls its
projects and leaves out its vendor-bill feed, which Accord does not support on it yet; a task
for a D365 project is refused with that reason, as an exception for its owner, never dropped.
"""

import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.delivery.conftest import ERPS, Delivery, start_delivery

from accord_sandbox.server import SandboxHandle

PSA = "kantata"
D365 = "dynamics-finance"


@pytest.fixture(scope="module")
def delivery(
    sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Delivery]:
    def on_d365(spec: dict[str, Any]) -> None:
        spec["legal_entities"]["DE01"].update(erp="dynamics_finance", connection=D365)

    yield from start_delivery(
        tmp_path_factory.mktemp("delivery-d365"),
        sandbox,
        psa=PSA,
        erps=(*ERPS, D365),
        edit_rules=on_d365,
    )


def _stage(d: Delivery, project: str) -> str:
    projects = d.base.records("dynamics_finance", "Projects")
    (held,) = [p for p in projects if p["ProjectID"] == project]
    return str(held["ProjectStage"])


def test_capture_polls_d365_projects_but_not_its_vendor_bills(delivery: Delivery) -> None:
    pairs = {(s.connection, s.resource) for s in delivery.specs()}
    assert (D365, "delivery:Projects") in pairs
    assert [r for c, r in pairs if c == D365] == ["delivery:Projects"]
    assert ("business-central", "delivery:purchaseInvoices") in pairs


def test_a_project_held_then_completed_in_kantata_moves_the_d365_stage(
    delivery: Delivery,
) -> None:
    ids = delivery.provision(entity="DE01", package="ADVISORY-TM", model="Time and Materials")
    assert _stage(delivery, ids["erp_project"]) == "InProcess"
    for status, stage in (("On Hold", "Scheduled"), ("Completed", "Completed")):
        time.sleep(1.05)  # Kantata keeps second-precision stamps: a change is a new version.
        delivery.connector("kantata").update("workspaces", ids["psa_project"], {"status": status})
        delivery.poll()
        assert _stage(delivery, ids["erp_project"]) == stage
    runs = delivery.runs("status", project_id=ids["project"])
    # Each PSA change is synced; D365 then reports the stage: the echo, left alone.
    assert [(r["status"], r["from"]) for r in runs] == [
        ("synced", "psa"), ("in_step", "erp"), ("synced", "psa"), ("in_step", "erp")
    ], runs  # fmt: skip
    assert delivery.exceptions(f"project:{ids['project']}", "project.not_owner") == []
    assert delivery.base.duplicates()["dynamics_finance"] == 0


def test_a_task_for_a_d365_project_is_refused_as_not_supported(delivery: Delivery) -> None:
    ids = delivery.provision(entity="DE01", package="ADVISORY-TM", model="Time and Materials")
    story = delivery.connector("kantata").create(
        "stories",
        {"workspace_id": ids["psa_project"], "title": "Data migration", "story_type": "task",
         "time_estimate_in_minutes": 40 * 60},
    ).id  # fmt: skip
    delivery.poll()
    # Provisioning's phases and the new task: each refused, each its own exception.
    runs = delivery.runs("task", project_id=ids["project"])
    assert len(runs) == 5
    assert {r["status"] for r in runs} == {"refused"}, runs
    found = delivery.exceptions(f"project:{ids['project']}", "project.task_refused")
    (refused,) = [e for e in found if e.dedupe_key == f"delivery:task:kantata-st-{story}"]
    assert "Dynamics 365 Finance: project tasks (WBS activities) is not supported" in refused.title
    assert refused.queue == "delivery-ops"
