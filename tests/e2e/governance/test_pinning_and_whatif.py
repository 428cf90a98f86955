"""Governed change end to end, against the sandbox: pinned runs, retries' choice, what-if.

One in-process Accord (the time-to-bill harness: lead-to-project and time-to-bill against the
module's sandbox). The sandbox's ``accord.yaml`` does not require approval, so these tests
propose and activate with :class:`RulesChanges` directly (approval is tested on its own).

- An in-flight run finishes on its pinned version: Salesforce is slowed down on the account
  read of validation, which comes after the run pinned its rules; meanwhile a version routing
  validation failures to another queue is activated. The run still files its exception where
  its own version says; the next run uses the new version. Retrying the first keeps its
  version unless the operator asks for the current one.
- What-if of a changed dimension mapping (practice TECH -> NetSuite department 105) reports
  exactly the TECH records as changed, field by field, and the emulators' request logs and
  Accord's tables show that nothing was written.
"""

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.e2e.time_to_bill.conftest import Billing, start_billing

from accord.flows.pinning import resolver
from accord.governance.changes import RulesChanges
from accord.governance.settings import governance_settings
from accord.governance.whatif import is_read, run_whatif
from accord.rules import Rules, parse_rules
from accord.store import journal, rulesets
from accord.store.rulesets import Proposal
from accord_sandbox.server import Sandbox, SandboxHandle

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    """The four emulators on free ports, scenario firm."""
    handle = Sandbox(base_port=0, scenario="firm", seed=7).start_in_thread()
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def billing(sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Billing]:
    """Accord for the module, against the module's sandbox."""
    yield from start_billing(tmp_path_factory.mktemp("governed"), sandbox)


def variant(billing: Billing, change: Any) -> Rules:
    """The active rules with ``change(document)`` applied."""
    found = resolver()
    assert found is not None
    document = found.current(billing.rules).spec.model_dump(mode="json")
    change(document)
    return parse_rules(document)


def propose(billing: Billing, rules: Rules, *, activate: bool) -> Proposal:
    changes = RulesChanges(billing.engine, governance_settings(billing.config))
    proposal = changes.propose(rules, source="test", reason="test", actor="key:alice")
    return changes.activate(proposal.id, actor="key:bob") if activate else proposal


def active(billing: Billing) -> str:
    found = resolver()
    assert found is not None
    return found.current(billing.rules).version


def run_of(billing: Billing, opportunity: str) -> str:
    with billing.engine.connect() as conn:
        (entry,) = journal.list_(conn, business_key=f"opportunity:SF-{opportunity}", limit=5)
    return entry.run_id


def wait_pinned(billing: Billing, run_id: str) -> rulesets.Pin:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with billing.engine.connect() as conn:
            found = rulesets.get_pin(conn, run_id=run_id)
        if found is not None:
            return found
        time.sleep(0.05)
    pytest.fail(f"run {run_id} never read its rules")


def test_an_in_flight_run_finishes_on_its_pinned_version(billing: Billing) -> None:
    accord = billing.accord
    old = active(billing)
    rerouted = variant(
        billing,
        lambda d: d["exception_routing"]["routes"].update(
            {"validation.*": {"queue": "delivery-ops", "severity": "medium"}}
        ),
    )
    salesforce = accord.sandbox.urls["salesforce"]
    slow = {"method": "GET", "path": "*/sobjects/Account/*", "latency_ms": 2500}
    first = accord.opportunity(accord.account(), Practice__c="NOPE")
    httpx.post(f"{salesforce}/__sandbox/faults", json=slow, timeout=10).raise_for_status()
    try:
        assert accord.poll() == 1
        run_id = run_of(billing, first)
        # The run has read its rules and now waits on Salesforce: change the rules under it.
        assert wait_pinned(billing, run_id).version == old
        proposal = propose(billing, rerouted, activate=True)
        assert active(billing) == rerouted.version
        assert accord.run_for(first)["rules_version"] == old
    finally:
        httpx.delete(f"{salesforce}/__sandbox/faults", timeout=10)
    (raised,) = accord.exceptions_for(first)
    assert raised.queue == "sales-ops", "the old version routes validation to sales-ops"
    second = accord.opportunity(accord.account(), Practice__c="NOPE")
    assert accord.provision(second)["rules_version"] == rerouted.version
    (later,) = accord.exceptions_for(second)
    assert later.queue == "delivery-ops"

    # A retry keeps the run's version, unless the operator chooses the current one.
    kept = billing.action(raised.id, "retry")["run"]
    chosen = billing.action(raised.id, "retry", {"rules": "current"})["run"]
    assert (kept["rules"], kept["rules_version"]) == ("pinned", old)
    assert (chosen["rules"], chosen["rules_version"]) == ("current", proposal.version)
    outputs = {r["id"]: r["output"] for r in accord.settle()}
    assert outputs[kept["run_id"]]["rules_version"] == old
    assert outputs[chosen["run_id"]]["rules_version"] == proposal.version


def project(billing: Billing, practice: str) -> tuple[str, str]:
    """A time-and-materials project of ``practice``; (opportunity id, project id)."""
    accord = billing.accord
    opportunity = accord.opportunity(
        accord.account(),
        package="ADVISORY-TM",
        model="Time and Materials",
        amount=90000.0,
        Practice__c=practice,
        Start_Date__c="2026-06-01",
        CloseDate="2026-05-20",
    )
    run = accord.provision(opportunity)
    assert run["status"] == "provisioned", run
    return run["opportunity_id"], f"PRJ-{run['opportunity_id']}"


def stats(billing: Billing) -> dict[str, dict[str, Any]]:
    return {
        system: httpx.get(f"{url}/__sandbox/stats", timeout=10).json()
        for system, url in billing.accord.sandbox.urls.items()
    }


def non_reads(snapshot: dict[str, Any]) -> dict[str, int]:
    """Requests by endpoint whose method and path could change a record."""
    out = {}
    for endpoint, n in snapshot["requests_by_endpoint"].items():
        method, _, path = endpoint.partition(" ")
        if not is_read(httpx.Request(method, f"http://sandbox{path}")):
            out[endpoint] = n
    return out


TABLES = (
    "accord_journal",
    "accord_exceptions",
    "accord_postings",
    "accord_xref",
    "accord_lineage",
    "accord_audit",
    "accord_run_rules",
    "accord_rules_versions",
)


def counts(billing: Billing) -> dict[str, int]:
    """Rows of Accord's tables a what-if must not touch."""
    with billing.engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def test_whatif_of_a_dimension_change_reports_exactly_the_affected_records(
    billing: Billing,
) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    tech_opp, tech = project(billing, "TECH")
    data_opp, data = project(billing, "DATA")
    tech_sheet = billing.timesheet(tech, [("2026-09-14", "2.00"), ("2026-09-15", "3.00")])
    data_sheet = billing.timesheet(data, [("2026-09-14", "4.00")])
    for sheet in (tech_sheet, data_sheet):
        assert billing.post(sheet)["posted"] == len(sheet["entries"])
    moved = variant(
        billing, lambda d: d["practices"]["TECH"].update({"netsuite_department_id": "105"})
    )
    proposal = propose(billing, moved, activate=False)
    found = resolver()
    assert found is not None
    before, tables = stats(billing), counts(billing)

    report = run_whatif(
        billing.engine,
        proposal=found.version(proposal.version),
        version_of=found.version,
        config_file=billing.config,
        since=start,
        token_store=billing.services.connections.token_store,
    )

    after = stats(billing)
    for system in before:
        assert after[system]["writes"] == before[system]["writes"], system
        assert non_reads(after[system]) == non_reads(before[system]), system
    assert counts(billing) == tables
    assert report.errors == []
    # The ERP role builds each posting's body without sending it: no write is even attempted
    # (the dry-run transport would hold one).
    assert report.writes_held == 0
    by_record = {r.record: r for r in report.records}
    tech_entries = {f"time {e['id']}" for e in tech_sheet["entries"]}
    changed = {r.record for r in report.records if r.status != "unchanged"}
    assert changed == {*tech_entries, f"opportunity {tech_opp}"}
    for record in tech_entries:
        result = by_record[record]
        assert result.status == "changed"
        assert [(c.path, c.before, c.after) for c in result.changes] == [
            ("body.department.id", "102", "105")
        ]
        assert result.actual["status"] == "posted"
    plan = by_record[f"opportunity {tech_opp}"]
    assert [(c.path, c.before, c.after) for c in plan.changes] == [
        ("body.department", "102", "105")
    ]
    assert by_record[f"time {data_sheet['entries'][0]['id']}"].status == "unchanged"
    assert by_record[f"opportunity {data_opp}"].status == "unchanged"
    assert report.counts()["newly_failing"] == report.counts()["newly_passing"] == 0
