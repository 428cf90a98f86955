"""``accord rules validate`` checks an entity's dimension codes in Dynamics 365 Finance."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.contract.conftest import FIRM, serve_firm
from tests.contract.sandbox_auth import sandbox_connector

from accord.connectors.base import Connector
from accord.errors import ConfigError
from accord.governance.validate import check_targets
from accord.rules import load_rules
from accord_sandbox.dynamics_finance import DynamicsFinanceEmulator

RULES = Path(__file__).resolve().parents[2] / "rules" / "default.yaml"


@pytest.fixture(scope="module")
def d365_url(serve_asgi: Callable[..., Any]) -> Iterator[str]:
    yield from serve_firm(serve_asgi, DynamicsFinanceEmulator)


def test_dimension_codes_are_checked_in_dynamics_finance(d365_url: str, tmp_path: Path) -> None:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    document["legal_entities"]["DE01"].update(erp="dynamics_finance", connection="d365")
    path = tmp_path / "rules.yaml"
    with sandbox_connector(
        "dynamics_finance",
        d365_url,
        name="d365",
        company="de01",
        companies={e.code: e.code.lower() for e in FIRM.legal_entities},
    ) as connector:

        def connector_for(name: str) -> Connector[Any]:
            if name != "d365":
                raise ConfigError(f"no connection {name}")
            return connector

        def findings(doc: dict[str, Any]) -> list[tuple[str, str]]:
            path.write_text(yaml.safe_dump(doc), encoding="utf-8")
            return [
                (f.severity, f.path)
                for f in check_targets(load_rules(path), connector_for)
                if "Dynamics 365 Finance" in f.message
            ]

        assert findings(document) == []
        practice = next(iter(document["practices"]))
        document["practices"][practice]["bc_department_code"] = "NOPE"
        assert findings(document) == [("error", f"practices.{practice}.bc_department_code")]
