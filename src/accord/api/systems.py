"""System APIs: one system's customers, projects, invoices and payments, read canonically.

``GET /api/v1/systems/{connection}/{customers|projects|invoices|payments}/{id}`` reads one
record through the connection's connector and maps it with the connector's mapping module.
``id`` is the system's own id or Accord's canonical id (translated through the xref, so a
lookup by canonical id costs one indexed query and no search in the remote system).

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
from collections.abc import Callable, Mapping
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
from accord.connectors.base import Connector
from accord.connectors.business_central import mapping as bc_mapping
from accord.connectors.certinia import mapping as certinia_mapping
from accord.connectors.netsuite import mapping as ns_mapping
from accord.connectors.salesforce import mapping as sf_mapping
from accord.connectors.types import RawRecord, utc_now
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
from accord.rules import Rules, load_rules
from accord.store import xref

__all__ = [
    "CACHE_SECONDS",
    "ERP_KINDS",
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
"""Reference lists (NetSuite currencies) and the rules file: an hour."""

ERP_KINDS = frozenset({"netsuite", "business_central"})
"""Connector kinds that are an ERP of record (financial truth: invoices, payments, credit)."""


class SystemRecord(BaseModel, Generic[ModelT]):
    """One record of one system, in canonical form."""

    model_config = ConfigDict(frozen=True)

    connection: str = Field(description="The accord.yaml connection it was read through.")
    system: str = Field(description="The connection's connector kind (netsuite, salesforce...).")
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
    raw: RawRecord
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


# --------------------------------------------------------------------------- adapters
@dataclass(frozen=True)
class _Ctx:
    reader: "SystemReader"
    connection: str
    connector: Connector[Any]


Mapper = Callable[[RawRecord, _Ctx], CanonicalModel]


def _refs_in(record: RawRecord, names: tuple[str, ...], sublists: Mapping[str, str]) -> set[str]:
    """NetSuite internal ids referenced by a record (fields and sublist lines)."""
    found: set[str] = set()

    def ref(holder: Mapping[str, Any], name: str) -> None:
        value = holder.get(name)
        ident = value.get("id") if isinstance(value, Mapping) else value
        if ident is not None and not isinstance(ident, Mapping):
            found.add(str(ident))

    for name in names:
        ref(record, name)
    for sublist, name in sublists.items():
        block = record.get(sublist)
        for line in (block.get("items") if isinstance(block, Mapping) else None) or ():
            if isinstance(line, Mapping):
                ref(line, name)
    return found


def _netsuite_lookups(record: RawRecord, ctx: _Ctx) -> ns_mapping.NetSuiteLookups:
    rules = ctx.reader.rules()
    spec = rules.spec if rules is not None else None
    customers = _refs_in(record, ("entity", "customer", "parent"), {})
    jobs = _refs_in(record, (), {"item": "job"})
    invoices = _refs_in(record, (), {"apply": "doc"})
    known = ctx.reader.canonical_ids(
        ctx.connection, {"Customer": customers, "Project": jobs, "Invoice": invoices}
    )
    # Records Accord did not write are named like the mapping names them (NS-<type>-<id>).
    records = {
        table: {known.get((etype, ident), f"NS-{table}-{ident}"): ident for ident in ids}
        for table, etype, ids in (
            ("customer", "Customer", customers),
            ("job", "Project", jobs),
            ("invoice", "Invoice", invoices),
        )
    }
    return ns_mapping.NetSuiteLookups(
        subsidiaries={
            code: le.netsuite_subsidiary_id
            for code, le in (spec.legal_entities.items() if spec else ())
            if le.netsuite_subsidiary_id
        },
        currencies=ctx.reader.netsuite_currencies(ctx.connection, ctx.connector),
        departments={
            c: p.netsuite_department_id for c, p in (spec.practices if spec else {}).items()
        },
        classes={c: r.netsuite_class_id for c, r in (spec.regions if spec else {}).items()},
        records=records,
    )


def _bc_context(ctx: _Ctx) -> tuple[bc_mapping.BusinessCentralLookups, str]:
    """The lookups and company currency of a Business Central connection, from the rules."""
    rules = ctx.reader.rules()
    if rules is None:
        raise MappingError("no rules file: cannot tell which legal entity this company books for")
    spec = rules.spec
    entity = next(
        (
            (code, le)
            for code, le in spec.legal_entities.items()
            if le.erp.value == "business_central" and le.connection == ctx.connection
        ),
        None,
    )
    if entity is None:
        raise MappingError(f"no legal entity of the rules books in {ctx.connection!r}")
    code, le = entity
    tax = next((r.tax_region for r in spec.regions.values() if r.legal_entity == code), None)
    lookups = bc_mapping.BusinessCentralLookups(
        legal_entity=code,
        departments={c: p.bc_department_code for c, p in spec.practices.items()},
        areas={c: r.bc_area_code for c, r in spec.regions.items()},
        tax_regions={le.country: tax} if tax else {},
        default_tax_region=tax,
    )
    return lookups, le.currency


def _bc_customer(raw: RawRecord, ctx: _Ctx) -> CanonicalModel:
    lookups, currency = _bc_context(ctx)
    return bc_mapping.customer_to_canonical(raw, lookups=lookups, company_currency=currency)


def _bc_project(raw: RawRecord, ctx: _Ctx) -> CanonicalModel:
    return bc_mapping.project_to_canonical(raw, lookups=_bc_context(ctx)[0])


def _bc_invoice(raw: RawRecord, ctx: _Ctx) -> CanonicalModel:
    lookups, currency = _bc_context(ctx)
    return bc_mapping.sales_invoice_to_canonical(raw, lookups=lookups, company_currency=currency)


def _bc_payment(raw: RawRecord, ctx: _Ctx) -> CanonicalModel:
    lookups, currency = _bc_context(ctx)
    return bc_mapping.payment_to_canonical(raw, lookups=lookups, currency=currency)


def _sf_customer(raw: RawRecord, _ctx: _Ctx) -> CanonicalModel:
    return sf_mapping.account_to_customer(raw)


def _ns(fn: Callable[..., CanonicalModel]) -> Mapper:
    def mapper(raw: RawRecord, ctx: _Ctx) -> CanonicalModel:
        return fn(raw, lookups=_netsuite_lookups(raw, ctx))

    return mapper


ADAPTERS: Mapping[tuple[str, Entity], tuple[str, Mapper]] = {
    ("salesforce", Entity.CUSTOMERS): (
        "Account",
        lambda raw, _c: sf_mapping.account_to_customer(raw),
    ),
    ("certinia", Entity.CUSTOMERS): (
        "Account",
        lambda raw, _c: sf_mapping.account_to_customer(raw),
    ),
    ("certinia", Entity.PROJECTS): (
        "pse__Proj__c",
        lambda raw, _c: certinia_mapping.project_to_canonical(raw),
    ),
    ("netsuite", Entity.CUSTOMERS): ("customer", _ns(ns_mapping.customer_to_canonical)),
    ("netsuite", Entity.PROJECTS): ("job", _ns(ns_mapping.project_to_canonical)),
    ("netsuite", Entity.INVOICES): ("invoice", _ns(ns_mapping.invoice_to_canonical)),
    ("netsuite", Entity.PAYMENTS): ("customerPayment", _ns(ns_mapping.payment_to_canonical)),
    ("business_central", Entity.CUSTOMERS): ("customers", _bc_customer),
    ("business_central", Entity.PROJECTS): ("projects", _bc_project),
    ("business_central", Entity.INVOICES): ("salesInvoices", _bc_invoice),
    ("business_central", Entity.PAYMENTS): ("customerPayments", _bc_payment),
}
"""(connector kind, entity) -> (the system's resource, its mapper). Kantata is not offered:
its projects and invoices map only with context from other systems (the opportunity, the
customer), which is the process tier's job."""


# --------------------------------------------------------------------------- the reader
class SystemReader:
    """Reads single records through connectors, with the xref and a short-lived cache.

    Args:
        connections: The process's connections.
        engine: Accord's database (xref).
        rules_path: The rules file; ``None`` reads ``lead_to_project.rules`` from
            ``accord.yaml`` or falls back to ``rules/default.yaml``.
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
        default = Path("rules/default.yaml")
        return default if default.is_file() else None

    def rules(self) -> Rules | None:
        """The rules (cached for :data:`REFERENCE_SECONDS`), or ``None`` without a file."""
        cached = self.cache.get(("rules",))
        if cached is not None:
            return cached if isinstance(cached, Rules) else None
        path = self._rules_file()
        loaded: Rules | None = load_rules(path) if path is not None else None
        self.cache.put(("rules",), loaded if loaded is not None else False, REFERENCE_SECONDS)
        return loaded

    def netsuite_currencies(self, connection: str, connector: Connector[Any]) -> dict[str, str]:
        """ISO code -> NetSuite currency id, read once an hour (reference data)."""
        key = ("ns-currencies", connection)
        cached = self.cache.get(key)
        if isinstance(cached, dict):
            return cached
        page = connector.read_page("currency", limit=1000)
        table = {
            str(row.get("symbol") or row.get("name")): str(row["id"])
            for row in page.records
            if row.get("id") is not None
        }
        self.cache.put(key, table, REFERENCE_SECONDS)
        return table

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
        """One record, mapped (blocking: call it on a worker thread).

        Raises:
            UnknownConnectionError: No such connection.
            UnsupportedOperationError: The connection's system does not offer ``entity``.
            ConnectorError: From the connector (not found, auth, retryable, refused).
            MappingError: The record cannot be mapped to the canonical model.
        """
        kind = self.kind(connection)
        adapter = ADAPTERS.get((kind, entity))
        if adapter is None:
            raise UnsupportedOperationError(connector=connection, resource=entity.value)
        resource, mapper = adapter
        system_id = self.system_id(connection, entity, record_id)
        key = ("record", connection, entity.value, system_id)
        hit = self.cache.get(key)
        if isinstance(hit, Fetched):
            return Fetched(**{**hit.__dict__, "cached": True})
        connector = self.connections.connector(connection)
        try:
            raw = _get_raw(connector, kind, resource, system_id)
        except ValueError as exc:
            # An id of the wrong shape (not a GUID for Business Central) names no record.
            raise NotFoundError(connector=connection, resource=resource) from exc
        model = mapper(raw, _Ctx(self, connection, connector))
        canonical = self.canonical_ids(connection, {entity.xref_type: {system_id}}).get(
            (entity.xref_type, system_id)
        )
        if canonical is not None and getattr(model, "id", canonical) != canonical:
            model = model.model_copy(update={"id": canonical})
        fetched = Fetched(connection, kind, entity, system_id, raw, model, utc_now())
        self.cache.put(key, fetched, CACHE_SECONDS[entity])
        return fetched


def _get_raw(connector: Connector[Any], kind: str, resource: str, record_id: str) -> RawRecord:
    """``connector.get``, except for NetSuite customers, whose address book is a sublist.

    ``NetSuiteConnector.get`` inlines sublists for transactions only, and the customer
    mapping needs the default billing address, so the customer is read with
    ``expandSubResources=true`` through the connector's own request path.
    """
    if kind != "netsuite":
        return connector.get(resource, record_id)
    if not record_id.isdigit():
        raise ValueError("a NetSuite internal id is a number")
    if resource != "customer":
        return connector.get(resource, record_id)
    response = connector.send(
        "GET",
        f"/record/v1/customer/{record_id}",
        resource=resource,
        params={"expandSubResources": "true"},
    )
    connector.raise_for_status(response, resource=resource)
    body = response.json()
    if not isinstance(body, dict):
        raise MappingError("NetSuite answered a customer that is not a JSON object")
    return body


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
