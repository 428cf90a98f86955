"""System APIs: one system's customers, projects, invoices and payments, read canonically.

``GET /api/v1/systems/{connection}/{customers|projects|invoices|payments}/{id}`` reads one
record through the role the connection's system plays (:mod:`accord.connectors.roles`: a CRM's
accounts, a PSA's customers and projects, an ERP's customers, projects, invoices and
payments), which returns it canonically. ``id`` is the system's own id or Accord's canonical
id (translated through the xref, so a lookup by canonical id costs one indexed query and no
search in the remote system).

:class:`SystemReader` is shared with the process tier (:mod:`accord.api.process`), which
joins through the xref and then reads from the ERP of record. It keeps a short-lived cache
per (connection, entity, id); how long each kind of data may be cached is
:data:`CACHE_SECONDS` (documented in ``docs/api.md``). Connector errors become problem+json
here, in :func:`connector_problem`, and nowhere else.

What does not belong here: writes (the durable flows own every write) and any cross-system
join (the process tier).
"""

import asyncio
import math
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
import yaml
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from accord.api.errors import Problem
from accord.api.governance import API_PREFIX, OPERATOR_ROLES, PROBLEM_RESPONSES, guard
from accord.connectors.ownership import SystemRole, role_of
from accord.connectors.roles import Crm, Erp, ErpCustomer, Psa
from accord.connectors.types import utc_now
from accord.domain import CanonicalModel, Customer, Invoice, Payment, Project
from accord.errors import (
    AccordError,
    AuthError,
    BusinessRuleError,
    ConfigError,
    MappingError,
    NotFoundError,
    PermanentError,
    RetryableError,
    UnsupportedOperationError,
)
from accord.flows.connections import Connections, UnknownConnectionError
from accord.flows.pinning import governed_rules
from accord.resources import default_rules_path
from accord.rules import Rules, load_rules
from accord.store import xref

__all__ = [
    "CACHE_SECONDS",
    "XREF_TYPES",
    "Entity",
    "Fetched",
    "SystemReader",
    "SystemRecord",
    "connector_problem",
    "entity_kind",
    "router",
    "system_reader",
]

ModelT = TypeVar("ModelT", bound=CanonicalModel)


class Entity(StrEnum):
    """The canonical objects the system tier reads (path segment names)."""

    CUSTOMERS = "customers"
    PROJECTS = "projects"
    INVOICES = "invoices"
    PAYMENTS = "payments"

    @property
    def xref_type(self) -> str:
        """The canonical model name of these objects (a key of :data:`XREF_TYPES`)."""
        return {"customers": "Customer", "projects": "Project", "invoices": "Invoice"}.get(
            self.value, "Payment"
        )


XREF_TYPES: Mapping[str, tuple[str, ...]] = {
    "Customer": ("Customer", "customer"),
    "Project": ("Project", "project", "psa_project", "erp_project"),
    "Invoice": ("Invoice", "invoice"),
    "Payment": ("Payment", "payment"),
    "Opportunity": ("Opportunity", "opportunity"),
}
"""Canonical model name -> the entity types the xref and lineage store it under.

The lead-to-project flow writes lower-case types (``customer``, and ``psa_project`` /
``erp_project`` for the two halves of one canonical project); other writers use the model
name. Reads accept every spelling.
"""
_KIND_OF = {alias: kind for kind, aliases in XREF_TYPES.items() for alias in aliases}


def entity_kind(entity_type: str) -> str | None:
    """The canonical model name of an xref or lineage entity type (``None`` if unknown)."""
    return _KIND_OF.get(entity_type)


CACHE_SECONDS: Mapping[Entity, float] = {
    Entity.CUSTOMERS: 60.0,
    Entity.PROJECTS: 60.0,
    Entity.INVOICES: 15.0,
    Entity.PAYMENTS: 300.0,
}
"""How long a read of each entity may be served from the cache.

Customers and projects change rarely and are owned upstream (CRM, PSA), so a minute of
staleness is harmless for validation and diagnosis. Invoices change status when paid, which a
portal asks about, so they are kept 15 s. A recorded payment does not change, so 5 minutes.
"""
REFERENCE_SECONDS = 3600.0
"""The rules file: an hour."""


class SystemRecord(BaseModel, Generic[ModelT]):
    """One record of one system, in canonical form."""

    model_config = ConfigDict(frozen=True)

    connection: str = Field(description="The accord.yaml connection it was read through.")
    system: str = Field(description="The connection's connector kind (its system's name).")
    entity: Entity
    system_id: str = Field(description="The record's id in that system.")
    canonical_id: str = Field(description="Accord's id of the record (from the xref if known).")
    cached: bool = Field(description="True when answered from the short-lived cache.")
    fetched_at: datetime = Field(description="When Accord read it from the system (UTC).")
    record: ModelT


@dataclass(frozen=True)
class Fetched:
    """A mapped record with where it came from."""

    connection: str
    kind: str
    entity: Entity
    system_id: str
    model: CanonicalModel
    fetched_at: datetime
    cached: bool = False

    def as_response(self) -> dict[str, Any]:
        """Keyword arguments of a :class:`SystemRecord`."""
        return {
            "connection": self.connection,
            "system": self.kind,
            "entity": self.entity,
            "system_id": self.system_id,
            "canonical_id": str(getattr(self.model, "id", self.system_id)),
            "cached": self.cached,
            "fetched_at": self.fetched_at,
            "record": self.model,
        }


class _TtlCache:
    """A small thread-safe cache with a time-to-live per entry."""

    def __init__(self, *, max_entries: int = 10_000) -> None:
        self._data: dict[tuple[str, ...], tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get(self, key: tuple[str, ...]) -> Any:  # noqa: ANN401 - values of any cached type
        with self._lock:
            hit = self._data.get(key)
        if hit is None or hit[0] <= time.monotonic():
            return None
        return hit[1]

    def put(self, key: tuple[str, ...], value: object, ttl: float) -> None:
        with self._lock:
            if len(self._data) >= self.max_entries:
                # Crude but bounded: entries are cheap to re-read and live seconds anyway.
                self._data.clear()
            self._data[key] = (time.monotonic() + ttl, value)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


# --------------------------------------------------------------------------- readers
Reader = Callable[["SystemReader", str, str], CanonicalModel]
"""``(reader, connection, system id) -> canonical record`` through the connection's role."""


def _crm_customer(reader: "SystemReader", connection: str, record_id: str) -> CanonicalModel:
    account = reader.crm(connection).account(record_id)
    if account.customer is None:
        problems = "; ".join(f"{name}: {what}" for name, what in account.problems.items())
        raise MappingError(f"account {record_id} cannot be mapped: {problems}")
    return account.customer


def _erp_read(name: str) -> Reader:
    def read(reader: "SystemReader", connection: str, record_id: str) -> CanonicalModel:
        def known(wanted: Mapping[str, Collection[str]]) -> Mapping[tuple[str, str], str]:
            return reader.canonical_ids(connection, {k: set(v) for k, v in wanted.items()})

        method: Callable[..., CanonicalModel] = getattr(reader.erp(connection), name)
        return method(record_id, known=known)

    return read


READERS: Mapping[tuple[SystemRole, Entity], Reader] = {
    (SystemRole.CRM, Entity.CUSTOMERS): _crm_customer,
    (SystemRole.PSA, Entity.CUSTOMERS): lambda r, c, i: r.psa(c).customer(i),
    (SystemRole.PSA, Entity.PROJECTS): lambda r, c, i: r.psa(c).project(i),
    (SystemRole.ERP, Entity.CUSTOMERS): _erp_read("read_customer"),
    (SystemRole.ERP, Entity.PROJECTS): _erp_read("read_project"),
    (SystemRole.ERP, Entity.INVOICES): _erp_read("read_invoice"),
    (SystemRole.ERP, Entity.PAYMENTS): _erp_read("read_payment"),
}
"""(role, entity) -> how the role reads it. A PSA whose records map only with context from
other systems (Kantata's workspaces carry no customer) answers "not offered": joining systems
is the process tier's job."""


# --------------------------------------------------------------------------- the reader
class SystemReader:
    """Reads single records through connectors, with the xref and a short-lived cache.

    Args:
        connections: The process's connections.
        engine: Accord's database (xref).
        rules_path: The rules file; ``None`` reads ``lead_to_project.rules`` from
            ``accord.yaml`` or falls back to the rules Accord ships.
    """

    def __init__(
        self, connections: Connections, engine: sa.Engine, *, rules_path: Path | None = None
    ) -> None:
        self.connections = connections
        self.engine = engine
        self.rules_path = rules_path
        self.cache = _TtlCache()

    # ----------------------------------------------------------------- context
    def kind(self, connection: str) -> str:
        """The connector kind of a connection (raises :class:`UnknownConnectionError`)."""
        return self.connections.config(connection).kind

    def role(self, connection: str) -> SystemRole:
        """The role the connection's system plays.

        Raises:
            UnknownConnectionError: No such connection.
            UnsupportedOperationError: Its kind plays no role Accord knows.
        """
        kind = self.kind(connection)
        try:
            return role_of(kind)
        except ValueError:
            raise UnsupportedOperationError(
                f"{kind} plays no role Accord knows", connector=connection
            ) from None

    def is_erp(self, connection: str) -> bool:
        """Whether the connection is an ERP of record (invoices, payments, credit)."""
        try:
            return self.role(connection) is SystemRole.ERP
        except (ConfigError, UnsupportedOperationError):
            return False

    def _rules_file(self) -> Path | None:
        if self.rules_path is not None:
            return self.rules_path
        config_file = self.connections.config_file
        if config_file is not None and config_file.is_file():
            document = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
            flow = document.get("lead_to_project") if isinstance(document, Mapping) else None
            named = flow.get("rules") if isinstance(flow, Mapping) else None
            if isinstance(named, str):
                path = Path(named)
                return path if path.is_absolute() else config_file.parent / path
        return default_rules_path()

    def rules(self) -> Rules | None:
        """The rules in force (cached for :data:`REFERENCE_SECONDS`), or ``None`` without a file."""
        cached = self.cache.get(("rules",))
        if cached is not None:
            return cached if isinstance(cached, Rules) else None
        path = self._rules_file()
        # The active version when the runtime governs rules (docs/governance.md), else the file.
        loaded: Rules | None = None
        if path is not None:
            loaded = governed_rules(path) or load_rules(path)
        self.cache.put(("rules",), loaded if loaded is not None else False, REFERENCE_SECONDS)
        return loaded

    def _required_rules(self) -> Rules:
        rules = self.rules()
        if rules is None:
            raise ConfigError("no rules file: a role needs the firm's rules to place records")
        return rules

    def crm(self, connection: str) -> Crm:
        """The connection in the CRM role."""
        return self.connections.connector(connection).as_crm(self._required_rules())

    def psa(self, connection: str) -> Psa:
        """The connection in the PSA role."""
        return self.connections.connector(connection).as_psa(self._required_rules())

    def erp(self, connection: str) -> Erp:
        """The connection in the ERP role."""
        return self.connections.connector(connection).as_erp(self._required_rules())

    def erp_customer(self, connection: str, erp_id: str) -> ErpCustomer:
        """An ERP customer by the id the xref holds, cached like customers are.

        Raises:
            NotFoundError: No such customer (an id of the wrong shape names none either).
        """
        key = ("erp-customer", connection, erp_id)
        hit = self.cache.get(key)
        if isinstance(hit, ErpCustomer):
            return hit
        try:
            found = self.erp(connection).customer(erp_id)
        except ValueError as exc:
            raise NotFoundError(connector=connection, resource="customers") from exc
        self.cache.put(key, found, CACHE_SECONDS[Entity.CUSTOMERS])
        return found

    def canonical_ids(
        self, connection: str, wanted: Mapping[str, set[str]]
    ) -> dict[tuple[str, str], str]:
        """(entity type, external id) -> canonical id, for the ids the xref knows."""
        pairs = [(etype, ident) for etype, ids in wanted.items() for ident in ids]
        if not pairs:
            return {}
        with self.engine.connect() as conn:
            rows = xref.lookup_external(
                conn,
                connection=connection,
                entity_types=[a for etype in wanted for a in XREF_TYPES.get(etype, (etype,))],
                external_ids={ident for _, ident in pairs},
            )
        return {
            (entity_kind(etype) or etype, external): canonical
            for etype, external, canonical in rows
        }

    def system_id(self, connection: str, entity: Entity, record_id: str) -> str:
        """The system's id for ``record_id``: translated when it is a known canonical id."""
        with self.engine.connect() as conn:
            external = xref.first_external(
                conn,
                entity_types=XREF_TYPES[entity.xref_type],
                canonical_id=record_id,
                connection=connection,
            )
        return external or record_id

    # ----------------------------------------------------------------- reads
    def read(self, connection: str, entity: Entity, record_id: str) -> Fetched:
        """One record, canonical (blocking: call it on a worker thread).

        Raises:
            UnknownConnectionError: No such connection.
            UnsupportedOperationError: The connection's system does not offer ``entity``.
            ConnectorError: From the system (not found, auth, retryable, refused).
            MappingError: The record cannot be mapped to the canonical model.
        """
        kind = self.kind(connection)
        reader = READERS.get((self.role(connection), entity))
        if reader is None:
            raise UnsupportedOperationError(connector=connection, resource=entity.value)
        system_id = self.system_id(connection, entity, record_id)
        key = ("record", connection, entity.value, system_id)
        hit = self.cache.get(key)
        if isinstance(hit, Fetched):
            return Fetched(**{**hit.__dict__, "cached": True})
        try:
            model = reader(self, connection, system_id)
        except UnsupportedOperationError as exc:
            raise UnsupportedOperationError(connector=connection, resource=entity.value) from exc
        except ValueError as exc:
            # An id of the wrong shape (not a GUID, not a number) names no record.
            raise NotFoundError(connector=connection, resource=entity.value) from exc
        canonical = self.canonical_ids(connection, {entity.xref_type: {system_id}}).get(
            (entity.xref_type, system_id)
        )
        if canonical is not None and getattr(model, "id", canonical) != canonical:
            model = model.model_copy(update={"id": canonical})
        fetched = Fetched(connection, kind, entity, system_id, model, utc_now())
        self.cache.put(key, fetched, CACHE_SECONDS[entity])
        return fetched


def system_reader(request: Request) -> SystemReader:
    """The app's :class:`SystemReader` (built on first use)."""
    reader: SystemReader | None = getattr(request.app.state, "system_reader", None)
    if reader is None:
        services = request.app.state.services
        reader = SystemReader(services.connections, services.engine)
        request.app.state.system_reader = reader
    return reader


def connector_problem(  # noqa: PLR0911 - one answer per error class reads best
    exc: AccordError, *, connection: str
) -> Problem:
    """The problem+json answer for an error raised while reading through a connection."""
    if isinstance(exc, UnknownConnectionError):
        return Problem(404, "Unknown connection", f"no connection named {exc.name!r}")
    connection = getattr(exc, "connector", None) or connection
    if isinstance(exc, UnsupportedOperationError):
        return Problem(404, "Not offered", f"{connection!r} does not offer {exc.resource!r}")
    if isinstance(exc, NotFoundError):
        return Problem(404, "Record not found", f"{connection!r} has no such record")
    if isinstance(exc, AuthError):
        return Problem(
            502,
            "Upstream authentication failed",
            f"{connection!r} refused Accord's credentials; check the connection's secrets",
        )
    if isinstance(exc, RetryableError):
        wait = exc.retry_after if exc.retry_after is not None else 5.0
        return Problem(
            503,
            "Upstream unavailable",
            f"{connection!r} is busy or unreachable; retry later",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    if isinstance(exc, BusinessRuleError):
        return Problem(422, "Refused by a business rule", exc.message)
    if isinstance(exc, PermanentError):
        return Problem(502, "Upstream refused the request", exc.message)
    if isinstance(exc, MappingError):
        return Problem(502, "Record cannot be mapped", exc.message)
    if isinstance(exc, ConfigError):
        return Problem(502, "Connection misconfigured", exc.message)
    return Problem(502, "Upstream error", type(exc).__name__)


async def fetch(reader: SystemReader, connection: str, entity: Entity, record_id: str) -> Fetched:
    """:meth:`SystemReader.read` on a worker thread, its errors turned into problems."""
    try:
        return await asyncio.to_thread(reader.read, connection, entity, record_id)
    except AccordError as exc:
        raise connector_problem(exc, connection=connection) from exc


# --------------------------------------------------------------------------- routes
router = APIRouter(
    prefix=f"{API_PREFIX}/systems",
    tags=["system"],
    dependencies=[Depends(guard(*OPERATOR_ROLES))],
    responses={
        **PROBLEM_RESPONSES,
        404: {"description": "Unknown connection, entity not offered, or no such record"},
        422: {"description": "The system refused the read on a business rule"},
        502: {"description": "Upstream authentication failed, or the record cannot be mapped"},
        503: {"description": "The system is busy or unreachable; see Retry-After"},
    },
)


def _route(entity: Entity, model: type[CanonicalModel]) -> None:
    async def read_one(
        connection: str, record_id: str, reader: SystemReader = Depends(system_reader)
    ) -> dict[str, Any]:
        return (await fetch(reader, connection, entity, record_id)).as_response()

    read_one.__name__ = f"read_{entity.value}"
    router.add_api_route(
        f"/{{connection}}/{entity.value}/{{record_id}}",
        read_one,
        methods=["GET"],
        response_model=SystemRecord[model],  # type: ignore[valid-type]
        summary=f"One {model.__name__.lower()} of one system, canonical",
        description=(
            f"Reads one {model.__name__} through the connection's connector. `record_id` is the "
            "system's id or Accord's canonical id (translated through the xref)."
        ),
        operation_id=f"systems_read_{entity.value}",
    )


for _entity, _model in (
    (Entity.CUSTOMERS, Customer),
    (Entity.PROJECTS, Project),
    (Entity.INVOICES, Invoice),
    (Entity.PAYMENTS, Payment),
):
    _route(_entity, _model)
