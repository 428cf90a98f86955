"""``accord demo --migrate DE01``: the demo's rules put Dynamics 365 Finance beside DE01's ERP."""

from pathlib import Path

import pytest

from accord.cli.demo_cmd import DemoError, DemoOptions, _migration_rules
from accord.domain import ErpSystem
from accord.flows.shared.settings import load_flow_settings
from accord.rules import load_rules
from accord_sandbox.accord_config import write_accord_config
from accord_sandbox.server import SYSTEMS


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


def test_a_relative_data_folder_still_names_a_readable_rules_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `accord demo --migrate DE01` from the project's folder: data in var/demo (relative).
    monkeypatch.chdir(tmp_path)
    options = DemoOptions(data_dir=Path("var/demo"), migrate="DE01")
    options.data_dir.mkdir(parents=True)
    urls = {s.name: f"http://127.0.0.1:{8801 + n}" for n, s in enumerate(SYSTEMS)}
    config = write_accord_config(
        options.data_dir / "accord.yaml", urls, rules=_migration_rules(options)
    )
    settings = load_flow_settings(config, {})
    assert settings.rules_path.is_file()
    assert load_rules(settings.rules_path).spec.legal_entities["DE01"].migration is not None
