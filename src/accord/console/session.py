"""Console sign-in: a signed, http-only session cookie that refers to an API key, and CSRF.

The cookie never holds the key's secret. It holds the key's id, an expiry and a random nonce,
signed with HMAC-SHA256 over those fields *and the key's stored hash*, under the console's
session secret. Each request reads the key by id: a revoked, expired or deleted key ends every
session made with it at once, and a cookie cannot be moved to another key.

The session secret comes from settings (``ACCORD_CONSOLE__SESSION_SECRET`` or ``..._FILE``);
without one, Accord generates it once and keeps it in the database
(:mod:`accord.store.secrets`), so every API process signs with the same key and sessions
survive restarts.

CSRF: every POST form carries a token derived from the session nonce (HMAC under the same
secret) and is refused without it; the cookie is also ``SameSite=Strict``. The sign-in form,
which has no session yet, uses a double-submit cookie.

What does not belong here: the pages themselves (:mod:`accord.console.routes`).
"""

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from fastapi import Request
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.responses import Response

from accord.errors import ConfigError
from accord.store import keys
from accord.store import secrets as stored_secrets
from accord.store.keys import Role

__all__ = [
    "COOKIE",
    "SIGNIN_COOKIE",
    "ConsoleSession",
    "ConsoleSettings",
    "SessionSigner",
    "is_loopback",
]

logger = logging.getLogger(__name__)

COOKIE = "accord_session"
"""Name of the session cookie."""
SIGNIN_COOKIE = "accord_signin"
"""Name of the double-submit cookie that protects the sign-in form."""
ACTING_ROLES = frozenset({Role.OPERATOR, Role.ADMIN})
"""Roles that may act on exceptions and runs from the console."""


class ConsoleSettings(BaseSettings):
    """Console settings (``ACCORD_CONSOLE__*``), built once when the console is installed.

    Kept beside the console until :class:`accord.settings.Settings` grows a ``console``
    section; the variable names are already the nested ones it would read.
    """

    model_config = SettingsConfigDict(env_prefix="ACCORD_CONSOLE__", frozen=True, extra="ignore")

    session_secret: SecretStr | None = Field(
        default=None,
        description="signs session cookies (at least 32 characters); unset: Accord generates "
        "one and keeps it in the database, shared by every API process",
    )
    session_secret_file: Path | None = Field(
        default=None, description="a file holding the session secret (a mounted secret)"
    )
    session_hours: float = Field(default=8.0, gt=0, le=24 * 30)
    allow_insecure_http: bool = Field(
        default=False, description="allow sign-in over plain http from non-loopback clients"
    )
    stuck_minutes: int = Field(default=15, ge=1, description="runs waiting longer are stuck")
    retry_wait_seconds: float = Field(
        default=5.0, ge=0, description="how long Retry waits for the new run before answering"
    )


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in person: the key they signed in with and the session's CSRF token."""

    key_id: int
    name: str
    role: Role
    csrf: str
    expires_at: float

    @property
    def actor(self) -> str:
        """How the audit log names this person (the same as the API names the key)."""
        return f"key:{self.name}"

    @property
    def can_act(self) -> bool:
        """Whether the key's role may act (operator, admin); viewers only read."""
        return self.role in ACTING_ROLES


_MIN_SECRET = 32
"""Shortest session secret accepted from settings (characters)."""
_SECRET_NAME = "console.session"  # noqa: S105 - a name, not a secret
"""The generated secret's name in ``accord_secrets``."""


def configured_secret(settings: ConsoleSettings) -> bytes | None:
    """The session secret the settings give (value or file), or None to use the stored one.

    Raises:
        ConfigError: The secret is shorter than 32 characters, or its file cannot be read.
    """
    value: str | None = None
    if settings.session_secret is not None:
        value = settings.session_secret.get_secret_value()
    elif settings.session_secret_file is not None:
        try:
            value = settings.session_secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError("cannot read ACCORD_CONSOLE__SESSION_SECRET_FILE") from exc
    if value is None:
        return None
    if len(value) < _MIN_SECRET:
        raise ConfigError(f"the console session secret must be at least {_MIN_SECRET} characters")
    return value.encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def is_loopback(host: str | None) -> bool:
    """Whether a client address is the local machine (plain http is allowed there)."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SessionSigner:
    """Issues, reads and clears session cookies; makes and checks CSRF tokens."""

    def __init__(self, settings: ConsoleSettings, engine: sa.Engine) -> None:
        self.settings = settings
        self.engine = engine
        self._secret = configured_secret(settings)
        self._secret_lock = threading.Lock()

    def _key(self) -> bytes:
        """The signing key; the stored one is read (or made) on first use, once migrated."""
        if self._secret is None:
            with self._secret_lock:
                if self._secret is None:
                    self._secret = stored_secrets.get_or_create(self.engine, _SECRET_NAME)
        return self._secret

    def _mac(self, *parts: str) -> str:
        material = "\x1f".join(parts).encode()
        return _b64(hmac.new(self._key(), material, hashlib.sha256).digest())

    def csrf_for(self, nonce: str) -> str:
        """The CSRF token of the session with this nonce."""
        return self._mac("csrf", nonce)

    # ------------------------------------------------------------------ issuing
    def issue(self, response: Response, *, key_id: int, key_hash: str, secure: bool) -> None:
        """Set a fresh session cookie for a key on ``response``."""
        expires = int(time.time() + self.settings.session_hours * 3600)
        nonce = secrets.token_urlsafe(16)
        payload = _b64(json.dumps({"k": key_id, "e": expires, "n": nonce}).encode())
        value = f"{payload}.{self._mac('session', payload, key_hash)}"
        response.set_cookie(
            COOKIE,
            value,
            max_age=int(self.settings.session_hours * 3600),
            path="/",
            httponly=True,
            secure=secure,
            samesite="strict",
        )

    @staticmethod
    def clear(response: Response, *, secure: bool) -> None:
        """Remove the session cookie (sign-out)."""
        response.delete_cookie(COOKIE, path="/", httponly=True, secure=secure, samesite="strict")

    # ------------------------------------------------------------------ reading
    def read(self, cookie: str | None) -> ConsoleSession | None:  # noqa: PLR0911 - one per check
        """The session a cookie stands for, or None (missing, forged, expired, key revoked)."""
        if not cookie or "." not in cookie:
            return None
        payload, _, mac = cookie.partition(".")
        try:
            fields = json.loads(_unb64(payload))
            key_id, expires, nonce = int(fields["k"]), float(fields["e"]), str(fields["n"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires < time.time():
            return None
        with self.engine.connect() as conn:
            found = keys.get_active(conn, id=key_id)
        if found is None:
            return None  # revoked, expired or deleted: so are its sessions
        key, key_hash = found
        if not hmac.compare_digest(mac, self._mac("session", payload, key_hash)):
            return None
        if key.role is Role.INGEST:
            return None
        return ConsoleSession(
            key_id=key_id,
            name=key.name,
            role=key.role,
            csrf=self.csrf_for(nonce),
            expires_at=expires,
        )

    @staticmethod
    def check_csrf(session: ConsoleSession, token: str | None) -> bool:
        """Whether a submitted form's token is this session's."""
        return bool(token) and hmac.compare_digest(session.csrf, str(token))

    # ------------------------------------------------------------------ transport
    def secure_request(self, request: Request) -> bool:
        """Whether the request came over https (the cookie is then ``Secure``)."""
        return request.url.scheme == "https"

    def transport_allowed(self, request: Request) -> bool:
        """Whether a session may be issued over this request's transport.

        https always; plain http only from loopback (a laptop, a TLS proxy on the same host)
        unless ``allow_insecure_http`` says otherwise.
        """
        if self.secure_request(request) or self.settings.allow_insecure_http:
            return True
        return is_loopback(request.client.host if request.client else None)
