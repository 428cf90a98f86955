"""``${vault:mount/path#key}`` references: secrets read from HashiCorp Vault's KV v2 engine.

A reference names the engine's mount point (its first path segment), the secret's path below
it and one key of the secret's data::

    private_key: ${vault:secret/accord/netsuite#private_key}

reads key ``private_key`` of the latest version of secret ``accord/netsuite`` in the KV
version 2 engine mounted at ``secret/`` (``GET /v1/secret/data/accord/netsuite``, whose answer
carries the key/value pairs under ``data.data``: https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2#read-secret-version).

The client is ``hvac``, configured from the environment the way Vault's own CLI is:
``VAULT_ADDR`` (required), ``VAULT_NAMESPACE`` and ``VAULT_CACERT`` (optional), and either
``VAULT_TOKEN`` or an AppRole login (``VAULT_ROLE_ID`` + ``VAULT_SECRET_ID``, mount
``VAULT_APPROLE_MOUNT``, default ``approle``:
https://developer.hashicorp.com/vault/api-docs/auth/approle#login-with-approle). Each secret is
read once per :class:`VaultReader`, however many references name it.

What does *not* belong here: the ``${env:...}`` and ``${file:...}`` schemes and the walk over a
configuration (:mod:`accord.connectors.config`).
"""

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from accord.errors import ConfigError

if TYPE_CHECKING:
    import hvac

__all__ = ["VaultReader", "parse_reference"]


def parse_reference(target: str) -> tuple[str, str, str]:
    """Split ``mount/path#key`` into its mount point, secret path and key.

    Raises:
        ValueError: A part is missing.
    """
    location, sep, key = target.partition("#")
    mount, _, path = location.strip("/").partition("/")
    if not (sep and key and mount and path):
        raise ValueError("a Vault reference looks like ${vault:mount/path/to/secret#key}")
    return mount, path, key


class VaultReader:
    """Reads KV v2 secrets for ``${vault:...}`` references, logging in on first use.

    Args:
        env: Environment with ``VAULT_ADDR`` and the credentials (injected; never read from
            ``os.environ`` here).
        timeout_s: Timeout of one request to Vault.
    """

    def __init__(self, env: Mapping[str, str], *, timeout_s: int = 10) -> None:
        self._env = env
        self._timeout_s = timeout_s
        self._client: hvac.Client | None = None
        self._secrets: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._lock = threading.Lock()

    def read(self, target: str, *, where: str) -> str:
        """The value of one reference target (``mount/path#key``).

        Raises:
            ConfigError: The reference is malformed, Vault is not configured or unreachable,
                the secret or key does not exist, or access is denied. The message names the
                reference, never a value.
        """
        try:
            mount, path, key = parse_reference(target)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        with self._lock:
            data = self._secrets.get((mount, path))
            if data is None:
                data = self._fetch(mount, path, where=where)
                self._secrets[(mount, path)] = data
        value = data.get(key)
        if value is None:
            raise ConfigError(f"{where}: Vault secret {mount}/{path} has no key {key!r}")
        return value if isinstance(value, str) else str(value)

    def _fetch(self, mount: str, path: str, *, where: str) -> Mapping[str, Any]:
        import hvac.exceptions  # noqa: PLC0415 - imported only when a reference needs Vault
        import requests  # noqa: PLC0415 - hvac's transport; its errors mean "unreachable"

        name = f"{mount}/{path}"
        try:
            client = self._login(where)
            answer = client.secrets.kv.v2.read_secret_version(
                path=path, mount_point=mount, raise_on_deleted_version=True
            )
        except hvac.exceptions.InvalidPath:
            raise ConfigError(f"{where}: Vault has no secret {name}") from None
        except hvac.exceptions.Forbidden:
            raise ConfigError(f"{where}: Vault denied reading {name} (check the policy)") from None
        except hvac.exceptions.Unauthorized:
            raise ConfigError(f"{where}: Vault refused the credentials (VAULT_TOKEN)") from None
        except hvac.exceptions.VaultError as exc:
            # hvac's messages may quote Vault's answer, never a secret value: keep the class.
            raise ConfigError(
                f"{where}: reading {name} from Vault failed ({type(exc).__name__})"
            ) from None
        except requests.RequestException:
            address = self._env.get("VAULT_ADDR", "")
            raise ConfigError(f"{where}: cannot reach Vault at {address}") from None
        try:
            data = answer["data"]["data"]
        except (KeyError, TypeError):
            raise ConfigError(f"{where}: {name} is not a KV version 2 secret") from None
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: {name} is not a KV version 2 secret")
        return data

    def _login(self, where: str) -> "hvac.Client":
        if self._client is not None:
            return self._client
        import hvac  # noqa: PLC0415 - imported only when a reference needs Vault

        address = self._env.get("VAULT_ADDR")
        if not address:
            raise ConfigError(f"{where}: a ${{vault:...}} reference needs VAULT_ADDR")
        ca = self._env.get("VAULT_CACERT")
        client = hvac.Client(
            url=address,
            # An explicit empty token keeps hvac from falling back to ~/.vault-token or to the
            # process environment: the injected environment is the only source.
            token=self._env.get("VAULT_TOKEN", ""),
            namespace=self._env.get("VAULT_NAMESPACE") or None,
            verify=ca or True,
            timeout=self._timeout_s,
        )
        role_id, secret_id = self._env.get("VAULT_ROLE_ID"), self._env.get("VAULT_SECRET_ID")
        if role_id and secret_id:
            mount = self._env.get("VAULT_APPROLE_MOUNT", "approle")
            client.auth.approle.login(role_id=role_id, secret_id=secret_id, mount_point=mount)
        elif not self._env.get("VAULT_TOKEN"):
            raise ConfigError(
                f"{where}: a ${{vault:...}} reference needs VAULT_TOKEN, or VAULT_ROLE_ID and "
                "VAULT_SECRET_ID"
            )
        self._client = client
        return client
