"""The Salesforce REST connector core, shared by Salesforce (CRM) and Certinia (PSA).

Both systems are one org API; they differ only in the objects they read and write, which each
declares as :class:`SObjectSpec` entries in :attr:`SalesforceRestConnector.objects`.

* Reads: :meth:`SalesforceRestConnector.read_page` runs one SOQL query ordered by
  ``(SystemModstamp, Id)`` with ``LIMIT n+1``. The cursor is a keyset position (the last row's
  ``SystemModstamp`` and ``Id``), not ``nextRecordsUrl``: a query locator expires after about
  15 minutes and its batches are at least 200 rows, while a poller's cursor is persisted by a
  durable flow, may be resumed much later and asks for any page size. ``SystemModstamp`` (not
  ``LastModifiedDate``) is the change-capture field because system updates (roll-ups,
  workflow) move it too, and it is indexed.
* Writes: ``PATCH /sobjects/{X}/{ext}/{value}`` upserts (201 created; 200 ``created:false``
  since v46.0; 204 before, when the id is looked up afterwards); a 300 (several matches) is a
  :class:`~accord.errors.ConflictError`. Salesforce has no optimistic concurrency by default:
  ``etag`` is accepted and ignored.
* Many updates: :meth:`SalesforceRestConnector.update_many` is ``PATCH /composite/sobjects``
  (sObject Collections, reference 1.4): up to :data:`MAX_COLLECTION` records a call, each call
  one API call, ``allOrNone`` false so that one refused record does not roll the others back;
  each record's refusal (``statusCode`` in collections) is translated as a whole answer is.
* Limits: every answer's ``Sforce-Limit-Info: api-usage=n/N`` is kept as
  :attr:`SalesforceRestConnector.api_usage`, since :class:`~accord.connectors.types.Page` and
  :class:`~accord.connectors.types.WriteResult` have no place for it.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote

import httpx
from typing_extensions import override

from accord.connectors.base import Connector
from accord.connectors.budget import lane as budget_lane
from accord.connectors.roles.recon import BACKGROUND, Lane
from accord.connectors.salesforce.auth import SalesforceAuth
from accord.connectors.salesforce.config import SalesforceOrgConfig
from accord.connectors.salesforce.errors import translate
from accord.connectors.types import Page, RawRecord, RecordMeta, WriteResult, latest
from accord.errors import (
    ConnectorError,
    NotFoundError,
    PermanentError,
    UnsupportedOperationError,
)

__all__ = [
    "MAX_COLLECTION",
    "MAX_PAGE_SIZE",
    "ApiUsage",
    "SObjectSpec",
    "SalesforceRestConnector",
    "format_soql_datetime",
    "parse_limit_info",
    "parse_sf_datetime",
]

MAX_PAGE_SIZE = 2000
"""Largest page: one query batch (reference section 1.5)."""
MAX_COLLECTION = 200
"""Records per sObject Collections call (reference section 1.4)."""

OrgConfigT = TypeVar("OrgConfigT", bound=SalesforceOrgConfig)

_ID = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")
_CURSOR = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\|([A-Za-z0-9]{15,18})$")
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
_MODSTAMP = "SystemModstamp"
_RECORD_ID = re.compile(r"^[A-Za-z0-9]{15,18}$")


@dataclass(frozen=True, slots=True)
class SObjectSpec:
    """How one sObject is read: the fields a page selects and its change-capture filter.

    Attributes:
        name: The object's API name (``Account``, ``pse__Proj__c``).
        fields: Fields and relationship paths (``Parent.Accord_Id__c``) every page selects,
            besides ``Id``, ``SystemModstamp`` and the external-id field, which are always read.
        where: Default SOQL condition of change capture (``pse__Status__c = 'Approved'``).
        external_id: The External ID field Accord upserts by: ``True`` for the connection's
            ``external_id_field``, another field's name (``Code__c``), or ``False`` for none.
        writable: Whether Accord writes it (reference lists such as regions are read-only by
            policy, not by the API, so this is documentation for the flow layer).
    """

    name: str
    fields: tuple[str, ...] = ()
    where: str | None = None
    external_id: bool | str = True
    writable: bool = True


@dataclass(frozen=True, slots=True)
class ApiUsage:
    """The org's API request usage over the rolling 24 hours, from ``Sforce-Limit-Info``."""

    used: int
    limit: int

    @property
    def remaining(self) -> int:
        """Requests left before the org answers 403 ``REQUEST_LIMIT_EXCEEDED``."""
        return max(self.limit - self.used, 0)

    @property
    def fraction(self) -> float:
        """Share of the daily limit used (0.0 to 1.0 and beyond)."""
        return self.used / self.limit if self.limit else 1.0


def parse_limit_info(value: str | None) -> ApiUsage | None:
    """``api-usage=18/5000`` (possibly among other items) as :class:`ApiUsage`."""
    match = _LIMIT_INFO.search(value or "")
    return ApiUsage(int(match.group(1)), int(match.group(2))) if match else None


def parse_sf_datetime(value: object) -> datetime | None:
    """A Salesforce datetime (``2026-01-05T10:00:00.000+0000``) as UTC, or None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_soql_datetime(moment: datetime) -> str:
    """A UTC-aware time as a SOQL datetime literal with milliseconds (truncated)."""
    if moment.tzinfo is None:
        raise ValueError("datetimes sent to Salesforce must be timezone-aware")
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class SalesforceRestConnector(Connector[OrgConfigT]):
    """sObject reads, lookups and external-id upserts over the Salesforce REST API.

    Subclasses set ``kind``, ``config_model`` and :attr:`objects`.
    """

    error_translator = translate
    objects: ClassVar[Mapping[str, SObjectSpec]]
    """Every object the connector reads and writes, by API name."""

    _api_usage: ApiUsage | None = None

    # ----------------------------------------------------------------- hooks
    @override
    def build_auth(self) -> httpx.Auth:
        return SalesforceAuth(self.config, clock=self.clock)

    @override
    def default_headers(self) -> Mapping[str, str]:
        return {
            **super().default_headers(),
            "Sforce-Call-Options": f"client={self.config.call_options_client}",
        }

    @override
    def send(
        self,
        method: str,
        url: str,
        *,
        resource: str | None,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """The framework's one request path, noting ``Sforce-Limit-Info`` on the way back."""
        response = super().send(
            method,
            url,
            resource=resource,
            params=params,
            json=json,
            headers=headers,
            content=content,
        )
        usage = parse_limit_info(response.headers.get("sforce-limit-info"))
        if usage is not None:
            self._api_usage = usage
        return response

    @property
    def api_usage(self) -> ApiUsage | None:
        """The org's request usage as of the latest answer, or None before any."""
        return self._api_usage

    # ----------------------------------------------------------------- reads
    @override
    def check(self) -> None:
        """Fetch a token and read the org's limits (one cheap call)."""
        response = self.send("GET", self._path("limits"), resource="limits")
        self.raise_for_status(response, resource="limits")

    @override
    def resources(self) -> tuple[str, ...]:
        return tuple(self.objects)

    def select_fields(self, resource: str) -> tuple[str, ...]:
        """The fields a page of ``resource`` selects, deduplicated case-insensitively."""
        spec = self.objects[self.require_resource(resource)]
        ext = self.external_field(resource)
        wanted = (
            "Id",
            _MODSTAMP,
            *((ext,) if ext else ()),
            *spec.fields,
            *self.config.extra_fields.get(resource, ()),
        )
        seen: set[str] = set()
        out: list[str] = []
        for name in wanted:
            if name.lower() not in seen:
                seen.add(name.lower())
                out.append(name)
        return tuple(out)

    def external_field(self, resource: str) -> str | None:
        """The External ID field of ``resource``, or None when it has none."""
        spec = self.objects[self.require_resource(resource)]
        if spec.external_id is True:
            return self.config.external_id_field
        return spec.external_id or None

    def soql_for_page(
        self, resource: str, *, cursor: str | None, since: datetime | None, size: int
    ) -> str:
        """The SOQL of one page (see :meth:`read_page`); public for tests and the docs."""
        spec = self.objects[self.require_resource(resource)]
        conditions: list[str] = []
        where = self.config.read_filters.get(resource, spec.where)
        if where:
            conditions.append(f"({where})")
        if since is not None:
            # Milliseconds are SystemModstamp's precision: a finer since also returns that
            # millisecond's records (never fewer than asked for).
            exact = since.microsecond % 1000 == 0
            operator = ">" if exact else ">="
            conditions.append(f"{_MODSTAMP} {operator} {format_soql_datetime(since)}")
        if cursor is not None:
            stamp, last_id = _decode_cursor(cursor)
            conditions.append(
                f"({_MODSTAMP} > {stamp} OR ({_MODSTAMP} = {stamp} AND Id > '{last_id}'))"
            )
        # Interpolated parts: constants of `objects`, validated config names and filters written
        # by operators, a validated cursor and formatted datetimes; no caller text.
        query = f"SELECT {', '.join(self.select_fields(resource))} FROM {spec.name}"  # noqa: S608
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        return query + f" ORDER BY {_MODSTAMP} ASC, Id ASC LIMIT {size + 1}"

    @override
    def read_page(
        self,
        resource: str,
        *,
        cursor: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> Page:
        """One SOQL page of ``resource`` ordered by ``(SystemModstamp, Id)``.

        One row more than the page is asked for, so that the last page says so without an
        extra empty read. Records keep Salesforce's shape (``attributes``, nested parents).
        """
        size = max(1, min(limit or MAX_PAGE_SIZE, MAX_PAGE_SIZE))
        query = self.soql_for_page(resource, cursor=cursor, since=since, size=size)
        response = self.send("GET", self._path("query"), resource=resource, params={"q": query})
        self.raise_for_status(response, resource=resource)
        body = self.json_object(response, resource=resource)
        rows = [r for r in body.get("records", []) if isinstance(r, dict)]
        has_more = len(rows) > size or body.get("done") is False
        records = rows[:size]
        watermark = latest(parse_sf_datetime(r.get(_MODSTAMP)) for r in records)
        next_cursor = None
        if has_more and records:
            last = records[-1]
            stamp = parse_sf_datetime(last.get(_MODSTAMP))
            if stamp is None:
                raise PermanentError(
                    "a row without SystemModstamp cannot be paged past",
                    connector=self.name,
                    resource=resource,
                )
            next_cursor = f"{format_soql_datetime(stamp)}|{last.get('Id')}"
            _decode_cursor(next_cursor)
        return Page(records=records, next_cursor=next_cursor, high_watermark=watermark)

    def read_record(self, resource: str, record_id: str) -> RawRecord | None:
        """One record selected as a page selects it (nested parents too), filters aside.

        ``get`` answers without nested parents, which the mappers of polled records read; this
        is one SOQL query by ``Id``. ``None`` when there is no such record.

        Raises:
            ValueError: ``record_id`` is not a Salesforce id.
        """
        if _RECORD_ID.match(record_id) is None:
            raise ValueError("not a Salesforce record id")
        spec = self.objects[self.require_resource(resource)]
        # Interpolated: constants of `objects`, validated config names and a validated id.
        query = (
            f"SELECT {', '.join(self.select_fields(resource))} FROM {spec.name} "  # noqa: S608
            f"WHERE Id = '{record_id}'"
        )
        response = self.send("GET", self._path("query"), resource=resource, params={"q": query})
        self.raise_for_status(response, resource=resource)
        body = self.json_object(response, resource=resource)
        rows = [r for r in body.get("records", []) if isinstance(r, dict)]
        return rows[0] if rows else None

    # --- reconciliation ------------------------------------------------------------------
    def select_where(self, resource: str, condition: str) -> str:
        """SOQL selecting what a page of ``resource`` selects, ``WHERE condition``, by ``Id``.

        ``condition`` is built by the caller from constants and validated ids only.
        """
        spec = self.objects[self.require_resource(resource)]
        fields = ", ".join(self.select_fields(resource))
        return f"SELECT {fields} FROM {spec.name} WHERE {condition} ORDER BY Id"  # noqa: S608

    def soql_page(
        self,
        soql: str | None = None,
        *,
        next_url: str | None = None,
        resource: str,
        lane: Lane = BACKGROUND,
    ) -> tuple[list[RawRecord], str | None]:
        """One batch of ``soql``, or of a ``nextRecordsUrl``: its records and the next URL.

        The next URL is ``None`` once the query is ``done``. ``lane`` is the budget lane the
        call belongs to: its calls wait behind those of higher lanes.

        Raises:
            ValueError: ``next_url`` is not a query locator of this API.
        """
        with budget_lane(lane):
            if next_url is not None:
                if not next_url.startswith(self._path("query")):
                    raise ValueError("not a query locator of this API")
                response = self.send("GET", next_url, resource=resource)
            else:
                params = {"q": soql or ""}
                response = self.send("GET", self._path("query"), resource=resource, params=params)
        self.raise_for_status(response, resource=resource)
        body = self.json_object(response, resource=resource)
        records = [r for r in body.get("records", []) if isinstance(r, dict)]
        following = body.get("nextRecordsUrl")
        done = body.get("done", True) is not False
        return records, None if done or not isinstance(following, str) else following

    def query(self, soql: str, *, resource: str, include_deleted: bool = False) -> list[RawRecord]:
        """The first batch of a SOQL query: one call, no paging (for answers of a few rows).

        ``include_deleted`` runs it through ``queryAll``, which also returns deleted and
        merged records. The caller builds ``soql`` from constants and validated ids only.
        """
        endpoint = "queryAll" if include_deleted else "query"
        response = self.send("GET", self._path(endpoint), resource=resource, params={"q": soql})
        self.raise_for_status(response, resource=resource)
        body = self.json_object(response, resource=resource)
        return [r for r in body.get("records", []) if isinstance(r, dict)]

    @override
    def get(self, resource: str, record_id: str) -> RawRecord:
        """``GET /sobjects/{X}/{id}``: every field, no nested parents."""
        spec = self.objects[self.require_resource(resource)]
        response = self.send(
            "GET", self._path(f"sobjects/{spec.name}/{_segment(record_id)}"), resource=resource
        )
        self.raise_for_status(response, resource=resource)
        return self.json_object(response, resource=resource)

    @override
    def get_by_external_id(self, resource: str, external_id: str) -> RawRecord | None:
        """``GET /sobjects/{X}/{ext}/{value}``; None on 404, ConflictError on several matches."""
        response = self.send("GET", self._external_path(resource, external_id), resource=resource)
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        self.raise_for_status(response, resource=resource, external_id=external_id)
        return self.json_object(response, resource=resource)

    # ----------------------------------------------------------------- writes
    @override
    def upsert(self, resource: str, external_id: str, fields: Mapping[str, Any]) -> WriteResult:
        """``PATCH /sobjects/{X}/{ext}/{value}``: 201 created, 200 or 204 updated, 300 conflict.

        The external-id field is dropped from the body (it travels in the URL); a body naming
        another value is a programming error.
        """
        ext = self._require_external_field(resource)
        body = dict(fields)
        for key in [k for k in body if k.lower() == ext.lower()]:
            if str(body.pop(key)) != external_id:
                raise ValueError(f"fields[{key!r}] differs from external_id")
        response = self.send(
            "PATCH", self._external_path(resource, external_id), resource=resource, json=body
        )
        self.raise_for_status(response, resource=resource, external_id=external_id)
        if response.status_code == httpx.codes.NO_CONTENT:
            # Before v46.0 an update answers 204 without the id: look it up.
            found = self.get_by_external_id(resource, external_id)
            if found is None:
                raise NotFoundError(connector=self.name, resource=resource, external_id=external_id)
            return WriteResult(id=str(found.get("Id")), created=False)
        result = self.json_object(response, resource=resource)
        created = result.get("created")
        return WriteResult(
            id=self._saved_id(result, resource=resource, external_id=external_id),
            created=bool(created) if created is not None else response.status_code == 201,
        )

    @override
    def update(
        self,
        resource: str,
        record_id: str,
        fields: Mapping[str, Any],
        *,
        etag: str | None = None,
    ) -> WriteResult:
        """``PATCH /sobjects/{X}/{id}`` (204). Salesforce has no etags: ``etag`` is ignored."""
        spec = self.objects[self.require_resource(resource)]
        ext = (self.external_field(resource) or "Id").lower()
        # The external id identifies the record for Accord; it is written by upsert only.
        body = {k: v for k, v in fields.items() if k.lower() not in {ext, "id"}}
        response = self.send(
            "PATCH",
            self._path(f"sobjects/{spec.name}/{_segment(record_id)}"),
            resource=resource,
            json=body,
        )
        self.raise_for_status(response, resource=resource)
        return WriteResult(id=record_id, created=False)

    def update_many(
        self, resource: str, updates: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[ConnectorError | None]:
        """Update records by id, :data:`MAX_COLLECTION` to a call (``PATCH /composite/sobjects``).

        Returns, per ``(record id, fields)`` in order, ``None`` (updated) or the refusal of that
        record; one refusal does not roll the others back (``allOrNone`` false).

        Raises:
            ConnectorError: A call as a whole failed (its records' outcomes are unknown).
        """
        spec = self.objects[self.require_resource(resource)]
        ext = (self.external_field(resource) or "Id").lower()
        out: list[ConnectorError | None] = []
        for start in range(0, len(updates), MAX_COLLECTION):
            chunk = updates[start : start + MAX_COLLECTION]
            records = [
                {
                    "attributes": {"type": spec.name},
                    "id": record_id,
                    **{k: v for k, v in fields.items() if k.lower() not in {ext, "id"}},
                }
                for record_id, fields in chunk
            ]
            response = self.send(
                "PATCH",
                self._path("composite/sobjects"),
                resource=resource,
                json={"allOrNone": False, "records": records},
            )
            self.raise_for_status(response, resource=resource)
            results = response.json()
            if not isinstance(results, list) or len(results) != len(chunk):
                raise PermanentError(
                    "sObject Collections answered without one result per record",
                    connector=self.name,
                    resource=resource,
                    status_code=response.status_code,
                )
            for (record_id, _), result in zip(chunk, results, strict=True):
                out.append(self._collection_error(result, resource=resource, record_id=record_id))
        return out

    def _collection_error(
        self, result: object, *, resource: str, record_id: str
    ) -> ConnectorError | None:
        """A collection result's refusal, translated as a whole answer with its errors is."""
        if isinstance(result, dict) and result.get("success") is True:
            return None
        errors = result.get("errors") if isinstance(result, dict) else None
        # A refused record is what the same call alone would have answered 400 with.
        answer = httpx.Response(400, json=errors if isinstance(errors, list) else [])
        return self.translate_error(answer, resource=resource, external_id=record_id)

    @override
    def create(self, resource: str, fields: Mapping[str, Any]) -> WriteResult:
        """``POST /sobjects/{X}`` (201). Not idempotent: prefer :meth:`upsert`."""
        spec = self.objects[self.require_resource(resource)]
        ext = self.external_field(resource)
        eid = fields.get(ext) if ext else None
        external_id = str(eid) if eid is not None else None
        response = self.send(
            "POST", self._path(f"sobjects/{spec.name}"), resource=resource, json=dict(fields)
        )
        self.raise_for_status(response, resource=resource, external_id=external_id)
        result = self.json_object(response, resource=resource)
        return WriteResult(
            id=self._saved_id(result, resource=resource, external_id=external_id), created=True
        )

    @override
    def delete(self, resource: str, record_id: str) -> None:
        """``DELETE /sobjects/{X}/{id}`` (204; the record goes to the recycle bin)."""
        spec = self.objects[self.require_resource(resource)]
        response = self.send(
            "DELETE", self._path(f"sobjects/{spec.name}/{_segment(record_id)}"), resource=resource
        )
        self.raise_for_status(response, resource=resource)

    # ----------------------------------------------------------------- describing records
    @override
    def describe(self, resource: str, record: RawRecord) -> RecordMeta:
        """Id, ``Accord_Id__c`` and ``SystemModstamp`` (``LastModifiedDate`` as a fallback)."""
        ext = self.external_field(resource)
        external = record.get(ext) if ext else None
        modified = parse_sf_datetime(record.get(_MODSTAMP)) or parse_sf_datetime(
            record.get("LastModifiedDate")
        )
        return RecordMeta(
            id=str(record.get("Id") or record.get("id") or ""),
            external_id=str(external) if external not in {None, ""} else None,
            modified_at=modified,
        )

    # ----------------------------------------------------------------- internals
    def _path(self, suffix: str) -> str:
        return f"/services/data/{self.config.api_version}/{suffix}"

    def _require_external_field(self, resource: str) -> str:
        ext = self.external_field(resource)
        if ext is None:
            raise UnsupportedOperationError(
                "object has no external id field", connector=self.name, resource=resource
            )
        return ext

    def _external_path(self, resource: str, external_id: str) -> str:
        spec = self.objects[self.require_resource(resource)]
        if not external_id or external_id.strip() != external_id:
            raise ValueError("an external id is a non-empty value without surrounding spaces")
        ext = self._require_external_field(resource)
        return self._path(f"sobjects/{spec.name}/{ext}/{quote(external_id, safe='')}")

    def _saved_id(
        self, result: Mapping[str, Any], *, resource: str, external_id: str | None
    ) -> str:
        record_id = str(result.get("id") or "")
        if not _ID.match(record_id):
            raise PermanentError(
                "write answered without a record id",
                connector=self.name,
                resource=resource,
                external_id=external_id,
            )
        return record_id


def _segment(record_id: str) -> str:
    """A record id as one URL path segment (ids are alphanumeric; anything else is quoted)."""
    if not record_id:
        raise ValueError("a record id is required")
    return quote(record_id, safe="")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    """The keyset position in a cursor; validated, because it ends up inside a query."""
    match = _CURSOR.match(cursor)
    if match is None:
        raise ValueError("not a Salesforce cursor")
    return match.group(1), match.group(2)
