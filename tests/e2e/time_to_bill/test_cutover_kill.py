"""DE01 cuts over from Business Central to Dynamics 365 Finance in the middle of a posting burst,
and the worker is SIGKILLed meanwhile: every entry is posted exactly once, in exactly one ERP.

A worker subprocess (the harness of ``tests/e2e/bc_kill.py``) provisions two DE01 projects on
Business Central, then posts a burst of timesheets with Business Central's journal calls
slowed. While the first submissions post, the governed cut-over activates a rules version
routing DE01 to Dynamics 365 Finance and the carry-over re-runs the projects' provisioning (so
that they exist there); more submissions arrive and the worker is SIGKILLed and restarted
under its id. After the cut-over's carry-over, a last burst books on Dynamics 365 Finance.

Judged from the two emulators' own records: each entry is on a posted line in exactly one of
them, and the one the ledger names; per project the hours and amounts of both ERPs together
equal the approved ones to the cent; neither emulator counted a duplicate; and the tie-out
(:func:`accord.governance.migration.tie_out`) finds every project clean. On the way, every
accepted posting's shadow outcome is recorded once (validate mode: nothing written).
"""

import time
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.dbs import BACKENDS
from tests.e2e.bc_kill import KillHarness, kill_harness, new_events
from tests.e2e.time_to_bill.conftest import DEFAULTS
from tests.e2e.time_to_bill.test_bc_exactly_once import _sheet

from accord.connectors.business_central.mapping import bc_number
from accord.connectors.dynamics_finance.mapping import fo_key, posting_ref
from accord.connectors.roles import Erp
from accord.flows import replay
from accord.flows.connections import Connections
from accord.governance.migration import migrate_entity, tie_out
from accord.governance.resolve import RulesResolver
from accord.governance.settings import load_governance
from accord.rules import Rules
from accord.store import postings
from accord.store import shadow as shadow_store

pytestmark = pytest.mark.slow

BC, D365 = "business-central", "dynamics-finance"
CENT = Decimal("0.01")
ENTRIES = 5
"""Entries per timesheet (``_sheet``'s)."""


def _migrating(spec: dict[str, Any]) -> None:
    spec["legal_entities"]["DE01"]["migration"] = {
        "shadow": "dynamics_finance",
        "shadow_connection": D365,
    }


def _rules(harness: KillHarness, config: Path) -> Rules:
    governance = load_governance(config)
    resolver = RulesResolver(harness.engine, governance=lambda: governance)
    return resolver.current(harness.folder / "rules.yaml")


def _posted(harness: KillHarness) -> int:
    with harness.engine.connect() as conn:
        found = postings.list_(conn, status=postings.POSTED, limit=10_000)
    return sum(1 for r in found if r.entry_id.startswith("BCK-"))


def _bc_held(harness: KillHarness) -> dict[str, dict[str, Any]]:
    """Business Central's project ledger entries of this test, by document number."""
    held: dict[str, dict[str, Any]] = {}
    for r in harness.records("projectLedgerEntries"):
        if str(r.get("description", "")).startswith("kill "):
            assert r["documentNumber"] not in held, r
            held[r["documentNumber"]] = r
    return held


def _d365(harness: KillHarness, entity_set: str) -> list[dict[str, Any]]:
    url = harness.sandbox.urls["dynamics_finance"]
    return httpx.get(f"{url}/__sandbox/records/{entity_set}", timeout=10).json()["records"]


def _d365_held(harness: KillHarness) -> dict[str, dict[str, Any]]:
    """Dynamics 365 Finance's posted hour transactions, by transaction id (the posting's ref)."""
    held: dict[str, dict[str, Any]] = {}
    for t in _d365(harness, "ProjectPostedTransactions"):
        if t.get("TransactionType") == "Hour":
            assert t["TransactionId"] not in held, t
            held[t["TransactionId"]] = t
    return held


@pytest.mark.parametrize("backend", BACKENDS)
def test_cutover_mid_burst_with_a_sigkill_posts_each_entry_once_in_one_erp(
    backend: str, tmp_path: Path
) -> None:
    with kill_harness(backend, tmp_path, seed=19) as harness:
        config = harness.start({**DEFAULTS, "cache_ttl_s": 60}, edit_rules=_migrating)
        projects = harness.provision(2, package="ADVISORY-TM", model="Time and Materials")
        # Slow Business Central's journal calls so that the cut-over and the kill land mid-burst.
        harness.faults(
            [
                {"path": "*/journalLines*", "latency_ms": 300},
                {"path": "*/Microsoft.NAV.post", "latency_ms": 300},
            ]
        )
        before = [_sheet(p, n) for p in projects for n in range(3)]
        harness.journal(new_events("timesheet.approved", before))
        deadline = time.monotonic() + 60
        while len(_bc_held(harness)) < 3:
            assert time.monotonic() < deadline, harness.log.read_text()
            time.sleep(0.1)

        step = migrate_entity(
            harness.engine,
            load_governance(config),
            _rules(harness, config),
            "DE01",
            "cutover",
            actor="test",
            reason="DE01 go-live mid-burst",
        )
        assert step.active
        # The carry-over: the projects' provisioning again, with the active rules (D365).
        for project in projects:
            replay.replay(
                harness.engine,
                harness.runtime,
                harness.client,
                actor="test",
                type_="opportunity.won",
                business_key=f"opportunity:{project.removeprefix('PRJ-')}",
                rules="current",
            )
        during = [_sheet(p, n) for p in projects for n in range(3, 6)]
        harness.journal(new_events("timesheet.approved", during))
        harness.kill_and_restart(1, within=(0.2, 0.8))
        assert _posted(harness) < len(before + during) * ENTRIES, "the kill came too late"
        harness.settle("lead_to_project")
        harness.settle("time_to_bill")
        after = [_sheet(p, n) for p in projects for n in range(6, 8)]
        harness.journal(new_events("timesheet.approved", after))
        harness.settle("time_to_bill")

        sheets = before + during + after
        entries = [e for s in sheets for e in s["entries"]]
        with harness.engine.connect() as conn:
            ledger = {
                r.entry_id: r
                for r in postings.list_(conn, limit=10_000)
                if r.entry_id.startswith("BCK-")
            }
        assert {r.status for r in ledger.values()} == {"posted"}, [
            (r.entry_id, r.code, r.erp_connection, r.detail)
            for r in ledger.values()
            if r.status != "posted"
        ][:3]
        assert len(ledger) == len(entries)
        in_bc, in_d365 = _bc_held(harness), _d365_held(harness)
        for e in entries:
            row = ledger[e["id"]]
            assert row.external_id is not None
            places = {
                BC: bc_number(row.external_id) in in_bc,
                D365: posting_ref(row.external_id) in in_d365,
            }
            assert places == {BC: row.erp_connection == BC, D365: row.erp_connection == D365}, e
        assert {ledger[e["id"]].erp_connection for s in after for e in s["entries"]} == {D365}
        assert any(ledger[e["id"]].erp_connection == BC for s in before for e in s["entries"])

        # Per project, both ERPs together hold the approved hours and amounts to the cent.
        hours: dict[str, Decimal] = defaultdict(Decimal)
        amount: dict[str, Decimal] = defaultdict(Decimal)
        by_number = {bc_number(p): p for p in projects}
        for r in in_bc.values():
            hours[by_number[r["projectNumber"]]] += Decimal(str(r["quantity"]))
            amount[by_number[r["projectNumber"]]] += Decimal(str(r["totalPrice"]))
        by_key = {fo_key(p): p for p in projects}
        for t in in_d365.values():
            if t.get("ProjectId") in by_key:
                hours[by_key[t["ProjectId"]]] += Decimal(str(t["Quantity"]))
                # The emulator keeps amounts as JSON numbers: a line's amount to the cent.
                line = Decimal(str(t["TotalSalesAmount"])).quantize(CENT, ROUND_HALF_UP)
                amount[by_key[t["ProjectId"]]] += line
        want_hours: dict[str, Decimal] = defaultdict(Decimal)
        want_amount: dict[str, Decimal] = defaultdict(Decimal)
        for e in entries:
            want_hours[e["project_id"]] += Decimal(e["hours"])
            line = Decimal(e["hours"]) * Decimal(e["bill_rate"]["amount"])
            want_amount[e["project_id"]] += line.quantize(CENT, ROUND_HALF_UP)
        assert dict(hours) == dict(want_hours)
        assert {p: a.quantize(CENT) for p, a in amount.items()} == dict(want_amount)
        for url in harness.sandbox.urls.values():
            assert httpx.get(f"{url}/__sandbox/stats", timeout=10).json()["duplicates"] == 0

        connections = Connections(harness.engine, config_file=config)
        try:

            def erp_for(name: str, rules: Rules) -> Erp:
                return connections.connector(name).as_erp(rules)

            tied = tie_out(harness.engine, _rules(harness, config), "DE01", erp_for)
        finally:
            connections.close()
        assert sorted(t.project_id for t in tied) == sorted(projects)
        for t in tied:
            assert t.clean, (t.doubled, t.missing)
            mine = [ledger[e["id"]] for e in entries if e["project_id"] == t.project_id]
            assert sum(t.entries.values()) == len(mine)
            assert {n: len(k) for n, k in t.held.items() if k} == {
                n: c for n, c in t.entries.items() if c
            }
            total = sum((sum(a.values(), Decimal(0)) for a in t.amounts.values()), Decimal(0))
            assert total.quantize(CENT) == want_amount[t.project_id]
        # Every accepted posting's shadow outcome, once (validate mode writes nothing).
        deadline = time.monotonic() + 60
        while True:
            with harness.engine.connect() as conn:
                found = shadow_store.outcomes(conn, "DE01")
            shadowed = [o for o in found if o.entry_id in ledger]
            if len(shadowed) >= len(ledger):
                break
            assert time.monotonic() < deadline, (len(shadowed), len(ledger))
            time.sleep(0.2)
        assert sorted(o.entry_id for o in shadowed) == sorted(ledger)
        assert {o.mode for o in shadowed} == {"validate"}
        assert {(o.sor_connection, o.shadow_connection) for o in shadowed} <= {
            (BC, D365),
            (D365, BC),
        }
        open_now = harness.open_exceptions("time_to_bill")
        assert open_now == [], [e.title for e in open_now]
