"""The ``approvals:`` section: defaults from lead-to-project's PSA, explicit values, errors."""

from pathlib import Path

import pytest
import yaml

from accord.errors import ConfigError
from accord.flows.approvals.settings import load_approval_settings
from accord_sandbox.accord_config import default_rules_path


def write(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "accord.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_psa_defaults_to_the_one_projects_are_provisioned_in(tmp_path):
    rules = default_rules_path()
    assert rules is not None
    path = write(
        tmp_path,
        {
            "lead_to_project": {
                "psa": {"system": "certinia", "connection": "psa-prod"},
                "rules": str(rules),
            }
        },
    )
    settings = load_approval_settings(path)
    assert (settings.psa_system, settings.psa_connection) == ("certinia", "psa-prod")
    assert settings.capture_interval_s == 5


def test_explicit_section_wins(tmp_path):
    path = write(
        tmp_path,
        {"approvals": {"psa": {"system": "kantata", "connection": "k2"}, "capture_interval_s": 0}},
    )
    settings = load_approval_settings(path)
    assert (settings.psa_system, settings.psa_connection) == ("kantata", "k2")
    assert settings.capture_interval_s == 0


@pytest.mark.parametrize(
    "section",
    [
        {"psa": {"system": "sap", "connection": "x"}},
        {"psa": {"system": "kantata", "connection": "k"}, "capture_interval_s": -1},
        {"psa": {"system": "kantata", "connection": "k"}, "capture_interval_s": "5"},
        ["not", "a", "mapping"],
    ],
)
def test_malformed_section_is_refused(tmp_path, section):
    with pytest.raises(ConfigError):
        load_approval_settings(write(tmp_path, {"approvals": section}))
