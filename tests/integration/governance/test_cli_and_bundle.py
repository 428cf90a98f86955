"""The CLI as an operator uses it: the four-eyes change checked by ``accord audit verify``,
and a bundle exported from one database and imported into another."""

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from tests.integration.governance.conftest import changed_document, create_keys, write_environment
from typer.testing import CliRunner

from accord.cli.app import app
from accord.store import audit, create_db_engine, keys, rulesets


def environment(folder: Path, db_url: str, name: str, *, approval: bool) -> dict[str, str]:
    """The variables pointing the CLI at a database and an ``accord.yaml`` named ``name``."""
    config = write_environment(folder, name, approval=approval)
    return {"ACCORD_DATABASE_URL": db_url, "ACCORD_CONFIG_FILE": str(config), "COLUMNS": "200"}


def admins(db_url: str, *names: str) -> dict[str, str]:
    return create_keys(db_url, **dict.fromkeys(names, keys.Role.ADMIN))


def run(env: dict[str, str], *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output
    return result.output


def changed_rules(folder: Path) -> Path:
    path = folder / "proposed.yaml"
    path.write_text(yaml.safe_dump(changed_document()), encoding="utf-8")
    return path


def in_db(db_url: str, read: Any) -> Any:
    engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            return read(conn)
    finally:
        engine.dispose()


def test_a_change_from_proposal_to_activation_is_audited_and_verified(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'accord.db'}"
    env = environment(tmp_path, db_url, "production", approval=True)
    key = admins(db_url, "alice", "bob")
    proposed = changed_rules(tmp_path)

    assert "needs your API key" in run(
        env, "rules", "propose", str(proposed), "--reason", "x", code=1
    )
    output = run(
        env, "rules", "propose", str(proposed), "--reason", "TECH -> 105", "--key", key["alice"]
    )
    assert "practices.TECH.netsuite_department_id" in output
    assert "Proposed #1" in output
    refused = run(env, "rules", "approve", "1", "--key", key["alice"], code=1)
    assert "a second admin (not the proposer) must approve it" in refused
    assert "approval is required" in run(env, "rules", "activate", "1", "--key", key["bob"], code=1)
    assert "as key:bob" in run(env, "rules", "approve", "1", "--key", key["bob"])
    assert "Activated #1" in run(env, "rules", "activate", "1", "--key", key["bob"])
    # `audit verify` answers OK on stdout; its row count goes to stderr (CliRunner's output
    # mixes the two).
    verified = CliRunner().invoke(app, ["audit", "verify"], env=env)
    assert verified.exit_code == 0, verified.output
    assert verified.stdout.strip() == "OK"
    assert "rows (0 keyed)" in verified.stderr

    def trail(conn: sa.Connection) -> list[tuple[str, str]]:
        rows = reversed(audit.list_(conn, limit=50))
        return [(r.action, r.actor) for r in rows if r.action.startswith("rules.")]

    assert in_db(db_url, trail) == [
        ("rules.bootstrap", "accord"),
        ("rules.propose", "key:alice"),
        ("rules.approve_refused", "key:alice"),
        ("rules.approve", "key:bob"),
        ("rules.activate", "key:bob"),
    ]
    history = run(env, "rules", "history")
    assert "activate" in history
    assert "bootstrap" in history


@pytest.mark.slow
def test_a_bundle_reproduces_the_rules_hash_in_another_database(
    tmp_path: Path, db_url: str
) -> None:
    source = tmp_path / "sandbox"
    source.mkdir()
    source_env = environment(source, f"sqlite:///{source / 'accord.db'}", "sandbox", approval=False)
    # Approval is off in the sandbox: the change is proposed and activated at once.
    run(source_env, "rules", "propose", str(changed_rules(source)), "--reason", "TECH -> 105")
    run(source_env, "rules", "activate", "1")
    exported = in_db(source_env["ACCORD_DATABASE_URL"], lambda c: rulesets.active(c).version)
    bundle = tmp_path / "bundle.yaml"
    assert "Wrote" in run(source_env, "bundle", "export", "--out", str(bundle))
    text = bundle.read_text(encoding="utf-8")
    assert "sandbox-secret" not in text
    assert "<redacted>" in text

    target = tmp_path / "production"
    target.mkdir()
    target_env = environment(target, db_url, "production", approval=True)
    key = admins(db_url, "alice", "bob")
    dry = run(target_env, "bundle", "import", str(bundle), "--dry-run")
    assert "sandbox -> production (forward)" in dry
    assert "practices.TECH.netsuite_department_id" in dry
    assert in_db(db_url, rulesets.list_proposals) == []
    out = run(target_env, "bundle", "import", str(bundle), "--key", key["alice"])
    assert "Imported as proposal #1" in out
    run(target_env, "rules", "approve", "1", "--key", key["bob"])
    run(target_env, "rules", "activate", "1", "--key", key["bob"])
    assert in_db(db_url, lambda c: rulesets.active(c).version) == exported

    tampered = tmp_path / "tampered.yaml"
    tampered.write_text(text.replace("CC-TECH", "CC-TECHX"), encoding="utf-8")
    refused = run(target_env, "bundle", "import", str(tampered), "--dry-run", code=1)
    assert "edited or corrupted" in refused
