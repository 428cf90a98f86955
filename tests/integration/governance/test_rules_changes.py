"""The rules of change on SQLite and PostgreSQL: bootstrap and adoption of the rules file,
the second admin, rollback, audit, and runs pinned across activations."""

import os
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from accord.governance.changes import (
    NothingToChangeError,
    ProposalStateError,
    RulesChanges,
    SelfApprovalError,
)
from accord.governance.resolve import RulesResolver
from accord.governance.settings import GovernanceSettings
from accord.rules import Rules, load_rules, parse_rules
from accord.store import audit, rulesets

DEFAULT = Path(__file__).resolve().parents[3] / "rules" / "default.yaml"
OFF = GovernanceSettings(approval_required=False)
ON = GovernanceSettings(approval_required=True)


def edited(path: Path, department: str) -> Rules:
    """Rewrite ``path`` with practice TECH on NetSuite department ``department``."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["practices"]["TECH"]["netsuite_department_id"] = department
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    # A rewrite within the file system's timestamp resolution must still be noticed.
    stamp = time.time() + int(department)
    os.utime(path, (stamp, stamp))
    return load_rules(path)


def actions(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return [r.action for r in reversed(audit.list_(conn, limit=100))]


def test_the_file_bootstraps_and_edits_are_adopted_only_without_approval(
    engine: sa.Engine, tmp_path: Path
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(DEFAULT.read_text(encoding="utf-8"), encoding="utf-8")
    follow = RulesResolver(engine, governance=lambda: OFF)
    first = follow.current(path)
    assert first.version == load_rules(DEFAULT).version
    second = edited(path, "105")
    assert follow.current(path).version == second.version
    strict = RulesResolver(engine, governance=lambda: ON)
    edited(path, "106")
    assert strict.current(path).version == second.version, "approval required: not adopted"
    with engine.connect() as conn:
        log = rulesets.activations(conn)
        stored = rulesets.get_version(conn, version=second.version)
    assert [(a.kind.value, a.version) for a in log] == [
        ("file", second.version),
        ("bootstrap", first.version),
    ]
    assert stored is not None
    assert stored.source == str(path.resolve())
    assert actions(engine) == ["rules.bootstrap", "rules.adopt"]


def test_a_change_needs_a_second_admin_and_every_step_is_audited(engine: sa.Engine) -> None:
    resolver = RulesResolver(engine, governance=lambda: ON)
    base = resolver.current(DEFAULT)
    document = base.spec.model_dump(mode="json")
    document["exception_routing"]["routes"]["erp.*"]["queue"] = "integration"
    changed = parse_rules(document)
    changes = RulesChanges(engine, ON)

    proposal = changes.propose(
        changed, source="test", reason="ERP errors to integration", actor="key:alice"
    )
    with pytest.raises(NothingToChangeError, match="already proposed as #"):
        changes.propose(changed, source="test", reason="again", actor="key:carol")
    with pytest.raises(ProposalStateError, match="approval is required"):
        changes.activate(proposal.id, actor="key:bob")
    with pytest.raises(SelfApprovalError, match="a second admin"):
        changes.approve(proposal.id, actor="key:alice")
    approved = changes.approve(proposal.id, actor="key:bob")
    assert (approved.status.value, approved.approved_by) == ("approved", "key:bob")
    active = changes.activate(proposal.id, actor="key:bob")
    assert active.status.value == "active"
    assert resolver.current(DEFAULT).version == changed.version
    back = changes.rollback(actor="key:carol", reason="queue too noisy")
    assert (back.version, back.previous_version) == (base.version, changed.version)
    with pytest.raises(NothingToChangeError):
        changes.rollback(actor="key:carol", reason="nothing before the bootstrap")

    assert actions(engine) == [
        "rules.bootstrap",
        "rules.propose",
        "rules.approve_refused",
        "rules.approve",
        "rules.activate",
        "rules.rollback",
    ]
    with engine.connect() as conn:
        assert audit.verify(conn) is None
        refused = audit.list_(conn, action="rules.approve_refused")[0]
        assert (refused.actor, refused.target) == ("key:alice", f"rules:proposal:{proposal.id}")
        assert rulesets.get_proposal(conn, id=proposal.id).status.value == "superseded"


def test_a_run_keeps_its_version_across_activations(engine: sa.Engine) -> None:
    resolver = RulesResolver(engine, governance=lambda: OFF)
    old = resolver.current(DEFAULT)
    run = "000000000001.evt-1"
    assert resolver.for_run(run, DEFAULT).version == old.version
    document = old.spec.model_dump(mode="json")
    document["tax"]["UK-VAT"]["rate_percent"] = "21"
    new = parse_rules(document)
    changes = RulesChanges(engine, OFF)
    changes.activate(changes.propose(new, source="t", reason="t", actor="key:a").id, actor="key:a")
    # The same process, and a fresh one (another worker, or after a crash), agree.
    assert resolver.for_run(run, DEFAULT).version == old.version
    other = RulesResolver(engine, governance=lambda: OFF)
    assert other.for_run(run, DEFAULT).version == old.version
    assert other.for_run("000000000002.evt-2", DEFAULT).version == new.version
    with engine.begin() as conn:
        held = rulesets.pin(conn, run_id=run, version=new.version, choice="current")
    assert held.version == old.version, "a pin is written once"
