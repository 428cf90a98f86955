"""``accord connections discover NAME``: what a system offers for Accord's settings."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli.app import app
from accord_sandbox.accord_config import write_accord_config
from accord_sandbox.server import Sandbox


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with Sandbox(base_port=0, scenario="small").start_in_thread() as handle:
        folder = tmp_path_factory.mktemp("discover")
        yield write_accord_config(folder / "accord.yaml", handle.urls)


def _discover(config_file: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app,
        ["connections", "discover", *args],
        env={"ACCORD_CONFIG_FILE": str(config_file), "COLUMNS": "160"},
    )
    return result.exit_code, result.stdout, result.stderr


def test_netsuite_lists_the_ids_its_settings_name(config_file: Path) -> None:
    code, out, _ = _discover(config_file, "netsuite", "--json")
    assert code == 0
    document = json.loads(out)
    assert document["kind"] == "netsuite"
    lists = {ref["setting"]: ref for ref in document["lists"]}
    items = lists["billing_item"]["values"]
    assert {"id": "1", "name": "Professional Services", "detail": "PS-SERVICES"} in items
    categories = {v["name"]: v["id"] for v in lists["expense_categories.<category>"]["values"]}
    assert categories["Travel"] == "1"
    assert len(categories) == 7
    departments = next(r for r in document["lists"] if r["title"] == "Departments")
    assert {v["detail"]: v["id"] for v in departments["values"]}["TECH"] == "102"


def test_business_central_lists_companies_journals_and_dimensions(config_file: Path) -> None:
    code, out, _ = _discover(config_file, "business-central")
    assert code == 0
    for text in ("Companies", "PROJECTS", "CASHRCPT", "DEPARTMENT", "DATA-AI", "NAEAST"):
        assert text in out


def test_an_unknown_connection_is_one_line_and_a_non_zero_exit(config_file: Path) -> None:
    code, _, err = _discover(config_file, "nowhere")
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert "nowhere" in err
    assert "netsuite" in err  # the known ones are named
