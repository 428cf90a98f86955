"""Cut-over and rollback of a legal entity as governed rules versions (SQLite and PostgreSQL)."""

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from accord.errors import ConfigError
from accord.governance.migration import migrate_entity, switched_rules
from accord.governance.resolve import RulesResolver
from accord.governance.settings import GovernanceSettings
from accord.rules import Rules, load_rules
from accord.store import audit

DEFAULT = Path(__file__).resolve().parents[3] / "rules" / "default.yaml"
NOW = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    document = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    document["legal_entities"]["DE01"]["migration"] = {
        "shadow": "dynamics_finance",
        "shadow_connection": "dynamics-finance",
    }
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def _booked(rules: Rules) -> tuple[str, str, str, str, bool]:
    entity = rules.spec.legal_entities["DE01"]
    assert entity.migration is not None
    return (
        entity.erp.value,
        entity.connection,
        entity.migration.shadow.value,
        entity.migration.shadow_connection,
        entity.migration.cutover_at is not None,
    )


def test_cutover_swaps_and_rollback_swaps_back(rules_file: Path) -> None:
    rules = load_rules(rules_file)
    over = switched_rules(rules, "DE01", "cutover", now=NOW)
    assert _booked(over) == (
        "dynamics_finance",
        "dynamics-finance",
        "business_central",
        "business-central",
        True,
    )
    back = switched_rules(over, "DE01", "rollback", now=NOW)
    assert _booked(back) == _booked(rules)
    assert back.version == rules.version
    with pytest.raises(ConfigError, match="already cut over"):
        switched_rules(over, "DE01", "cutover", now=NOW)
    with pytest.raises(ConfigError, match="not cut over"):
        switched_rules(rules, "DE01", "rollback", now=NOW)
    with pytest.raises(ConfigError, match="no migration"):
        switched_rules(rules, "US01", "cutover", now=NOW)
    with pytest.raises(ConfigError, match="unknown legal entity"):
        switched_rules(rules, "XX99", "cutover", now=NOW)


def test_a_cutover_is_an_audited_active_version_or_a_proposal(
    engine: sa.Engine, rules_file: Path
) -> None:
    off = GovernanceSettings(approval_required=False)
    resolver = RulesResolver(engine, governance=lambda: off)
    step = migrate_entity(
        engine, off, resolver.current(rules_file), "DE01", "cutover", actor="a", reason="go-live"
    )
    assert step.active
    assert (step.from_erp, step.to_erp) == (
        ("business_central", "business-central"),
        ("dynamics_finance", "dynamics-finance"),
    )
    assert _booked(resolver.current(rules_file))[:2] == ("dynamics_finance", "dynamics-finance")
    on = GovernanceSettings(approval_required=True)
    back = migrate_entity(
        engine, on, resolver.current(rules_file), "DE01", "rollback", actor="a", reason="undo"
    )
    assert not back.active, "a second admin must approve it first"
    assert _booked(resolver.current(rules_file))[:2] == ("dynamics_finance", "dynamics-finance")
    with engine.connect() as conn:
        logged = [(r.action, r.target) for r in audit.list_(conn, limit=50)]
    assert ("migration.cutover", "legal_entity:DE01") in logged
    assert ("migration.rollback", "legal_entity:DE01") in logged
