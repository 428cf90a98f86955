"""DE01 moves from Business Central to Dynamics 365 Finance: cut-over, carry-over, rollback.

Routing is a rules version: a run finishes on the ERP its pinned version names, new runs use
the active one. After the cut-over the open project is carried over (its provisioning re-run
with the active rules creates it in D365), new time books in D365, and after the rollback in
Business Central again; the tie-out finds every posted entry in exactly one ERP.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from dbos import DBOS, DBOSClient
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.e2e.time_to_bill.conftest import Billing, start_billing

from accord.api.auth import KeyVerifier
from accord.api.errors import install_error_handlers
from accord.api.migrations import router as migrations_router
from accord.connectors.dynamics_finance import DynamicsFinanceConnector
from accord.connectors.dynamics_finance.mapping import fo_key
from accord.connectors.roles import Erp
from accord.domain import ExpenseCategory
from accord.flows import replay
from accord.flows.migration.schedule import SCHEDULE, cutover_tick
from accord.governance.migration import migrate_entity, open_items, schedule_cutover, tie_out
from accord.governance.resolve import RulesResolver
from accord.governance.settings import load_governance
from accord.governance.shadow import shadow_diff
from accord.rules import Rules
from accord.store import audit
from accord_sandbox.server import SandboxHandle

BC, D365 = "business-central", "dynamics-finance"


def migrating(spec: dict[str, Any]) -> None:
    """The rules edit: DE01 on Business Central, Dynamics 365 Finance in shadow."""
    spec["legal_entities"]["DE01"]["migration"] = {
        "shadow": "dynamics_finance",
        "shadow_connection": D365,
    }


@pytest.fixture(scope="module")
def billing(sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Billing]:
    yield from start_billing(tmp_path_factory.mktemp("ttb-mig"), sandbox, edit_rules=migrating)


def current_rules(billing: Billing) -> Rules:
    governance = load_governance(billing.config)
    return RulesResolver(billing.engine, governance=lambda: governance).current(billing.rules)


def move_entity(billing: Billing, direction: str) -> Rules:
    governance = load_governance(billing.config)
    step = migrate_entity(
        billing.engine,
        governance,
        current_rules(billing),
        "DE01",
        direction,  # type: ignore[arg-type]
        actor="test",
        reason=f"DE01 {direction}",
    )
    assert step.active
    return current_rules(billing)


def _erp_for(billing: Billing) -> Any:
    def erp(name: str, rules: Rules) -> Erp:
        return billing.services.connections.connector(name).as_erp(rules)

    return erp


def carry_over(billing: Billing, project: str) -> None:
    client = DBOSClient(system_database_engine=billing.engine)
    try:
        result = replay.replay(
            billing.engine,
            billing.services.runtime,
            client,
            actor="test",
            type_="opportunity.won",
            business_key=f"opportunity:{project.removeprefix('PRJ-')}",
            rules="current",
        )
    finally:
        client.destroy()
    assert len(result.runs) == 1
    deadline = time.monotonic() + 60
    while DBOS.list_workflows(status=["PENDING", "ENQUEUED"], name="lead_to_project"):
        assert time.monotonic() < deadline, "the carry-over run did not finish"
        time.sleep(0.1)


def post_day(billing: Billing, project: str, day: str) -> str:
    sheet = billing.timesheet(project, [(day, "8.00")], entity="DE01", rate="180.00")
    run = billing.post(sheet)
    assert run["status"] == "posted", run
    (row,) = billing.ledger(sheet["id"]).values()
    assert row.erp_connection is not None
    return row.erp_connection


def test_cutover_carries_over_and_rollback_returns(billing: Billing) -> None:
    project = billing.project("time_and_materials", entity="DE01")
    assert post_day(billing, project, "2026-09-21") == BC
    before = shadow_diff(
        billing.engine, current_rules(billing), "DE01", _erp_for(billing), project_id=project
    )
    assert before.missing_projects == [project]
    assert not before.empty

    rules = move_entity(billing, "cutover")
    entity = rules.spec.legal_entities["DE01"]
    assert (entity.erp.value, entity.connection) == ("dynamics_finance", D365)
    assert entity.migration is not None
    assert entity.migration.cutover_at is not None
    items = open_items(billing.engine, rules, "DE01", _erp_for(billing))
    assert [i.project_id for i in items] == [project]
    carry_over(billing, project)
    assert open_items(billing.engine, rules, "DE01", _erp_for(billing)) == []
    assert post_day(billing, project, "2026-09-22") == D365
    posted = [
        t
        for t in billing.records("dynamics_finance", "ProjectPostedTransactions")
        if t["ProjectId"] == fo_key(project)
    ]
    assert [Decimal(str(t["Quantity"])) for t in posted] == [Decimal(8)]
    # Business Central, the shadow now, would book the entry D365 booked, field by field.
    swapped = shadow_diff(billing.engine, rules, "DE01", _erp_for(billing), project_id=project)
    assert (swapped.system_of_record, swapped.shadow) == ("dynamics_finance", "business_central")
    assert [(d.entries, d.shadow_entries, d.differences) for d in swapped.days] == [(1, 1, [])]
    assert swapped.empty, swapped

    rules = move_entity(billing, "rollback")
    assert rules.spec.legal_entities["DE01"].connection == BC
    assert post_day(billing, project, "2026-09-23") == BC

    after = shadow_diff(billing.engine, rules, "DE01", _erp_for(billing), project_id=project)
    assert [(d.entries, d.shadow_entries, d.refusals) for d in after.days] == [(1, 1, [])] * 2
    assert after.empty, after
    # The module's other test has a project of its own: this one's tie-out is the one here.
    (tied,) = [
        t
        for t in tie_out(billing.engine, rules, "DE01", _erp_for(billing))
        if t.project_id == project
    ]
    assert tied.clean, (tied.doubled, tied.missing)
    assert tied.entries == {BC: 2, D365: 1}
    assert {name: len(keys) for name, keys in tied.held.items()} == {BC: 2, D365: 1}
    assert tied.amounts[BC] == {"EUR": Decimal("2880.00")}
    _a_mapping_difference_shows_until_fixed(billing, project, rules)
    with billing.engine.connect() as conn:
        actions = [e.action for e in audit.list_(conn, limit=500)]
    assert "migration.cutover" in actions
    assert "migration.rollback" in actions
    assert billing.stats("dynamics_finance")["duplicates"] == 0


def _a_mapping_difference_shows_until_fixed(billing: Billing, project: str, rules: Rules) -> None:
    """A category the shadow's connection does not map is refused in the diff, with the reason."""
    expense = billing.expense(project, "2026-09-24", "99.90", entity="DE01")
    assert billing.post(expense, kind="expense")["status"] == "posted"
    real = billing.services.connections.connector(D365)
    assert isinstance(real, DynamicsFinanceConnector)
    unmapped = {c: n for c, n in real.config.expense_categories.items() if c.value != "travel"}
    with _seeded(billing, expense_categories=unmapped) as erp_for:
        seen = shadow_diff(billing.engine, rules, "DE01", erp_for, project_id=project)
    refusals = [r for d in seen.days for r in d.refusals]
    assert [(r.entry_id, r.reason) for r in refusals] == [(expense["id"], "validation")]
    assert "travel" in refusals[0].message
    assert not seen.empty
    fixed = shadow_diff(billing.engine, rules, "DE01", _erp_for(billing), project_id=project)
    assert fixed.empty, fixed


# ---------------------------------------------------------------------- a week in shadow
WEEK = ["2026-09-14", "2026-09-15", "2026-09-16", "2026-09-17", "2026-09-18"]


@contextmanager
def _seeded(billing: Billing, **changes: Any) -> Iterator[Callable[[str, Rules], Erp]]:
    """ERP roles where the shadow (D365) connection's mapping differs by ``changes``."""
    real = billing.services.connections.connector(D365)
    assert isinstance(real, DynamicsFinanceConnector)
    with DynamicsFinanceConnector(real.config.model_copy(update=changes)) as broken:

        def erp_for(name: str, view: Rules) -> Erp:
            if name == D365:
                return broken.as_erp(view)
            return billing.services.connections.connector(name).as_erp(view)

        yield erp_for


def _api(billing: Billing) -> TestClient:
    """The diff's route as ``create_app`` mounts it."""
    app = FastAPI()
    app.state.settings = billing.services.settings
    app.state.services = billing.services
    app.state.connections = billing.services.connections
    app.state.key_verifier = KeyVerifier(billing.engine, ttl=0)
    install_error_handlers(app)
    app.include_router(migrations_router)
    return TestClient(app)


def test_a_week_in_shadow_differs_until_both_mappings_are_fixed(
    billing: Billing, sandbox: SandboxHandle
) -> None:
    """Two consultants' week and their travel on BC, diffed against D365 field by field."""
    project = billing.project("time_and_materials", entity="DE01")
    # The shadow holds the project as a migration team's carry-over leaves it there.
    move_entity(billing, "cutover")
    carry_over(billing, project)
    rules = move_entity(billing, "rollback")
    people = [c for c in sandbox.sandbox.firm.consultants if c.legal_entity == "DE01"][:2]
    assert len(people) == 2
    expenses = []
    for n, person in enumerate(people):
        sheet = billing.timesheet(
            project,
            [(day, f"{7 + n}.50") for day in WEEK],
            entity="DE01",
            rate=str(person.bill_rate),
            resource=person.id,
        )
        assert billing.post(sheet)["status"] == "posted"
        expense = billing.expense(project, WEEK[n * 2], f"{120 + n}.40", entity="DE01")
        assert billing.post(expense, kind="expense")["status"] == "posted"
        expenses.append(expense["id"])
    week = {"since": date(2026, 9, 14), "until": date(2026, 9, 18), "project_id": project}
    # The two seeded differences: the region dimension mapped to a financial dimension the
    # integration format does not carry, and travel booked on the meals category.
    real = billing.services.connections.connector(D365)
    assert isinstance(real, DynamicsFinanceConnector)
    categories = dict(real.config.expense_categories)
    categories[ExpenseCategory.TRAVEL] = categories[ExpenseCategory.MEALS]
    with _seeded(
        billing,
        dimensions={"department": "Department", "class": "CostCenter"},
        expense_categories=categories,
    ) as both:
        seen = shadow_diff(billing.engine, rules, "DE01", both, **week)
    assert len(seen.days) == 5
    assert sum(d.entries for d in seen.days) == 12
    assert [d.refusals for d in seen.days] == [[]] * 5
    fields = sorted(
        {(f.field, f.system_of_record, f.shadow) for d in seen.days for f in d.differences}
    )
    assert fields == [("category", "travel", "Meals"), ("dimensions.class", "DACH", None)]
    moved = [f.entry_id for d in seen.days for f in d.differences if f.field == "category"]
    assert sorted(moved) == sorted(expenses)
    # Counts, hours and amounts agree: the differences are in the fields only.
    assert all(
        (d.entries, d.hours, d.amounts) == (d.shadow_entries, d.shadow_hours, d.shadow_amounts)
        for d in seen.days
    )
    assert not seen.empty

    with _seeded(billing, expense_categories=categories) as one:  # the dimension fixed
        left = shadow_diff(billing.engine, rules, "DE01", one, **week)
    assert {f.field for d in left.days for f in d.differences} == {"category"}

    fixed = shadow_diff(billing.engine, rules, "DE01", _erp_for(billing), **week)
    assert fixed.empty, fixed
    assert sum(d.shadow_entries for d in fixed.days) == 12
    body = _api(billing).get(
        "/api/v1/migrations/DE01/diff",
        params={"from": "2026-09-14", "to": "2026-09-18", "project": project},
        headers={"Authorization": f"Bearer {billing.accord.viewer_key}"},
    )
    assert body.status_code == 200, body.text
    answer = body.json()
    assert answer["empty"] is True
    assert (answer["from"], answer["system_of_record"]["connection"]) == ("2026-09-14", BC)
    monday = answer["days"][0]
    assert monday["system_of_record"]["hours"] == monday["shadow"]["hours"] == "16.00"
    rate = {p.id: p.bill_rate for p in people}
    billed = sum((Decimal(f"{7 + n}.50") * rate[p.id] for n, p in enumerate(people)), Decimal(0))
    assert monday["shadow"]["amounts"] == [
        {"amount": str((billed + Decimal("120.40")).quantize(Decimal("0.01"))), "currency": "EUR"}
    ]


# ---------------------------------------------------------------------- a scheduled cut-over
def _scheduler_cutovers(billing: Billing) -> int:
    with billing.engine.connect() as conn:
        return len(audit.list_(conn, actor="scheduler", action="migration.cutover", limit=100))


def test_a_scheduled_cutover_happens_once_when_its_time_comes(billing: Billing) -> None:
    governance = load_governance(billing.config)
    # The rules name a migration: every worker's start registered the tick.
    assert [s["schedule_name"] for s in DBOS.list_schedules(schedule_name_prefix=SCHEDULE)] == [
        SCHEDULE
    ]
    before = _scheduler_cutovers(billing)
    soon = datetime.now(UTC) + timedelta(hours=1)
    schedule_cutover(
        billing.engine,
        governance,
        current_rules(billing),
        "DE01",
        soon,
        actor="test",
        reason="at 1h",
    )
    rules = current_rules(billing)
    migration = rules.spec.legal_entities["DE01"].migration
    assert migration is not None
    assert migration.cutover_scheduled_at == soon
    DBOS.start_workflow(cutover_tick, datetime.now(UTC), None).get_result()
    assert current_rules(billing).spec.legal_entities["DE01"].connection == BC  # not yet

    just_now = datetime.now(UTC) - timedelta(seconds=1)
    schedule_cutover(
        billing.engine,
        governance,
        current_rules(billing),
        "DE01",
        just_now,
        actor="test",
        reason="now",
    )
    for _ in range(2):  # a tick, and a tick again (or the minute's own tick racing them)
        DBOS.start_workflow(cutover_tick, datetime.now(UTC), None).get_result()
    entity = current_rules(billing).spec.legal_entities["DE01"]
    assert (entity.connection, entity.erp.value) == (D365, "dynamics_finance")
    assert entity.migration is not None
    assert entity.migration.cutover_at is not None
    assert entity.migration.cutover_scheduled_at is None
    assert _scheduler_cutovers(billing) == before + 1
    with billing.engine.connect() as conn:
        (scheduled,) = audit.list_(conn, action="migration.schedule", limit=1)
    assert scheduled.after is not None
    assert scheduled.after["cutover_scheduled_at"] == just_now.isoformat()
    assert move_entity(billing, "rollback").spec.legal_entities["DE01"].connection == BC
