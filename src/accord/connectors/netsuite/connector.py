"""The NetSuite connector: SuiteQL change reads, record API lookups and ``eid:`` upserts.

* Reads: :meth:`NetSuiteConnector.read_page` runs one SuiteQL query ordered by
  ``(lastmodifieddate, id)``. The cursor is a keyset position (the last row's timestamp and id),
  not an offset: a record modified while a poller pages moves to the end instead of shifting
  every later row (which would silently skip one), and SuiteQL's 100k offset cap never applies.
  ``hasMore`` / ``links[rel=next]`` only say whether another page exists. Items are SuiteQL rows
  (lower-case columns, values as text); :meth:`NetSuiteConnector.get` returns the full record
  (sublists inlined) for mapping.
* Writes: ``PUT /record/v1/{type}/eid:{externalId}`` upserts (204 + ``Location``); the
  internal id is the last segment of ``Location``. Because the answer is the same for a create
  and an update, :meth:`NetSuiteConnector.upsert` first looks the external id up (one cheap
  GET) to report ``created`` truthfully; the PUT stays idempotent whatever happens in between.
* NetSuite has no optimistic concurrency: ``etag`` is accepted and ignored.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
from typing_extensions import override

from accord.connectors.base import Connector
from accord.connectors.budget import lane as budget_lane
from accord.connectors.netsuite.auth import build_netsuite_auth
from accord.connectors.netsuite.config import NetSuiteConfig
from accord.connectors.netsuite.errors import translate
from accord.connectors.roles import BACKGROUND, Erp, Lane
from accord.connectors.roles.recon import held_moment
from accord.connectors.types import (
    Page,
    RawRecord,
    RecordMeta,
    ReferenceList,
    ReferenceValue,
    WriteResult,
    latest,
)
from accord.errors import NotFoundError, PermanentError
from accord.rules import Rules

__all__ = ["MAX_PAGE_SIZE", "RESOURCES", "NetSuiteConnector", "NetSuiteResource"]

MAX_PAGE_SIZE = 1000
"""SuiteQL's largest page (reference section 4.4)."""

_REFERENCE_PAGES = 5
"""Pages of a reference list read at most by :meth:`NetSuiteConnector.discover`."""
_EID = re.compile(r"^[A-Za-z0-9_-]+$")
STRICT_NAMES = {"X-NetSuite-PropertyNameValidation": "Error"}
"""Sent on every write: a field NetSuite does not know refuses the write instead of being
dropped with a warning (the documented default), so a misspelt or undefined field is an error
at once, not data silently lost. NetSuite REST API Browser, Record API v1: the header takes
``Error``, ``Warning`` (default) or ``Ignore``."""
_STAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
_CURSOR = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\|(\d+)$")


@dataclass(frozen=True, slots=True)
class NetSuiteResource:
    """How one REST record type is read: its SuiteQL table and transaction type."""

    record_type: str
    table: str
    tran_type: str | None = None
    sublists: bool = False
    """Whether a full read should inline sublists (``expandSubResources=true``)."""
    condition: str | None = None
    """A SuiteQL condition every read adds (the kind of item a list holds)."""


RESOURCES: dict[str, NetSuiteResource] = {
    r.record_type: r
    for r in (
        NetSuiteResource("customer", "customer"),
        NetSuiteResource("job", "job", sublists=True),
        NetSuiteResource("timeBill", "timebill"),
        NetSuiteResource("expenseReport", "transaction", "ExpRept", sublists=True),
        NetSuiteResource("invoice", "transaction", "CustInvc", sublists=True),
        NetSuiteResource("salesOrder", "transaction", "SalesOrd", sublists=True),
        NetSuiteResource("customerPayment", "transaction", "CustPymt", sublists=True),
        NetSuiteResource("intercompanyJournalEntry", "transaction", "Journal", sublists=True),
        NetSuiteResource("customerSubsidiaryRelationship", "customersubsidiaryrelationship"),
        NetSuiteResource("vendorBill", "transaction", "VendBill", sublists=True),
        NetSuiteResource("projectTask", "projecttask", sublists=True),
        NetSuiteResource("vendor", "vendor"),
        # Reference lists: read for lookups (subsidiary, department, class, period ids).
        NetSuiteResource("subsidiary", "subsidiary"),
        NetSuiteResource("department", "department"),
        NetSuiteResource("classification", "classification"),
        NetSuiteResource("employee", "employee"),
        NetSuiteResource("accountingPeriod", "accountingperiod"),
        NetSuiteResource("currency", "currency"),
        NetSuiteResource("currencyRate", "currencyrate"),
        # [inferred] SuiteQL names: service items are the item table's ``Service`` rows.
        NetSuiteResource("serviceItem", "item", condition="itemtype = 'Service'"),
        NetSuiteResource("expenseCategory", "expensecategory"),
    )
}
"""Every resource the connector reads, by REST record type name."""


class NetSuiteConnector(Connector[NetSuiteConfig]):
    """NetSuite SuiteTalk REST (record API v1 and SuiteQL) with OAuth 2.0 M2M or TBA."""

    kind = "netsuite"
    config_model = NetSuiteConfig
    error_translator = translate

    # ----------------------------------------------------------------- hooks
    @override
    def build_auth(self) -> httpx.Auth:
        return build_netsuite_auth(self.config, clock=self.clock)

    # ----------------------------------------------------------------- reads
    @override
    def check(self) -> None:
        """Fetch a token and list one customer id."""
        response = self.send("GET", "/record/v1/customer", resource="customer", params={"limit": 1})
        self.raise_for_status(response, resource="customer")

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
        """One SuiteQL page of ``resource`` ordered by ``(lastmodifieddate, id)``.

        ``since`` is compared at NetSuite's one-second precision: a fractional ``since`` also
        returns records of that same second (never fewer than asked for).
        """
        spec = RESOURCES[self.require_resource(resource)]
        size = max(1, min(limit or MAX_PAGE_SIZE, MAX_PAGE_SIZE))
        conditions: list[str] = []
        if spec.tran_type:
            conditions.append(f"type = '{spec.tran_type}'")
        if spec.condition:
            conditions.append(spec.condition)
        if since is not None:
            operator = ">" if since.microsecond == 0 else ">="
            stamp = self._format_stamp(since)
            conditions.append(f"lastmodifieddate {operator} {_timestamp(stamp)}")
        if cursor is not None:
            stamp, last_id = _decode_cursor(cursor)
            conditions.append(
                f"(lastmodifieddate > {_timestamp(stamp)} OR "
                f"(lastmodifieddate = {_timestamp(stamp)} AND id > {last_id}))"
            )
        # Every interpolated part is a constant of RESOURCES, a validated cursor or a formatted
        # datetime: no caller text reaches the query.
        query = f"SELECT * FROM {spec.table}"  # noqa: S608
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        query += " ORDER BY lastmodifieddate ASC, id ASC"
        body = self.suiteql(query, resource=resource, limit=size)
        records = [
            {k: v for k, v in item.items() if k != "links"}
            for item in body.get("items", [])
            if isinstance(item, dict)
        ]
        has_more = bool(body.get("hasMore")) or any(
            isinstance(link, dict) and link.get("rel") == "next" for link in body.get("links", [])
        )
        watermark = latest(self.describe(resource, r).modified_at for r in records)
        next_cursor = None
        if has_more and records:
            last = records[-1]
            next_cursor = f"{last.get('lastmodifieddate')}|{last.get('id')}"
            _decode_cursor(next_cursor)  # a row without both columns cannot be paged past
        return Page(records=records, next_cursor=next_cursor, high_watermark=watermark)

    def suiteql(self, query: str, *, resource: str, limit: int = MAX_PAGE_SIZE) -> RawRecord:
        """One SuiteQL page (the first ``limit`` rows) of ``query``: the answer's body.

        ``query`` must hold no caller text (SuiteQL has no bind parameters): only constants
        and validated values. ``resource`` names the call in errors and metrics.
        """
        response = self.send(
            "POST",
            "/query/v1/suiteql",
            resource=resource,
            params={"limit": limit, "offset": 0},
            json={"q": query},
            headers={"Prefer": "transient"},
        )
        self.raise_for_status(response, resource=resource)
        return self.json_object(response, resource=resource)

    # --- reconciliation ------------------------------------------------------------------
    def suiteql_page(
        self,
        query: str,
        *,
        resource: str,
        offset: int,
        limit: int = MAX_PAGE_SIZE,
        lane: Lane = BACKGROUND,
    ) -> tuple[list[RawRecord], bool]:
        """One SuiteQL page of ``query`` at ``offset``: its rows and whether more follow.

        The rules of :meth:`suiteql` apply to ``query``; it needs a stable ``ORDER BY`` for
        its pages to add up. ``lane`` is the budget lane the call belongs to: it waits
        behind the calls of higher lanes.
        """
        with budget_lane(lane):
            response = self.send(
                "POST",
                "/query/v1/suiteql",
                resource=resource,
                params={"limit": max(1, min(limit, MAX_PAGE_SIZE)), "offset": offset},
                json={"q": query},
                headers={"Prefer": "transient"},
            )
        self.raise_for_status(response, resource=resource)
        body = self.json_object(response, resource=resource)
        rows = [item for item in body.get("items") or () if isinstance(item, dict)]
        return rows, bool(body.get("hasMore"))

    def suiteql_time(self, moment: datetime) -> str:
        """A UTC-aware time as a SuiteQL timestamp literal (account-local, whole seconds)."""
        return _timestamp(self._format_stamp(moment))

    def suiteql_stamp(self, value: object) -> datetime | None:
        """A SuiteQL timestamp column (account-local) as UTC, or None when it is not one."""
        return self._parse_stamp(value)

    @override
    def get(self, resource: str, record_id: str) -> RawRecord:
        """The full record (sublists inlined for transactions)."""
        return self._get(resource, quote(record_id, safe=":"), external_id=None)

    @override
    def get_by_external_id(self, resource: str, external_id: str) -> RawRecord | None:
        try:
            return self._get(resource, f"eid:{_eid(external_id)}", external_id=external_id)
        except NotFoundError:
            return None

    # ----------------------------------------------------------------- writes
    @override
    def upsert(self, resource: str, external_id: str, fields: Mapping[str, Any]) -> WriteResult:
        """``PUT /record/v1/{type}/eid:{external_id}``; ``created`` from a lookup just before."""
        self.require_resource(resource)
        eid = _eid(external_id)
        given = fields.get("externalId")
        if given is not None and given != external_id:
            raise ValueError("fields['externalId'] differs from external_id")
        existed = self.get_by_external_id(resource, eid) is not None
        record_id = self.put(resource, external_id, fields, strict=True)
        return WriteResult(id=record_id, created=not existed)

    def put(
        self, resource: str, external_id: str, fields: Mapping[str, Any], *, strict: bool = False
    ) -> str:
        """``PUT /record/v1/{type}/eid:{external_id}`` without the lookup; the internal id.

        The same idempotent upsert as :meth:`upsert`, for bursts that do not need to know
        whether the record existed (the lookup would double the calls), or callers that read
        the record first anyway. ``strict`` sends :data:`STRICT_NAMES`, as :meth:`upsert` does.
        """
        spec = RESOURCES[self.require_resource(resource)]
        eid = _eid(external_id)
        body = {k: v for k, v in fields.items() if k != "externalId"}
        response = self.send(
            "PUT",
            f"/record/v1/{spec.record_type}/eid:{eid}",
            resource=resource,
            json=body,
            headers=STRICT_NAMES if strict else None,
        )
        self.raise_for_status(response, resource=resource, external_id=external_id)
        return self.located_id(response, resource=resource, external_id=external_id)

    @override
    def update(
        self,
        resource: str,
        record_id: str,
        fields: Mapping[str, Any],
        *,
        etag: str | None = None,
    ) -> WriteResult:
        """``PATCH /record/v1/{type}/{id}`` (NetSuite has no etags: ``etag`` is ignored).

        Sending a sublist replaces the whole sublist (reference section 4.5).
        """
        spec = RESOURCES[self.require_resource(resource)]
        body = dict(fields)
        response = self.send(
            "PATCH",
            f"/record/v1/{spec.record_type}/{quote(record_id, safe=':')}",
            resource=resource,
            json=body,
            headers=STRICT_NAMES,
        )
        self.raise_for_status(response, resource=resource)
        return WriteResult(id=record_id, created=False)

    @override
    def create(self, resource: str, fields: Mapping[str, Any]) -> WriteResult:
        """``POST /record/v1/{type}``: 204 + ``Location``. Not idempotent: prefer upsert.

        A body whose ``externalId`` already exists raises :class:`~accord.errors.ConflictError`.
        """
        spec = RESOURCES[self.require_resource(resource)]
        external_id = fields.get("externalId")
        response = self.send(
            "POST",
            f"/record/v1/{spec.record_type}",
            resource=resource,
            json=dict(fields),
            headers=STRICT_NAMES,
        )
        eid = str(external_id) if external_id is not None else None
        self.raise_for_status(response, resource=resource, external_id=eid)
        return WriteResult(
            id=self.located_id(response, resource=resource, external_id=eid), created=True
        )

    @override
    def delete(self, resource: str, record_id: str) -> None:
        """``DELETE /record/v1/{type}/{id}``."""
        spec = RESOURCES[self.require_resource(resource)]
        response = self.send(
            "DELETE",
            f"/record/v1/{spec.record_type}/{quote(record_id, safe=':')}",
            resource=resource,
        )
        self.raise_for_status(response, resource=resource)

    # ----------------------------------------------------------------- describing records
    @override
    def as_erp(self, rules: Rules) -> Erp:
        """This connection in the ERP role (see :mod:`accord.connectors.netsuite.erp`)."""
        # erp.py builds on this module, so it is imported when first asked for.
        from accord.connectors.netsuite.erp import NetSuiteErp  # noqa: PLC0415

        return NetSuiteErp(self, rules)

    @override
    def discover(self) -> list[ReferenceList]:
        """Subsidiaries, departments, classes, service items and expense categories."""
        lists = (
            ("Subsidiaries", "subsidiary", "rules: legal_entities.<code>.netsuite_subsidiary_id"),
            ("Departments", "department", "rules: practices.<code>.netsuite_department_id"),
            ("Classes", "classification", "rules: regions.<code>.netsuite_class_id"),
            ("Service items", "serviceItem", "billing_item"),
            ("Expense categories", "expenseCategory", "expense_categories.<category>"),
        )
        return [
            ReferenceList(title, setting, tuple(self._reference_values(resource)))
            for title, resource, setting in lists
        ]

    def _reference_values(self, resource: str) -> list[ReferenceValue]:
        values: list[ReferenceValue] = []
        cursor: str | None = None
        for _ in range(_REFERENCE_PAGES):
            page = self.read_page(resource, cursor=cursor)
            for row in page.records:
                name = row.get("name") or row.get("displayname") or row.get("itemid") or ""
                notes = [str(row["externalid"])] if row.get("externalid") else []
                if row.get("itemid") and row.get("itemid") != name:
                    notes.append(str(row["itemid"]))
                if str(row.get("isinactive")) in {"T", "true", "True"}:
                    notes.append("inactive")
                values.append(ReferenceValue(str(row.get("id")), str(name), ", ".join(notes)))
            cursor = page.next_cursor
            if cursor is None:
                break
        return values

    @override
    def describe(self, resource: str, record: RawRecord) -> RecordMeta:
        """Works on both shapes: record API (``lastModifiedDate``) and SuiteQL rows."""
        external = record.get("externalId", record.get("externalid"))
        if "lastModifiedDate" in record:
            modified = held_moment(record["lastModifiedDate"])
        elif "lastmodifieddate" in record:
            modified = self._parse_stamp(record["lastmodifieddate"])
        else:
            modified = None
        return RecordMeta(
            id=str(record.get("id", "")),
            external_id=str(external) if external is not None else None,
            modified_at=modified,
        )

    # ----------------------------------------------------------------- internals
    def _get(self, resource: str, key: str, *, external_id: str | None) -> RawRecord:
        spec = RESOURCES[self.require_resource(resource)]
        params = {"expandSubResources": "true"} if spec.sublists else None
        response = self.send(
            "GET", f"/record/v1/{spec.record_type}/{key}", resource=resource, params=params
        )
        self.raise_for_status(response, resource=resource, external_id=external_id)
        return self.json_object(response, resource=resource)

    def located_id(
        self, response: httpx.Response, *, resource: str, external_id: str | None
    ) -> str:
        """The internal id: the last path segment of ``Location`` (there is no body)."""
        location = response.headers.get("location", "")
        record_id = httpx.URL(location).path.rstrip("/").rsplit("/", 1)[-1] if location else ""
        if not record_id.isdigit():
            raise PermanentError(
                "write answered without a usable Location header",
                connector=self.name,
                resource=resource,
                external_id=external_id,
                status_code=response.status_code,
            )
        return record_id

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.config.account_timezone)

    def _format_stamp(self, moment: datetime) -> str:
        """A UTC-aware time as SuiteQL's account-local ``YYYY-MM-DD HH24:MI:SS``."""
        if moment.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        return moment.astimezone(self._zone()).strftime(_STAMP_FORMAT)

    def _parse_stamp(self, value: object) -> datetime | None:
        """A SuiteQL timestamp (account-local) as UTC, or None when it is not one."""
        try:
            naive = datetime.strptime(str(value), _STAMP_FORMAT)  # noqa: DTZ007 - zone added below
        except ValueError:
            return None
        return naive.replace(tzinfo=self._zone()).astimezone(UTC)


def _timestamp(stamp: str) -> str:
    return f"TO_TIMESTAMP('{stamp}', 'YYYY-MM-DD HH24:MI:SS')"


def _decode_cursor(cursor: str) -> tuple[str, int]:
    """The keyset position in a cursor; validated, because it ends up inside a query."""
    match = _CURSOR.match(cursor)
    if match is None:
        raise ValueError("not a NetSuite cursor")
    return match.group(1), int(match.group(2))


def _eid(external_id: str) -> str:
    """An external id safe in a URL: letters, digits, ``_`` and ``-`` (reference section 4.2)."""
    if not _EID.match(external_id):
        raise ValueError("a NetSuite external id holds only letters, digits, '_' and '-'")
    return external_id
