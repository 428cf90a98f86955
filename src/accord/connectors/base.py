"""The ``Connector`` base class: the one shape every system's connector has.

A connector does **one bounded call per method** and returns plain values
(:mod:`accord.connectors.types`): it never loops over all pages, never sleeps and never retries;
the flow layer does that, durably. Its boundary is injected: the HTTP transport, the clock and
the request :class:`~accord.connectors.budget.Budget` come in as constructor arguments, so that
tests pass an ``httpx.MockTransport`` or a sandbox's transport instead of patching anything.

Every HTTP request goes through :meth:`Connector.send`, which holds a budget slot around the
request, penalizes the budget on a 429 and turns transport failures into
:class:`~accord.errors.RetryableError`. Failed responses become errors through
:meth:`Connector.raise_for_status`, whose system-specific half is
:meth:`Connector.translate_error` (by the class's ``error_translator``).

To write a connector: subclass :class:`Connector` with your ``ConnectorConfig`` subclass, set
``kind`` and ``config_model``, implement the abstract methods, override
:meth:`Connector.build_auth`, set ``error_translator`` to your system's
:class:`~accord.connectors.http.ErrorTranslation`, register it under the
``accord.connectors`` entry-point group, and subclass
:class:`accord.connectors.testing.ConnectorContract` in your tests.
"""

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar

import httpx
from pydantic import SecretStr
from typing_extensions import override

from accord.connectors.authorization import AuthorizationCodeFlow, TokenStore
from accord.connectors.budget import Budget, LocalBudget, slot_is_held
from accord.connectors.config import ConnectorConfig
from accord.connectors.http import (
    ErrorTranslation,
    build_client,
    by_status,
    json_or_none,
    translate_transport_error,
)
from accord.connectors.roles import Crm, Erp, Psa
from accord.connectors.types import (
    Clock,
    Page,
    RawRecord,
    RecordMeta,
    ReferenceList,
    WriteResult,
    utc_now,
)
from accord.connectors.webhooks import UpkeepReport
from accord.errors import ConnectorError, PermanentError, UnsupportedOperationError
from accord.rules import Rules

__all__ = ["Connector", "ConnectorConfigT"]

logger = logging.getLogger(__name__)

ConnectorConfigT = TypeVar("ConnectorConfigT", bound=ConnectorConfig)


class Connector(ABC, Generic[ConnectorConfigT]):
    """One connection to one system: bounded reads, idempotent writes, typed errors.

    Args:
        config: The connection's validated configuration.
        transport: The HTTP transport; ``None`` means the real network. Tests pass an
            ``httpx.MockTransport`` or an emulator's transport.
        clock: Current UTC time; used for token expiry and ``Retry-After`` dates.
        budget: The rate and concurrency budget shared by every user of this connection; a
            private :class:`~accord.connectors.budget.LocalBudget` when ``None``.
        token_store: Where tokens from a consent step live (connections authorized with
            ``accord connections authorize``); unused by server-to-server flows.

    Methods raise only :class:`~accord.errors.ConnectorError` subclasses (plus
    ``ValueError`` for a resource the connector does not know, which is a programming error).
    """

    kind: ClassVar[str]
    """The connector kind; also its entry-point name (``netsuite``, ``salesforce`` ...)."""
    config_model: ClassVar[type[ConnectorConfig]]
    """The ``ConnectorConfig`` subclass that ``accord.yaml`` connections of this kind load into."""
    webhook_scheme: ClassVar[Literal["signed", "subscription"]] = "signed"
    """How the system's webhooks reach ``/hooks/{connection}``: ``signed`` CloudEvents (Accord's
    HMAC scheme), or ``subscription`` notifications that carry no data (a validation-token
    handshake, ``clientState``, then a capture run of each notified resource)."""
    error_translator: ClassVar[ErrorTranslation] = ErrorTranslation(by_status)
    """The system's error translation (its ``errors.translate``), used by
    :meth:`translate_error`; the default classifies by status only."""

    def __init__(
        self,
        config: ConnectorConfigT,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Clock = utc_now,
        budget: Budget | None = None,
        token_store: TokenStore | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.budget: Budget = budget if budget is not None else LocalBudget()
        self.token_store = token_store
        self.client = build_client(
            base_url=config.base_url,
            timeout_s=config.timeout_s,
            transport=transport,
            auth=self.build_auth(),
            headers=self.default_headers(),
        )

    # ----------------------------------------------------------------- identity
    @property
    def name(self) -> str:
        """The connection name (``config.name``), used in every error and log line."""
        return self.config.name

    @override
    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    # ----------------------------------------------------------------- hooks for subclasses
    def build_auth(self) -> httpx.Auth | None:
        """The connection's ``httpx.Auth`` flow; called once, from ``__init__``."""
        return None

    def authorization_flow(self) -> AuthorizationCodeFlow | None:
        """The consent step this connection needs (``accord connections authorize``), if any.

        ``None`` (the default) for connections that authenticate on their own with
        server-to-server credentials.
        """
        return None

    def default_headers(self) -> Mapping[str, str]:
        """Headers sent on every request."""
        return {"Accept": "application/json", "User-Agent": "accord"}

    def translate_error(
        self, response: httpx.Response, *, resource: str | None, external_id: str | None = None
    ) -> ConnectorError:
        """The error a failed response means, by the class's :attr:`error_translator`."""
        return self.error_translator(
            response,
            connector=self.name,
            resource=resource,
            external_id=external_id,
            now=self.clock,
        )

    # ----------------------------------------------------------------- the one request path
    def send(
        self,
        method: str,
        url: str,
        *,
        resource: str | None,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,  # noqa: ANN401 - a JSON body: the raw boundary
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """Send one request within the budget; return the response whatever its status.

        Holds a budget slot for the duration of the request (token fetches included), calls
        :meth:`Budget.penalize` when the system answers 429, and turns timeouts and transport
        failures into :class:`~accord.errors.RetryableError`. ``content`` is a raw body (a
        multipart ``$batch``) sent instead of ``json``.
        """
        held = slot_is_held()
        with nullcontext() if held else self.budget.acquire(self.config):
            try:
                response = self.client.request(
                    method, url, params=params, json=json, headers=headers, content=content
                )
            except httpx.TransportError as exc:
                raise translate_transport_error(
                    exc, connector=self.name, resource=resource
                ) from exc
        if response.status_code == httpx.codes.TOO_MANY_REQUESTS:
            error = self.translate_error(response, resource=resource)
            self.budget.penalize(self.config, getattr(error, "retry_after", None))
        return response

    def raise_for_status(
        self, response: httpx.Response, *, resource: str | None, external_id: str | None = None
    ) -> None:
        """Raise the translated error unless the response is a success (2xx)."""
        if response.is_success:
            return
        raise self.translate_error(response, resource=resource, external_id=external_id)

    def json_object(self, response: httpx.Response, *, resource: str) -> dict[str, Any]:
        """The response body as a JSON object; a body that is not one is a PermanentError."""
        body = json_or_none(response)
        if not isinstance(body, dict):
            raise PermanentError(
                "expected a JSON object",
                connector=self.name,
                resource=resource,
                status_code=response.status_code,
            )
        return body

    # ----------------------------------------------------------------- the contract
    @abstractmethod
    def check(self) -> None:
        """Authenticate and make one cheap read; raise if the connection does not work."""

    @abstractmethod
    def resources(self) -> tuple[str, ...]:
        """The resource names this connector reads and writes (the system's object names)."""

    @abstractmethod
    def read_page(
        self,
        resource: str,
        *,
        cursor: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> Page:
        """Read one page of ``resource``, oldest modification first.

        Args:
            resource: One of :meth:`resources`.
            cursor: ``Page.next_cursor`` of the previous page; ``None`` starts from the top.
                A cursor is only valid with the same ``since`` and ``limit``.
            since: Only records modified strictly after this UTC time (incremental reads).
            limit: Page size; the connector caps it at the system's maximum.
        """

    @abstractmethod
    def get(self, resource: str, record_id: str) -> RawRecord:
        """One record by the system's own id; raises :class:`~accord.errors.NotFoundError`."""

    @abstractmethod
    def get_by_external_id(self, resource: str, external_id: str) -> RawRecord | None:
        """One record by Accord's idempotency key, or ``None`` when there is none."""

    @abstractmethod
    def upsert(self, resource: str, external_id: str, fields: Mapping[str, Any]) -> WriteResult:
        """Create or update the record whose external id is ``external_id``; idempotent.

        Writing the same fields twice leaves one record; the second call reports
        ``created=False``.
        """

    @abstractmethod
    def update(
        self,
        resource: str,
        record_id: str,
        fields: Mapping[str, Any],
        *,
        etag: str | None = None,
    ) -> WriteResult:
        """Partially update one record by id; ``etag`` guards it where the system supports it.

        Raises :class:`~accord.errors.ConflictError` when ``etag`` is stale.
        """

    @abstractmethod
    def describe(self, resource: str, record: RawRecord) -> RecordMeta:
        """Id, external id, modification time and etag of a raw record, without mapping it."""

    # ----------------------------------------------------------------- optional operations
    def create(self, resource: str, fields: Mapping[str, Any]) -> WriteResult:  # noqa: ARG002
        """Create a record without an idempotency key; prefer :meth:`upsert`.

        Raises :class:`~accord.errors.UnsupportedOperationError` unless overridden.
        """
        raise UnsupportedOperationError(connector=self.name, resource=resource)

    def delete(self, resource: str, record_id: str) -> None:  # noqa: ARG002
        """Delete one record by id.

        Raises :class:`~accord.errors.UnsupportedOperationError` unless overridden.
        """
        raise UnsupportedOperationError(connector=self.name, resource=resource)

    def discover(self) -> list[ReferenceList]:
        """The values this system offers for the ids Accord's settings hold (reads only).

        ``accord connections discover NAME`` shows them, so that an operator can set a
        connection's ids (a billing item, expense categories) and the rules' (departments,
        classes) from what the system really has. A few bounded reads; none by default.
        """
        return []

    # ----------------------------------------------------------------- webhooks
    def keep_subscriptions(
        self,
        *,
        notification_url: str,
        entity_sets: Iterable[str],
        client_state: SecretStr,
        now: datetime,
        renew_within: timedelta,
    ) -> UpkeepReport:
        """One pass keeping this connection's webhook subscriptions to ``notification_url`` alive.

        For systems whose :attr:`webhook_scheme` is ``subscription``: every set of
        ``entity_sets`` ends with a live subscription (created, renewed when it expires within
        ``renew_within``, or re-created), and subscriptions to that URL for other sets are
        deleted. Running a pass twice changes nothing the second time.

        Args:
            notification_url: Where the system posts notifications (``.../hooks/<name>``).
            entity_sets: The system's resources that must have a live subscription.
            client_state: The connection's webhook secret (echoed in every notification).
            now: The current time (UTC).
            renew_within: Renew what expires sooner than this.

        Raises:
            UnsupportedOperationError: The system has no subscriptions to keep.
        """
        del notification_url, entity_sets, client_state, now, renew_within
        raise UnsupportedOperationError(
            f"{self.kind} has no webhook subscriptions", connector=self.name
        )

    # ----------------------------------------------------------------- roles
    def as_erp(self, rules: Rules) -> Erp:
        """This connection in the ERP role (:class:`~accord.connectors.roles.Erp`).

        ``rules`` place legal entities, practices and regions in the ERP's own ids.

        Raises:
            UnsupportedOperationError: The system does not play the ERP role.
        """
        del rules
        raise UnsupportedOperationError(f"{self.kind} is not an ERP", connector=self.name)

    def as_psa(self, rules: Rules) -> Psa:
        """This connection in the PSA role (:class:`~accord.connectors.roles.Psa`).

        Raises:
            UnsupportedOperationError: The system does not play the PSA role.
        """
        del rules
        raise UnsupportedOperationError(f"{self.kind} is not a PSA", connector=self.name)

    def as_crm(self, rules: Rules) -> Crm:
        """This connection in the CRM role (:class:`~accord.connectors.roles.Crm`).

        Raises:
            UnsupportedOperationError: The system does not play the CRM role.
        """
        del rules
        raise UnsupportedOperationError(f"{self.kind} is not a CRM", connector=self.name)

    def close(self) -> None:
        """Close the HTTP client and its connections."""
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- small shared helpers
    def require_resource(self, resource: str) -> str:
        """Return ``resource`` when this connector knows it; raise ``ValueError`` otherwise."""
        if resource not in self.resources():
            known = ", ".join(self.resources())
            raise ValueError(f"{self.kind} has no resource {resource!r} (known: {known})")
        return resource
