import importlib
from pathlib import Path

import httpx
import pytest

import accord.connectors
from accord.connectors import (
    Connector,
    available_kinds,
    config_model_for,
    connector_class,
    create_connector,
)
from accord.connectors.netsuite import NetSuiteConfig, NetSuiteConnector
from accord.errors import ConfigError


def test_builtin_netsuite_is_registered() -> None:
    assert "netsuite" in available_kinds()
    assert connector_class("netsuite") is NetSuiteConnector
    assert config_model_for("netsuite") is NetSuiteConfig


def test_unknown_kind() -> None:
    with pytest.raises(ConfigError, match="unknown connector kind"):
        connector_class("sap")


def test_create_connector_checks_config_class() -> None:
    cfg = NetSuiteConfig(
        name="ns",
        account_id="1",
        client_id="c",
        client_secret="s",  # type: ignore[arg-type]
        token_id="t",
        token_secret="ts",  # type: ignore[arg-type]
    )
    transport = httpx.MockTransport(lambda r: httpx.Response(500))
    with create_connector(cfg, transport=transport) as conn:
        assert isinstance(conn, Connector)
        assert conn.kind == "netsuite"


@pytest.mark.parametrize(
    "module", ["accord.connectors", "accord.connectors.netsuite", "accord.connectors.testing"]
)
def test_all_is_exact_and_importable(module: str) -> None:
    mod = importlib.import_module(module)
    public = {n for n in vars(mod) if not n.startswith("_")}
    for name in mod.__all__:
        assert hasattr(mod, name), name
    assert sorted(mod.__all__) == sorted(set(mod.__all__))
    assert set(mod.__all__) <= public


def test_framework_exports_are_pinned() -> None:
    assert set(accord.connectors.__all__) >= {
        "Connector",
        "ConnectorConfig",
        "Budget",
        "LocalBudget",
        "Page",
        "WriteResult",
        "RecordMeta",
        "load_connections",
        "filter_outbound",
        "verify_signature",
    }


def test_house_rule_no_framework_imports() -> None:
    package = Path(accord.connectors.__file__).parent
    banned = ("dbos", "fastapi", "typer", "sqlalchemy")
    for path in package.rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]) and len(words) > 1:
                assert words[1].split(".")[0] not in banned, f"{path.name}: {line}"
