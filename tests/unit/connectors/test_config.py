from pathlib import Path

import pytest
from pydantic import SecretStr

from accord.connectors.config import load_connections
from accord.connectors.netsuite import NetSuiteConfig
from accord.errors import ConfigError

YAML = """
connections:
  netsuite-us:
    kind: netsuite
    account_id: "1234567-sb1"
    client_id: ${env:NS_CLIENT_ID}
    client_secret: ${file:secrets/ns_secret}
    token_id: tid
    token_secret: ${env:NS_CLIENT_ID}-token-secret
    rate_per_s: 3
    concurrency: 2
"""


def write(tmp_path: Path, text: str, secret: str | None = "s3cret-value\n") -> Path:
    path = tmp_path / "accord.yaml"
    path.write_text(text)
    if secret is not None:
        (tmp_path / "secrets").mkdir()
        (tmp_path / "secrets" / "ns_secret").write_text(secret)
    return path


def test_loads_with_env_and_file_references(tmp_path: Path) -> None:
    configs = load_connections(write(tmp_path, YAML), {"NS_CLIENT_ID": "cid"})
    cfg = configs["netsuite-us"]
    assert isinstance(cfg, NetSuiteConfig)
    assert cfg.name == "netsuite-us"
    assert cfg.client_id == "cid"
    assert isinstance(cfg.client_secret, SecretStr)
    assert cfg.client_secret.get_secret_value() == "s3cret-value"
    assert cfg.token_secret is not None
    assert cfg.token_secret.get_secret_value() == "cid-token-secret"  # part of a string
    assert cfg.auth_method == "tba"
    assert cfg.realm == "1234567_SB1"
    assert "s3cret" not in repr(cfg)
    assert (cfg.rate_per_s, cfg.concurrency) == (3.0, 2)
    assert cfg.base_url.startswith("https://1234567-sb1.suitetalk")


def test_configs_are_frozen(tmp_path: Path) -> None:
    cfg = load_connections(write(tmp_path, YAML), {"NS_CLIENT_ID": "cid"})["netsuite-us"]
    with pytest.raises(ValueError, match="frozen"):
        cfg.concurrency = 9  # type: ignore[misc]


def test_unknown_key_is_refused_naming_connection_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, YAML + "    concurency: 3\n")
    with pytest.raises(ConfigError) as caught:
        load_connections(path, {"NS_CLIENT_ID": "cid"})
    assert "netsuite-us" in str(caught.value)
    assert "concurency" in str(caught.value)


def test_missing_env_var_names_key_not_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_connections(write(tmp_path, YAML), {})
    message = str(caught.value)
    assert "netsuite-us" in message
    assert "client_id" in message
    assert "NS_CLIENT_ID" in message


def test_missing_secret_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_connections(write(tmp_path, YAML, secret=None), {"NS_CLIENT_ID": "cid"})
    assert "client_secret" in str(caught.value)


def test_validation_error_never_echoes_secret(tmp_path: Path) -> None:
    text = YAML.replace("rate_per_s: 3", "rate_per_s: ${env:NS_CLIENT_ID}")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_connections(path, {"NS_CLIENT_ID": "topsecret-id"})
    assert "rate_per_s" in str(caught.value)
    assert "topsecret-id" not in str(caught.value)
    assert caught.value.__cause__ is None


def test_unknown_kind_and_scheme(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown connector kind"):
        load_connections(write(tmp_path, "connections:\n  x:\n    kind: sap\n"), {})
    path = tmp_path / "b.yaml"
    path.write_text(YAML.replace("${env:NS_CLIENT_ID}", "${aws:ns}"))
    with pytest.raises(ConfigError, match="unknown reference scheme"):
        load_connections(path, {})
    path.write_text(YAML.replace("${env:NS_CLIENT_ID}", "${vault:ns}"))
    with pytest.raises(ConfigError, match=r"\$\{vault:mount/path/to/secret#key\}"):
        load_connections(path, {})


def test_empty_file_has_no_connections(tmp_path: Path) -> None:
    assert load_connections(write(tmp_path, "", secret=None), {}) == {}
