"""accord.rules: the default rules load, hash stably, fail clearly, and match the schema file."""

import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ConfigDict

from accord.connectors.ownership import DEFAULT_OWNERSHIP, OwnershipSpec
from accord.domain import BillingModel, ErpSystem
from accord.errors import ConfigError, RuleViolation
from accord.rules import (
    OwnerQueue,
    Severity,
    Transform,
    TransformRegistry,
    export_schema,
    load_rules,
    parse_rules,
)
from accord.rules.transforms import DEFAULT_TRANSFORMS
from accord_sandbox.scenario import generate

ROOT = Path(__file__).resolve().parents[3]
DEFAULT = ROOT / "rules" / "default.yaml"


def _doc() -> dict:
    return yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))


def test_default_rules_load_with_a_sha256_version():
    rules = load_rules(DEFAULT)
    assert len(rules.version) == 64
    assert set(rules.spec.service_packages) == {
        "ADVISORY-TM",
        "IMPL-FIXED",
        "ROLLOUT-MILESTONE",
        "MANAGED-RETAINER",
    }
    assert rules.template_for("ROLLOUT-MILESTONE").billing_model is BillingModel.MILESTONE
    assert rules.revenue_policy(BillingModel.RETAINER).billing == "recurring"


def test_default_rules_match_the_sandbox_firm():
    firm = generate("firm", seed=1)
    rules = load_rules(DEFAULT)
    for p in firm.practices:
        spec = rules.spec.practices[p.code]
        assert (spec.netsuite_department_id, spec.bc_department_code) == (
            p.netsuite_department_id,
            p.bc_department_code,
        )
    for r in firm.regions:
        spec = rules.spec.regions[r.code]
        assert (spec.netsuite_class_id, spec.bc_area_code, spec.tax_region) == (
            r.netsuite_class_id,
            r.bc_area_code,
            r.tax_region,
        )
    for e in firm.legal_entities:
        spec = rules.spec.legal_entities[e.code]
        assert spec.erp.value == e.erp
        assert spec.currency == e.currency
        assert spec.netsuite_subsidiary_id == e.netsuite_subsidiary_id
    for pkg in firm.service_packages:
        tpl = rules.template_for(pkg.code)
        assert tpl.billing_model == pkg.billing_model
        assert tpl.kantata_workspace_template == pkg.template
        assert tpl.phases == pkg.phases
        assert [(m.name, m.percent) for m in tpl.milestones] == [
            (m.name, m.percent) for m in pkg.milestones
        ]


def test_placement_on_each_erp():
    rules = load_rules(DEFAULT)
    us = rules.placement(legal_entity="US01", practice="TECH", region="NA-EAST")
    assert (us.erp, us.subsidiary, us.department, us.class_) == (
        ErpSystem.NETSUITE,
        "2",
        "102",
        "201",
    )
    assert us.currency == "USD"
    de = rules.placement(legal_entity="DE01", practice="DATA", region="DACH")
    assert de.erp is ErpSystem.BUSINESS_CENTRAL
    assert de.connection == "business-central"
    assert dict(de.dimensions) == {"DEPARTMENT": "DATA-AI", "AREA": "DACH"}
    assert de.tax.reverse_charge
    with pytest.raises(RuleViolation) as info:
        rules.placement(legal_entity="US01", practice="NOPE", region="NA-EAST")
    assert info.value.field == "practice"


def test_exception_routing_longest_prefix_then_default():
    rules = load_rules(DEFAULT)
    assert rules.route("validation.missing_field").queue is OwnerQueue.SALES_OPS
    assert rules.route("erp.period.closed").queue is OwnerQueue.FINANCE_OPS
    assert rules.route("psa.template_missing").queue is OwnerQueue.DELIVERY_OPS
    assert rules.route("auth.refused").severity is Severity.CRITICAL
    assert rules.route("something.new").queue is OwnerQueue.INTEGRATION


def test_field_ownership_equals_the_connectors_defaults():
    rules = load_rules(DEFAULT)
    as_connectors = OwnershipSpec.model_validate(rules.spec.field_ownership.model_dump())
    assert as_connectors == DEFAULT_OWNERSHIP
    assert rules.owner("project", "billing_model") == "crm"
    assert rules.owner("project", "id") is None


def test_project_name_transforms():
    rules = load_rules(DEFAULT)
    long = "  Acme   " + "x" * 200
    name = rules.project_name("IMPL-FIXED", long)
    assert name.startswith("Acme x")
    assert len(name) <= 80


def test_hash_ignores_comments_order_and_formatting(tmp_path):
    doc = _doc()
    reordered = dict(reversed(list(doc.items())))
    other = tmp_path / "r.yaml"
    other.write_text("# a comment\n" + yaml.safe_dump(reordered, sort_keys=False, width=200))
    assert load_rules(other).version == load_rules(DEFAULT).version
    assert load_rules(DEFAULT).version == load_rules(DEFAULT).version


def test_hash_changes_with_meaning():
    doc = _doc()
    doc["practices"]["TECH"]["netsuite_department_id"] = "999"
    assert parse_rules(doc).version != load_rules(DEFAULT).version


def test_unknown_key_names_its_path():
    doc = _doc()
    doc["service_packages"]["IMPL-FIXED"]["phasez"] = ["x"]
    with pytest.raises(ConfigError, match=r"service_packages\.IMPL-FIXED\.phasez: unknown key"):
        parse_rules(doc)


def test_missing_key_names_its_path():
    doc = _doc()
    del doc["legal_entities"]["US01"]["currency"]
    with pytest.raises(ConfigError, match=r"legal_entities\.US01\.currency: required key"):
        parse_rules(doc)


def test_milestone_percents_must_sum_to_100():
    doc = _doc()
    doc["service_packages"]["ROLLOUT-MILESTONE"]["milestones"][0]["percent"] = "5.00"
    with pytest.raises(ConfigError, match=r"ROLLOUT-MILESTONE: milestone percents sum to 95"):
        parse_rules(doc)


def test_milestone_billing_needs_milestones():
    doc = _doc()
    doc["service_packages"]["ROLLOUT-MILESTONE"]["milestones"] = []
    with pytest.raises(ConfigError, match="needs at least one milestone"):
        parse_rules(doc)


def test_cross_references_are_checked():
    doc = _doc()
    doc["regions"]["UKI"]["legal_entity"] = "FR01"
    with pytest.raises(ConfigError, match=r"regions\.UKI\.legal_entity: unknown legal entity"):
        parse_rules(doc)
    doc = _doc()
    del doc["revenue"]["retainer"]
    with pytest.raises(ConfigError, match="no policy for billing model"):
        parse_rules(doc)


def test_bad_yaml_names_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("psa:\n  system: [kantata\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML at line"):
        load_rules(bad)
    with pytest.raises(ConfigError, match="cannot read rules"):
        load_rules(tmp_path / "missing.yaml")
    top = tmp_path / "list.yaml"
    top.write_text("- 1\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_rules(top)


def test_unknown_transform_and_bad_args_are_config_errors():
    doc = _doc()
    doc["service_packages"]["IMPL-FIXED"]["project_name"] = [{"name": "shout"}]
    with pytest.raises(ConfigError, match=r"project_name\.0\.name: unknown transform 'shout'"):
        parse_rules(doc)
    doc["service_packages"]["IMPL-FIXED"]["project_name"] = [
        {"name": "truncate", "args": {"max_length": 0}}
    ]
    with pytest.raises(ConfigError, match=r"project_name\.0\.args: max_length"):
        parse_rules(doc)


def test_custom_transform_registry():
    class Args(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")

    registry = DEFAULT_TRANSFORMS.register(Transform("reverse", Args, lambda v, _a: v[::-1]))
    assert isinstance(registry, TransformRegistry)
    assert "reverse" in registry.names()
    assert "reverse" not in DEFAULT_TRANSFORMS.names()
    doc = _doc()
    doc["service_packages"]["IMPL-FIXED"]["project_name"] = [{"name": "reverse"}]
    assert parse_rules(doc, transforms=registry).project_name("IMPL-FIXED", "abc") == "cba"
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Transform("reverse", Args, lambda v, _a: v))


def test_percent_strings_keep_decimals_exact():
    tpl = load_rules(DEFAULT).template_for("ROLLOUT-MILESTONE")
    assert sum(m.percent for m in tpl.milestones) == Decimal(100)


def test_schema_file_is_up_to_date():
    committed = (ROOT / "rules" / "schema.json").read_text(encoding="utf-8")
    assert committed == export_schema(), (
        "rules/schema.json is stale: run `python -m accord.rules rules/schema.json`"
    )


def test_rules_never_import_runtime_frameworks():
    import subprocess

    code = (
        "import sys, accord.rules; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('dbos', 'fastapi', 'typer', 'sqlalchemy')]; print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
