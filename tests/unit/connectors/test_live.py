"""How the live suites find a real tenant: ``ACCORD_LIVE_CONFIG`` and ``ACCORD_LIVE_<KIND>``."""

from pathlib import Path

import pytest

from accord.connectors.netsuite import NetSuiteConfig
from accord.connectors.testing import LIVE_CONFIG_ENV, live_config, live_values

CONFIG = """
connections:
  ns-prod-copy:
    kind: netsuite
    account_id: "1234567-sb1"
    client_id: ${env:NS_ID}
    client_secret: ${env:NS_SECRET}
    token_id: tba-token
    token_secret: ${env:NS_SECRET}
  ns-other:
    kind: netsuite
    account_id: "1234567-sb2"
    client_id: other
    client_secret: other-secret
    token_id: other-token
    token_secret: other-token-secret
live:
  netsuite: {subsidiary: "1"}
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "live.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_without_a_config_the_live_suites_skip_and_say_how_to_run_them():
    with pytest.raises(pytest.skip.Exception, match=LIVE_CONFIG_ENV):
        live_config("netsuite", env={})


def test_first_connection_of_the_kind_with_its_secrets_resolved(config_file: Path):
    env = {LIVE_CONFIG_ENV: str(config_file), "NS_ID": "id", "NS_SECRET": "s3cret"}
    config = live_config("netsuite", env=env)
    assert isinstance(config, NetSuiteConfig)
    assert config.name == "ns-prod-copy"
    assert live_values("netsuite", env=env) == {"subsidiary": "1"}
    assert live_values("kantata", env=env) == {}


def test_a_named_connection_and_a_kind_without_one(config_file: Path):
    env = {LIVE_CONFIG_ENV: str(config_file), "ACCORD_LIVE_NETSUITE": "ns-other"}
    assert live_config("netsuite", env=env).name == "ns-other"
    with pytest.raises(pytest.skip.Exception, match="no kantata connection"):
        live_config("kantata", env=env)


def test_an_unresolvable_secret_fails_rather_than_skips(config_file: Path):
    with pytest.raises(pytest.fail.Exception, match="NS_ID"):
        live_config("netsuite", env={LIVE_CONFIG_ENV: str(config_file)})
