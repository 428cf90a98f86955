"""The Dynamics 365 Finance connector: OData data entities, natural keys, ``$batch``.

* Companies: company-specific entities carry ``dataAreaId`` in their key. Without
  ``cross-company=true`` finance and operations reads only the app user's default company,
  so every read sends ``cross-company=true`` and filters ``dataAreaId eq '<company>'``
  (Microsoft, "Open Data Protocol (OData)": *Cross-company behavior*), and every write names
  ``dataAreaId`` in its body. A connector addresses ``config.company`` unless narrowed with
  :meth:`DynamicsFinanceConnector.for_company` (``conn.for_company("DE01")``).
* Ids: a record's id is its key predicate (``dataAreaId='de01',CustomerAccount='C-1'``), the
  only identity data entities have; :meth:`DynamicsFinanceConnector.get` takes it back.
* Reads: one page per call ordered by ``(ModifiedDateTime, key)`` where the entity has a
  modification time (by key otherwise) with ``$top``; the cursor is F&O's ``@odata.nextLink``
  whenever it pages on its own (followed verbatim, same origin only), otherwise a keyset
  position (validated, because it ends up inside ``$filter``).
* Writes: data entities have natural keys, so upsert is read-by-key then ``PATCH`` or
  ``POST`` (for sets keyed by a number F&O assigns, the external key is a reference field
  probed with ``$filter``). A create whose answer was lost is found by the retried upsert.
* ``$batch``: :meth:`DynamicsFinanceConnector.batch` sends requests in one changeset (all or
  nothing) and returns each answer.
"""

import base64
import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import httpx
from typing_extensions import override

from accord.connectors.auth import ClientCredentialsAuth
from accord.connectors.budget import lane as budget_lane
from accord.connectors.dynamics_finance.batch import (
    BatchRequest,
    BatchResponse,
    decode_batch,
    encode_batch,
)
from accord.connectors.dynamics_finance.config import DynamicsFinanceConfig
from accord.connectors.dynamics_finance.errors import translate
from accord.connectors.odata import (
    ODataConnector,
    odata_etag,
    odata_string,
    odata_time,
    parse_odata_time,
)
from accord.connectors.roles import BACKGROUND, Erp, Lane
from accord.connectors.types import Page, RawRecord, RecordMeta, WriteResult
from accord.errors import ConflictError, ConnectorError, NotFoundError, PermanentError
from accord.rules import Rules

__all__ = [
    "ACTION_NAMESPACE",
    "MAX_PAGE_SIZE",
    "RESOURCES",
    "DynamicsFinanceConnector",
    "FinResource",
    "odata_string",
]

MAX_PAGE_SIZE: Final = 10_000
"""F&O's server-driven page size (Microsoft, "Open Data Protocol (OData)")."""
ACTION_NAMESPACE: Final = "Microsoft.Dynamics.DataEntities"
"""Namespace of entity types and bound actions."""

_MODIFIED = "ModifiedDateTime"
_PREDICATE = re.compile(
    r"^\w+=(?:'(?:[^']|'')*'|-?\d+(?:\.\d+)?)(?:,\w+=(?:'(?:[^']|'')*'|-?\d+(?:\.\d+)?))*$"
)


@dataclass(frozen=True, slots=True)
class FinResource:
    """One entity set: its key, how Accord's key finds a record, and paging."""

    name: str
    keys: tuple[str, ...]
    """Key fields after ``dataAreaId``."""
    external: str | None = None
    """Field verify-before-create probes (``None``: read-only data)."""
    company: bool = True
    """Company-specific: ``dataAreaId`` is the key's first field."""
    modified: bool = False
    """Has ``ModifiedDateTime`` (incremental reads)."""

    @property
    def key_fields(self) -> tuple[str, ...]:
        """The full key, ``dataAreaId`` first for company-specific sets."""
        return ("dataAreaId", *self.keys) if self.company else self.keys

    @property
    def keyed_by_external(self) -> bool:
        """The external id *is* the key (after ``dataAreaId``): look-ups go by key."""
        return self.keys == (self.external,)


RESOURCES: dict[str, FinResource] = {
    r.name: r
    for r in (
        FinResource("CustomersV3", ("CustomerAccount",), "CustomerAccount", modified=True),
        FinResource(
            "ProjectContractHeaders", ("ProjectContractId",), "ProjectContractId", modified=True
        ),
        FinResource("Projects", ("ProjectID",), "ProjectID", modified=True),
        FinResource(
            "ProjectOnAccountTransactions", ("TransactionId",), "TransactionId", modified=True
        ),
        FinResource("ProjectHourJournalHeaders", ("JournalBatchNumber",), "Description"),
        FinResource("ProjectHourJournalLines", ("JournalId", "LineNumber"), "TransactionID"),
        FinResource("ProjectExpenseJournalHeaders", ("JournalBatchNumber",), "Description"),
        FinResource("ProjectExpenseJournalLines", ("JournalBatchNumber", "LineNumber"), "Document"),
        FinResource("ProjectPostedTransactions", ("TransactionId",)),
        FinResource("SalesInvoiceHeadersV2", ("InvoiceNumber",), modified=True),
        FinResource(
            "FreeTextInvoiceHeaders",
            ("InvoiceIdentifier",),
            "CustomersOrderReference",
            modified=True,
        ),
        FinResource("FreeTextInvoiceLines", ("InvoiceIdentifier", "LineNumber")),
        FinResource("CustomerPaymentJournalHeaders", ("JournalBatchNumber",), "Description"),
        FinResource(
            "CustomerPaymentJournalLines",
            ("JournalBatchNumber", "LineNumber"),
            "PaymentReference",
            modified=True,
        ),
        FinResource("Resources", ("ResourceId",)),
        FinResource("VendorsV2", ("VendorAccountNumber",), "VendorAccountNumber"),
        FinResource("LedgerFiscalPeriods", ("FiscalCalendar", "FiscalYear", "PeriodName")),
        FinResource("FinancialDimensionValues", ("DimensionName", "DimensionValue"), company=False),
        FinResource("Currencies", ("CurrencyCode",), company=False),
        FinResource("LegalEntities", ("LegalEntityId",), company=False),
    )
}
"""Every entity set the connector reads (and, where ``external`` is set, writes), by name."""

Journal = Literal["ProjectHourJournalHeaders", "ProjectExpenseJournalHeaders"]


class DynamicsFinanceConnector(ODataConnector[DynamicsFinanceConfig]):
    """Dynamics 365 Finance OData data entities with Entra ID client credentials."""

    kind = "dynamics_finance"
    config_model = DynamicsFinanceConfig
    error_translator = translate
    service = "the Dynamics 365 Finance environment"
    _area: str | None = None
    """The dataAreaId this connector addresses, when narrowed (:meth:`for_company`)."""

    # ----------------------------------------------------------------- hooks
    @override
    def build_auth(self) -> httpx.Auth:
        return ClientCredentialsAuth(
            token_url=self.config.token_url,
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            scope=self.config.scope,
            connector=self.config.name,
            clock=self.clock,
        )

    @override
    def default_headers(self) -> Mapping[str, str]:
        return {
            "Accept": "application/json",
            "OData-Version": "4.0",
            "OData-MaxVersion": "4.0",
            "User-Agent": "accord",
        }

    @property
    def area(self) -> str:
        """The dataAreaId this connector addresses (lower case)."""
        return (self._area or self.config.company).lower()

    def for_company(self, company: str) -> "DynamicsFinanceConnector":
        """This connection narrowed to another company (a legal-entity code or a dataAreaId).

        The copy shares the HTTP client, token and budget; close the original, not the copy.
        """
        narrowed = copy.copy(self)
        narrowed._area = self.config.area_for(company)
        return narrowed

    # ----------------------------------------------------------------- reads
    @override
    def check(self) -> None:
        """Fetch a token and read the legal entity this connection addresses."""
        response = self.send(
            "GET",
            "/LegalEntities",
            resource="LegalEntities",
            params={"$filter": f"LegalEntityId eq {odata_string(self.area)}", "$top": 1},
        )
        self.raise_for_status(response, resource="LegalEntities")

    @override
    def resources(self) -> tuple[str, ...]:
        return tuple(RESOURCES)

    @override
    def read_page(
        self,
        resource: str,
        *,
        cursor: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> Page:
        """One page of this company's records, oldest change first; ``since`` is exclusive."""
        spec = RESOURCES[self.require_resource(resource)]
        size = max(1, min(limit or MAX_PAGE_SIZE, MAX_PAGE_SIZE))
        order = ([_MODIFIED] if spec.modified else []) + list(spec.key_fields)

        def request(after: str | None) -> httpx.Response:
            conditions = [self._scope(spec)] if spec.company else []
            if since is not None and spec.modified:
                conditions.append(f"{_MODIFIED} gt {_odata_time(since)}")
            if after is not None:
                conditions.append(_after(order, _decode_keyset(after, len(order))))
            params: dict[str, str | int] = {
                "$orderby": ",".join(f"{name} asc" for name in order),
                "$top": size,
                "cross-company": "true",
            }
            if conditions:
                params["$filter"] = " and ".join(c for c in conditions if c)
            return self.send("GET", f"/{spec.name}", resource=resource, params=params)

        return self.keyset_page(
            resource,
            cursor,
            size,
            request=request,
            modified=lambda record: _parse_time(record.get(_MODIFIED)),
            keyset=lambda record: _encode_keyset([record.get(name) for name in order]),
        )

    @override
    def get(self, resource: str, record_id: str) -> RawRecord:
        """One record by its key predicate (``dataAreaId='de01',CustomerAccount='C-1'``)."""
        response = self._keyed("GET", resource, record_id)
        self.raise_for_status(response, resource=resource, external_id=record_id)
        return self.json_object(response, resource=resource)

    @override
    def get_by_external_id(self, resource: str, external_id: str) -> RawRecord | None:
        """The company's record whose external key (``spec.external``) is ``external_id``.

        Raises:
            ConflictError: Several records carry a reference that should be unique.
        """
        spec = RESOURCES[self.require_resource(resource)]
        field = _require_external(spec)
        if spec.keyed_by_external:
            try:
                return self.get(resource, self.record_id(spec, {field: external_id}))
            except NotFoundError:
                return None
        found = self.query(resource, f"{field} eq {odata_string(external_id)}", top=2)
        if len(found) > 1:
            raise ConflictError(
                "several records carry one key",
                connector=self.name,
                resource=resource,
                external_id=external_id,
            )
        return found[0] if found else None

    def query(
        self,
        resource: str,
        where: str | None = None,
        *,
        top: int = MAX_PAGE_SIZE,
        every_company: bool = False,
        order: str | None = None,
    ) -> list[RawRecord]:
        """Records matching an OData ``$filter``, at most ``top`` (next links followed to it).

        Company-specific sets are read in this connector's company, or in every company
        (``cross-company=true`` without a ``dataAreaId`` filter) when ``every_company``.
        ``where`` is trusted OData text: build literals with :func:`odata_string`.
        """
        spec = RESOURCES[self.require_resource(resource)]
        conditions = [f"({where})"] if where else []
        if spec.company and not every_company:
            conditions.insert(0, self._scope(spec))
        params: dict[str, str | int] = {"cross-company": "true", "$top": min(top, MAX_PAGE_SIZE)}
        if conditions:
            params["$filter"] = " and ".join(conditions)
        if order:
            params["$orderby"] = order
        response = self.send("GET", f"/{spec.name}", resource=resource, params=params)
        found: list[RawRecord] = []
        while True:
            records, link = self.value_page(response, resource=resource)
            found += records
            # The service may page below $top (its page size): follow it up to ``top``.
            if len(found) >= top or link is None:
                return found[:top]
            response = self.follow(link, resource=resource)

    def query_page(
        self,
        resource: str,
        where: str | None = None,
        *,
        every_company: bool = False,
        next_link: str | None = None,
        lane: Lane = BACKGROUND,
    ) -> tuple[list[RawRecord], str | None]:
        """One server-driven page of :meth:`query`'s read and F&O's ``@odata.nextLink``.

        ``next_link`` follows a page's link instead (same environment only). ``lane`` is the
        budget lane the call belongs to: its calls wait behind those of higher lanes.
        """
        spec = RESOURCES[self.require_resource(resource)]
        with budget_lane(lane):
            if next_link is not None:
                response = self.follow(next_link, resource=resource)
            else:
                conditions = [f"({where})"] if where else []
                if spec.company and not every_company:
                    conditions.insert(0, self._scope(spec))
                params: dict[str, str] = {"cross-company": "true"}
                if conditions:
                    params["$filter"] = " and ".join(conditions)
                response = self.send("GET", f"/{spec.name}", resource=resource, params=params)
        return self.value_page(response, resource=resource)

    # ----------------------------------------------------------------- writes
    @override
    def upsert(self, resource: str, external_id: str, fields: Mapping[str, Any]) -> WriteResult:
        """Read by the natural key, then ``PATCH`` what is there or ``POST`` a new record."""
        spec = RESOURCES[self.require_resource(resource)]
        field = _require_external(spec)
        given = fields.get(field)
        if given is not None and given != external_id:
            raise ValueError(f"fields[{field!r}] differs from external_id")
        existing = self.get_by_external_id(resource, external_id)
        if existing is None:
            return self.create(resource, {**fields, field: external_id})
        record_id = self.record_id(spec, existing)
        body = {k: v for k, v in fields.items() if k not in spec.key_fields}
        if not body:
            return WriteResult(id=record_id, created=False, etag=odata_etag(existing))
        return self.update(resource, record_id, body, etag=odata_etag(existing))

    @override
    def update(
        self,
        resource: str,
        record_id: str,
        fields: Mapping[str, Any],
        *,
        etag: str | None = None,
    ) -> WriteResult:
        """``PATCH`` (``If-Match: etag`` when given); F&O answers 204 with the new ``ETag``.

        Raises:
            ConflictError: ``etag`` is stale (412).
        """
        spec = RESOURCES[self.require_resource(resource)]
        response = self._keyed(
            "PATCH",
            resource,
            record_id,
            json={k: v for k, v in fields.items() if k not in spec.key_fields},
            headers={"If-Match": etag} if etag else None,
        )
        self.raise_for_status(response, resource=resource, external_id=record_id)
        return WriteResult(id=record_id, created=False, etag=response.headers.get("etag"))

    @override
    def create(self, resource: str, fields: Mapping[str, Any]) -> WriteResult:
        """``POST`` in this company (``dataAreaId`` set); not idempotent: prefer :meth:`upsert`."""
        spec = RESOURCES[self.require_resource(resource)]
        created = self.insert(resource, fields)
        return WriteResult(id=self.record_id(spec, created), created=True, etag=odata_etag(created))

    def insert(self, resource: str, fields: Mapping[str, Any]) -> RawRecord:
        """:meth:`create`, returning the record F&O created (keys it assigned included)."""
        spec = RESOURCES[self.require_resource(resource)]
        body = {"dataAreaId": self.area, **fields} if spec.company else dict(fields)
        external = str(fields.get(spec.external or "") or "") or None
        response = self.send("POST", f"/{spec.name}", resource=resource, json=body)
        self.raise_for_status(response, resource=resource, external_id=external)
        return self.json_object(response, resource=resource)

    @override
    def delete(self, resource: str, record_id: str) -> None:
        """``DELETE`` one record; one already gone is not an error."""
        response = self._keyed("DELETE", resource, record_id)
        if response.status_code != httpx.codes.NOT_FOUND:
            self.raise_for_status(response, resource=resource, external_id=record_id)

    def action(self, resource: str, record_id: str, name: str) -> None:
        """Invoke a bound action (``PostJournal``, ``PostInvoice``) on one record."""
        response = self._keyed("POST", resource, record_id, suffix=f"/{ACTION_NAMESPACE}.{name}")
        self.raise_for_status(response, resource=resource, external_id=record_id)

    def batch(
        self, requests: Sequence[BatchRequest], *, atomic: bool = True
    ) -> list[BatchResponse]:
        """Send ``requests`` in one ``$batch``: one changeset when ``atomic`` (all or nothing).

        Returns each request's answer (a failed changeset answers with its failing request
        only; see :func:`~accord.connectors.dynamics_finance.batch.decode_batch`).

        Raises:
            RetryableError: The batch as a whole was throttled or failed in transit.
        """
        if not requests:
            return []
        content_type, body = encode_batch(self.config.base_url, requests, atomic=atomic)
        response = self.send(
            "POST",
            "/$batch",
            resource="$batch",
            content=body,
            headers={"Content-Type": content_type},
        )
        self.raise_for_status(response, resource="$batch")
        try:
            return decode_batch(response.headers.get("content-type", ""), response.content)
        except ValueError as exc:
            raise PermanentError(
                "unreadable $batch answer", connector=self.name, resource="$batch"
            ) from exc

    def batch_error(self, answer: BatchResponse, *, resource: str) -> ConnectorError:
        """The error one failed ``$batch`` answer means (translated like a lone response)."""
        response = httpx.Response(answer.status, json=answer.body)
        return self.translate_error(response, resource=resource)

    # ----------------------------------------------------------------- roles
    @override
    def as_erp(self, rules: Rules) -> Erp:
        """This connection in the ERP role (see :mod:`accord.connectors.dynamics_finance.erp`)."""
        # erp.py builds on this module, so it is imported when first asked for.
        from accord.connectors.dynamics_finance.erp import DynamicsFinanceErp  # noqa: PLC0415

        return DynamicsFinanceErp(self, rules)

    # ----------------------------------------------------------------- describing records
    @override
    def describe(self, resource: str, record: RawRecord) -> RecordMeta:
        """Key predicate, external key, ``ModifiedDateTime`` and ``@odata.etag`` of a record."""
        spec = RESOURCES[self.require_resource(resource)]
        external = record.get(spec.external) if spec.external else None
        return RecordMeta(
            id=self.record_id(spec, record),
            external_id=str(external) if external else None,
            modified_at=_parse_time(record.get(_MODIFIED)),
            etag=odata_etag(record),
        )

    def record_id(self, spec: FinResource, values: Mapping[str, Any]) -> str:
        """The key predicate of a record (``dataAreaId`` defaults to this company)."""
        parts = []
        for name in spec.key_fields:
            value = values.get(name, self.area if name == "dataAreaId" else None)
            if value is None:
                raise PermanentError(
                    f"record without key field {name}", connector=self.name, resource=spec.name
                )
            parts.append(f"{name}={_literal(value)}")
        return ",".join(parts)

    # ----------------------------------------------------------------- internals
    def _keyed(
        self,
        method: str,
        resource: str,
        record_id: str,
        *,
        suffix: str = "",
        json: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request to a record by its key (``cross-company``: the key names the company)."""
        spec = RESOURCES[self.require_resource(resource)]
        return self.send(
            method,
            f"/{spec.name}({_predicate_of(record_id)}){suffix}",
            resource=resource,
            params={"cross-company": "true"},
            json=json,
            headers=headers,
        )

    def _scope(self, spec: FinResource) -> str:
        return f"dataAreaId eq {odata_string(self.area)}" if spec.company else ""


# --------------------------------------------------------------------------- helpers
def _literal(value: object) -> str:
    if isinstance(value, bool):
        raise TypeError("no boolean keys")
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    return odata_string(str(value))


def _predicate_of(record_id: str) -> str:
    """A key predicate, validated: it becomes part of the URL."""
    if not _PREDICATE.match(record_id):
        raise ValueError("a Dynamics 365 Finance id is a key predicate: Field='value',...")
    return record_id


def _require_external(spec: FinResource) -> str:
    if spec.external is None:
        raise ValueError(f"{spec.name} is read-only data: it has no key to write by")
    return spec.external


def _odata_time(moment: datetime) -> str:
    return odata_time(moment, timespec="seconds")


def _parse_time(value: object) -> datetime | None:
    """An F&O timestamp as UTC; F&O writes ``1900-01-01T00:00:00Z`` for no date."""
    return parse_odata_time(value, null_date="1900-01-01")


def _encode_keyset(values: list[Any]) -> str:
    if any(v is None or isinstance(v, bool | dict | list) for v in values):
        raise PermanentError("record without its ordering fields cannot be paged past")
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode_keyset(cursor: str, width: int) -> list[str | int | float]:
    """The keyset position in a cursor; validated, because it ends up inside ``$filter``."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError as exc:
        raise ValueError("not a Dynamics 365 Finance cursor") from exc
    if (
        not isinstance(values, list)
        or len(values) != width
        or not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values)
    ):
        raise ValueError("not a Dynamics 365 Finance cursor")
    return values


def _after(order: list[str], values: list[str | int | float]) -> str:
    """``(a gt x) or (a eq x and b gt y) or ...``: strictly after the keyset position."""

    def literal(name: str, value: str | int | float) -> str:
        if name == _MODIFIED and isinstance(value, str):
            parsed = _parse_time(value)
            if parsed is None:
                raise ValueError("not a Dynamics 365 Finance cursor")
            return _odata_time(parsed)
        return _literal(value)

    terms = []
    for n, name in enumerate(order):
        equal = [f"{order[i]} eq {literal(order[i], values[i])}" for i in range(n)]
        terms.append("(" + " and ".join([*equal, f"{name} gt {literal(name, values[n])}"]) + ")")
    return "(" + " or ".join(terms) + ")"
