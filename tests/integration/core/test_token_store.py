"""Tokens of consent steps, encrypted in the database (SQLite and PostgreSQL)."""

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from accord.connectors.authorization import TokenSet
from accord.errors import ConfigError
from accord.store import audit
from accord.store.credentials import CredentialCipher, DatabaseTokenStore
from accord.store.tables import connection_tokens

TOKENS = TokenSet(
    access_token="kantata-access-token-value",
    obtained_at=datetime(2026, 1, 5, 9, tzinfo=UTC),
    refresh_token="kantata-refresh-token-value",
    expires_at=datetime(2026, 1, 5, 10, tzinfo=UTC),
)


def key() -> SecretStr:
    return SecretStr(CredentialCipher.generate_key())


def test_round_trip_is_encrypted_and_audited(engine: sa.Engine) -> None:
    store = DatabaseTokenStore(engine, key=key())
    assert store.load("kantata") is None
    store.authorize("kantata", TOKENS, actor="cli:ops")
    assert store.load("kantata") == TOKENS
    with engine.connect() as conn:
        row = conn.execute(sa.select(connection_tokens)).one()
        entries = [e for e in audit.list_(conn) if e.action == "connection.authorized"]
    assert "token-value" not in row.ciphertext
    assert row.key_id
    assert len(entries) == 1
    assert entries[0].target == "kantata"
    assert "token-value" not in str(entries[0].after)
    refreshed = TokenSet("new-access", TOKENS.obtained_at, "new-refresh", TOKENS.expires_at)
    store.save("kantata", refreshed)
    assert DatabaseTokenStore(engine, key=store._key).load("kantata") == refreshed
    [listed] = store.list_()
    assert listed.connection == "kantata"
    assert listed.updated_at >= listed.authorized_at
    assert store.forget("kantata", actor="cli:ops")
    assert store.load("kantata") is None
    assert not store.forget("kantata", actor="cli:ops")


def test_another_key_cannot_read_and_rotation_keeps_old_tokens(engine: sa.Engine) -> None:
    old = key()
    DatabaseTokenStore(engine, key=old).save("kantata", TOKENS)
    with pytest.raises(ConfigError, match="not the one it was stored with"):
        DatabaseTokenStore(engine, key=key()).load("kantata")
    # Rotation: the new key first encrypts, the old one still decrypts.
    new = CredentialCipher.generate_key()
    rotated = DatabaseTokenStore(engine, key=SecretStr(f"{new}, {old.get_secret_value()}"))
    assert rotated.load("kantata") == TOKENS
    rotated.save("kantata", TOKENS)
    assert DatabaseTokenStore(engine, key=SecretStr(new)).load("kantata") == TOKENS


def test_key_file_is_created_once_for_its_owner_only(engine: sa.Engine, tmp_path: Path) -> None:
    key_file = tmp_path / "secrets" / "credentials.key"
    reader = DatabaseTokenStore(engine, key_file=key_file)
    assert reader.load("kantata") is None  # nothing stored: no key needed, none created
    assert not key_file.exists()
    DatabaseTokenStore(engine, key_file=key_file).save("kantata", TOKENS)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert DatabaseTokenStore(engine, key_file=key_file).load("kantata") == TOKENS
    with pytest.raises(ConfigError, match="no credentials key is configured"):
        DatabaseTokenStore(engine, key_file=tmp_path / "missing.key").load("kantata")


def test_a_malformed_key_is_a_config_error(engine: sa.Engine) -> None:
    with pytest.raises(ConfigError, match="not a Fernet key"):
        DatabaseTokenStore(engine, key=SecretStr("hunter2")).save("kantata", TOKENS)
