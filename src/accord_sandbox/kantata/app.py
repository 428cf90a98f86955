"""The Kantata OX (Mavenlink) API v1 emulator: routes, writes, approvals and the event feed.

Follows ``shared/reference/saas-apis.md`` sections 3 and 6: bearer OAuth2, ``/api/v1/``
collections answered in the ``{count, results, <plural>, meta}`` envelope with string ids,
``page``/``per_page`` (<= 200) paging, ``{"errors": [...]}`` error bodies, external references
as the idempotency mechanism, ``PUT /timesheet_submissions/{id}/approve`` and the polled
``/subscribed_events`` feed. Field lists live in :mod:`~accord_sandbox.kantata.models`, business
rules in :mod:`~accord_sandbox.kantata.rules`; this module wires them to HTTP.
"""

import copy
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from typing_extensions import override

from accord_sandbox.common import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    Emulator,
    FaultSpec,
    business_key,
    retry_after_header,
    utc_now,
)
from accord_sandbox.firm import Firm
from accord_sandbox.kantata.auth import OAuthError, TokenIssuer
from accord_sandbox.kantata.delivery import after_change, seed_delivery
from accord_sandbox.kantata.events import EventLog, event_types
from accord_sandbox.kantata.forms import KantataError, format_timestamp, read_body
from accord_sandbox.kantata.listing import (
    apply_filters,
    envelope,
    order_records,
    paginate,
    parse_include,
)
from accord_sandbox.kantata.models import (
    RESOURCES,
    Resource,
    accord_reference,
    coerce_attributes,
    human_name,
    new_record,
)
from accord_sandbox.kantata.rules import PREPARERS, invoice_totals, subject_collection

__all__ = ["API_PREFIX", "MAX_BULK", "KantataEmulator"]

Record = dict[str, Any]
Handler = Callable[[Request], Awaitable[Response]]

RATE_PER_MINUTE = 1200
"""[inferred] Kantata's default request limit in the sandbox (see ``vendor_limits``)."""
API_PREFIX = "/api/v1"
"""Every Kantata resource lives under this prefix (each path also answers with ``.json``)."""
MAX_BULK = 100
"""Largest bulk create under the plural key (reference section 3.2)."""

_ADMIN_EMAIL = "integration@sandbox.invalid"
_PAGING = frozenset({"page", "per_page", "limit", "offset", "include"})
"""Parameters that choose a page of a listing, not the listing."""
_LISTING_TTL_S = 60.0
"""How long a listing serves its later pages (while no record changes)."""
_LISTINGS_KEPT = 16
_REF_KEYS = ("service_name", "service_model", "service_model_ref")
_BUSINESS_IDENTITY: dict[str, tuple[str, ...]] = {
    "time_entries": ("user_id", "workspace_id", "date_performed", "time_in_minutes", "notes"),
    "expenses": ("user_id", "workspace_id", "date", "category", "amount_in_cents", "notes"),
    "workspaces": ("primary_counterpart_id", "title"),
    "stories": ("workspace_id", "story_type", "title"),
    "invoices": ("workspace_ids", "time_entry_ids", "expense_ids", "fixed_fee_item_ids"),
}
"""Fields that make two records one business fact, by resource (issue 21, deliver 6)."""
_APPROVE_INCLUDES = "time_entries,user,workspace,external_references"
"""What the documented approve operation includes in its answer."""
_SUBMISSIONS = {
    "timesheet_submissions": ("time_entry_ids", "time_entries"),
    "expense_report_submissions": ("expense_ids", "expenses"),
}
"""Collections resolved by ``/approve`` and ``/reject``, and the lines each one locks."""


def _cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


class KantataEmulator(Emulator):
    """Kantata OX on its own port (default ``http://127.0.0.1:8802``).

    Attributes:
        auth: the registered application's OAuth 2.0 (authorization code grant; see
            :mod:`accord_sandbox.kantata.auth`).
        events: the ``/subscribed_events`` log; set ``events.duplicate_rate`` to 0 for a feed
            without re-deliveries, or to 1 to test de-duplication.
        clock: the time source for timestamps (inject a fixed clock in tests).
        admin_user_id: the user every token acts as (the integration's admin account).
    """

    name = "kantata"

    def __init__(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        seed: int = 7,
        base_url: str = "http://127.0.0.1:8802",
        limits: bool = True,
    ) -> None:
        self.auth = TokenIssuer(client_id, client_secret, seed)
        self.clock: Callable[[], datetime] = utc_now
        self.next_id = 1
        self.admin_user_id = ""
        self._firm: Firm | None = None
        self._listings: dict[
            tuple[str, tuple[tuple[str, str], ...]], tuple[int, float, list[Record]]
        ] = {}
        """Listing -> (store generation, when, ordered records): see :meth:`_listing`."""
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            seed=seed,
            base_url=base_url,
            limits=limits,
        )
        self.events = EventLog(self.rng)
        self.reset_state()

    # ----------------------------------------------------------------- Emulator hooks
    @override
    def vendor_limits(self) -> list[FaultSpec]:
        """[inferred] 1,200 requests per minute per account, in a sliding window.

        Kantata publishes no number; reference 3.3 says to emulate 429 with ``Retry-After``.
        The rate is above what one connection's default budget sends, so only a client that
        ignores its budget meets it.
        """
        return [FaultSpec(path=f"{API_PREFIX}/*", limit_per_window=RATE_PER_MINUTE, window_s=60.0)]

    @override
    def error_response(
        self, status: int, code: str, message: str, *, retry_after: float | None = None
    ) -> Response:
        """``{"errors": [{"type", "message"}]}``; ``type`` is ``system`` for injected faults.

        ``code`` (the framework's symbolic name) is not part of Kantata's shape and is dropped.
        """
        del code
        kind = {401: "authentication", 422: "validation"}.get(status, "system")
        body = {"errors": [{"type": kind, "message": message}]}
        return JSONResponse(body, status, headers=retry_after_header(retry_after))

    @override
    def throttle_response(self, *, retry_after: float) -> Response:
        """429 with ``Retry-After`` ([inferred]: Kantata publishes no rate-limit answer)."""
        return self.error_response(
            429, "TOO_MANY_REQUESTS", "Too Many Requests", retry_after=max(retry_after, 1.0)
        )

    @override
    def seed_firm(self, firm: Any) -> None:
        """Load the firm's consultants as users, plus their roles and one rate card per currency.

        Idempotent: users are matched by email, roles by name, rate cards by currency. The
        firm is remembered so that ``/__sandbox/reset`` re-seeds it.
        """
        self._firm = Firm.model_validate(firm)
        self._load_firm(self._firm)

    @override
    def reset_state(self) -> None:
        """Clear records and events, recreate the admin user, re-seed the last firm.

        Issued tokens survive a reset so that a running client keeps working.
        """
        super().reset_state()
        self.events.clear()
        self.next_id = 1
        admin = self.insert(
            "users",
            {
                "full_name": "Sandbox Integration",
                "email_address": _ADMIN_EMAIL,
                "headline": "Account Administrator",
                "currency": "USD",
            },
        )
        self.admin_user_id = admin["id"]
        # The sandbox admin registered the application: its page shows the admin's token.
        self.auth.register_owner(self.admin_user_id)
        if self._firm is not None:
            self._load_firm(self._firm)

    @override
    def dump_extra(self) -> dict[str, Any]:
        """Id counter, events, tokens and the seeded firm."""
        return {
            "next_id": self.next_id,
            "admin_user_id": self.admin_user_id,
            "events": self.events.dump(),
            "auth": self.auth.dump(),
            "firm": self._firm.model_dump(mode="json") if self._firm else None,
        }

    @override
    def load_extra(self, data: dict[str, Any]) -> None:
        """Restore :meth:`dump_extra`."""
        self.next_id = int(data.get("next_id", self.next_id))
        self.admin_user_id = str(data.get("admin_user_id", self.admin_user_id))
        self.events.load(data.get("events", {}))
        self.auth.load(data.get("auth", {}))
        firm = data.get("firm")
        self._firm = Firm.model_validate(firm) if firm else None

    # ----------------------------------------------------------------- state helpers
    def now(self) -> str:
        """The current timestamp in the API's format."""
        return format_timestamp(self.clock())

    def _new_id(self) -> str:
        # One counter across collections, so that an id used on the wrong collection 404s.
        record_id = str(self.next_id)
        self.next_id += 1
        return record_id

    def insert(self, plural: str, attrs: Record) -> Record:
        """Store a new record of ``plural`` (no event: seeding and rules' side records)."""
        record = new_record(RESOURCES[plural], self._new_id(), attrs, self.now())
        self.store.put(plural, record["id"], record)
        return record

    def _load_firm(self, firm: Firm) -> None:
        roles = {r["name"]: r for r in self.store.all("roles")}
        for name in sorted({c.role for c in firm.consultants}):
            if name not in roles:
                roles[name] = self.insert("roles", {"name": name})
        users = {u["email_address"]: u for u in self.store.all("users")}
        for c in firm.consultants:
            if c.email in users:
                continue
            users[c.email] = self.insert(
                "users",
                {
                    "full_name": f"{c.first_name} {c.last_name}",
                    "email_address": c.email,
                    "headline": c.role,
                    "role_id": roles[c.role]["id"],
                    "bill_rate_in_cents": _cents(c.bill_rate),
                    "cost_rate_in_cents": _cents(c.cost_rate),
                    "currency": c.currency,
                },
            )
        self._key_users(firm, users)
        seed_delivery(self, firm)
        cards = {card["currency"] for card in self.store.all("rate_cards")}
        for currency in sorted({c.currency for c in firm.consultants} - cards):
            first = not self.store.all("rate_cards")
            rates: dict[str, int] = {}
            for c in sorted(firm.consultants, key=lambda c: c.id):
                if c.currency == currency:
                    rates.setdefault(roles[c.role]["id"], _cents(c.bill_rate))
            self.insert(
                "rate_cards",
                {
                    "title": f"Standard {currency}",
                    "currency": currency,
                    "default": first,
                    "rates": [{"role_id": k, "rate_in_cents": v} for k, v in rates.items()],
                },
            )

    def _key_users(self, firm: Firm, users: dict[str, Record]) -> None:
        """Give each consultant's user the firm's consultant id as an external reference.

        [inferred]: stands for the firm's resource onboarding, which keys PSA users by the
        employee id its ERP uses (``service_name`` ``accord``, ``service_model`` ``resource``:
        what Accord's Kantata connection reads by default). Time-to-bill maps a time entry's
        user to the consultant through it.
        """
        keyed = {
            r["subject_id"]
            for r in self.store.all("external_references")
            if r["subject_type"] == "User" and r["service_model"] == "resource"
        }
        for c in firm.consultants:
            user = users[c.email]
            if user["id"] not in keyed:
                reference = accord_reference("User", user["id"], "resource", c.id)
                self.insert("external_references", reference)

    def _emit(self, resource: Resource, action: str, record: Record) -> None:
        self.events.emit(
            resource.event_model,
            action,
            resource.subject_type,
            record,
            self.clock(),
            user_id=self.admin_user_id,
        )

    def _get_or_404(self, plural: str, record_id: str) -> Record:
        record = self.store.get(plural, record_id)
        if record is None:
            raise KantataError.not_found()
        return record

    def touch(self, plural: str, record: Record, changes: Record) -> Record:
        """Change a stored record and emit its ``updated`` event."""
        record.update(changes)
        record["updated_at"] = self.now()
        self.store.put(plural, record["id"], record)
        self._emit(RESOURCES[plural], "updated", record)
        return record

    def _included(
        self, resource: Resource, records: list[Record], raw: str | None
    ) -> dict[str, dict[str, Record]]:
        out: dict[str, dict[str, Record]] = {}
        ids = {r["id"] for r in records}
        for name in parse_include(resource, raw):
            if name == "external_references":
                out["external_references"] = {
                    ref["id"]: ref
                    for ref in self.store.all("external_references")
                    if ref["subject_type"] == resource.subject_type and ref["subject_id"] in ids
                }
                continue
            field_name, target = resource.includes[name]
            bucket = out.setdefault(target, {})
            for record in records:
                value = record.get(field_name)
                for linked_id in value if isinstance(value, list) else [value]:
                    linked = self.store.get(target, str(linked_id)) if linked_id else None
                    if linked is not None:
                        bucket[linked["id"]] = linked
        return out

    def _answer(
        self, resource: Resource, records: list[Record], include: str | None
    ) -> dict[str, Any]:
        return envelope(
            resource.plural, records, included=self._included(resource, records, include)
        )

    # ----------------------------------------------------------------- routes
    @override
    def add_routes(self, app: FastAPI) -> None:
        """Register OAuth, every collection, approvals, the event feed and error handlers."""
        app.add_exception_handler(KantataError, self._kantata_error)  # type: ignore[arg-type]
        app.add_exception_handler(StarletteHTTPException, self._http_error)  # type: ignore[arg-type]
        app.add_exception_handler(RequestValidationError, self._validation_error)  # type: ignore[arg-type]
        app.add_api_route("/oauth/authorize", self._authorize, methods=["GET"])
        app.add_api_route("/oauth/token", self._token, methods=["POST"])
        app.add_api_route("/__sandbox/oauth/application", self._application, methods=["GET"])
        app.add_api_route("/__sandbox/oauth/revoke", self._revoke, methods=["POST"])
        for resource in RESOURCES.values():
            self._collection_routes(app, resource)
        for plural in _SUBMISSIONS:
            for action in ("approve", "reject"):
                self._api_route(
                    app, "PUT", f"/{plural}/{{record_id}}/{action}", self._resolver(plural, action)
                )
        self._api_route(app, "GET", "/subscribed_events", self._subscribed_events)
        self._api_route(app, "GET", "/subscribed_event_types", self._subscribed_event_types)

    def _api_route(self, app: FastAPI, method: str, path: str, handler: Handler) -> None:
        # ``.json`` first: ``{record_id}`` would otherwise swallow ``10.json``.
        name = f"{method.lower()}{path.replace('/', '_').replace('{', '').replace('}', '')}"
        app.add_api_route(
            f"{API_PREFIX}{path}.json",
            handler,
            methods=[method],
            name=f"{name}_json",
            include_in_schema=False,
        )
        app.add_api_route(f"{API_PREFIX}{path}", handler, methods=[method], name=name)

    def _collection_routes(self, app: FastAPI, resource: Resource) -> None:
        plural = resource.plural

        async def list_(request: Request) -> Response:
            return self._list(request, resource)

        async def show(request: Request) -> Response:
            return self._show(request, resource)

        async def create(request: Request) -> Response:
            return await self._create(request, resource)

        async def update(request: Request) -> Response:
            return await self._update(request, resource)

        async def delete(request: Request) -> Response:
            return self._delete(request, resource)

        self._api_route(app, "GET", f"/{plural}", list_)
        self._api_route(app, "GET", f"/{plural}/{{record_id}}", show)
        if resource.creatable:
            self._api_route(app, "POST", f"/{plural}", create)
        if resource.updatable:
            self._api_route(app, "PUT", f"/{plural}/{{record_id}}", update)
        if resource.deletable:
            self._api_route(app, "DELETE", f"/{plural}/{{record_id}}", delete)

    # ----------------------------------------------------------------- error handlers
    async def _kantata_error(self, request: Request, exc: KantataError) -> Response:
        del request
        return JSONResponse({"errors": exc.errors}, exc.status, headers=exc.headers)

    async def _http_error(self, request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/__sandbox/"):
            return await http_exception_handler(request, exc)
        message = {404: "Not Found", 405: "Method Not Allowed"}.get(
            exc.status_code, str(exc.detail)
        )
        return self.error_response(exc.status_code, "HTTP", message)

    async def _validation_error(self, request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith("/__sandbox/"):
            return await request_validation_exception_handler(request, exc)
        return self.error_response(422, "VALIDATION", "Invalid request")

    # ----------------------------------------------------------------- OAuth
    async def _authorize(self, request: Request) -> Response:
        """The consent page; the sandbox user (the admin) answers at once."""
        params = dict(request.query_params)
        try:
            query = self.auth.authorize(params, self.admin_user_id)
        except OAuthError as exc:
            return JSONResponse(exc.body(), exc.status)
        separator = "&" if "?" in params["redirect_uri"] else "?"
        return RedirectResponse(f"{params['redirect_uri']}{separator}{urlencode(query)}", 302)

    async def _token(self, request: Request) -> Response:
        try:
            form = await read_body(request)
            token = self.auth.exchange(form)
        except OAuthError as exc:
            return JSONResponse(exc.body(), exc.status)
        return JSONResponse(token, headers={"Cache-Control": "no-store"})

    async def _application(self) -> Response:
        """The sandbox's application page: client id, callback URIs and the owner's token."""
        return JSONResponse(
            {
                "client_id": self.auth.client_id,
                "redirect_uris": sorted(self.auth.redirect_uris),
                "oauth_token": self.auth.application_token,
            }
        )

    async def _revoke(self) -> Response:
        """The user revokes the application's access (its own page token stays)."""
        self.auth.revoke()
        return Response(status_code=204)

    def _user(self, request: Request) -> str:
        return self.auth.user_for(request.headers.get("authorization"))

    # ----------------------------------------------------------------- reads
    def _list(self, request: Request, resource: Resource) -> Response:
        self._user(request)
        params = dict(request.query_params)
        page = paginate(self._listing(resource, params), params)
        included = self._included(resource, page.records, params.get("include"))
        return JSONResponse(envelope(resource.plural, page.records, page=page, included=included))

    def _listing(self, resource: Resource, params: dict[str, str]) -> list[Record]:
        """The records of a listing, filtered and ordered.

        Filtering scans the whole collection, so paging through 70,000 time entries 200 at
        a time would scan it hundreds of times: a later page is cut from the listing its
        first page computed while no record changed since ([inferred]: Kantata pages one
        result).
        """
        key = (
            resource.plural,
            tuple(sorted((k, v) for k, v in params.items() if k not in _PAGING)),
        )
        generation, now = self.store.generation, time.monotonic()
        first = params.get("page", "1") in ("", "1") and params.get("offset", "0") in ("", "0")
        cached = self._listings.get(key)
        if not first and cached and cached[0] == generation and now - cached[1] < _LISTING_TTL_S:
            return cached[2]
        rows = apply_filters(
            resource,
            self.store.all(resource.plural),
            params,
            self.store.all("external_references"),
        )
        ordered = order_records(resource, rows, params.get("order"))
        while len(self._listings) >= _LISTINGS_KEPT:
            self._listings.pop(next(iter(self._listings)))
        self._listings[key] = (generation, now, ordered)
        return ordered

    def _show(self, request: Request, resource: Resource) -> Response:
        user_id = self._user(request)
        record_id = request.path_params["record_id"]
        if resource.plural == "users" and record_id == "me":
            record_id = user_id
        record = self._get_or_404(resource.plural, record_id)
        return JSONResponse(self._answer(resource, [record], request.query_params.get("include")))

    # ----------------------------------------------------------------- writes
    def _items(self, resource: Resource, body: Record) -> list[Record]:
        if isinstance(body.get(resource.plural), list):
            items = body[resource.plural]
            if not 0 < len(items) <= MAX_BULK:
                raise KantataError.invalid(
                    f"Bulk create takes between 1 and {MAX_BULK} {resource.plural}",
                    resource.plural,
                )
        elif isinstance(body.get(resource.singular), dict):
            items = [body[resource.singular]]
        else:
            # [inferred]: Rails answers a missing root key with ParameterMissing; 422 keeps one
            # "fix the payload" status for clients.
            raise KantataError.invalid(
                f"param is missing or the value is empty: {resource.singular}", resource.singular
            )
        if not all(isinstance(i, dict) for i in items):
            raise KantataError.invalid(f"Each of {resource.plural} must be an object")
        return list(items)

    def _prepare(
        self, resource: Resource, raw: Record, existing: Record | None, user_id: str
    ) -> Record:
        attrs, errors = coerce_attributes(resource, raw, creating=existing is None)
        if errors:
            raise KantataError(422, errors)
        return PREPARERS[resource.plural](self.store, attrs, existing, user_id)

    @staticmethod
    def _embedded_refs(raw: Record) -> list[Record]:
        """External references sent inside a create ([inferred] nesting; see docs)."""
        refs = raw.get("external_references") or raw.get("external_reference") or []
        refs = [refs] if isinstance(refs, dict) else refs
        if not isinstance(refs, list) or not all(
            isinstance(r, dict) and all(r.get(k) for k in _REF_KEYS) for r in refs
        ):
            raise KantataError.invalid(
                "External references need service_name, service_model and service_model_ref",
                "external_references",
            )
        return refs

    def _natural_key(self, resource: Resource, record: Record, refs: list[Record]) -> list[str]:
        """The external reference a record is created with, and its business identity.

        The business identity (issue 21) makes two records one fact whatever their external
        references: :data:`_BUSINESS_IDENTITY` lists its fields per resource.
        """
        keys = ["ref:" + ":".join(str(refs[0][k]) for k in _REF_KEYS)] if refs else []
        fields = _BUSINESS_IDENTITY.get(resource.plural)
        values = [record.get(f) for f in fields or ()]
        # An invoice of nothing is no business fact yet.
        if fields and not (resource.plural == "invoices" and not any(values[1:])):
            # Optional parts (notes, counterpart) count as "-" when blank; lists as sorted sets.
            key = business_key(
                *(
                    (",".join(sorted(map(str, v))) if isinstance(v, list) else v) or "-"
                    for v in values
                )
            )
            if key is not None:
                keys.append(key)
        return keys

    async def _create(self, request: Request, resource: Resource) -> Response:
        user_id = self._user(request)
        items = self._items(resource, await read_body(request))
        if resource.plural == "external_references":
            return self._upsert_references(request, items)
        # Validate the whole batch before writing any of it, so a 422 leaves nothing behind.
        prepared: list[tuple[Record, list[Record]]] = []
        errors: list[dict[str, str]] = []
        for raw in items:
            try:
                refs = self._embedded_refs(raw)
                prepared.append((self._prepare(resource, raw, None, user_id), refs))
            except KantataError as exc:
                errors.extend(exc.errors)
        if errors:
            raise KantataError(422, errors)
        created = [self._commit_create(request, resource, attrs, refs) for attrs, refs in prepared]
        return JSONResponse(self._answer(resource, created, request.query_params.get("include")))

    def _commit_create(
        self, request: Request, resource: Resource, attrs: Record, refs: list[Record]
    ) -> Record:
        if resource.plural in _SUBMISSIONS:
            attrs["submitted_at"] = self.now()
        elif resource.plural == "invoices":
            full = {**{n: s.default for n, s in resource.fields.items()}, **attrs}
            attrs["subtotal"] = attrs["total"] = f"{invoice_totals(self.store, full):.2f}"
        record = self.insert(resource.plural, attrs)
        self.created(
            request, resource.plural, self._natural_key(resource, record, refs), record["id"]
        )
        self._emit(resource, "created", record)
        for ref in refs:
            ref_attrs, _ = coerce_attributes(
                RESOURCES["external_references"],
                {**ref, "subject_type": resource.subject_type, "subject_id": record["id"]},
                creating=True,
            )
            ref_record = self.insert("external_references", ref_attrs)
            self._emit(RESOURCES["external_references"], "created", ref_record)
        self._after_create(resource, record)
        return record

    def _after_create(self, resource: Resource, record: Record) -> None:
        """Effects of a create on other records (each one an ``updated`` event)."""
        if resource.plural == "stories" and record["parent_id"]:
            parent = self.store.get("stories", record["parent_id"]) or {}
            self.touch(
                "stories", parent, {"sub_story_ids": [*parent["sub_story_ids"], record["id"]]}
            )
        elif resource.plural == "timesheet_submissions":
            for entry_id in record["time_entry_ids"]:
                entry = self.store.get("time_entries", entry_id) or {}
                # Submitted time is locked until the submission is rejected.
                self.touch(
                    "time_entries",
                    entry,
                    {"active_submission_id": record["id"], "user_can_edit": False},
                )
        elif resource.plural == "expense_report_submissions":
            for expense_id in record["expense_ids"]:
                expense = self.store.get("expenses", expense_id) or {}
                self.touch("expenses", expense, {"expense_report_id": record["id"]})
        elif resource.plural == "invoices":
            self._mark_invoiced(record, invoiced=True)
        after_change(self, resource, record, None, "created")

    def _mark_invoiced(self, invoice: Record, *, invoiced: bool) -> None:
        for name, plural in (("time_entry_ids", "time_entries"), ("expense_ids", "expenses")):
            for line_id in invoice[name]:
                line = self.store.get(plural, line_id)
                if line is not None and line["is_invoiced"] != invoiced:
                    self.touch(plural, line, {"is_invoiced": invoiced})

    def _upsert_references(self, request: Request, items: list[Record]) -> Response:
        """Create or update by (subject, service_name, service_model) ([inferred] match key)."""
        resource = RESOURCES["external_references"]
        answered: list[Record] = []
        for raw in items:
            attrs, errors = coerce_attributes(resource, raw, creating=True)
            if errors:
                raise KantataError(422, errors)
            PREPARERS[resource.plural](self.store, attrs, None, "")
            match_on = ("subject_type", "subject_id", "service_name", "service_model")
            existing = next(
                (
                    r
                    for r in self.store.all(resource.plural)
                    if all(r[k] == attrs[k] for k in match_on)
                ),
                None,
            )
            if existing is None:
                record = self.insert(resource.plural, attrs)
                key = "ref:" + ":".join(str(attrs[k]) for k in _REF_KEYS)
                self.created(request, resource.plural, key, record["id"])
                self._emit(resource, "created", record)
            else:
                self.count_write(request)
                record = self.touch(resource.plural, existing, attrs)
            answered.append(record)
        return JSONResponse(self._answer(resource, answered, request.query_params.get("include")))

    async def _update(self, request: Request, resource: Resource) -> Response:
        user_id = self._user(request)
        record = self._get_or_404(resource.plural, request.path_params["record_id"])
        body = await read_body(request)
        raw = body.get(resource.singular)
        if not isinstance(raw, dict):
            raise KantataError.invalid(
                f"param is missing or the value is empty: {resource.singular}", resource.singular
            )
        before = copy.deepcopy(record)
        attrs = self._prepare(resource, raw, copy.deepcopy(record), user_id)
        old_parent = record.get("parent_id")
        self.count_write(request)
        self.touch(resource.plural, record, attrs)
        after_change(self, resource, record, before, "updated")
        if resource.plural == "stories" and record["parent_id"] != old_parent:
            self._relink_story(record, old_parent)
        if resource.plural == "invoices" and attrs.get("status") == "void":
            self._mark_invoiced(record, invoiced=False)
        return JSONResponse(self._answer(resource, [record], request.query_params.get("include")))

    def _relink_story(self, story: Record, old_parent_id: str | None) -> None:
        old = self.store.get("stories", old_parent_id) if old_parent_id else None
        if old is not None:
            kept = [i for i in old["sub_story_ids"] if i != story["id"]]
            self.touch("stories", old, {"sub_story_ids": kept})
        new = self.store.get("stories", story["parent_id"]) if story["parent_id"] else None
        if new is not None:
            self.touch("stories", new, {"sub_story_ids": [*new["sub_story_ids"], story["id"]]})

    def _delete(self, request: Request, resource: Resource) -> Response:
        self._user(request)
        record = self._get_or_404(resource.plural, request.path_params["record_id"])
        if not record.get("user_can_edit", True) or record.get("is_invoiced"):
            raise KantataError.invalid(
                f"{resource.subject_type} is locked by an approved, submitted or invoiced record"
            )
        if resource.plural == "stories":
            # Detach from the parent; sub-stories are kept as top-level stories [inferred].
            self._relink_story({**record, "parent_id": None}, record["parent_id"])
            for child_id in record["sub_story_ids"]:
                child = self.store.get("stories", child_id)
                if child is not None:
                    self.touch("stories", child, {"parent_id": None})
        self.store.delete(resource.plural, record["id"])
        self.count_write(request)
        self._emit(resource, "deleted", record)
        after_change(self, resource, record, None, "deleted")
        for ref in self.store.all("external_references"):
            # [inferred]: Kantata drops a deleted subject's external references with it.
            if ref["subject_type"] == resource.subject_type and ref["subject_id"] == record["id"]:
                self.store.delete("external_references", ref["id"])
        return Response(status_code=204)

    # ----------------------------------------------------------------- approvals
    def _resolver(self, plural: str, action: str) -> Handler:
        async def resolve(request: Request) -> Response:
            return await self._resolve(request, plural, action)

        return resolve

    async def _resolve(self, request: Request, plural: str, action: str) -> Response:
        """``PUT /timesheet_submissions/{id}/approve`` (documented) or ``/reject`` ([inferred]).

        ``/expense_report_submissions/{id}/approve`` and ``/reject`` work alike ([inferred]).
        """
        self._user(request)
        submission = self._get_or_404(plural, request.path_params["record_id"])
        body = await read_body(request)
        resolution = body.get("resolution") if isinstance(body.get("resolution"), dict) else {}
        if submission["status"] != "pending":
            label = human_name(RESOURCES[plural].singular)
            raise KantataError.invalid(f"{label} has already been {submission['status']}", "status")
        approved = action == "approve"
        ids_field, lines = _SUBMISSIONS[plural]
        for line_id in submission[ids_field]:
            line = self.store.get(lines, line_id)
            if line is None:
                continue
            # Approved lines stay locked; rejected ones go back to their owner for editing.
            changes: Record
            if lines == "time_entries":
                changes = (
                    {"approved": True, "user_can_edit": False}
                    if approved
                    else {"active_submission_id": None, "user_can_edit": True}
                )
            else:
                changes = {"approved": True} if approved else {"expense_report_id": None}
            self.touch(lines, line, changes)
        self.count_write(request)
        self.touch(
            plural,
            submission,
            {
                "status": "approved" if approved else "rejected",
                "resolved_at": self.now(),
                "resolution": {"description": str((resolution or {}).get("description") or "")},
            },
        )
        default = _APPROVE_INCLUDES if lines == "time_entries" else "expenses,user,workspace"
        include = request.query_params.get("include") or default
        return JSONResponse(self._answer(RESOURCES[plural], [submission], include))

    # ----------------------------------------------------------------- event feed
    async def _subscribed_events(self, request: Request) -> Response:
        self._user(request)
        params = dict(request.query_params)
        page = paginate(self.events.query(params, self.clock()), params)
        rows: list[Record] = []
        for event in page.records:
            plural = subject_collection(event["subject_type"])
            current = self.store.get(plural, event["subject_id"]) if plural else None
            rows.append({**event, "current_payload": copy.deepcopy(current)})
        return JSONResponse(envelope("subscribed_events", rows, page=page))

    async def _subscribed_event_types(self, request: Request) -> Response:
        """Types and a field list per model ([inferred] schema shape)."""
        self._user(request)
        models = [r for r in RESOURCES.values() if r.creatable or r.updatable]
        return JSONResponse(
            {
                "subscribed_event_types": event_types([r.event_model for r in models]),
                "subscribed_event_type_schemas": {
                    r.event_model: {"subject_type": r.subject_type, "fields": ["id", *r.fields]}
                    for r in models
                },
            }
        )
