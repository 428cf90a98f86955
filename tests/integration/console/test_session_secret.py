"""The console's session secret: from settings, else made once and kept in the database, so
that a session outlives a restart and is valid on every API process."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from starlette.responses import Response

from accord.console.session import COOKIE, ConsoleSettings, SessionSigner
from accord.errors import ConfigError
from accord.store import keys
from accord.store.tables import api_keys
from accord.store.util import utc_now


def _cookie(signer: SessionSigner, key_id: int, key_hash: str) -> str:
    response = Response()
    signer.issue(response, key_id=key_id, key_hash=key_hash, secure=False)
    header = response.headers["set-cookie"]
    return header.split(f"{COOKIE}=", 1)[1].split(";", 1)[0]


@pytest.fixture
def key(engine):
    with engine.begin() as conn:
        made, _ = keys.create(conn, name="ops", role=keys.Role.OPERATOR, actor="test")
        key_hash = conn.execute(
            sa.select(api_keys.c.key_hash).where(api_keys.c.id == made.id)
        ).scalar_one()
    return made.id, key_hash


def test_without_settings_every_process_signs_with_the_stored_secret(engine, key):
    first, second = (SessionSigner(ConsoleSettings(), engine) for _ in range(2))
    cookie = _cookie(first, *key)
    # Another process (or this one after a restart) reads the same session.
    session = second.read(cookie)
    assert session is not None
    assert session.name == "ops"


def test_a_configured_secret_wins_and_must_be_long_enough(engine, key):
    configured = ConsoleSettings(session_secret=SecretStr("s" * 40))
    stored = SessionSigner(ConsoleSettings(), engine)
    cookie = _cookie(SessionSigner(configured, engine), *key)
    assert SessionSigner(configured, engine).read(cookie) is not None
    assert stored.read(cookie) is None  # signed with another key
    with pytest.raises(ConfigError):
        SessionSigner(ConsoleSettings(session_secret=SecretStr("short")), engine)


def test_a_secret_file_is_read(engine, key, tmp_path):
    path = tmp_path / "session.secret"
    path.write_text("f" * 48 + "\n", encoding="utf-8")
    by_file = ConsoleSettings(session_secret_file=path)
    by_value = ConsoleSettings(session_secret=SecretStr("f" * 48))
    cookie = _cookie(SessionSigner(by_file, engine), *key)
    assert SessionSigner(by_value, engine).read(cookie) is not None


def test_an_expired_key_ends_its_sessions(engine, key):
    signer = SessionSigner(ConsoleSettings(), engine)
    cookie = _cookie(signer, *key)
    assert signer.read(cookie) is not None
    with engine.begin() as conn:
        conn.execute(
            sa.update(api_keys)
            .where(api_keys.c.id == key[0])
            .values(expires_at=utc_now() - timedelta(seconds=1))
        )
    assert signer.read(cookie) is None
