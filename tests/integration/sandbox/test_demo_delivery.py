"""The demo's project managers and AP clerks against the Kantata and NetSuite emulators.

Three projects, provisioned as lead-to-project leaves them in Accord's store (the PSA and ERP
ids in the xref, the ``provisioned`` lineage edge): each is planned once, the second gets a
subcontractor's cost in Kantata and a vendor's bill in NetSuite, the third is completed a few
ticks later. Nothing is planned twice.
"""

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from tests.contract.sandbox_auth import sandbox_connector

from accord.cli.demo_delivery import COMPLETE_AFTER, DeliveryTraffic, read_delivery_status
from accord.cli.demo_traffic import PROVISIONED
from accord.store import lineage, xref
from accord_sandbox.server import Sandbox, SandboxHandle


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    handle = Sandbox(base_port=0, scenario="firm", seed=7).start_in_thread()
    yield handle
    handle.stop()


def _provisioned(engine: sa.Engine, kantata: Any, netsuite: Any, n: int) -> list[str]:
    """``n`` US01 projects in Kantata and NetSuite, linked as lead-to-project links them."""
    vendor = netsuite.get_by_external_id("vendor", "VEND-US01-2")
    assert vendor is not None
    where = {"subsidiary": vendor["subsidiary"]}
    workspaces = []
    for i in range(n):
        project = f"PRJ-DEMO-{i}"
        customer = netsuite.create("customer", {"companyName": f"Demo {i}", **where}).id
        job = netsuite.create(
            "job",
            {"companyName": f"Demo {i} - Rollout", "parent": {"id": customer},
             "currency": vendor["currency"], **where},
        ).id  # fmt: skip
        workspace = kantata.create("workspaces", {"title": f"Demo {i}", "currency": "USD"}).id
        with engine.begin() as conn:
            for entity_type, system, external in (
                ("psa_project", "kantata", workspace),
                ("erp_project", "netsuite", job),
            ):
                xref.link(conn, entity_type=entity_type, canonical_id=project, system=system,
                          connection=system, external_id=external)  # fmt: skip
            lineage.link(conn, from_type="psa_project", from_id=project, to_type="erp_project",
                         to_id=project, relation="provisioned", status=PROVISIONED)  # fmt: skip
        workspaces.append(workspace)
    return workspaces


def test_projects_are_planned_costed_billed_and_completed_once(
    sandbox: SandboxHandle, engine: sa.Engine
) -> None:
    urls = sandbox.urls
    with (
        sandbox_connector("kantata", urls["kantata"], name="kantata") as kantata,
        sandbox_connector("netsuite", urls["netsuite"], name="netsuite") as netsuite,
    ):
        first, second, third = _provisioned(engine, kantata, netsuite, 3)
        traffic = DeliveryTraffic(
            psa="kantata", connector=kantata, erps={"netsuite": netsuite}, engine=engine
        )

        assert traffic.tick() == 2
        assert traffic.tick() == 1
        for _ in range(COMPLETE_AFTER):
            assert traffic.tick() == 0  # nothing planned twice
        assert (traffic.planned, traffic.costs, traffic.bills, traffic.completed) == (3, 1, 1, 1)

        for workspace in (first, second, third):
            (story,) = kantata.query_page("stories", filters={"workspace_id": workspace}).records
            assert story["time_estimate_in_minutes"] == 80 * 60
            (assigned,) = kantata.query_page(
                "assignments", filters={"story_id": story["id"]}
            ).records
            team = kantata.query_page("participations", filters={"workspace_id": workspace})
            assert assigned["assignee_id"] in {p["user_id"] for p in team.records}
        (cost,) = kantata.query_page("expenses", filters={"workspace_id": second}).records
        assert cost["vendor_id"]
        assert cost["approved"]
        job = xref_of(engine, "PRJ-DEMO-1")
        bills = [
            netsuite.get("vendorBill", str(b["id"]))
            for b in netsuite.read_page("vendorBill").records
        ]
        keyed = [b for b in bills if b.get("tranId") == f"CDS-{job}"]
        assert len(keyed) == 1
        statuses = {w: kantata.get("workspaces", w)["status"]["message"] for w in (first, third)}
        assert statuses[third] == "Completed"
        assert statuses[first] != "Completed"
        # Delivery sync did nothing here (no Accord running): the summary says so.
        assert read_delivery_status(engine).bills == 0


def xref_of(engine: sa.Engine, project: str) -> str:
    with engine.connect() as conn:
        found = xref.get_external(
            conn, entity_type="erp_project", canonical_id=project, connection="netsuite"
        )
    assert found is not None
    return found
