"""Connection configuration: the ``ConnectorConfig`` base and the ``accord.yaml`` loader.

Each connector declares one frozen ``ConnectorConfig`` subclass (its ``config_model``). The
``connections:`` section of ``accord.yaml`` names each connection and its ``kind``; secrets are
given by reference (``${env:VAR}``, ``${file:path}``, ``${vault:mount/path#key}``) and resolved
here, once, so that nothing below this module ever sees a reference or reads the environment.
Vault references are read through :class:`~accord.connectors.vault.VaultReader`.

What does *not* belong here: application settings (``accord.settings``), mapping specs
(``accord.rules``) and anything a connector does at run time.
"""

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from accord.connectors.vault import VaultReader
from accord.errors import ConfigError

__all__ = ["ConnectorConfig", "load_connections", "resolve_references"]

_REFERENCE = re.compile(r"\$\{(?P<scheme>[a-z]+):(?P<target>[^}]*)\}")


class ConnectorConfig(BaseModel):
    """Settings common to every connection; each connector subclasses it.

    Subclasses add their own fields (account ids, token URLs) and declare secrets as
    ``pydantic.SecretStr`` so that they never print. Instances are frozen and refuse unknown
    keys, so a typo in ``accord.yaml`` fails at load time instead of being ignored.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    """The connection's name, unique in ``accord.yaml``; also the budget and cursor key."""
    kind: str = Field(min_length=1)
    """The connector kind (``netsuite``, ``salesforce`` ...); picks the connector class."""
    base_url: str
    """Root URL of the system's API; request paths are relative to it."""
    rate_per_s: float = Field(default=5.0, gt=0)
    """Requests per second this connection may make, across all worker processes."""
    concurrency: int = Field(default=4, ge=1)
    """Requests this connection may have in flight at once, across all worker processes."""
    timeout_s: float = Field(default=30.0, gt=0)
    """Timeout of one HTTP request (connect, read, write and pool alike)."""
    reserve: dict[Literal["interactive", "flow", "bulk"], int] = Field(default_factory=dict)
    """Slots kept for a lane and the lanes above it (``{interactive: 1}``: bulk and flow
    calls never take the last slot). Lanes also have priority without a reserve: a lower
    lane takes no free slot while a higher one waits for one."""
    daily_limit: int | None = Field(default=None, ge=1)
    """Calls allowed per UTC day across all processes (Salesforce's daily API allowance);
    ``None``: no daily allowance is kept."""
    daily_reserve: int = Field(default=0, ge=0)
    """Of ``daily_limit``, calls only ``interactive`` callers may use."""

    @property
    def authentication(self) -> str:
        """How the connection authenticates, for listings and diagnostics (never a secret)."""
        return "-"

    @classmethod
    def derive(cls, data: dict[str, Any]) -> dict[str, Any]:
        """The raw settings with those the system derives from others filled in.

        Runs before validation on a copy of the raw settings, which an override may change
        (``base_url`` from a tenant or an account id). Nothing is derived by default.
        """
        return data

    @model_validator(mode="before")
    @classmethod
    def _derived(cls, data: Any) -> Any:  # noqa: ANN401 - raw input of a before-validator
        return cls.derive(dict(data)) if isinstance(data, dict) else data

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


def resolve_references(
    value: Any,  # noqa: ANN401 - raw YAML: any JSON-like shape
    *,
    env: Mapping[str, str],
    base_dir: Path,
    where: str,
    vault: VaultReader | None = None,
) -> Any:  # noqa: ANN401 - same shape back
    """Replace ``${env:VAR}``, ``${file:path}`` and ``${vault:...}`` references in a YAML value.

    Strings, lists and mappings are walked recursively; a reference may be the whole string or a
    part of it. File paths are relative to ``base_dir``; a file's trailing newline is dropped.

    Args:
        value: The raw value as parsed from YAML.
        env: The environment to read ``${env:...}`` from (injected, never ``os.environ`` here).
        base_dir: Directory that relative ``${file:...}`` paths are resolved against.
        where: ``connection 'x' key 'y'`` prefix used in error messages.
        vault: Reads ``${vault:mount/path#key}`` (and caches each secret); one is made from
            ``env`` when a Vault reference appears and none is given.

    Raises:
        ConfigError: A variable is unset, a file or Vault secret is unreadable or the scheme is
            unknown. The message names the connection, the key and the variable, path or
            secret, never a value.
    """
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            scheme, target = match["scheme"], match["target"].strip()
            if scheme == "env":
                if target not in env:
                    raise ConfigError(f"{where}: environment variable {target} is not set")
                return env[target]
            if scheme == "file":
                path = Path(target).expanduser()
                path = path if path.is_absolute() else base_dir / path
                try:
                    return path.read_text(encoding="utf-8").rstrip("\r\n")
                except OSError as exc:
                    raise ConfigError(f"{where}: cannot read file {path}") from exc
            if scheme == "vault":
                nonlocal vault
                vault = vault if vault is not None else VaultReader(env)
                return vault.read(target, where=where)
            raise ConfigError(
                f"{where}: unknown reference scheme {scheme!r} (use env, file or vault)"
            )

        return _REFERENCE.sub(substitute, value)
    if isinstance(value, Mapping):
        return {
            k: resolve_references(v, env=env, base_dir=base_dir, where=f"{where}.{k}", vault=vault)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            resolve_references(v, env=env, base_dir=base_dir, where=f"{where}[{i}]", vault=vault)
            for i, v in enumerate(value)
        ]
    return value


def load_connections(path: Path, env: Mapping[str, str]) -> dict[str, ConnectorConfig]:
    """Read the ``connections:`` section of ``accord.yaml`` into typed configs, by name.

    The section maps each connection name to its settings; ``name`` defaults to the key and
    ``kind`` picks the config class through :mod:`accord.connectors.registry`::

        connections:
          netsuite-us:
            kind: netsuite
            account_id: "1234567-sb1"
            client_id: ${env:NS_CLIENT_ID}
            certificate_id: ${env:NS_CERTIFICATE_ID}
            private_key: ${vault:secret/accord/netsuite#private_key}

    Args:
        path: The ``accord.yaml`` file.
        env: Environment used for ``${env:VAR}`` references and by the Vault client.

    Returns:
        The validated configuration of every connection, keyed by name.

    Raises:
        ConfigError: The file is unreadable, a reference cannot be resolved, a kind is unknown
            or a connection fails validation (unknown key, missing field, bad value). Messages
            name the connection and the key, never the offending value.
    """
    # registry -> base -> config: importing at call time keeps the import graph acyclic.
    from accord.connectors.registry import config_model_for  # noqa: PLC0415

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read connections from {path}") from exc
    if not isinstance(document, Mapping):
        raise ConfigError(f"{path}: the top level must be a mapping")
    section = document.get("connections") or {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"{path}: 'connections' must map connection names to settings")

    configs: dict[str, ConnectorConfig] = {}
    vault = VaultReader(env)  # logs in only when a ${vault:...} reference appears
    for name, raw in section.items():
        where = f"connection {name!r}"
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: settings must be a mapping")
        settings = dict(raw)
        settings.setdefault("name", str(name))
        if settings["name"] != str(name):
            raise ConfigError(f"{where} key 'name': must equal the connection's key")
        kind = settings.get("kind")
        if not isinstance(kind, str):
            raise ConfigError(f"{where} key 'kind': required")
        model = config_model_for(kind)
        resolved = {
            key: resolve_references(
                value, env=env, base_dir=path.parent, where=f"{where} key {key!r}", vault=vault
            )
            for key, value in settings.items()
        }
        try:
            configs[str(name)] = model.model_validate(resolved)
        except ValidationError as exc:
            # Not chained: a ValidationError's repr carries the input values, i.e. secrets.
            raise ConfigError(f"{where}: {_describe(exc)}") from None
    return configs


def _describe(exc: ValidationError) -> str:
    """A validation failure without input values, which may be secrets."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        key = ".".join(str(part) for part in error["loc"]) or "(root)"
        problems.append(f"key {key!r}: {error['msg']}")
    return "; ".join(problems)
