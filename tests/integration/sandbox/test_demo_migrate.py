"""``accord demo --migrate DE01``: the demo's rules put Dynamics 365 Finance beside DE01's ERP."""

from pathlib import Path

import pytest

from accord.cli.demo_cmd import DemoError, DemoOptions, _migration_rules
from accord.domain import ErpSystem
from accord.rules import load_rules


def test_the_demo_rules_shadow_the_entity_with_dynamics_finance(tmp_path: Path) -> None:
    path = _migration_rules(DemoOptions(data_dir=tmp_path, migrate="DE01"))
    entity = load_rules(path).spec.legal_entities["DE01"]
    assert entity.erp is ErpSystem.BUSINESS_CENTRAL
    assert entity.migration is not None
    assert (entity.migration.shadow, entity.migration.shadow_connection) == (
        ErpSystem.DYNAMICS_FINANCE,
        "dynamics-finance",
    )
    assert entity.migration.cutover_at is None


def test_an_unknown_entity_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DemoError, match="XX99"):
        _migration_rules(DemoOptions(data_dir=tmp_path, migrate="XX99"))
