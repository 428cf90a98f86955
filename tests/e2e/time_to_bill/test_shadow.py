"""Inline shadow posting: DE01 books on Business Central, Dynamics 365 Finance checks each posting.

The shadow's connection has a seeded mapping problem (no expense category for ``travel``) and
its emulator fails every read while the approvals post, so that no shadow outcome can arrive
before the system of record's. The project reaches the shadow the way a migration team's
does (cut-over, carry-over, rollback). A timesheet and a travel expense then post to Business
Central with their lineage, untouched by the shadow's outage, while the shadow records the
time ``validated`` and the expense ``refused`` with its reason, later, once per entry however
often it is redelivered. In post mode the shadow books in its test company, once.
"""

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from tests.e2e.time_to_bill.conftest import Billing, start_billing
from tests.e2e.time_to_bill.test_migration import BC, D365, _api, migrating
from tests.e2e.time_to_bill.test_migration import carry_over as _carry_over
from tests.e2e.time_to_bill.test_migration import move_entity as _move

from accord.connectors.dynamics_finance.mapping import posting_ref
from accord.flows.time_to_bill import shadow as shadow_flow
from accord.store import lineage, outbox
from accord.store import shadow as shadow_store
from accord_sandbox.server import SandboxHandle

TEST = "dynamics-finance-test"
SHADOW_DOWN = {"method": "GET", "error_rate": 1.0, "status": 503}
"""Every read of the shadow ERP fails (a transient outage): the system of record must not notice."""


@pytest.fixture(scope="module")
def billing(sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Billing]:
    def unmapped_travel(document: dict[str, Any]) -> None:
        # The seeded mapping problem: the shadow has no project category for travel.
        document["connections"][D365]["expense_categories"] = {"meals": "Meals"}
        # The shadow's "test company" for post mode: in the sandbox a second connection to
        # the same emulator stands for a copy of the environment (same project ids).
        document["connections"][TEST] = dict(document["connections"][D365])

    yield from start_billing(
        tmp_path_factory.mktemp("ttb-shadow"),
        sandbox,
        edit_rules=migrating,
        edit_config=unmapped_travel,
    )


def _outcomes(billing: Billing, entry_ids: set[str]) -> list[shadow_store.ShadowOutcome]:
    with billing.engine.connect() as conn:
        found = shadow_store.outcomes(conn, "DE01")
    return [o for o in found if o.entry_id in entry_ids]


def _wait_outcomes(billing: Billing, entry_ids: set[str]) -> list[shadow_store.ShadowOutcome]:
    deadline = time.monotonic() + 60
    while len(found := _outcomes(billing, entry_ids)) < len(entry_ids):
        assert time.monotonic() < deadline, "the shadow recorded no outcome"
        time.sleep(0.1)
    return found


@pytest.fixture(scope="module")
def project(billing: Billing) -> str:
    """A DE01 project both ERPs hold (cut over, carried over, rolled back): BC books it."""
    found = billing.project("time_and_materials", entity="DE01")
    _move(billing, "cutover")
    _carry_over(billing, found)
    _move(billing, "rollback")
    return found


def _redeliver(billing: Billing, handed: list[outbox.OutboxRow]) -> None:
    """Queue shadow items again, as a dispatcher's takeover does with what it finds taken."""
    with billing.engine.begin() as conn:
        again = [
            outbox.OutboxItem(
                connection=r.connection,
                lane=r.lane,
                kind=r.kind,
                batch_id=f"{r.batch_id}:again",
                item_key=r.item_key,
                payload=r.payload,
            )
            for r in handed
        ]
        assert outbox.enqueue(conn, again) == len(handed)


def _wait_recorded_again(billing: Billing, before: dict[str, Any]) -> None:
    deadline = time.monotonic() + 30
    while any(o.recorded_at == before[o.entry_id] for o in _outcomes(billing, set(before))):
        assert time.monotonic() < deadline, "the redelivered items were not sent"
        time.sleep(0.1)


def test_a_shadow_refusal_never_delays_or_fails_the_system_of_record(
    billing: Billing, project: str
) -> None:
    billing.control("dynamics_finance", "faults", SHADOW_DOWN)
    try:
        sheet = billing.timesheet(
            project, [("2026-09-21", "8.00"), ("2026-09-22", "4.50")], entity="DE01", rate="180.00"
        )
        expense = billing.expense(project, "2026-09-23", "99.90", entity="DE01")
        run = billing.post(sheet)
        spent = billing.post(expense, kind="expense")
        ids = {e["id"] for e in sheet["entries"]} | {expense["id"]}
        # The runs are done; the shadow, down, has not answered: its work waits in the shadow
        # connection's outbox, on the background lane (retried with backoff).
        assert _outcomes(billing, ids) == []
        with billing.engine.connect() as conn:
            handed = outbox.pending(conn, D365, kind=shadow_flow.KIND)
        assert {(r.lane, r.item_key) for r in handed} == {(shadow_flow.LANE, i) for i in ids}
    finally:
        billing.control("dynamics_finance", "faults")
    assert (run["status"], run["posted"], run["rejected"]) == ("posted", 2, {})
    assert (spent["status"], spent["posted"], spent["rejected"]) == ("posted", 1, {})
    rows = {**billing.ledger(sheet["id"]), **billing.ledger(expense["id"])}
    assert {r.status for r in rows.values()} == {"posted"}
    assert {r.erp_connection for r in rows.values()} == {BC}
    with billing.engine.connect() as conn:
        for row in rows.values():
            node = "time_entry" if row.kind == "time" else "expense"
            edges = lineage.list_for(conn, node_type=node, node_id=row.entry_id)
            posted = [e for e in edges if e.relation == "posted_as"]
            assert [(e.status, e.to_id) for e in posted] == [
                ("posted", f"{BC}:{row.erp_record_id}")
            ]

    found = {o.entry_id: o for o in _wait_outcomes(billing, ids)}
    refused = found[expense["id"]]
    assert (refused.status, refused.reason, refused.mode) == ("refused", "validation", "validate")
    assert "travel" in (refused.message or "")
    assert (refused.amount, refused.currency) == (Decimal("99.90"), "EUR")
    assert (refused.shadow_connection, refused.sor_connection) == (D365, BC)
    time_outcomes = [found[e["id"]] for e in sheet["entries"]]
    assert [(o.status, o.hours, o.amount) for o in time_outcomes] == [
        ("validated", Decimal("8.00"), Decimal("1440.00")),
        ("validated", Decimal("4.50"), Decimal("810.00")),
    ]

    # The migration diff reports them as what happened, beside what the shadow would do now.
    answer = _api(billing).get(
        "/api/v1/migrations/DE01/diff",
        params={"from": "2026-09-21", "to": "2026-09-23", "project": project},
        headers={"Authorization": f"Bearer {billing.operator_key}"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["recorded"] == {"refused": 1, "validated": 2}
    assert [(r["entry_id"], r["reason"]) for r in body["recorded_refusals"]] == [
        (expense["id"], "validation")
    ]

    # A redelivery (the posting's shadow item queued again, as after a dispatcher's takeover)
    # keeps one outcome per entry and mode.
    before = {o.entry_id: o.recorded_at for o in _outcomes(billing, ids)}
    _redeliver(billing, handed)
    _wait_recorded_again(billing, before)
    assert len(_outcomes(billing, ids)) == len(ids)
    with billing.engine.connect() as conn:
        assert outbox.pending(conn, D365) == []


def test_post_mode_books_in_the_test_company_once(billing: Billing, project: str) -> None:
    billing.configure(shadow_mode="post", shadow_test_connections={D365: TEST})
    try:
        billing.control("dynamics_finance", "faults", SHADOW_DOWN)
        try:
            sheet = billing.timesheet(
                project, [("2026-09-24", "3.25")], entity="DE01", rate="180.00"
            )
            assert billing.post(sheet)["posted"] == 1
            with billing.engine.connect() as conn:
                handed = outbox.pending(conn, TEST, kind=shadow_flow.KIND)
        finally:
            billing.control("dynamics_finance", "faults")
        (entry,) = sheet["entries"]
        (booked,) = _wait_outcomes(billing, {entry["id"]})
        assert (booked.mode, booked.status, booked.shadow_connection) == ("post", "booked", TEST)
        (row,) = billing.ledger(sheet["id"]).values()
        assert (row.erp_connection, row.status) == (BC, "posted")
        ref = posting_ref(row.external_id or "")
        assert booked.shadow_record_id == ref

        def held() -> list[dict[str, Any]]:
            return [
                t
                for t in billing.records("dynamics_finance", "ProjectPostedTransactions")
                if t["TransactionId"] == ref
            ]

        assert [Decimal(str(t["Quantity"])) for t in held()] == [Decimal("3.25")]
        # Redelivered, the posting is found in the test company, not booked again.
        assert [r.item_key for r in handed] == [row.external_id]
        _redeliver(billing, handed)
        _wait_recorded_again(billing, {booked.entry_id: booked.recorded_at})
        assert len(held()) == 1
        assert billing.stats("dynamics_finance")["duplicates"] == 0
    finally:
        billing.configure()
