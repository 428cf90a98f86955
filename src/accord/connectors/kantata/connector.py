"""The Kantata OX connector: paged reads, the event feed and external-reference upserts.

* Reads: one ``GET /{collection}`` page per call (``page``/``per_page`` <= 200, ordered by
  ``updated_at``; ``updated_after`` for ``since``). The cursor is the next page number, so it is
  only valid with the same ``since`` and ``limit``. Records come back in ``results`` order with
  their ``external_references`` (and, for timesheet submissions and invoices, their time
  entries and expenses) embedded under those keys, so that one raw record maps on its own.
* Writes: :meth:`KantataConnector.upsert` finds the record by its external reference
  (``service_name`` = the connection's, ``service_model`` per resource, ``service_model_ref`` =
  the external id) and updates it, or creates it *carrying the reference in the same create*.
  A create whose answer was lost is therefore found by its reference when the flow retries.
* Change capture: :meth:`KantataConnector.read_events` polls ``/subscribed_events`` and drops
  re-deliveries by event id; ``read_page(since=...)`` is the fallback (``updated_after``).
* Kantata has no optimistic concurrency: ``etag`` is accepted and ignored.
"""

import contextlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from typing_extensions import override

from accord.connectors.authorization import AuthorizationCodeFlow
from accord.connectors.base import Connector
from accord.connectors.budget import lane as budget_lane
from accord.connectors.kantata.auth import build_kantata_auth, kantata_authorization
from accord.connectors.kantata.config import KantataConfig
from accord.connectors.kantata.errors import translate
from accord.connectors.roles import Lane, Psa
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
from accord.errors import (
    ConflictError,
    NotFoundError,
    PermanentError,
    UnsupportedOperationError,
)
from accord.rules import Rules

__all__ = [
    "MAX_PAGE_SIZE",
    "RESOURCES",
    "EventPage",
    "KantataConnector",
    "KantataResource",
]

MAX_PAGE_SIZE = 200
"""The largest ``per_page`` Kantata clients use (reference section 3.2)."""

_EVENT_CURSOR = re.compile(r"^(?P<after>[^|]*)\|(?P<last>\d*)\|(?P<page>\d+)$")


@dataclass(frozen=True, slots=True)
class KantataResource:
    """How one Kantata collection is addressed and referenced."""

    plural: str
    singular: str
    subject_type: str
    """The class name external references and events use (``TimeEntry``)."""
    service_model: str
    """``service_model`` of the references Accord writes for this collection."""
    creatable: bool = True
    updatable: bool = True
    deletable: bool = False
    embeds: tuple[tuple[str, str], ...] = ()
    """``(id list field, collection)`` pairs included and embedded into each record."""


RESOURCES: dict[str, KantataResource] = {
    r.plural: r
    for r in (
        KantataResource("workspaces", "workspace", "Workspace", "project"),
        KantataResource("stories", "story", "Story", "milestone", deletable=True),
        KantataResource("time_entries", "time_entry", "TimeEntry", "time_entry", deletable=True),
        KantataResource("expenses", "expense", "Expense", "expense", deletable=True),
        KantataResource(
            "timesheet_submissions",
            "timesheet_submission",
            "TimesheetSubmission",
            "timesheet",
            updatable=False,
            embeds=(("time_entry_ids", "time_entries"),),
        ),
        KantataResource(
            "expense_report_submissions",
            "expense_report_submission",
            "ExpenseReportSubmission",
            "expense_report",
            updatable=False,
            embeds=(("expense_ids", "expenses"),),
        ),
        KantataResource(
            "invoices",
            "invoice",
            "Invoice",
            "invoice",
            embeds=(("time_entry_ids", "time_entries"), ("expense_ids", "expenses")),
        ),
        KantataResource("users", "user", "User", "resource", creatable=False, updatable=False),
        KantataResource("vendors", "vendor", "Vendor", "vendor", creatable=False, updatable=False),
        KantataResource("assignments", "assignment", "Assignment", "assignment", deletable=True),
        KantataResource(
            "participations", "participation", "Participation", "participation", deletable=True
        ),
        KantataResource(
            "custom_fields",
            "custom_field",
            "CustomField",
            "custom_field",
            creatable=False,
            updatable=False,
        ),
        KantataResource(
            "custom_field_values",
            "custom_field_value",
            "CustomFieldValue",
            "custom_field_value",
            deletable=True,
        ),
    )
}
"""Every collection the connector reads, by plural name (also the URL segment)."""


@dataclass(frozen=True, slots=True)
class EventPage:
    """One poll of ``/subscribed_events``.

    Attributes:
        events: New events in feed order, re-deliveries removed (by event id).
        cursor: Where to resume; persist it even when ``has_more`` is false.
        has_more: Whether the feed holds more events right now.
    """

    events: list[RawRecord]
    cursor: str
    has_more: bool


class KantataConnector(Connector[KantataConfig]):
    """Kantata OX (formerly Mavenlink) API v1 with OAuth2 bearer tokens."""

    kind = "kantata"
    config_model = KantataConfig
    error_translator = translate

    # ----------------------------------------------------------------- hooks
    @override
    def build_auth(self) -> httpx.Auth:
        return build_kantata_auth(self.config, self.token_store, clock=self.clock)

    @override
    def authorization_flow(self) -> AuthorizationCodeFlow | None:
        return kantata_authorization(self.config, clock=self.clock)

    # ----------------------------------------------------------------- reads
    @override
    def check(self) -> None:
        """Fetch a token and read the integration user (``/users/me``)."""
        response = self.send("GET", "/users/me", resource="users")
        self.raise_for_status(response, resource="users")

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
        """One page of ``resource`` ordered by ``updated_at`` (``updated_after`` = ``since``)."""
        return self.query_page(resource, cursor=cursor, since=since, limit=limit)

    def query_page(
        self,
        resource: str,
        *,
        filters: Mapping[str, str] | None = None,
        cursor: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        lane: Lane | None = None,
    ) -> Page:
        """:meth:`read_page` with Kantata's own filters (``workspace_id``, ``approved`` ...).

        ``lane`` is the budget lane the call belongs to (``None``: the caller's own).
        """
        spec = RESOURCES[self.require_resource(resource)]
        page_number = int(cursor) if cursor is not None else 1
        if page_number < 1:
            raise ValueError("not a Kantata cursor")
        size = max(1, min(limit or MAX_PAGE_SIZE, MAX_PAGE_SIZE))
        params: dict[str, str | int] = {
            **dict(filters or {}),
            "page": page_number,
            "per_page": size,
            "order": "updated_at:asc",
            "include": _includes(spec),
        }
        if since is not None:
            params["updated_after"] = _stamp(since)
        with budget_lane(lane) if lane is not None else contextlib.nullcontext():
            response = self.send("GET", f"/{spec.plural}", resource=resource, params=params)
        self.raise_for_status(response, resource=resource)
        body = self.json_object(response, resource=resource)
        records = _records(body, spec)
        watermark = latest(held_moment(r.get("updated_at")) for r in records)
        page_count = _page_count(body)
        more = page_number < page_count and bool(records)
        return Page(
            records=records,
            next_cursor=str(page_number + 1) if more else None,
            high_watermark=watermark,
        )

    @override
    def get(self, resource: str, record_id: str) -> RawRecord:
        """One record with its external references (and embedded lines) by Kantata id."""
        spec = RESOURCES[self.require_resource(resource)]
        response = self.send(
            "GET",
            f"/{spec.plural}/{_kantata_id(record_id)}",
            resource=resource,
            params={"include": _includes(spec)},
        )
        self.raise_for_status(response, resource=resource)
        records = _records(self.json_object(response, resource=resource), spec)
        if not records:
            raise NotFoundError(
                connector=self.name, resource=resource, status_code=response.status_code
            )
        return records[0]

    @override
    def get_by_external_id(self, resource: str, external_id: str) -> RawRecord | None:
        """The record carrying Accord's reference ``external_id``, or ``None``."""
        spec = RESOURCES[self.require_resource(resource)]
        return self.find_by_reference(
            resource,
            service_name=self.config.service_name,
            service_model=spec.service_model,
            ref=external_id,
        )

    def find_by_reference(
        self, resource: str, *, service_name: str, service_model: str, ref: str
    ) -> RawRecord | None:
        """The record linked to ``(service_name, service_model, ref)``, e.g. a Salesforce id.

        Raises:
            ConflictError: Several records carry the same reference.
        """
        spec = RESOURCES[self.require_resource(resource)]
        response = self.send(
            "GET",
            f"/{spec.plural}",
            resource=resource,
            params={
                "external_reference_service_name": service_name,
                "external_reference_service_model": service_model,
                "external_reference_service_model_ref": ref,
                "include": _includes(spec),
                "per_page": 2,
            },
        )
        self.raise_for_status(response, resource=resource, external_id=ref)
        records = _records(self.json_object(response, resource=resource), spec)
        if len(records) > 1:
            raise ConflictError(
                "several records carry one external reference",
                connector=self.name,
                resource=resource,
                external_id=ref,
                status_code=response.status_code,
            )
        return records[0] if records else None

    # ----------------------------------------------------------------- writes
    @override
    def upsert(self, resource: str, external_id: str, fields: Mapping[str, Any]) -> WriteResult:
        """Update the record Accord's reference points at, or create it carrying that reference.

        A record of a collection that cannot be updated (timesheet submissions) is returned
        as found.
        """
        spec = RESOURCES[self.require_resource(resource)]
        if not spec.creatable:
            raise UnsupportedOperationError(
                connector=self.name, resource=resource, external_id=external_id
            )
        body = {k: v for k, v in fields.items() if k not in {"id", "external_references"}}
        existing = self.get_by_external_id(resource, external_id)
        if existing is not None:
            record_id = str(existing["id"])
            if spec.updatable and body:
                self._put(spec, record_id, body, external_id=external_id)
            return WriteResult(id=record_id, created=False)
        reference = {
            "service_name": self.config.service_name,
            "service_model": spec.service_model,
            "service_model_ref": external_id,
        }
        created = self._post(
            spec, {**body, "external_references": [reference]}, external_id=external_id
        )
        return WriteResult(id=str(created["id"]), created=True)

    @override
    def update(
        self,
        resource: str,
        record_id: str,
        fields: Mapping[str, Any],
        *,
        etag: str | None = None,
    ) -> WriteResult:
        """``PUT /{collection}/{id}`` (Kantata has no etags: ``etag`` is ignored)."""
        spec = RESOURCES[self.require_resource(resource)]
        if not spec.updatable:
            raise PermanentError(
                "collection cannot be updated", connector=self.name, resource=resource
            )
        body = {k: v for k, v in fields.items() if k not in {"id", "external_references"}}
        self._put(spec, _kantata_id(record_id), body, external_id=None)
        return WriteResult(id=record_id, created=False)

    @override
    def create(self, resource: str, fields: Mapping[str, Any]) -> WriteResult:
        """``POST /{collection}`` without a reference; not idempotent: prefer :meth:`upsert`."""
        spec = RESOURCES[self.require_resource(resource)]
        if not spec.creatable:
            return super().create(resource, fields)
        return WriteResult(
            id=str(self._post(spec, dict(fields), external_id=None)["id"]), created=True
        )

    @override
    def delete(self, resource: str, record_id: str) -> None:
        """``DELETE /{collection}/{id}`` (time entries, expenses, stories)."""
        spec = RESOURCES[self.require_resource(resource)]
        if not spec.deletable:
            super().delete(resource, record_id)
            return
        response = self.send(
            "DELETE", f"/{spec.plural}/{_kantata_id(record_id)}", resource=resource
        )
        self.raise_for_status(response, resource=resource)

    @override
    def discover(self) -> list[ReferenceList]:
        """Rate cards (one per currency, picked by the deal's) and the roles they price."""
        cards = self._collection("/rate_cards", "rate_cards")
        roles = self._collection("/roles", "roles")
        return [
            ReferenceList(
                "Rate cards",
                "picked by currency for time-and-materials deals (one per currency)",
                tuple(
                    ReferenceValue(
                        str(c.get("id")),
                        str(c.get("title") or ""),
                        f"{c.get('currency')}, {len(c.get('rates') or ())} role rate(s)",
                    )
                    for c in cards
                ),
            ),
            ReferenceList(
                "Roles",
                "rate-card rates and contract rate cards name them",
                tuple(ReferenceValue(str(r.get("id")), str(r.get("name") or "")) for r in roles),
            ),
        ]

    def _collection(self, path: str, plural: str) -> list[RawRecord]:
        """The first page (``per_page`` 200) of a reference collection, in ``results`` order."""
        response = self.send("GET", path, resource=plural, params={"per_page": MAX_PAGE_SIZE})
        self.raise_for_status(response, resource=plural)
        return _ordered(self.json_object(response, resource=plural), plural)

    def approve_timesheet(self, submission_id: str, *, comment: str | None = None) -> RawRecord:
        """``PUT /timesheet_submissions/{id}/approve``; the answer embeds its time entries.

        Not idempotent on Kantata's side (a second approval is a 422): read the submission
        first when retrying.
        """
        return self.resolve_submission(
            "timesheet_submissions", submission_id, approve=True, comment=comment
        )

    def resolve_submission(
        self, resource: str, submission_id: str, *, approve: bool, comment: str | None = None
    ) -> RawRecord:
        """Approve or reject a timesheet or expense report submission (``PUT .../approve``).

        ``/reject`` and expense report submissions are [inferred] (reference section 3.4).
        Not idempotent on Kantata's side: read the submission first when retrying.
        """
        spec = RESOURCES[self.require_resource(resource)]
        if spec.plural not in {"timesheet_submissions", "expense_report_submissions"}:
            raise UnsupportedOperationError(connector=self.name, resource=resource)
        action = "approve" if approve else "reject"
        body = {"resolution": {"description": comment}} if comment else {}
        response = self.send(
            "PUT",
            f"/{spec.plural}/{_kantata_id(submission_id)}/{action}",
            resource=spec.plural,
            params={"include": _includes(spec)},
            json=body,
        )
        self.raise_for_status(response, resource=spec.plural)
        records = _records(self.json_object(response, resource=spec.plural), spec)
        if not records:
            raise PermanentError(
                "approval answered without the submission",
                connector=self.name,
                resource=spec.plural,
                status_code=response.status_code,
            )
        return records[0]

    def set_reference(
        self,
        resource: str,
        record_id: str,
        *,
        service_name: str,
        service_model: str,
        ref: str,
        failed: bool = False,
        message: str | None = None,
    ) -> RawRecord:
        """Create or update the external reference of a record (write back sync status).

        Kantata matches on subject, ``service_name`` and ``service_model``: writing again
        updates the same reference.
        """
        spec = RESOURCES[self.require_resource(resource)]
        attrs: dict[str, Any] = {
            "subject_type": spec.subject_type,
            "subject_id": _kantata_id(record_id),
            "service_name": service_name,
            "service_model": service_model,
            "service_model_ref": ref,
            "status": "fail" if failed else "successful",
        }
        if message is not None:
            attrs["external_message"] = message
        response = self.send(
            "POST",
            "/external_references",
            resource="external_references",
            json={"external_reference": attrs},
        )
        self.raise_for_status(response, resource="external_references", external_id=ref)
        body = self.json_object(response, resource="external_references")
        refs = _ordered(body, "external_references")
        if not refs:
            raise PermanentError(
                "reference write answered without the reference",
                connector=self.name,
                resource="external_references",
            )
        return refs[0]

    # ----------------------------------------------------------------- roles
    @override
    def as_psa(self, rules: Rules) -> Psa:
        """This connection in the PSA role (see :mod:`accord.connectors.kantata.psa`)."""
        # psa.py builds on this module, so it is imported when first asked for.
        from accord.connectors.kantata.psa import KantataPsa  # noqa: PLC0415

        return KantataPsa(self, rules)

    # ----------------------------------------------------------------- change capture
    def read_events(
        self,
        cursor: str | None = None,
        *,
        since: datetime | None = None,
        limit: int | None = None,
        event_types: Iterable[str] = (),
    ) -> EventPage:
        """One poll of ``/subscribed_events`` after ``cursor`` (or ``since`` on the first poll).

        The cursor holds the last ``created_at`` seen, the highest event id seen and a page
        number. Each poll asks for events created at or after that time (a re-delivery shares
        its ``created_at`` with newer events, so an exclusive bound could skip one) and drops
        every event whose id is not above the highest seen: the feed re-delivers events under
        their original id. The page number only moves when a whole page shares one
        ``created_at``, so that such a page cannot stall the poller.
        """
        after, last_id, page = _decode_event_cursor(cursor)
        if after is None and since is not None:
            after = since.astimezone(UTC)
        size = max(1, min(limit or MAX_PAGE_SIZE, MAX_PAGE_SIZE))
        params: dict[str, str | int] = {"page": page, "per_page": size}
        if after is not None:
            # One microsecond earlier turns Kantata's exclusive bound into an inclusive one.
            params["created_after"] = _stamp(after - timedelta(microseconds=1))
        types = ",".join(event_types)
        if types:
            params["event_types"] = types
        response = self.send(
            "GET", "/subscribed_events", resource="subscribed_events", params=params
        )
        self.raise_for_status(response, resource="subscribed_events")
        body = self.json_object(response, resource="subscribed_events")
        raw = _ordered(body, "subscribed_events")
        fresh: list[RawRecord] = []
        highest = last_id
        newest = after
        for event in raw:
            created = held_moment(event.get("created_at"))
            if created is not None and (newest is None or created > newest):
                newest = created
            number = _event_number(event)
            if number is None or number <= highest:
                continue  # a re-delivery (or a page boundary seen before)
            highest = number
            fresh.append(event)
        has_more = page < _page_count(body)
        next_page = page + 1 if (has_more and newest == after) else 1
        return EventPage(
            events=fresh,
            cursor=_encode_event_cursor(newest, highest, next_page),
            has_more=has_more,
        )

    # ----------------------------------------------------------------- describing records
    @override
    def describe(self, resource: str, record: RawRecord) -> RecordMeta:
        """Id, Accord's reference (from embedded ``external_references``) and ``updated_at``."""
        spec = RESOURCES[self.require_resource(resource)]
        external_id = None
        for ref in record.get("external_references") or ():
            if (
                isinstance(ref, dict)
                and ref.get("service_name") == self.config.service_name
                and ref.get("service_model") == spec.service_model
            ):
                external_id = str(ref.get("service_model_ref"))
                break
        return RecordMeta(
            id=str(record.get("id", "")),
            external_id=external_id,
            modified_at=held_moment(record.get("updated_at")),
        )

    # ----------------------------------------------------------------- internals
    def _post(
        self, spec: KantataResource, attrs: Mapping[str, Any], *, external_id: str | None
    ) -> RawRecord:
        response = self.send(
            "POST",
            f"/{spec.plural}",
            resource=spec.plural,
            params={"include": _includes(spec)},
            json={spec.singular: dict(attrs)},
        )
        self.raise_for_status(response, resource=spec.plural, external_id=external_id)
        records = _records(self.json_object(response, resource=spec.plural), spec)
        if not records:
            raise PermanentError(
                "create answered without the record",
                connector=self.name,
                resource=spec.plural,
                external_id=external_id,
                status_code=response.status_code,
            )
        return records[0]

    def _put(
        self,
        spec: KantataResource,
        record_id: str,
        attrs: Mapping[str, Any],
        *,
        external_id: str | None,
    ) -> None:
        response = self.send(
            "PUT",
            f"/{spec.plural}/{_kantata_id(record_id)}",
            resource=spec.plural,
            json={spec.singular: dict(attrs)},
        )
        self.raise_for_status(response, resource=spec.plural, external_id=external_id)


# --------------------------------------------------------------------------- envelope helpers
def _includes(spec: KantataResource) -> str:
    return ",".join(["external_references", *(collection for _, collection in spec.embeds)])


def _ordered(body: Mapping[str, Any], plural: str) -> list[RawRecord]:
    """The answer's own records, in ``results`` order (included records share the keys)."""
    table = body.get(plural)
    if not isinstance(table, dict):
        return []
    out: list[RawRecord] = []
    for entry in body.get("results") or ():
        if isinstance(entry, dict) and entry.get("key") == plural:
            record = table.get(str(entry.get("id")))
            if isinstance(record, dict):
                out.append(record)
    return out


def _records(body: Mapping[str, Any], spec: KantataResource) -> list[RawRecord]:
    """The answer's records with their references and embedded lines attached."""
    references = body.get("external_references")
    refs = (
        [r for r in references.values() if isinstance(r, dict)]
        if isinstance(references, dict)
        else []
    )
    out: list[RawRecord] = []
    for record in _ordered(body, spec.plural):
        enriched = dict(record)
        enriched["external_references"] = [
            r
            for r in refs
            if r.get("subject_type") == spec.subject_type
            and str(r.get("subject_id")) == str(record.get("id"))
        ]
        for id_field, collection in spec.embeds:
            table = body.get(collection)
            linked = table if isinstance(table, dict) else {}
            enriched[collection] = [
                linked[str(i)] for i in record.get(id_field) or () if str(i) in linked
            ]
        out.append(enriched)
    return out


def _page_count(body: Mapping[str, Any]) -> int:
    meta = body.get("meta")
    count = meta.get("page_count") if isinstance(meta, dict) else None
    return int(count) if isinstance(count, int | str) and str(count).isdigit() else 1


def _kantata_id(record_id: str) -> str:
    """Kantata ids are digit strings; anything else would change the URL's meaning."""
    if not record_id.isdigit():
        raise ValueError("a Kantata id holds only digits")
    return record_id


def _stamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _event_number(event: Mapping[str, Any]) -> int | None:
    value = str(event.get("id", ""))
    return int(value) if value.isdigit() else None


def _decode_event_cursor(cursor: str | None) -> tuple[datetime | None, int, int]:
    if cursor is None:
        return None, 0, 1
    match = _EVENT_CURSOR.match(cursor)
    if match is None:
        raise ValueError("not a Kantata event cursor")
    after = held_moment(match["after"]) if match["after"] else None
    return after, int(match["last"] or 0), int(match["page"])


def _encode_event_cursor(after: datetime | None, last_id: int, page: int) -> str:
    stamp = after.isoformat(timespec="microseconds") if after is not None else ""
    return f"{stamp}|{last_id}|{page}"
