"""Application settings: one typed object, built once (CLI or ``create_app``) and passed down.

Environment variables use the ``ACCORD_`` prefix; nested sections use ``__``
(``ACCORD_API__PORT=8080``). The two most used have short names of their own:
``ACCORD_DATABASE_URL`` and ``ACCORD_WORKER_ID``. Connection credentials never live here;
they come from ``accord.yaml`` by reference (see :mod:`accord.connectors.config`). The
credentials key encrypts the tokens a consent step stores (see :mod:`accord.store.credentials`).
"""

import re
import socket
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "ApiSettings",
    "AuditSettings",
    "IntakeSettings",
    "ObservabilitySettings",
    "Settings",
    "default_worker_id",
]

DEFAULT_DATABASE_URL = "sqlite:///var/accord.db"


def default_worker_id() -> str:
    """A stable executor id for this machine: ``worker-<hostname>``.

    A restarted worker recovers only the runs started under its own id, so the default must
    not change between restarts on the same host; set ``ACCORD_WORKER_ID`` when several
    workers share a host.
    """
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname()) or "localhost"
    return f"worker-{host}"


class ApiSettings(BaseModel):
    """HTTP front settings."""

    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    max_body_bytes: int = Field(default=1024 * 1024, description="larger bodies get 413")
    key_cache_seconds: float = Field(
        default=0.5,
        ge=0,
        le=1.0,
        description="how long a verified API key is trusted before re-reading (revocation delay)",
    )
    key_days: int = Field(
        default=365, ge=0, description="lifetime of a new or rotated API key (0: never expires)"
    )
    rate_limit_per_s: float = Field(
        default=50.0,
        ge=0,
        description="synchronous API requests per second per API key (0: no limit)",
    )
    rate_limit_burst: int = Field(
        default=100, ge=1, description="requests one API key may send at once before throttling"
    )


class IntakeSettings(BaseModel):
    """Event intake: group commit of journal rows and run starts."""

    model_config = ConfigDict(frozen=True)

    max_batch: int = Field(default=500, ge=1, description="events per transaction at most")
    max_wait_ms: float = Field(default=2.0, ge=0, description="wait for more before committing")
    worker_concurrency: int = Field(default=8, ge=1, description="event runs at once per worker")
    bulk_concurrency: int = Field(
        default=32,
        ge=1,
        description="order-free runs (approved time and expenses) at once per worker, on a "
        "queue of their own; each mostly waits for the ERP's dispatcher",
    )
    partitions: int = Field(
        default=64, ge=1, description="ordering buckets: runs of one bucket start one at a time"
    )


class ObservabilitySettings(BaseModel):
    """Logging, metrics and tracing."""

    model_config = ConfigDict(frozen=True)

    log_level: str = "INFO"
    log_json: bool = True
    otlp_endpoint: str | None = None


class AuditSettings(BaseModel):
    """The audit chain's key (``ACCORD_AUDIT__KEY`` or ``ACCORD_AUDIT__KEY_FILE``).

    Each row's hash is an HMAC-SHA256 under this key, so a row rewritten by someone who can
    write to the database but does not hold the key no longer verifies. Keep it outside the
    database (a secret store, a mounted file). After a change of key, list the old ones in
    ``previous_keys`` so that the rows they made still verify. Without a key the chain is
    plain SHA-256: it shows accidents, not a deliberate rewrite.
    """

    model_config = ConfigDict(frozen=True)

    key: SecretStr | None = Field(default=None, description="ACCORD_AUDIT__KEY")
    key_file: Path | None = Field(default=None, description="ACCORD_AUDIT__KEY_FILE")
    previous_keys: list[SecretStr] = Field(
        default_factory=list, description="earlier keys, to verify the rows they made (JSON list)"
    )

    def secrets(self) -> tuple[bytes | None, list[bytes]]:
        """The current key (None: unkeyed) and the previous ones, as bytes.

        Raises:
            OSError: ``key_file`` cannot be read.
        """
        current: bytes | None = None
        if self.key is not None:
            current = self.key.get_secret_value().encode()
        elif self.key_file is not None:
            current = self.key_file.read_text(encoding="utf-8").strip().encode()
        return current, [k.get_secret_value().encode() for k in self.previous_keys]


class Settings(BaseSettings):
    """Everything Accord's process needs to start."""

    model_config = SettingsConfigDict(
        env_prefix="ACCORD_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    database_url: str = Field(default=DEFAULT_DATABASE_URL, description="ACCORD_DATABASE_URL")
    worker_id: str = Field(default_factory=default_worker_id, description="ACCORD_WORKER_ID")
    config_file: Path = Field(default=Path("accord.yaml"), description="ACCORD_CONFIG_FILE")
    credentials_key: SecretStr | None = Field(
        default=None,
        description="ACCORD_CREDENTIALS_KEY: Fernet key(s), comma-separated, first encrypts",
    )
    credentials_key_file: Path = Field(
        default=Path("var/credentials.key"),
        description="ACCORD_CREDENTIALS_KEY_FILE: read (or created) without credentials_key",
    )
    api: ApiSettings = ApiSettings()
    intake: IntakeSettings = IntakeSettings()
    observability: ObservabilitySettings = ObservabilitySettings()
    audit: AuditSettings = AuditSettings()
