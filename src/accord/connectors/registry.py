"""Which connector class serves which ``kind``: entry points first, built-ins as a fallback.

A connector package registers its class under the ``accord.connectors`` entry-point group, the
entry point's name being the kind::

    [project.entry-points."accord.connectors"]
    netsuite = "accord.connectors.netsuite:NetSuiteConnector"

The built-in connectors are also listed in :data:`BUILTIN_CONNECTORS`, so that a source
checkout that was never pip-installed still finds them. Classes are imported lazily, when their
kind is first asked for, so that a broken third-party package only breaks its own kind.
"""

import importlib
import importlib.metadata
import threading
from typing import Any

import httpx

from accord.connectors.authorization import TokenStore
from accord.connectors.base import Connector
from accord.connectors.budget import Budget
from accord.connectors.config import ConnectorConfig
from accord.connectors.types import Clock, utc_now
from accord.errors import ConfigError

__all__ = [
    "BUILTIN_CONNECTORS",
    "ENTRY_POINT_GROUP",
    "available_kinds",
    "config_model_for",
    "connector_class",
    "create_connector",
]

ENTRY_POINT_GROUP = "accord.connectors"
"""The entry-point group connector packages register under."""

BUILTIN_CONNECTORS: dict[str, str] = {
    "netsuite": "accord.connectors.netsuite:NetSuiteConnector",
    "salesforce": "accord.connectors.salesforce:SalesforceConnector",
    "certinia": "accord.connectors.certinia:CertiniaConnector",
    "kantata": "accord.connectors.kantata:KantataConnector",
    "business_central": "accord.connectors.business_central:BusinessCentralConnector",
    "dynamics_finance": "accord.connectors.dynamics_finance:DynamicsFinanceConnector",
}
"""Kinds shipped with Accord and the ``module:Class`` that implements each."""

_cache: dict[str, type[Connector[Any]]] = {}
_lock = threading.Lock()


def _entry_point_targets() -> dict[str, str]:
    return {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def available_kinds() -> tuple[str, ...]:
    """Every kind that can be loaded, from entry points and built-ins, sorted."""
    return tuple(sorted(set(_entry_point_targets()) | set(BUILTIN_CONNECTORS)))


def connector_class(kind: str) -> type[Connector[Any]]:
    """The connector class registered for ``kind``.

    Raises:
        ConfigError: No connector has that kind, or its package fails to import.
    """
    with _lock:
        cached = _cache.get(kind)
        if cached is not None:
            return cached
        target = _entry_point_targets().get(kind) or BUILTIN_CONNECTORS.get(kind)
        if target is None:
            known = ", ".join(available_kinds()) or "none"
            raise ConfigError(f"unknown connector kind {kind!r} (available: {known})")
        module_name, _, attribute = target.partition(":")
        try:
            loaded: object = importlib.import_module(module_name)
            for part in attribute.split("."):
                loaded = getattr(loaded, part)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"connector kind {kind!r}: cannot load {target}") from exc
        if not (isinstance(loaded, type) and issubclass(loaded, Connector)):
            raise ConfigError(f"connector kind {kind!r}: {target} is not a Connector subclass")
        if getattr(loaded, "kind", None) != kind:
            raise ConfigError(f"connector kind {kind!r}: {target} declares another kind")
        _cache[kind] = loaded
        return loaded


def config_model_for(kind: str) -> type[ConnectorConfig]:
    """The ``ConnectorConfig`` subclass that connections of ``kind`` are loaded into."""
    return connector_class(kind).config_model


def create_connector(
    config: ConnectorConfig,
    *,
    transport: httpx.BaseTransport | None = None,
    clock: Clock = utc_now,
    budget: Budget | None = None,
    token_store: TokenStore | None = None,
) -> Connector[Any]:
    """Build the connector for a loaded connection config.

    Raises:
        ConfigError: The config does not belong to the kind's ``config_model``.
    """
    cls = connector_class(config.kind)
    if not isinstance(config, cls.config_model):
        raise ConfigError(
            f"connection {config.name!r}: expected {cls.config_model.__name__}, "
            f"got {type(config).__name__}"
        )
    return cls(config, transport=transport, clock=clock, budget=budget, token_store=token_store)
