"""Helpers of the governance tests: a quiet ``accord.yaml`` and admin keys."""

from pathlib import Path

import yaml

from accord.store import create_db_engine, keys, migrate
from accord_sandbox.accord_config import accord_config

DEFAULT = Path(__file__).resolve().parents[3] / "rules" / "default.yaml"
URLS = {
    s: f"http://127.0.0.1:9/{s}" for s in ("salesforce", "kantata", "netsuite", "business_central")
}
"""Never contacted: these tests read and write only Accord's database."""


def write_environment(folder: Path, name: str, *, approval: bool) -> Path:
    """The sandbox's ``accord.yaml`` named ``name``, nothing polled; returns its path."""
    document = accord_config(URLS, rules=DEFAULT, approval_required=approval)
    document["governance"]["environment"] = name
    document["lead_to_project"]["capture_interval_s"] = 0
    document["customer_master"]["capture_interval_s"] = 0
    for section in ("approvals", "cash", "milestones"):
        document[section]["capture_interval_s"] = 0
    config = folder / "accord.yaml"
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    return config


def create_keys(db_url: str, **roles: keys.Role) -> dict[str, str]:
    """API keys by name (``alice=Role.ADMIN``); returns their secrets."""
    engine = create_db_engine(db_url)
    migrate(engine)
    with engine.begin() as conn:
        found = {n: keys.create(conn, name=n, role=r, actor="test")[1] for n, r in roles.items()}
    engine.dispose()
    return found


def changed_document(department: str = "105") -> dict:
    """The default rules with practice TECH on another NetSuite department."""
    document = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    document["practices"]["TECH"]["netsuite_department_id"] = department
    return document
