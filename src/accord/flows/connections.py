"""The process's connections: configs from ``accord.yaml``, connectors built on first use.

:class:`Connections` reads the ``connections:`` section (through
:func:`accord.connectors.config.load_connections`) and the ``webhooks:`` section of
``accord.yaml`` once, on first access, and builds each connector through the registry when it is
first asked for, with a :class:`~accord.store.budget.DatabaseBudget` so that the connection's
rate and concurrency budget holds across every process on the database. It is thread-safe
(steps run on DBOS worker threads, the API on its own) and closes every connector it built on
:meth:`Connections.close`.

Steps reach it as ``flow_context().extras["connections"]``; the API as
``app.state.connections``.

Webhook secrets: ``ConnectorConfig`` has no ``webhook_secret`` field (and connector configs
refuse unknown keys), so secrets live in a ``webhooks:`` section keyed by connection name::

    webhooks:
      netsuite-us:
        secret: ${env:NS_WEBHOOK_SECRET}

A config that does declare a ``webhook_secret`` field wins over that section.
"""

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import yaml
from pydantic import SecretStr

from accord.connectors.authorization import TokenStore
from accord.connectors.base import Connector
from accord.connectors.config import ConnectorConfig, load_connections, resolve_references
from accord.connectors.registry import create_connector
from accord.errors import ConfigError
from accord.flows.instrumentation import instrument_transport
from accord.store.budget import DatabaseBudget

__all__ = ["CONTEXT_KEY", "Connections", "UnknownConnectionError"]

logger = logging.getLogger(__name__)

CONTEXT_KEY = "connections"
"""Key of the :class:`Connections` in :attr:`accord.flows.context.FlowContext.extras`."""

TransportFactory = Callable[[ConnectorConfig], httpx.BaseTransport | None]
"""Returns the HTTP transport for a connection (``None``: the real network); for tests."""


class UnknownConnectionError(ConfigError):
    """No connection of that name is configured."""

    default_message = "unknown connection"

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"unknown connection {name!r}")


class Connections:
    """The configured connections of one process and their lazily built connectors.

    Args:
        engine: The database the connection budgets live in.
        holder: Budget lease holder (the worker id), so leases name their process.
        config_file: ``accord.yaml``; a missing file means no connections.
        env: Environment for ``${env:VAR}`` references (injected; never read here).
        configs: Connection configs given directly instead of a file (tests, embedding).
        webhook_secrets: Webhook secrets by connection name, with ``configs``.
        transport: Returns the HTTP transport for a connection (tests, the sandbox).
        instrument: Wrap every connection's transport with the call metrics and client spans
            of :mod:`accord.flows.instrumentation`.
        token_store: Where connections authorized by a consent step keep their tokens.
    """

    def __init__(
        self,
        engine: sa.Engine,
        *,
        holder: str = "accord",
        config_file: Path | None = None,
        env: Mapping[str, str] | None = None,
        configs: Mapping[str, ConnectorConfig] | None = None,
        webhook_secrets: Mapping[str, SecretStr] | None = None,
        transport: TransportFactory | None = None,
        instrument: bool = True,
        token_store: TokenStore | None = None,
    ) -> None:
        self.engine = engine
        self.token_store = token_store
        self.holder = holder
        self.config_file = config_file
        self.env: Mapping[str, str] = env or {}
        self._transport = transport
        self._instrument = instrument
        self._configs: dict[str, ConnectorConfig] | None = (
            dict(configs) if configs is not None else None
        )
        self._secrets: dict[str, SecretStr] = dict(webhook_secrets or {})
        self._connectors: dict[str, Connector[Any]] = {}
        self._budget: DatabaseBudget | None = None
        self._lock = threading.RLock()
        self._closed = False

    # ----------------------------------------------------------------- configuration
    def _load(self) -> dict[str, ConnectorConfig]:
        with self._lock:
            if self._configs is not None:
                return self._configs
            path = self.config_file
            if path is None or not path.exists():
                self._configs = {}
                return self._configs
            configs = load_connections(path, self.env)
            self._secrets.update(self._load_webhook_secrets(path, set(configs)))
            self._configs = configs
            logger.info("loaded %d connection(s) from %s", len(configs), path)
            return configs

    def _load_webhook_secrets(self, path: Path, names: set[str]) -> dict[str, SecretStr]:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read webhooks from {path}") from exc
        section = document.get("webhooks") if isinstance(document, Mapping) else None
        if not section:
            return {}
        if not isinstance(section, Mapping):
            raise ConfigError(f"{path}: 'webhooks' must map connection names to settings")
        secrets: dict[str, SecretStr] = {}
        for name, raw in section.items():
            where = f"webhooks {name!r}"
            if str(name) not in names:
                raise ConfigError(f"{where}: no connection of that name")
            if not isinstance(raw, Mapping) or not isinstance(raw.get("secret"), str):
                raise ConfigError(f"{where} key 'secret': required, a string")
            value = resolve_references(
                raw["secret"], env=self.env, base_dir=path.parent, where=f"{where} key 'secret'"
            )
            if not value:
                raise ConfigError(f"{where} key 'secret': must not be empty")
            secrets[str(name)] = SecretStr(str(value))
        return secrets

    def names(self) -> tuple[str, ...]:
        """Every configured connection name, sorted."""
        return tuple(sorted(self._load()))

    def config(self, name: str) -> ConnectorConfig:
        """The config of one connection.

        Raises:
            UnknownConnectionError: No such connection.
        """
        config = self._load().get(name)
        if config is None:
            raise UnknownConnectionError(name)
        return config

    def webhook_secret(self, name: str) -> SecretStr | None:
        """The shared secret inbound webhooks of this connection are verified with, if any.

        Raises:
            UnknownConnectionError: No such connection.
        """
        config = self.config(name)
        declared = getattr(config, "webhook_secret", None)
        if isinstance(declared, SecretStr):
            return declared
        with self._lock:
            return self._secrets.get(name)

    # ----------------------------------------------------------------- connectors
    def connector(self, name: str) -> Connector[Any]:
        """The connector of one connection, built on first use and then shared.

        Raises:
            UnknownConnectionError: No such connection.
            ConfigError: The kind has no connector or the process is shutting down.
        """
        config = self.config(name)
        with self._lock:
            if self._closed:
                raise ConfigError("connections are closed (the process is shutting down)")
            built = self._connectors.get(name)
            if built is None:
                if self._budget is None:
                    self._budget = DatabaseBudget(self.engine, holder=self.holder)
                transport = self._transport(config) if self._transport is not None else None
                if self._instrument:
                    transport = instrument_transport(config, transport)
                built = create_connector(
                    config, transport=transport, budget=self._budget, token_store=self.token_store
                )
                self._connectors[name] = built
            return built

    def close(self) -> None:
        """Close every connector built so far; later :meth:`connector` calls fail."""
        with self._lock:
            self._closed = True
            built, self._connectors = list(self._connectors.values()), {}
        for connector in built:
            try:
                connector.close()
            except Exception:  # noqa: BLE001 - closing the others matters more
                logger.warning("closing connector %s failed", connector.name)
        if self._budget is not None:
            # Slots this process still holds go back now, not when their leases expire.
            try:
                self._budget.close()
            except Exception:  # a stop must finish; the leases expire anyway
                logger.warning("handing back the budget's slots failed", exc_info=True)
