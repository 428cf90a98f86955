"""Connectors to the emulators, signed in as Accord signs in to the real systems.

Every emulator verifies authentication as its vendor does (NetSuite the M2M assertion, Kantata
the authorization code grant ...), so the role contract suites build their connectors from
the sandbox's own connection settings (``accord_sandbox.accord_config.connection_settings``)
and, for Kantata, run the consent step first, as ``accord connections authorize`` does.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from accord.connectors.authorization import MemoryTokenStore
from accord.connectors.base import Connector
from accord.connectors.kantata import KantataConfig, KantataConnector
from accord.connectors.registry import connector_class
from accord_sandbox.accord_config import connection_settings
from accord_sandbox.kantata.auth import sandbox_consent

__all__ = ["kantata_tokens", "sandbox_connector"]


def kantata_tokens(url: str, name: str) -> MemoryTokenStore:
    """Kantata's consent step against the emulator at ``url``, for connection ``name``."""
    store = MemoryTokenStore()
    config = KantataConfig.model_validate(connection_settings("kantata", url) | {"name": name})
    with KantataConnector(config) as conn:
        flow = conn.authorization_flow()
        assert flow is not None
        redirect = sandbox_consent(flow.authorization_url("st"))
        tokens = flow.exchange(flow.code_from_redirect(redirect, state="st"), conn.client)
    store.save(name, tokens)
    return store


@contextmanager
def sandbox_connector(kind: str, url: str, *, name: str, **extra: Any) -> Iterator[Connector[Any]]:
    """A connector of ``kind`` to the emulator at ``url``, named ``name``, signed in."""
    cls = connector_class(kind)
    settings = connection_settings(kind, url) | {"name": name, "timeout_s": 10} | extra
    config = cls.config_model.model_validate(settings)
    store = kantata_tokens(url, name) if kind == "kantata" else None
    with cls(config, token_store=store) as connector:
        yield connector
