"""Shadow master data: DE01 provisions on Business Central, Dynamics 365 Finance checks each record.

The shadow's connection has a seeded mapping problem (no project group for fixed-fee
projects). Two DE01 projects are provisioned through lead-to-project: both reach Business
Central as before; the shadow records its outcome for each customer, project and billing
plan, later, on its own lane: all ``validated`` but the fixed-fee project, ``refused`` with
the reason, and nothing written to the shadow. In post mode they are upserted in the
shadow's test company, customer first. A later edit of the account (customer master) is
shadowed too.
"""

import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.e2e.time_to_bill.conftest import Billing, start_billing
from tests.e2e.time_to_bill.test_migration import BC, D365, migrating

from accord.flows.capture import poll_once
from accord.flows.customer_master.capture import account_events
from accord.flows.shared import shadow_masters
from accord.store import outbox, xref
from accord.store import shadow as shadow_store
from accord_sandbox.server import SandboxHandle

TEST = "dynamics-finance-test"


@pytest.fixture(scope="module")
def billing(sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Billing]:
    def no_fixed_fee_group(document: dict[str, Any]) -> None:
        # The seeded mapping problem: the shadow environment has no project group for fixed fee.
        document["connections"][D365]["project_groups"] = {
            "time_and_materials": "TM",
            "milestone": "MILESTONE",
            "retainer": "RETAINER",
        }
        # The shadow's "test company" for post mode: a second connection to the emulator.
        document["connections"][TEST] = dict(document["connections"][D365])

    yield from start_billing(
        tmp_path_factory.mktemp("ttb-shadow-masters"),
        sandbox,
        edit_rules=migrating,
        edit_config=no_fixed_fee_group,
    )


def _wait_outcomes(
    billing: Billing, projects: set[str], count: int
) -> dict[tuple[str, str], shadow_store.ShadowOutcome]:
    deadline = time.monotonic() + 60
    while True:
        with billing.engine.connect() as conn:
            found = {
                (o.kind, o.entry_id): o
                for o in shadow_store.outcomes(conn, "DE01")
                if o.project_id in projects
            }
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"the shadow recorded {len(found)} of {count}"
        time.sleep(0.1)


def _erp_project(billing: Billing, project_id: str, connection: str) -> str | None:
    with billing.engine.connect() as conn:
        return xref.get_external(
            conn, entity_type="erp_project", canonical_id=project_id, connection=connection
        )


def test_customers_projects_and_billing_plans_are_shadowed(billing: Billing) -> None:
    # The system of record's path is as before: billing.project asserts "provisioned".
    tm = billing.project("time_and_materials", entity="DE01")
    fixed = billing.project("fixed_fee", entity="DE01")
    assert _erp_project(billing, tm, BC)
    assert _erp_project(billing, fixed, BC)

    # Per project: its customer, the project, and (fixed fee) the billing plan.
    found = _wait_outcomes(billing, {tm, fixed}, 5)
    customers = {k: o for k, o in found.items() if k[0] == shadow_masters.CUSTOMER}
    assert len(customers) == 2
    assert {
        (o.status, o.mode, o.shadow_connection, o.sor_connection) for o in customers.values()
    } == {("validated", "validate", D365, BC)}
    assert {o.project_id for o in customers.values()} == {tm, fixed}
    project = found[(shadow_masters.PROJECT, tm)]
    assert (project.status, project.amount, project.currency) == (
        "validated",
        Decimal("90000.00"),
        "EUR",
    )

    refused = found[(shadow_masters.PROJECT, fixed)]
    assert (refused.status, refused.reason) == ("refused", "validation")
    assert "project group" in (refused.message or "")
    plan = found[(shadow_masters.PLAN, fixed)]
    assert (plan.status, plan.amount, plan.currency) == ("validated", Decimal("90000.00"), "EUR")

    # Validation writes nothing in the shadow, and its work has left the outbox.
    assert _erp_project(billing, tm, D365) is None
    with billing.engine.connect() as conn:
        assert outbox.pending(conn, D365, kind=shadow_masters.KIND) == []


def test_post_mode_upserts_in_the_test_company(billing: Billing) -> None:
    billing.configure(shadow_mode="post", shadow_test_connections={D365: TEST})
    try:
        tm = billing.project("time_and_materials", entity="DE01")
        found = _wait_outcomes(billing, {tm}, 2)
        # A posting on it is booked in the test company's copy of the project.
        sheet = billing.timesheet(tm, [("2026-09-21", "2.00")], entity="DE01", rate="180.00")
        assert billing.post(sheet)["posted"] == 1
        (entry,) = sheet["entries"]
        posted = _wait_outcomes(billing, {tm}, 3)[("time", entry["id"])]
    finally:
        billing.configure()
    assert (posted.mode, posted.status, posted.shadow_connection) == ("post", "booked", TEST)
    booked = found[(shadow_masters.PROJECT, tm)]
    (customer,) = [o for k, o in found.items() if k[0] == shadow_masters.CUSTOMER]
    assert {(o.mode, o.status, o.shadow_connection) for o in (booked, customer)} == {
        ("post", "booked", TEST)
    }
    # The test company holds the project under its key, for the customer Accord booked there.
    assert _erp_project(billing, tm, TEST) == booked.shadow_record_id
    (held,) = [
        p
        for p in billing.records("dynamics_finance", "Projects")
        if p.get("ProjectID") == booked.shadow_record_id
    ]
    (contract,) = [
        c
        for c in billing.records("dynamics_finance", "ProjectContractHeaders")
        if c.get("ProjectContractId") == held["ProjectContractID"]
    ]
    assert contract["CustomerAccountNumber"] == customer.shadow_record_id
    # The system of record's project is Business Central's, as before.
    assert _erp_project(billing, tm, BC)


def test_a_customer_master_update_is_shadowed(billing: Billing) -> None:
    tm = billing.project("time_and_materials", entity="DE01")
    found = _wait_outcomes(billing, {tm}, 2)
    (provisioned,) = [o for k, o in found.items() if k[0] == shadow_masters.CUSTOMER]
    with billing.engine.connect() as conn:
        account = xref.get_external(
            conn,
            entity_type="customer",
            canonical_id=provisioned.entry_id,
            connection="salesforce",
        )
    assert account is not None
    services = billing.accord.services
    crm = services.connections.connector("salesforce")
    crm.update("Account", account, {"Name": f"Renamed {provisioned.entry_id}"})
    poll_once(
        crm,
        connection="salesforce",
        resource="Account",
        engine=services.engine,
        runtime=services.runtime,
        to_events=account_events,
        overlap=timedelta(0),
    )
    # Customer master wrote the new name to Business Central; the shadow validated it after.
    deadline = time.monotonic() + 60
    while True:
        with billing.engine.connect() as conn:
            (again,) = [
                o
                for o in shadow_store.outcomes(conn, "DE01", mode="validate")
                if (o.kind, o.entry_id) == (shadow_masters.CUSTOMER, provisioned.entry_id)
            ]
        if again.recorded_at != provisioned.recorded_at:
            break
        assert time.monotonic() < deadline, "the customer's update was not shadowed"
        time.sleep(0.1)
    assert (again.status, again.project_id, again.sor_connection) == ("validated", "", BC)
