"""The NetSuite emulator: SuiteTalk REST record API, SuiteQL, OAuth 2.0 M2M and TBA on one port.

Routes follow reference section 4: ``/services/rest/auth/oauth2/v1/token``,
``/services/rest/record/v1/{type}[/{id}|/eid:{externalId}][/{sublist}]`` and
``/services/rest/query/v1/suiteql``. Creates answer 204 with a ``Location`` header and no body;
``PUT .../eid:X`` upserts; errors come as ``{"type","title","status","o:errorDetails"}``. The
account-wide concurrency limit (default 5) is a default fault rule, so it survives
``/__sandbox/reset``. Record logic is in :mod:`accord_sandbox.netsuite.book`; this module only
speaks HTTP and seeds the firm; authentication is :mod:`accord_sandbox.netsuite.auth`'s.
``POST /__sandbox/netsuite/m2m-certificates`` (``{"certificate": PEM}``) is the sandbox's M2M
setup page: it maps a certificate to the integration and answers its certificate id.
"""

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from typing_extensions import override

from accord_sandbox.common import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    Emulator,
    FaultSpec,
    retry_after_header,
    utc_now,
)
from accord_sandbox.credentials import TBA_TOKEN_ID, TBA_TOKEN_SECRET
from accord_sandbox.firm import Firm, LegalEntitySpec
from accord_sandbox.netsuite.auth import TOKEN_PATH, CertificateError, TokenIssuer
from accord_sandbox.netsuite.book import RECORD_PATH, RecordBook, valid_eid
from accord_sandbox.netsuite.errors import ACCESS_PREFIX, NetSuiteError, error_json
from accord_sandbox.netsuite.records import RECORD_TYPES, RecordType, json_schema
from accord_sandbox.netsuite.suiteql import SuiteQLError, execute, format_value, parse

__all__ = ["EXPENSE_CATEGORIES", "SERVICE_ITEMS", "SUITEQL_PATH", "NetSuiteEmulator"]

SUITEQL_PATH = "/services/rest/query/v1/suiteql"
_RESULT_TTL_S = 60.0
"""How long a SuiteQL result serves its later pages (while no record changes)."""
_RESULTS_KEPT = 8
"""The SuiteQL endpoint (reference section 4.4)."""
MAX_LIMIT = 1000
"""Largest page of collections and SuiteQL (reference section 4.4); also the default."""
RESOURCE_MEDIA_TYPE = "application/vnd.oracle.resource+json"
"""[inferred] media type of NetSuite REST resources (``; type=singular-resource|collection``)."""
_CONCURRENCY_BODY = {
    "detail": "Concurrent request limit exceeded. Request blocked.",
    "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED",
}
"""Verbatim 429 detail (reference section 4.3)."""
SERVICE_ITEMS = {"1": ("PS-SERVICES", "Professional Services")}
"""[inferred] The sandbox account's service items (id -> item name/number, display name); Accord
bills time, milestones and billing plans through item 1 (its default ``billing_item``)."""
EXPENSE_CATEGORIES = {
    "1": "Travel",
    "2": "Lodging",
    "3": "Meals",
    "4": "Mileage",
    "5": "Software",
    "6": "Supplies",
    "7": "Other",
}
"""[inferred] The sandbox account's expense categories (id -> name), one per canonical
category, with the ids Accord's time-and-expense posting sends today."""
_STANDARD_CURRENCY_IDS = {"USD": "1", "GBP": "2", "CAD": "3", "EUR": "4"}
"""[inferred] internal ids of the currencies a new US OneWorld account starts with."""


def _resource(body: dict[str, Any], kind: str) -> JSONResponse:
    return JSONResponse(body, media_type=f"{RESOURCE_MEDIA_TYPE}; type={kind}")


def _names(request: Request) -> str | None:
    """The ``X-NetSuite-PropertyNameValidation`` header (see ``records.FieldNames``)."""
    return request.headers.get("x-netsuite-propertynamevalidation")


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        # [inferred] wording; INVALID_PARAMETER is an observed code.
        raise NetSuiteError.bad_param(
            f"Invalid '{name}' query parameter value: {raw}. Use an integer from {low} to {high}.",
            query_param=name,
        )
    return int(raw)


class NetSuiteEmulator(Emulator):
    """NetSuite SuiteTalk REST emulator (record API, SuiteQL, OAuth 2.0 M2M and TBA).

    Args:
        client_id: the integration's client id: the JWT ``iss`` (M2M) and consumer key (TBA).
        client_secret: the integration's client secret: the TBA consumer secret.
        seed: seed of the emulator's random faults.
        base_url: scheme and host used in ``Location`` and ``links``.
        concurrency_limit: the account-wide concurrent request limit (shared tier: 5).
        account_id: the account id (``1234567-sb1`` style); shown by the token realm and docs.
        limits: enforce the concurrency limit (default); False only where a test says why.
    """

    name = "netsuite"
    """System name in stats and logs."""

    def __init__(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        seed: int = 7,
        base_url: str = "http://127.0.0.1:8803",
        concurrency_limit: int = 5,
        account_id: str = "TSTDRV0000001",
        limits: bool = True,
    ) -> None:
        self.concurrency_limit = concurrency_limit
        self.account_id = account_id
        self.clock: Callable[[], datetime] = utc_now
        """The current time, UTC-aware; tests replace it to control ``lastModifiedDate``."""
        self.firm: Firm | None = None
        self.subsidiary_codes: dict[str, str] = {}
        """Subsidiary internal id -> legal-entity code used by ``/__sandbox/periods``."""
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            seed=seed,
            base_url=base_url,
            limits=limits,
        )
        self.tokens = TokenIssuer(
            client_id,
            client_secret,
            account_id=account_id,
            token_url=lambda: f"{self.base_url}{TOKEN_PATH}",
        )
        """Authentication; the sandbox's M2M certificate and TBA token are installed."""
        self.tokens.install_sandbox_credentials((TBA_TOKEN_ID, TBA_TOKEN_SECRET))
        self.book = RecordBook(
            self.store,
            base_url=self.base_url,
            clock=self._now,
            period_closed=self._period_closed,
        )
        self._results: dict[str, tuple[int, float, list[dict[str, Any]]]] = {}
        """SuiteQL query -> (store generation, when, rows): the later pages of a query paged
        by offset are cut from the rows its first page computed, while no record changed."""

    # ----------------------------------------------------------------- Emulator hooks
    @override
    def error_response(
        self, status: int, code: str, message: str, *, retry_after: float | None = None
    ) -> Response:
        details = [{"detail": message, "o:errorCode": code}]
        return error_json(status, details, headers=retry_after_header(retry_after))

    @override
    def throttle_response(self, *, retry_after: float) -> Response:
        # NetSuite's only 429 is the concurrency one; the sandbox's rate-limit fault reuses its
        # body and adds Retry-After (not documented for NetSuite) so clients can honour it.
        headers = retry_after_header(max(retry_after, 1.0))
        return error_json(429, [dict(_CONCURRENCY_BODY)], headers=headers)

    @override
    def concurrency_response(self) -> Response:
        # Verbatim body of reference 4.3, without Retry-After (none is documented).
        return error_json(429, [dict(_CONCURRENCY_BODY)], title="Too Many Requests")

    @override
    def vendor_limits(self) -> list[FaultSpec]:
        """The account-wide concurrency limit, one rule for every path.

        Reference 4.3: shared tier 5, +10 per SuiteCloud Plus licence; REST, SOAP and RESTlets
        share it.
        """
        return [FaultSpec(path="/services/*", concurrency=self.concurrency_limit)]

    @override
    def reset_state(self) -> None:
        super().reset_state()
        self._results.clear()
        self.book.clear()
        self.subsidiary_codes.clear()
        if self.firm is not None:
            self.seed_firm(self.firm)

    @override
    def dump_extra(self) -> dict[str, Any]:
        return {
            "next_ids": dict(self.book.next_ids),
            "subsidiary_codes": self.subsidiary_codes,
            "auth": self.tokens.dump(),
        }

    @override
    def load_extra(self, data: dict[str, Any]) -> None:
        self.tokens.load(data.get("auth", {}))
        self.book.next_ids = {k: int(v) for k, v in data.get("next_ids", {}).items()}
        self.subsidiary_codes = dict(data.get("subsidiary_codes", {}))
        self._results.clear()
        self.book.rebuild()

    @override
    def seed_firm(self, firm: Firm) -> None:
        """Load the reference lists, employees and accounting periods of the firm.

        Reference lists: subsidiaries, departments, classes, currencies and their exchange rates
        (the firm's monthly rates, as currency rate records), service items and expense
        categories.

        Only legal entities kept on NetSuite (``erp == "netsuite"``) become subsidiaries, so a
        posting for a Business Central entity is refused here as it would be in production.
        Seeded records carry the firm's codes as ``externalId`` (``subsidiary/eid:US01``,
        ``department/eid:<practice>``, ``classification/eid:<region>``,
        ``employee/eid:<consultant id>``, ``vendor/eid:<vendor key>``,
        ``accountingPeriod/eid:P-2025-01``) [inferred].
        """
        self.firm = firm
        book = self.book
        entities = [e for e in firm.legal_entities if e.erp == "netsuite"]
        codes = [e.currency for e in entities] + [c.currency for c in firm.consultants]
        currency_ids: dict[str, str] = {}
        extra = 5
        for code in dict.fromkeys(["USD", *codes]):
            cid = _STANDARD_CURRENCY_IDS.get(code)
            if cid is None:
                cid, extra = str(extra), extra + 1
            currency_ids[code] = cid
            base = bool(entities) and code == entities[0].currency
            book.seed(
                "currency",
                {"name": code, "symbol": code, "isBaseCurrency": base, "isInactive": False},
                record_id=cid,
            )
        self._seed_rates(firm, currency_ids)
        for e in entities:
            self.subsidiary_codes[e.netsuite_subsidiary_id] = e.code
            book.seed(
                "subsidiary",
                {
                    "externalId": e.code,
                    "name": e.name,
                    "country": e.country,
                    "currency": {"id": currency_ids[e.currency]},
                    "isInactive": False,
                },
                record_id=e.netsuite_subsidiary_id,
            )
        # Practices and regions are firm-wide: their departments and classes are assigned to
        # every subsidiary, so the ids Accord's rules carry are valid wherever it posts.
        everywhere = {"items": [{"id": e.netsuite_subsidiary_id} for e in entities]}
        scoped = {"subsidiary": everywhere, "includeChildren": True, "isInactive": False}
        departments = {p.code: p.netsuite_department_id for p in firm.practices}
        for p in firm.practices:
            book.seed(
                "department",
                {"externalId": p.code, "name": p.name, **scoped},
                record_id=p.netsuite_department_id,
            )
        classes = {r.code: r.netsuite_class_id for r in firm.regions}
        for r in firm.regions:
            book.seed(
                "classification",
                {"externalId": r.code, "name": r.name, **scoped},
                record_id=r.netsuite_class_id,
            )
        self._seed_lists(entities, scoped)
        subsidiary_of = {e.code: e.netsuite_subsidiary_id for e in entities}
        for c in firm.consultants:
            if c.legal_entity not in subsidiary_of:
                continue
            fields: dict[str, Any] = {
                "externalId": c.id,
                "entityId": f"{c.first_name} {c.last_name}",
                "firstName": c.first_name,
                "lastName": c.last_name,
                "email": c.email,
                "title": c.role,
                "laborCost": float(c.cost_rate),
                "subsidiary": {"id": subsidiary_of[c.legal_entity]},
                "isInactive": False,
            }
            if c.practice in departments:
                fields["department"] = {"id": departments[c.practice]}
            if c.region in classes:
                fields["class"] = {"id": classes[c.region]}
            book.seed("employee", fields)
        self._seed_vendors(firm, subsidiary_of, currency_ids)
        for period in sorted(firm.accounting_periods, key=lambda p: p.period):
            book.seed_period(period.period)
            if period.status == "closed" and period.legal_entity in subsidiary_of:
                self.periods[(period.legal_entity, period.period)] = "closed"

    def _seed_rates(self, firm: Firm, currency_ids: dict[str, str]) -> None:
        """The firm's exchange rates between the account's currencies, as currency rates."""
        for r in firm.fx_rates:
            if r.base in currency_ids and r.currency in currency_ids:
                self.book.seed(
                    "currencyRate",
                    {
                        "baseCurrency": {"id": currency_ids[r.base]},
                        "transactionCurrency": {"id": currency_ids[r.currency]},
                        "exchangeRate": float(r.rate),
                        "effectiveDate": r.effective.isoformat(),
                    },
                )

    def _seed_vendors(
        self, firm: Firm, subsidiary_of: dict[str, str], currency_ids: dict[str, str]
    ) -> None:
        """The firm's vendors of NetSuite entities, keyed by the firm's vendor key."""
        for v in firm.vendors:
            if v.legal_entity in subsidiary_of:
                self.book.seed(
                    "vendor",
                    {
                        "externalId": v.id,
                        "entityId": v.name,
                        "companyName": v.name,
                        "email": v.email,
                        "subsidiary": {"id": subsidiary_of[v.legal_entity]},
                        "currency": {"id": currency_ids[v.currency]},
                        "isPerson": False,
                        "isInactive": False,
                    },
                )

    def _seed_lists(self, entities: list[LegalEntitySpec], scoped: dict[str, Any]) -> None:
        """Service items, expense categories and one office location per subsidiary.

        [inferred] ids and names: the sandbox account's own lists, which the firm's Accord
        configuration names (``SERVICE_ITEMS``, ``EXPENSE_CATEGORIES``). Items and categories
        are shared by every subsidiary; a location belongs to its subsidiary only.
        """
        for item_id, (code, name) in SERVICE_ITEMS.items():
            # SuiteQL's item table holds every item type; the connector reads the services
            # (``itemtype = 'Service'``).
            fields = {"itemId": code, "displayName": name, "itemType": "Service", **scoped}
            self.book.seed("serviceItem", fields, record_id=item_id)
        for category_id, name in EXPENSE_CATEGORIES.items():
            self.book.seed(
                "expenseCategory", {"name": name, "isInactive": False}, record_id=category_id
            )
        for e in entities:
            self.book.seed(
                "location",
                {
                    "externalId": f"LOC-{e.code}",
                    "name": f"{e.name} office",
                    "subsidiary": {"items": [{"id": e.netsuite_subsidiary_id}]},
                    "includeChildren": False,
                    "isInactive": False,
                },
            )

    def _now(self) -> datetime:
        # Late-bound so that replacing self.clock after construction takes effect.
        return self.clock()

    def _period_closed(self, subsidiary_id: str, day: str) -> bool:
        # Periods are opened/closed by legal-entity code; an unmapped id is its own code.
        code = self.subsidiary_codes.get(subsidiary_id, subsidiary_id)
        return self.period_status(code, day) == "closed"

    # ----------------------------------------------------------------- helpers
    def _authorize(self, request: Request) -> None:
        url = request.url
        default = {"http": 80, "https": 443}.get(url.scheme)
        host = (url.hostname or "").lower()
        port = f":{url.port}" if url.port is not None and url.port != default else ""
        raw_path = request.scope.get("raw_path", url.path.encode()).decode("ascii")
        query = request.scope.get("query_string", b"").decode("ascii")
        self.tokens.check(
            request.method,
            f"{url.scheme}://{host}{port}",
            raw_path + (f"?{query}" if query else ""),
            request.headers.get("authorization"),
        )

    @staticmethod
    def _type(record_type: str, *, write: bool = False) -> RecordType:
        rtype = RECORD_TYPES.get(record_type)
        if rtype is None:
            # [inferred] status, code and wording for an unknown record type.
            raise NetSuiteError.bad_param(f"Record type '{record_type}' does not exist.")
        if write and not rtype.writable:
            # Observed wording (reference 4.3); these lists are read-only in the sandbox.
            raise NetSuiteError.user(
                "Your current role does not have permission to perform this action."
            )
        return rtype

    @staticmethod
    async def _json(request: Request) -> object:
        try:
            return json.loads(await request.body() or b"null")
        except ValueError:
            # [inferred] wording for a body that is not JSON.
            raise NetSuiteError.user(
                ACCESS_PREFIX + "The request body is not valid JSON."
            ) from None

    def _page(
        self, request: Request, *, total: int, offset: int, limit: int, items: list[Any]
    ) -> dict[str, Any]:
        """The collection envelope of reference section 4.4 with first/prev/next/last/self links."""
        params = dict(request.query_params)

        def href(at: int) -> str:
            return f"{self.base_url}{request.url.path}?" + urlencode(
                {**params, "limit": limit, "offset": at}
            )

        links = []
        if offset > 0:
            links.append({"rel": "first", "href": href(0)})
            links.append({"rel": "prev", "href": href(max(0, offset - limit))})
        has_more = offset + len(items) < total
        if has_more:
            links.append({"rel": "next", "href": href(offset + limit)})
        links.append({"rel": "last", "href": href(max(0, (total - 1) // limit * limit))})
        query = request.url.query
        links.append(
            {
                "rel": "self",
                "href": f"{self.base_url}{request.url.path}" + (f"?{query}" if query else ""),
            }
        )
        return {
            "links": links,
            "count": len(items),
            "hasMore": has_more,
            "items": items,
            "offset": offset,
            "totalResults": total,
        }

    def _located(self, rtype: RecordType, record_id: str) -> Response:
        # Clients read the new internal id from Location: there is no body (reference 6, note 3).
        return Response(status_code=204, headers={"Location": self.book.url(rtype.name, record_id)})

    # ----------------------------------------------------------------- routes
    @override
    def add_routes(self, app: FastAPI) -> None:
        app.add_exception_handler(NetSuiteError, self._on_error)  # type: ignore[arg-type]
        app.add_exception_handler(StarletteHTTPException, self._on_http_error)  # type: ignore[arg-type]
        app.add_api_route(TOKEN_PATH, self.token, methods=["POST"])
        app.add_api_route(
            "/__sandbox/netsuite/m2m-certificates", self.upload_certificate, methods=["POST"]
        )
        app.add_api_route(SUITEQL_PATH, self.suiteql, methods=["POST"])
        # Before the record routes: "metadata-catalog" would otherwise read as a record type.
        app.add_api_route(
            f"{RECORD_PATH}/metadata-catalog/{{record_type}}", self.metadata, methods=["GET"]
        )
        app.add_api_route(f"{RECORD_PATH}/{{record_type}}", self.list_records, methods=["GET"])
        app.add_api_route(f"{RECORD_PATH}/{{record_type}}", self.create_record, methods=["POST"])
        item = f"{RECORD_PATH}/{{record_type}}/{{key}}"
        app.add_api_route(item, self.get_record, methods=["GET"])
        app.add_api_route(item, self.patch_record, methods=["PATCH"])
        app.add_api_route(item, self.put_record, methods=["PUT"])
        app.add_api_route(item, self.delete_record, methods=["DELETE"])
        app.add_api_route(f"{item}/{{sublist}}", self.get_sublist, methods=["GET"])

    async def _on_error(self, _request: Request, exc: NetSuiteError) -> Response:
        return exc.as_response()

    async def _on_http_error(self, request: Request, exc: StarletteHTTPException) -> Response:
        if not request.url.path.startswith("/services/"):
            return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
        # [inferred] unknown paths and methods answer in NetSuite's shape.
        return error_json(
            exc.status_code, [{"detail": str(exc.detail), "o:errorCode": "INVALID_PARAMETER"}]
        )

    async def token(self, request: Request) -> Response:
        """``POST /services/rest/auth/oauth2/v1/token`` (form-encoded, a JWT client assertion)."""
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        return JSONResponse(self.tokens.issue(fields))

    async def upload_certificate(self, request: Request) -> Response:
        """The sandbox's M2M setup: map ``{"certificate": PEM}`` to the integration."""
        body = await request.json()
        pem = body.get("certificate") if isinstance(body, dict) else None
        if not isinstance(pem, str):
            return JSONResponse({"detail": "give the certificate as PEM text"}, 400)
        try:
            certificate_id = self.tokens.upload_certificate(pem)
        except CertificateError as exc:
            return JSONResponse({"detail": str(exc)}, 400)
        return JSONResponse({"certificate_id": certificate_id}, 201)

    async def metadata(self, record_type: str, request: Request) -> Response:
        """``GET /record/v1/metadata-catalog/{type}`` as JSON Schema (``schema+json``).

        Properties are the record type's emulated fields plus the account's custom fields
        (:data:`~accord_sandbox.netsuite.records.CUSTOM_FIELDS`, ``x-ns-custom-field``).
        [inferred] Sublists are inlined as ``{sublist: {items: [{column: ...}]}}``; the real
        catalog may link their line schema instead.
        """
        self._authorize(request)
        rtype = self._type(record_type)
        return JSONResponse(json_schema(rtype), media_type="application/schema+json; charset=UTF-8")

    async def list_records(self, record_type: str, request: Request) -> Response:
        """``GET /record/v1/{type}?q=&limit=&offset=``: ids and self links, paged."""
        self._authorize(request)
        rtype = self._type(record_type)
        limit = _int_param(request, "limit", MAX_LIMIT, 1, MAX_LIMIT)
        offset = _int_param(request, "offset", 0, 0, 10**9)
        total, ids = self.book.page_ids(rtype, request.query_params.get("q"), offset, limit)
        items = [
            {"links": [{"rel": "self", "href": self.book.url(rtype.name, rid)}], "id": rid}
            for rid in ids
        ]
        return _resource(
            self._page(request, total=total, offset=offset, limit=limit, items=items),
            "collection",
        )

    async def create_record(self, record_type: str, request: Request) -> Response:
        """``POST /record/v1/{type}``: 204 + Location; a known externalId is refused."""
        self._authorize(request)
        rtype = self._type(record_type, write=True)
        rec = self.book.create(rtype, await self._json(request), names=_names(request))
        self.created(request, rtype.name, self.book.natural_key(rtype, rec), rec["id"])
        return self._located(rtype, rec["id"])

    async def get_record(self, record_type: str, key: str, request: Request) -> Response:
        """``GET /record/v1/{type}/{id|eid:X}`` (``?expandSubResources=true`` inlines sublists)."""
        self._authorize(request)
        rtype = self._type(record_type)
        rec = self.store.get(rtype.name, self.book.resolve(rtype, key))
        assert rec is not None  # resolve() guarantees it
        expand = request.query_params.get("expandSubResources", "").lower() == "true"
        return _resource(self.book.render(rtype, rec, expand=expand), "singular-resource")

    async def get_sublist(
        self, record_type: str, key: str, sublist: str, request: Request
    ) -> Response:
        """``GET /record/v1/{type}/{id}/{sublist}``: the sublist's lines as a collection."""
        self._authorize(request)
        rtype = self._type(record_type)
        rec = self.store.get(rtype.name, self.book.resolve(rtype, key))
        if rec is None or sublist not in rtype.sublists:
            raise NetSuiteError.not_found()
        return _resource(self.book.render_sublist(rtype, rec, sublist), "collection")

    async def patch_record(self, record_type: str, key: str, request: Request) -> Response:
        """``PATCH /record/v1/{type}/{id|eid:X}``: partial update, 204."""
        self._authorize(request)
        rtype = self._type(record_type, write=True)
        record_id = self.book.resolve(rtype, key)
        self.book.update(rtype, record_id, await self._json(request), names=_names(request))
        self.count_write(request)
        return Response(status_code=204)

    async def put_record(self, record_type: str, key: str, request: Request) -> Response:
        """``PUT /record/v1/{type}/eid:X``: upsert by external id, 204 + Location."""
        self._authorize(request)
        rtype = self._type(record_type, write=True)
        if not key.startswith("eid:"):
            # Reference 4.2: upsert works only with an external id in the URL. [inferred] answer.
            raise NetSuiteError.bad_param(
                "PUT is supported only with an external ID in the URL (eid:<externalId>)."
            )
        eid = key[4:]
        if not valid_eid(eid):
            raise NetSuiteError.bad_param(f"Invalid external ID: {eid}")
        body = await self._json(request)
        existing = self.book.eids.get(rtype.name, {}).get(eid)
        if existing is None:
            rec = self.book.create(rtype, body, external_id=eid, names=_names(request))
            self.created(request, rtype.name, self.book.natural_key(rtype, rec), rec["id"])
        else:
            # Reference 4.2: an existing record is updated with the given fields.
            if isinstance(body, dict):
                body = {**body, "externalId": eid}
            rec = self.book.update(rtype, existing, body, names=_names(request))
            self.count_write(request)
        return self._located(rtype, rec["id"])

    async def delete_record(self, record_type: str, key: str, request: Request) -> Response:
        """``DELETE /record/v1/{type}/{id|eid:X}``: 204."""
        self._authorize(request)
        rtype = self._type(record_type, write=True)
        self.book.delete(rtype, self.book.resolve(rtype, key))
        self.count_write(request)
        return Response(status_code=204)

    def _run_suiteql(self, q: object) -> list[dict[str, Any]]:
        if not isinstance(q, str):
            raise SuiteQLError("Invalid or unsupported search.")
        query = parse(q)
        columns = self.book.table_columns(query.table)
        if columns is None:
            # [inferred] wording for an unknown table.
            raise SuiteQLError(f"Record '{query.table}' was not found.")
        return execute(query, columns, self.book.table_rows(query.table))

    def _suiteql_rows(self, q: object, *, first_page: bool) -> list[dict[str, Any]]:
        """The query's rows; a later page reuses the first page's while nothing changed.

        Evaluating a query scans its whole table, so paging 100,000 rows by offset would
        scan it 100 times; NetSuite pages one result instead.
        """
        generation, now = self.store.generation, time.monotonic()
        if isinstance(q, str) and not first_page:
            cached = self._results.get(q)
            if cached is not None and cached[0] == generation and now - cached[1] < _RESULT_TTL_S:
                return cached[2]
        rows = self._run_suiteql(q)
        if isinstance(q, str):
            # Only the latest few queries are kept: pages of one query follow each other.
            while len(self._results) >= _RESULTS_KEPT:
                self._results.pop(next(iter(self._results)))
            self._results[q] = (generation, now, rows)
        return rows

    async def suiteql(self, request: Request) -> Response:
        """``POST /services/rest/query/v1/suiteql?limit=&offset=`` with ``Prefer: transient``."""
        self._authorize(request)
        if "transient" not in request.headers.get("prefer", "").lower():
            # [inferred] wording; the reference says the header is required.
            raise NetSuiteError(
                400,
                "INVALID_PARAMETER",
                "The Prefer: transient header is required for SuiteQL queries.",
                header="Prefer",
            )
        limit = _int_param(request, "limit", MAX_LIMIT, 1, MAX_LIMIT)
        offset = _int_param(request, "offset", 0, 0, 10**9)
        body = await self._json(request)
        q = body.get("q") if isinstance(body, dict) else None
        try:
            rows = self._suiteql_rows(q, first_page=offset == 0)
        except SuiteQLError as exc:
            # Reference 4.3: title "Invalid search query.", detail "Search error occurred: ...".
            raise NetSuiteError(
                400,
                "INVALID_PARAMETER",
                f"Search error occurred: {exc}",
                title="Invalid search query.",
            ) from None
        items = [
            {"links": [], **{k: format_value(v) for k, v in row.items() if v is not None}}
            for row in rows[offset : offset + limit]
        ]
        return _resource(
            self._page(request, total=len(rows), offset=offset, limit=limit, items=items),
            "collection",
        )
