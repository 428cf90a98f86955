"""Tokens of connections authorized by a consent step, encrypted at rest.

``accord connections authorize NAME`` ends with a :class:`~accord.connectors.authorization.TokenSet`
(Kantata's access token, which does not expire, or an access and refresh token pair): secrets
as good as a password. :class:`DatabaseTokenStore` keeps them in ``accord_connection_tokens``,
one row per connection, encrypted with Fernet (AES-128-CBC with an HMAC-SHA256 tag, from the
``cryptography`` package) under the *credentials key*, which never goes into the database.

The key is ``ACCORD_CREDENTIALS_KEY`` (one or more Fernet keys separated by commas: the first
encrypts, every one decrypts, so a key is rotated by putting the new one first; the value may be
a ``${file:...}`` or ``${vault:...}`` reference), or else the key file
``ACCORD_CREDENTIALS_KEY_FILE`` (default ``var/credentials.key``), which
:func:`load_cipher` creates, readable by its owner only, the first time a token is stored.
Every process that uses the connection needs the same key.

What does *not* belong here: the consent step itself (the CLI) and how tokens are used
(:mod:`accord.connectors.authorization`).
"""

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from accord.connectors.authorization import TokenSet
from accord.connectors.config import resolve_references
from accord.errors import ConfigError
from accord.settings import Settings
from accord.store import audit
from accord.store.tables import connection_tokens
from accord.store.util import as_utc, utc_now

__all__ = [
    "AuthorizedConnection",
    "CredentialCipher",
    "DatabaseTokenStore",
    "load_cipher",
]

logger = logging.getLogger(__name__)


class CredentialCipher:
    """Encrypts and decrypts with one or more Fernet keys (the first one encrypts).

    Raises:
        ConfigError: A key is not a Fernet key (32 url-safe base64-encoded bytes).
    """

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ConfigError("the credentials key is empty")
        try:
            fernets = [Fernet(key.encode("ascii")) for key in keys]
        except (ValueError, UnicodeEncodeError):
            raise ConfigError(
                "the credentials key is not a Fernet key (generate one with "
                "`accord connections new-key`)"
            ) from None
        self._fernet = MultiFernet(fernets)
        self.key_id = hashlib.sha256(keys[0].encode("ascii")).hexdigest()[:12]
        """Names the encrypting key without revealing it (stored beside each ciphertext)."""

    @staticmethod
    def generate_key() -> str:
        """A new random Fernet key."""
        return Fernet.generate_key().decode("ascii")

    def encrypt(self, data: bytes) -> str:
        """Encrypt and authenticate ``data``."""
        return self._fernet.encrypt(data).decode("ascii")

    def decrypt(self, token: str, *, what: str) -> bytes:
        """Decrypt what :meth:`encrypt` made.

        Raises:
            ConfigError: No key decrypts it (another key encrypted it, or it was altered).
        """
        try:
            return self._fernet.decrypt(token.encode("ascii"))
        except InvalidToken:
            raise ConfigError(
                f"cannot decrypt {what}: the credentials key is not the one it was stored with"
            ) from None


def load_cipher(
    *,
    key: SecretStr | None,
    key_file: Path,
    env: Mapping[str, str],
    create: bool = False,
) -> CredentialCipher | None:
    """The cipher of the configured credentials key, or ``None`` when there is none yet.

    Args:
        key: ``ACCORD_CREDENTIALS_KEY``: comma-separated keys, or a reference to them.
        key_file: Read when ``key`` is not given; one key per line.
        env: Environment for references in ``key``.
        create: Write a new key to ``key_file`` when neither exists (owner-only permissions).

    Raises:
        ConfigError: The key is malformed, or the key file cannot be read or written.
    """
    if key is not None:
        raw = resolve_references(
            key.get_secret_value(), env=env, base_dir=Path.cwd(), where="ACCORD_CREDENTIALS_KEY"
        )
        return CredentialCipher([k.strip() for k in str(raw).split(",") if k.strip()])
    try:
        if key_file.is_file():
            lines = key_file.read_text(encoding="ascii").split()
            return CredentialCipher([line.strip(", ") for line in lines if line.strip(", ")])
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the credentials key file {key_file}") from exc
    if not create:
        return None
    new_key = CredentialCipher.generate_key()
    try:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes creating it at once must not end with two different keys.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_cipher(key=None, key_file=key_file, env=env)
    except OSError as exc:
        raise ConfigError(f"cannot create the credentials key file {key_file}") from exc
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(new_key + "\n")
    logger.warning(
        "created the credentials key file %s: back it up apart from the database", key_file
    )
    return CredentialCipher([new_key])


@dataclass(frozen=True)
class AuthorizedConnection:
    """A connection with stored tokens, as listed (never the tokens themselves)."""

    connection: str
    authorized_at: datetime
    updated_at: datetime
    key_id: str


class DatabaseTokenStore:
    """The :class:`~accord.connectors.authorization.TokenStore` of a database, encrypted.

    Args:
        engine: The database.
        key: ``ACCORD_CREDENTIALS_KEY`` (see :func:`load_cipher`).
        key_file: ``ACCORD_CREDENTIALS_KEY_FILE``.
        env: Environment for references in ``key``.

    The key is loaded on first use, so that a process whose connections need no stored token
    never needs one.
    """

    def __init__(
        self,
        engine: sa.Engine,
        *,
        key: SecretStr | None = None,
        key_file: Path = Path("var/credentials.key"),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.engine = engine
        self._key = key
        self.key_file = key_file
        self._env: Mapping[str, str] = env or {}
        self._cipher: CredentialCipher | None = None

    @classmethod
    def for_settings(
        cls, engine: sa.Engine, settings: Settings, env: Mapping[str, str]
    ) -> "DatabaseTokenStore":
        """The store of ``settings``' credentials key (or key file) on ``engine``."""
        return cls(
            engine,
            key=settings.credentials_key,
            key_file=Path(settings.credentials_key_file),
            env=env,
        )

    def _cipher_for(self, *, create: bool) -> CredentialCipher | None:
        if self._cipher is None:
            self._cipher = load_cipher(
                key=self._key, key_file=self.key_file, env=self._env, create=create
            )
        return self._cipher

    def load(self, connection: str) -> TokenSet | None:
        """The connection's tokens, or ``None`` when it was never authorized.

        Raises:
            ConfigError: Tokens are stored but no key (or another key) is configured.
        """
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(connection_tokens.c.ciphertext).where(
                    connection_tokens.c.connection == connection
                )
            ).first()
        if row is None:
            return None
        cipher = self._cipher_for(create=False)
        what = f"the tokens of connection {connection!r}"
        if cipher is None:
            raise ConfigError(f"cannot decrypt {what}: no credentials key is configured")
        try:
            return TokenSet.from_json(json.loads(cipher.decrypt(row.ciphertext, what=what)))
        except ValueError:
            raise ConfigError(f"{what} are not readable; authorize the connection again") from None

    def save(self, connection: str, tokens: TokenSet) -> None:
        """Replace the connection's tokens (a refresh); insert them if there were none."""
        with self.engine.begin() as conn:
            self._write(conn, connection, tokens, authorized=False)

    def authorize(self, connection: str, tokens: TokenSet, *, actor: str) -> None:
        """Store the tokens of a new consent and audit it (never the tokens)."""
        with self.engine.begin() as conn:
            self._write(conn, connection, tokens, authorized=True)
            audit.append(
                conn,
                actor=actor,
                action="connection.authorized",
                target=connection,
                after={"expires_at": tokens.expires_at, "refreshable": bool(tokens.refresh_token)},
            )

    def forget(self, connection: str, *, actor: str) -> bool:
        """Delete the connection's tokens; True when there were some."""
        with self.engine.begin() as conn:
            deleted = conn.execute(
                sa.delete(connection_tokens).where(connection_tokens.c.connection == connection)
            ).rowcount
            if deleted:
                audit.append(conn, actor=actor, action="connection.forgotten", target=connection)
        return bool(deleted)

    def list_(self) -> list[AuthorizedConnection]:
        """Every connection with stored tokens, by name."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    connection_tokens.c.connection,
                    connection_tokens.c.authorized_at,
                    connection_tokens.c.updated_at,
                    connection_tokens.c.key_id,
                ).order_by(connection_tokens.c.connection)
            ).all()
        return [
            AuthorizedConnection(
                connection=row.connection,
                authorized_at=as_utc(row.authorized_at) or row.authorized_at,
                updated_at=as_utc(row.updated_at) or row.updated_at,
                key_id=row.key_id,
            )
            for row in rows
        ]

    def _write(
        self, conn: sa.Connection, connection: str, tokens: TokenSet, *, authorized: bool
    ) -> None:
        cipher = self._cipher_for(create=True)
        if cipher is None:  # create=True always yields a cipher
            raise ConfigError("no credentials key")
        ciphertext = cipher.encrypt(json.dumps(tokens.to_json()).encode("utf-8"))
        now = utc_now()
        values = {"ciphertext": ciphertext, "key_id": cipher.key_id, "updated_at": now}
        if authorized:
            values["authorized_at"] = now
        updated = conn.execute(
            sa.update(connection_tokens)
            .where(connection_tokens.c.connection == connection)
            .values(**values)
        ).rowcount
        if not updated:
            conn.execute(
                sa.insert(connection_tokens).values(
                    {"connection": connection, "authorized_at": now, **values}
                )
            )
