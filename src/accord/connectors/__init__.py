"""Connectors: one package per system, all of one shape, all passing one contract suite.

The framework lives in this package's modules; each system is a subpackage
(``accord.connectors.netsuite`` ...) registered under the ``accord.connectors`` entry-point
group. The contract suite, :mod:`accord.connectors.testing`, is a pytest plugin and is not
imported here (so that production code never imports pytest).

This package never imports ``dbos``, ``fastapi``, ``typer`` or ``sqlalchemy``.
"""

from accord.connectors.auth import (
    AccessToken,
    BearerTokenAuth,
    ClientCredentialsAuth,
    OAuth2TokenAuth,
    sign_jwt,
)
from accord.connectors.authorization import (
    AuthorizationCodeAuth,
    AuthorizationCodeFlow,
    MemoryTokenStore,
    TokenSet,
    TokenStore,
)
from accord.connectors.base import Connector, ConnectorConfigT
from accord.connectors.budget import Budget, BudgetUsage, ConnectionLimits, LocalBudget
from accord.connectors.config import ConnectorConfig, load_connections
from accord.connectors.http import (
    build_client,
    redact_headers,
    redact_text,
    redact_url,
    retry_after_seconds,
    translate_http_error,
    translate_transport_error,
)
from accord.connectors.oauth1 import OAuth1Auth
from accord.connectors.ownership import (
    DEFAULT_OWNERSHIP,
    ObjectOwnership,
    OwnershipSpec,
    SystemRole,
    filter_outbound,
    role_of,
)
from accord.connectors.registry import (
    ENTRY_POINT_GROUP,
    available_kinds,
    config_model_for,
    connector_class,
    create_connector,
)
from accord.connectors.types import Clock, Page, RawRecord, RecordMeta, WriteResult, utc_now
from accord.connectors.webhooks import (
    BcNotification,
    WebhookSignatureError,
    bc_validation_token,
    parse_bc_notifications,
    verify_signature,
)

__all__ = [
    "DEFAULT_OWNERSHIP",
    "ENTRY_POINT_GROUP",
    "AccessToken",
    "AuthorizationCodeAuth",
    "AuthorizationCodeFlow",
    "BcNotification",
    "BearerTokenAuth",
    "Budget",
    "BudgetUsage",
    "ClientCredentialsAuth",
    "Clock",
    "ConnectionLimits",
    "Connector",
    "ConnectorConfig",
    "ConnectorConfigT",
    "LocalBudget",
    "MemoryTokenStore",
    "OAuth1Auth",
    "OAuth2TokenAuth",
    "ObjectOwnership",
    "OwnershipSpec",
    "Page",
    "RawRecord",
    "RecordMeta",
    "SystemRole",
    "TokenSet",
    "TokenStore",
    "WebhookSignatureError",
    "WriteResult",
    "available_kinds",
    "bc_validation_token",
    "build_client",
    "config_model_for",
    "connector_class",
    "create_connector",
    "filter_outbound",
    "load_connections",
    "parse_bc_notifications",
    "redact_headers",
    "redact_text",
    "redact_url",
    "retry_after_seconds",
    "role_of",
    "sign_jwt",
    "translate_http_error",
    "translate_transport_error",
    "utc_now",
    "verify_signature",
]
