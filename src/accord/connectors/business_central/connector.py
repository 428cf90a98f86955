"""The Business Central connector: OData reads, verify-before-create writes, etag updates.

* Reads: one OData page per call, ordered by ``(lastModifiedDateTime, id)`` with ``$top``. The
  cursor is BC's ``@odata.nextLink`` whenever BC pages on its own (followed verbatim, same host
  only); otherwise a keyset position (the last record's timestamp and id) rather than a
  ``$skip``: a record modified while a poller pages moves to the end instead of shifting the
  rest under the offset (which would skip one), and ``$top`` caps the whole answer, so BC sends
  no ``nextLink`` for a smaller page than its own.
* Writes: BC has no upsert. :meth:`BusinessCentralConnector.upsert` looks the key up first
  (``number`` for customers and projects, ``externalDocumentNumber`` for sales invoices and
  customer payments, ``documentNumber`` for journal lines) and PATCHes with the record's
  ``@odata.etag`` or POSTs. A create whose answer was lost is found by the retried upsert.
  A stale etag is a :class:`~accord.errors.ConflictError`: re-read and retry.
* Companies: every call addresses ``config.company_id`` unless the connector was narrowed
  with :meth:`BusinessCentralConnector.for_company` (``conn.for_company("DE01")``).
"""

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Self

import httpx
from pydantic import SecretStr
from typing_extensions import override

from accord.connectors.authorization import TokenStore
from accord.connectors.budget import Budget
from accord.connectors.budget import lane as budget_lane
from accord.connectors.business_central.auth import build_bc_auth
from accord.connectors.business_central.batch import BatchAnswer, BatchOperation, send_batch
from accord.connectors.business_central.config import BusinessCentralConfig
from accord.connectors.business_central.errors import translate
from accord.connectors.business_central.requirements import EXTENSION_SETS
from accord.connectors.odata import (
    ODataConnector,
    odata_etag,
    odata_string,
    odata_time,
    parse_odata_time,
)
from accord.connectors.roles import BACKGROUND, Erp, Lane
from accord.connectors.types import (
    Clock,
    Page,
    RawRecord,
    RecordMeta,
    ReferenceList,
    ReferenceValue,
    WriteResult,
    utc_now,
)
from accord.connectors.webhooks import UpkeepReport
from accord.errors import ConflictError, NotFoundError, PermanentError
from accord.rules import Rules

__all__ = [
    "MAX_PAGE_SIZE",
    "RESOURCES",
    "BcResource",
    "BusinessCentralConnector",
    "guid",
    "odata_string",
]

MAX_PAGE_SIZE = 20_000
"""BC's largest page (reference section 5.3)."""

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_KEYSET = re.compile(r"^(?P<stamp>\d{4}-\d{2}-\d{2}T[0-9:.]+Z)\|(?P<id>[0-9a-fA-F-]{36})$")
_ORDER = "lastModifiedDateTime asc,id asc"


@dataclass(frozen=True, slots=True)
class BcResource:
    """One entity set: its idempotency key and, for journal lines, its journal batch."""

    name: str
    key: str | None
    """Property verify-before-create probes (``None``: read-only reference data)."""
    key_length: int = 20
    """BC's field length of the key (``Code[20]``, ``Code[35]``)."""
    journal: Literal["time", "payment"] | None = None
    """Lines live under a journal batch (``config.time_journal`` / ``payment_journal``)."""
    expand: str | None = None
    """``$expand`` sent on reads, so that one record maps on its own."""


RESOURCES: dict[str, BcResource] = {
    r.name: r
    for r in (
        BcResource("customers", "number"),
        BcResource("projects", "number"),
        BcResource("projectPlanningLines", "documentNumber"),
        BcResource("salesInvoices", "externalDocumentNumber", 35, expand="salesInvoiceLines"),
        BcResource("journalLines", "documentNumber", journal="time"),
        BcResource("customerPayments", "externalDocumentNumber", 35, journal="payment"),
        BcResource("employees", "number"),
        BcResource("resources", "number"),
        BcResource("dimensionValues", None),
        BcResource("accountingPeriods", None),
        BcResource("currencies", None),
        BcResource("currencyExchangeRates", None),
        BcResource("projectLedgerEntries", None),
        BcResource("generalLedgerEntries", None),
        BcResource("projectTasks", "taskNumber"),
        BcResource("vendors", "number"),
        BcResource("purchaseInvoices", "vendorInvoiceNumber", 35, expand="purchaseInvoiceLines"),
    )
}
"""Every entity set the connector reads, by name."""

_JOURNAL_SETS = {"time": "journals", "payment": "customerPaymentJournals"}


class BusinessCentralConnector(ODataConnector[BusinessCentralConfig]):
    """Dynamics 365 Business Central API v2.0 with Entra ID client credentials."""

    kind = "business_central"
    config_model = BusinessCentralConfig
    error_translator = translate
    webhook_scheme = "subscription"
    service = "the Business Central API"

    def __init__(
        self,
        config: BusinessCentralConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Clock = utc_now,
        budget: Budget | None = None,
        token_store: TokenStore | None = None,
    ) -> None:
        self.company_id = config.company_id.lower()
        """The company this connector addresses."""
        self._journals: dict[tuple[str, str], str] = {}
        """Journal batch ids by (company, kind and code): looked up once."""
        super().__init__(
            config, transport=transport, clock=clock, budget=budget, token_store=token_store
        )

    # ----------------------------------------------------------------- hooks
    @override
    def build_auth(self) -> httpx.Auth:
        return build_bc_auth(self.config, clock=self.clock)

    def for_company(self, company: str) -> Self:
        """This connection narrowed to another company (a legal-entity code or a company id).

        The copy shares the HTTP client, token and budget; close the original, not the copy.
        """
        narrowed = copy.copy(self)
        narrowed.company_id = self.config.company_for(company)
        narrowed._journals = self._journals
        return narrowed

    # ----------------------------------------------------------------- reads
    @override
    def check(self) -> None:
        """Fetch a token and read the company."""
        response = self.send("GET", f"/companies({self.company_id})", resource="companies")
        self.raise_for_status(response, resource="companies")

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
        """One page ordered by ``(lastModifiedDateTime, id)``; ``since`` is exclusive."""
        spec = RESOURCES[self.require_resource(resource)]
        size = max(1, min(limit or MAX_PAGE_SIZE, MAX_PAGE_SIZE))

        def request(after: str | None) -> httpx.Response:
            conditions: list[str] = []
            if since is not None:
                conditions.append(f"lastModifiedDateTime gt {_odata_time(since)}")
            if after is not None:
                stamp, last_id = _decode_keyset(after)
                conditions.append(
                    f"(lastModifiedDateTime gt {stamp} or "
                    f"(lastModifiedDateTime eq {stamp} and id gt {last_id}))"
                )
            params: dict[str, str | int] = {"$orderby": _ORDER, "$top": size}
            if conditions:
                params["$filter"] = " and ".join(conditions)
            if spec.expand:
                params["$expand"] = spec.expand
            return self.send("GET", self._collection(spec), resource=resource, params=params)

        return self.keyset_page(
            resource,
            cursor,
            size,
            request=request,
            modified=lambda record: _parse_time(record.get("lastModifiedDateTime")),
            keyset=_keyset,
        )

    @override
    def get(self, resource: str, record_id: str) -> RawRecord:
        """One record by its id (a GUID); sales invoices come with their lines."""
        spec = RESOURCES[self.require_resource(resource)]
        params = {"$expand": spec.expand} if spec.expand else None
        response = self.send(
            "GET", f"{self._collection(spec)}({guid(record_id)})", resource=resource, params=params
        )
        self.raise_for_status(response, resource=resource)
        return self.json_object(response, resource=resource)

    @override
    def get_by_external_id(self, resource: str, external_id: str) -> RawRecord | None:
        """The record whose key (``number``, ``externalDocumentNumber`` ...) is ``external_id``.

        Raises:
            ConflictError: Several records carry the key (BC allows duplicate
                ``externalDocumentNumber`` values).
        """
        spec = RESOURCES[self.require_resource(resource)]
        key = _require_key(spec)
        params: dict[str, str | int] = {
            "$filter": f"{key} eq {odata_string(_check_key(spec, external_id))}",
            "$top": 2,
        }
        if spec.expand:
            params["$expand"] = spec.expand
        response = self.send("GET", self._collection(spec), resource=resource, params=params)
        self.raise_for_status(response, resource=resource, external_id=external_id)
        found = list(self.json_object(response, resource=resource).get("value") or ())
        if len(found) > 1:
            raise ConflictError(
                "several records carry one key",
                connector=self.name,
                resource=resource,
                external_id=external_id,
                status_code=response.status_code,
            )
        return found[0] if found and isinstance(found[0], dict) else None

    # ----------------------------------------------------------------- writes
    @override
    def upsert(self, resource: str, external_id: str, fields: Mapping[str, Any]) -> WriteResult:
        """Verify before create: PATCH (``If-Match``) the keyed record, or POST it.

        A sales invoice that is no longer a draft is returned as found: BC refuses changes to
        posted documents, and the ERP owns it from then on. Lines sent with a new invoice are
        created with it (deep insert); an existing invoice's lines are left alone.
        """
        spec = RESOURCES[self.require_resource(resource)]
        key = _require_key(spec)
        given = fields.get(key)
        if given is not None and given != external_id:
            raise ValueError(f"fields[{key!r}] differs from external_id")
        existing = self.get_by_external_id(resource, external_id)
        if existing is not None:
            record_id = str(existing["id"])
            etag = odata_etag(existing)
            if resource == "salesInvoices" and existing.get("status") != "Draft":
                return WriteResult(id=record_id, created=False, etag=etag)
            body = {k: v for k, v in fields.items() if k not in {key, "salesInvoiceLines"}}
            if not body:
                return WriteResult(id=record_id, created=False, etag=etag)
            return self.update(resource, record_id, body, etag=etag)
        created = self._post(spec, {**fields, key: external_id}, external_id=external_id)
        return WriteResult(id=str(created["id"]), created=True, etag=odata_etag(created))

    @override
    def update(
        self,
        resource: str,
        record_id: str,
        fields: Mapping[str, Any],
        *,
        etag: str | None = None,
    ) -> WriteResult:
        """``PATCH`` with ``If-Match: etag`` (``*``, last writer wins, when ``etag`` is None).

        Raises:
            ConflictError: ``etag`` is stale (409 ``Request_EntityChanged``).
        """
        spec = RESOURCES[self.require_resource(resource)]
        response = self.send(
            "PATCH",
            f"{self._collection(spec)}({guid(record_id)})",
            resource=resource,
            json=dict(fields),
            headers={"If-Match": etag or "*"},
        )
        self.raise_for_status(response, resource=resource)
        body = self.json_object(response, resource=resource)
        return WriteResult(id=record_id, created=False, etag=odata_etag(body))

    @override
    def create(self, resource: str, fields: Mapping[str, Any]) -> WriteResult:
        """``POST`` without a lookup; not idempotent: prefer :meth:`upsert`."""
        spec = RESOURCES[self.require_resource(resource)]
        created = self._post(spec, dict(fields), external_id=None)
        return WriteResult(id=str(created["id"]), created=True, etag=odata_etag(created))

    @override
    def delete(self, resource: str, record_id: str) -> None:
        """``DELETE`` with ``If-Match: *``."""
        spec = RESOURCES[self.require_resource(resource)]
        response = self.send(
            "DELETE",
            f"{self._collection(spec)}({guid(record_id)})",
            resource=resource,
            headers={"If-Match": "*"},
        )
        self.raise_for_status(response, resource=resource)

    # ----------------------------------------------------------------- bound actions
    def post_sales_invoice(self, invoice_id: str) -> bool:
        """``Microsoft.NAV.post`` a draft invoice; ``False`` when it was already posted.

        Checked first so that a retried post after a lost answer is not a business-rule error.
        """
        return self.post_document("salesInvoices", invoice_id)

    def post_document(self, resource: str, document_id: str) -> bool:
        """``Microsoft.NAV.post`` a draft sales or purchase invoice; ``False``: already posted."""
        document = self.get(resource, document_id)
        if document.get("status") != "Draft":
            return False
        path = f"{self._collection(RESOURCES[resource])}({guid(document_id)})"
        response = self.send("POST", f"{path}/Microsoft.NAV.post", resource=resource)
        self.raise_for_status(response, resource=resource)
        return True

    def missing_properties(self, resource: str, names: Iterable[str]) -> list[str]:
        """Of ``names``, those the entity set lacks: ``$select`` refuses them (one read each)."""
        spec = RESOURCES[self.require_resource(resource)]
        missing: list[str] = []
        for name in names:
            response = self.send(
                "GET",
                self._collection(spec),
                resource=resource,
                params={"$select": f"id,{name}", "$top": 1},
            )
            if response.status_code == httpx.codes.BAD_REQUEST:
                missing.append(name)
                continue
            self.raise_for_status(response, resource=resource)
        return missing

    def post_journal(self, kind: Literal["time", "payment"] = "time") -> bool:
        """Post the time (or payment) journal batch; ``False`` when it holds no lines.

        BC posts a batch all or nothing: one line in a closed period refuses the batch with a
        :class:`~accord.errors.BusinessRuleError`.
        """
        resource = "journalLines" if kind == "time" else "customerPayments"
        spec = RESOURCES[resource]
        response = self.send("GET", self._collection(spec), resource=resource, params={"$top": 1})
        self.raise_for_status(response, resource=resource)
        if not self.json_object(response, resource=resource).get("value"):
            return False
        journal_set = _JOURNAL_SETS[kind]
        journal = f"{self.company_path(journal_set)}/{journal_set}({self._journal_id(kind)})"
        response = self.send("POST", f"{journal}/Microsoft.NAV.post", resource=resource)
        self.raise_for_status(response, resource=resource)
        return True

    # ----------------------------------------------------------------- $batch
    def batch(self, operations: Sequence[BatchOperation]) -> list[BatchAnswer]:
        """Carry out operations in as few ``$batch`` requests as BC allows; an answer each.

        See :mod:`accord.connectors.business_central.batch` (at most 100 operations a request,
        each counted against BC's rate limit; a refused operation does not stop the others).

        Raises:
            ConnectorError: A request as a whole failed: its operations' outcomes are unknown.
        """
        return send_batch(self, operations)

    # --- reconciliation ------------------------------------------------------------------
    def query_page(
        self,
        entity_set: str,
        *,
        filter_: str | None = None,
        select: str | None = None,
        next_link: str | None = None,
        lane: Lane = BACKGROUND,
    ) -> tuple[list[RawRecord], str | None]:
        """One OData page of the company's ``entity_set``: its records and BC's next link.

        ``filter_`` and ``select`` are ``$filter`` and ``$select`` (built by the caller from
        constants and :func:`odata_string` values); ``next_link`` follows a page's
        ``@odata.nextLink`` instead (same host only). ``lane`` is the budget lane the call
        belongs to: its calls wait behind those of higher lanes.
        """
        with budget_lane(lane):
            spec = RESOURCES[self.require_resource(entity_set)]
            if next_link is not None:
                response = self.follow(next_link, resource=entity_set)
            else:
                params: dict[str, str] = {"$orderby": "id asc"}
                if filter_:
                    params["$filter"] = filter_
                if select:
                    params["$select"] = select
                path = f"{self.company_path(spec.name)}/{spec.name}"
                response = self.send("GET", path, resource=entity_set, params=params)
        return self.value_page(response, resource=entity_set)

    @override
    def as_erp(self, rules: Rules) -> Erp:
        """This connection in the ERP role (see :mod:`accord.connectors.business_central.erp`)."""
        # erp.py builds on this module, so it is imported when first asked for.
        from accord.connectors.business_central.erp import BusinessCentralErp  # noqa: PLC0415

        return BusinessCentralErp(self, rules)

    # ----------------------------------------------------------------- reference lists
    @override
    def discover(self) -> list[ReferenceList]:
        """Companies, project and payment journal batches, and every dimension's values."""
        company = f"/companies({self.company_id})"
        lists = [
            ReferenceList(
                "Companies",
                "companies.<legal entity> (and company_id)",
                tuple(
                    ReferenceValue(str(r.get("id")), str(r.get("displayName") or r.get("name")))
                    for r in self._list("/companies", "companies")
                ),
            ),
            ReferenceList(
                "Project journal batches", "time_journal", self._codes(f"{company}/journals")
            ),
            ReferenceList(
                "Payment journal batches",
                "payment_journal",
                self._codes(f"{company}/customerPaymentJournals"),
            ),
        ]
        dimensions = self._list(
            f"{company}/dimensions", "dimensions", params={"$expand": "dimensionValues"}
        )
        for dim in dimensions:
            code = str(dim.get("code"))
            lists.append(
                ReferenceList(
                    f"Dimension {code} ({dim.get('displayName') or code})",
                    "rules: practices.<code>.bc_department_code, regions.<code>.bc_area_code "
                    "(business_central.department / region name the dimensions)",
                    tuple(
                        ReferenceValue(str(v.get("code")), str(v.get("displayName") or ""))
                        for v in dim.get("dimensionValues") or ()
                        if isinstance(v, dict)
                    ),
                )
            )
        return lists

    def _list(
        self, path: str, resource: str, *, params: Mapping[str, str | int] | None = None
    ) -> list[RawRecord]:
        response = self.send("GET", path, resource=resource, params=params)
        self.raise_for_status(response, resource=resource)
        body = self.json_object(response, resource=resource)
        return [r for r in body.get("value") or () if isinstance(r, dict)]

    def _codes(self, path: str) -> tuple[ReferenceValue, ...]:
        return tuple(
            ReferenceValue(str(r.get("code")), str(r.get("displayName") or ""))
            for r in self._list(path, path.rsplit("/", 1)[-1])
        )

    # ----------------------------------------------------------------- webhooks
    def create_subscription(
        self, *, notification_url: str, resource: str, client_state: SecretStr
    ) -> RawRecord:
        """Subscribe to changes of an entity set of this company (``POST /subscriptions``).

        BC calls ``notification_url?validationToken=...`` before answering; the receiver echoes
        it (:func:`accord.connectors.webhooks.bc_validation_token`). Subscriptions expire after
        about three days: renew them with :meth:`renew_subscription`.
        """
        spec = RESOURCES[self.require_resource(resource)]
        target = f"/api/v2.0/companies({self.company_id})/{spec.name}"
        response = self.send(
            "POST",
            "/subscriptions",
            resource="subscriptions",
            json={
                "notificationUrl": notification_url,
                "resource": target,
                "clientState": client_state.get_secret_value(),
            },
        )
        self.raise_for_status(response, resource="subscriptions")
        return _without_client_state(self.json_object(response, resource="subscriptions"))

    def renew_subscription(self, subscription_id: str, *, etag: str | None = None) -> RawRecord:
        """Extend a subscription (``PATCH`` with ``If-Match``; BC repeats the handshake)."""
        response = self.send(
            "PATCH",
            f"/subscriptions({odata_string(subscription_id)})",
            resource="subscriptions",
            json={},
            headers={"If-Match": etag or "*"},
        )
        self.raise_for_status(response, resource="subscriptions", external_id=subscription_id)
        return _without_client_state(self.json_object(response, resource="subscriptions"))

    def delete_subscription(self, subscription_id: str, *, etag: str | None = None) -> None:
        """Remove a subscription; an unknown one is already gone (not an error)."""
        response = self.send(
            "DELETE",
            f"/subscriptions({odata_string(subscription_id)})",
            resource="subscriptions",
            headers={"If-Match": etag or "*"},
        )
        if response.status_code == httpx.codes.NOT_FOUND:
            return
        self.raise_for_status(response, resource="subscriptions", external_id=subscription_id)

    def list_subscriptions(self) -> list[RawRecord]:
        """Every subscription of this application (client states removed)."""
        response = self.send("GET", "/subscriptions", resource="subscriptions")
        self.raise_for_status(response, resource="subscriptions")
        values = self.json_object(response, resource="subscriptions").get("value") or ()
        return [_without_client_state(v) for v in values if isinstance(v, dict)]

    @override
    def keep_subscriptions(
        self,
        *,
        notification_url: str,
        entity_sets: Iterable[str],
        client_state: SecretStr,
        now: datetime,
        renew_within: timedelta,
    ) -> UpkeepReport:
        """One upkeep pass (:func:`accord.connectors.business_central.subscriptions.keep_alive`)."""
        # subscriptions.py builds on this module, so it is imported when first asked for.
        from accord.connectors.business_central.subscriptions import keep_alive  # noqa: PLC0415

        return keep_alive(
            self,
            notification_url=notification_url,
            entity_sets=entity_sets,
            client_state=client_state,
            now=now,
            renew_within=renew_within,
        )

    # ----------------------------------------------------------------- describing records
    @override
    def describe(self, resource: str, record: RawRecord) -> RecordMeta:
        """Id, key, ``lastModifiedDateTime`` and ``@odata.etag`` of a record."""
        spec = RESOURCES[self.require_resource(resource)]
        key = record.get(spec.key) if spec.key else None
        return RecordMeta(
            id=str(record.get("id", "")),
            external_id=str(key) if key else None,
            modified_at=_parse_time(record.get("lastModifiedDateTime")),
            etag=odata_etag(record),
        )

    # ----------------------------------------------------------------- internals
    def company_path(self, entity_set: str) -> str:
        """The company path an entity set is under: the extension's route for its pages.

        A real tenant serves Accord's pages at ``api/accord/psa/v1.0`` (``extension_api``);
        without it they are expected at the standard route, as the sandbox serves them.
        """
        company = f"/companies({self.company_id})"
        if self.config.extension_api and entity_set in EXTENSION_SETS:
            root = self.config.base_url.removesuffix("/api/v2.0")
            return f"{root}/api/{self.config.extension_api}{company}"
        return company

    def _collection(self, spec: BcResource) -> str:
        journal_set = _JOURNAL_SETS[spec.journal] if spec.journal else spec.name
        company = self.company_path(journal_set)
        if spec.journal is None:
            return f"{company}/{spec.name}"
        return f"{company}/{journal_set}({self._journal_id(spec.journal)})/{spec.name}"

    def _journal_id(self, kind: Literal["time", "payment"]) -> str:
        code = self.config.time_journal if kind == "time" else self.config.payment_journal
        cache_key = (self.company_id, f"{kind}:{code}")
        cached = self._journals.get(cache_key)
        if cached is not None:
            return cached
        journal_set = _JOURNAL_SETS[kind]
        response = self.send(
            "GET",
            f"{self.company_path(journal_set)}/{journal_set}",
            resource=journal_set,
            params={"$filter": f"code eq {odata_string(code)}"},
        )
        self.raise_for_status(response, resource=journal_set)
        found = self.json_object(response, resource=journal_set).get("value") or ()
        if not found or not isinstance(found[0], dict):
            raise NotFoundError(
                "journal batch not found",
                connector=self.name,
                resource=journal_set,
                external_id=code,
                status_code=response.status_code,
            )
        journal_id = str(found[0]["id"])
        self._journals[cache_key] = journal_id
        return journal_id

    def _post(
        self, spec: BcResource, body: Mapping[str, Any], *, external_id: str | None
    ) -> RawRecord:
        response = self.send("POST", self._collection(spec), resource=spec.name, json=dict(body))
        self.raise_for_status(response, resource=spec.name, external_id=external_id)
        return self.json_object(response, resource=spec.name)


# --------------------------------------------------------------------------- helpers
def _require_key(spec: BcResource) -> str:
    if spec.key is None:
        raise ValueError(f"{spec.name} is reference data: it has no key to write by")
    return spec.key


def _check_key(spec: BcResource, value: str) -> str:
    if not value or len(value) > spec.key_length or value != value.strip():
        raise ValueError(f"a {spec.key} holds 1 to {spec.key_length} characters, untrimmed")
    return value


def guid(value: str) -> str:
    """Ids are GUIDs; anything else would change the URL's meaning."""
    if not _GUID.match(value):
        raise ValueError("a Business Central id is a GUID")
    return value.lower()


def _odata_time(moment: datetime) -> str:
    return odata_time(moment, timespec="milliseconds")


def _parse_time(value: object) -> datetime | None:
    """A BC timestamp as UTC; BC writes ``0001-01-01T00:00:00Z`` for no date."""
    return parse_odata_time(value, null_date="0001-")


def _keyset(record: Mapping[str, Any]) -> str:
    modified = _parse_time(record.get("lastModifiedDateTime"))
    record_id = str(record.get("id", ""))
    if modified is None or not _GUID.match(record_id):
        raise PermanentError("record without lastModifiedDateTime or id cannot be paged past")
    return f"{_odata_time(modified)}|{record_id.lower()}"


def _decode_keyset(cursor: str) -> tuple[str, str]:
    """The keyset position in a cursor; validated, because it ends up inside ``$filter``."""
    match = _KEYSET.match(cursor)
    if match is None:
        raise ValueError("not a Business Central cursor")
    return match["stamp"], match["id"]


def _without_client_state(record: Mapping[str, Any]) -> RawRecord:
    """A subscription without its ``clientState`` (a shared secret, never stored or logged)."""
    return {k: v for k, v in record.items() if k != "clientState"}
