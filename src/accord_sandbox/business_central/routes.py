"""HTTP routes of the Business Central emulator (reference section 5).

- ``POST /{tenant}/oauth2/v2.0/token``: Entra ID client credentials.
- ``/v2.0/{tenant}/{environment}/api/v2.0/companies`` and, under ``companies({id})/``, one
  set of OData routes per entity set in ``entities.ENTITY_SETS`` (lines also nested under
  their header), the bound ``Microsoft.NAV.*`` actions, ``api/v2.0/subscriptions`` and
  ``api/v2.0/$batch`` (:mod:`.batch`).

Handlers only translate HTTP to calls on the emulator and :mod:`.rules`; every refusal
is raised as :class:`BCError` / :class:`ODataError` and answered in BC's error shape.
"""

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from accord_sandbox.business_central import delivery, rules
from accord_sandbox.business_central.batch import handle_batch
from accord_sandbox.business_central.entities import (
    COMPANIES,
    ENTITY_SETS,
    EntitySet,
    Prop,
    make_etag,
    normalize_number,
)
from accord_sandbox.business_central.errors import BCError
from accord_sandbox.business_central.odata import (
    ODataError,
    decode_skiptoken,
    encode_skiptoken,
    equality_lookup,
    evaluate,
    parse_filter,
    parse_list,
    parse_orderby,
    sort_records,
)

if TYPE_CHECKING:
    from accord_sandbox.business_central.emulator import BusinessCentralEmulator

__all__ = ["API_ROOT", "register"]

API_ROOT = "/v2.0/{tenant}/{environment}/api/v2.0"
"""Route template of the standard API root (reference 5.1)."""
Record = dict[str, Any]
Handler = Callable[[Request], Awaitable[Response]]

_TYPES = {
    "string": (str,),
    "decimal": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "date": (str,),
    "datetime": (str,),
    "guid": (str,),
}


def register(emu: "BusinessCentralEmulator", app: FastAPI) -> None:
    """Add every BC route to ``app``."""
    _Routes(emu).register(app)


class _Routes:
    def __init__(self, emu: "BusinessCentralEmulator") -> None:
        self.emu = emu

    # ----------------------------------------------------------------- plumbing
    def wrap(self, fn: Handler) -> Handler:
        """Authenticate, check tenant/environment, and answer errors in BC's shape."""

        async def endpoint(request: Request) -> Response:
            try:
                self.guard(request)
                return await fn(request)
            except BCError as exc:
                return self.emu.error_response(exc.status, exc.code, exc.message)
            except ODataError as exc:
                return self.emu.error_response(400, "BadRequest", str(exc))

        return endpoint

    def guard(self, request: Request) -> None:
        # The token's audience and roles are checked as the auth module's docstring cites.
        refusal = self.emu.entra.api_refusal(request.headers.get("authorization"))
        if refusal is not None:
            # 401 code from reference 5.2 ([inferred] there).
            raise BCError(401, "Authentication_InvalidCredentials", refusal)
        params = request.path_params
        if (
            params.get("tenant") != self.emu.tenant
            or params.get("environment") != self.emu.environment
        ):
            raise BCError(
                404,
                "BadRequest_NotFound",
                f"Environment '{params.get('environment')}' of tenant '{params.get('tenant')}' "
                "was not found.",
            )

    def route(self, app: FastAPI, path: str, method: str, fn: Handler, status: int = 200) -> None:
        app.add_api_route(
            API_ROOT + path,
            self.wrap(fn),
            methods=[method],
            status_code=status,
            include_in_schema=False,
        )

    def api_url(self, request: Request) -> str:
        p = request.path_params
        return f"{self.emu.base_url}/v2.0/{p['tenant']}/{p['environment']}/api/v2.0"

    @staticmethod
    async def body(request: Request) -> Record:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise BCError(400, "BadRequest", "The request body is not valid JSON.") from exc
        if not isinstance(data, dict):
            raise BCError(400, "BadRequest", "The request body must be a JSON object.")
        return data

    @staticmethod
    def check_if_match(request: Request, record: Record) -> None:
        header = request.headers.get("if-match")
        if not header:
            # What BC answers without If-Match (microsoft/AL#1740; code in reference 5.2).
            raise BCError(
                400,
                "BadRequest_InvalidToken",
                "Could not validate the client concurrency token required by the service. "
                "Please provide a valid token in the client request.",
            )
        if header.strip() == "*":
            return
        current = str(record.get("@odata.etag", "")).removeprefix("W/")
        if header.strip().removeprefix("W/") != current:
            # 409 and the text are [inferred] in reference 5.2 (BC uses 409, not 412).
            raise BCError(
                409, "Request_EntityChanged", "Another user has already changed the record."
            )

    def coerce(self, spec: EntitySet, body: Record) -> Record:
        """Validate the client's property values; read-only and annotation keys are dropped."""
        values: Record = {}
        for key, value in body.items():
            if key.startswith("@") or key in spec.expand:
                continue
            prop = spec.prop(key)
            if prop is None:
                # OData library wording [inferred].
                raise BCError(
                    400,
                    "BadRequest",
                    f"The property '{key}' does not exist on type "
                    f"'Microsoft.NAV.{spec.type_name}'. Make sure to only use property names "
                    "that are defined by the type.",
                )
            if prop.read_only:
                continue
            values[key] = _coerce_value(prop, value)
        return values

    # ----------------------------------------------------------------- registration
    def register(self, app: FastAPI) -> None:
        app.add_api_route(
            "/{tenant}/oauth2/v2.0/token", self.token, methods=["POST"], include_in_schema=False
        )
        app.add_exception_handler(StarletteHTTPException, self.http_error)
        self.route(app, "/$batch", "POST", self.batch)
        self.route(app, "/companies", "GET", self.list_companies)
        self.route(app, "/companies({company_id})", "GET", self.get_company)
        self.route(app, "/subscriptions", "GET", self.list_subscriptions)
        self.route(app, "/subscriptions", "POST", self.create_subscription, 201)
        self.route(app, "/subscriptions({sub_id})", "GET", self.get_subscription)
        self.route(app, "/subscriptions({sub_id})", "PATCH", self.renew_subscription)
        self.route(app, "/subscriptions({sub_id})", "DELETE", self.delete_subscription, 204)
        company = "/companies({company_id})"
        actions: list[tuple[str, str, Callable[..., rules.Touched]]] = [
            ("salesInvoices", "post", rules.post_invoice),
            ("salesInvoices", "postAndSend", rules.post_invoice),
            ("salesInvoices", "cancel", rules.cancel_invoice),
            ("salesInvoices", "cancelAndSend", rules.cancel_invoice),
            ("journals", "post", rules.post_journal),
            ("customerPaymentJournals", "post", rules.post_payment_journal),
            ("purchaseInvoices", "post", delivery.post_purchase_invoice),
        ]
        for set_name, action, rule in actions:
            path = f"{company}/{set_name}({{record_id}})/Microsoft.NAV.{action}"
            self.route(app, path, "POST", self.action(ENTITY_SETS[set_name], rule), 204)
        for spec in ENTITY_SETS.values():
            base = f"{company}/{spec.name}"
            self.route(app, base, "GET", self.list_(spec))
            self.route(app, base + "({record_id})", "GET", self.get(spec))
            if spec.writable:
                self.route(app, base + "({record_id})", "PATCH", self.patch(spec))
                self.route(app, base + "({record_id})", "DELETE", self.delete(spec), 204)
            if spec.parent is not None:
                nested = f"{company}/{spec.parent}({{parent_id}})/{spec.name}"
                self.route(app, nested, "GET", self.list_(spec))
                self.route(app, nested + "({record_id})", "GET", self.get(spec))
                if spec.writable:
                    self.route(app, nested, "POST", self.create(spec), 201)
                    self.route(app, nested + "({record_id})", "PATCH", self.patch(spec))
                    self.route(app, nested + "({record_id})", "DELETE", self.delete(spec), 204)
            elif spec.writable:
                self.route(app, base, "POST", self.create(spec), 201)
        # Without companies({id}) BC cannot pick a company (reference 5.1). The status is
        # [inferred]; ?company= is not emulated and gets the same answer.
        self.route(app, "/{entity_set}", "GET", self.no_company)
        self.route(app, "/{entity_set}", "POST", self.no_company)

    async def http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
        if status == 405:
            code, text = (
                "BadRequest_MethodNotAllowed",
                f"'{request.method}' requests are not allowed here.",
            )
        else:
            code, text = (
                "BadRequest_NotFound",
                f"No HTTP resource was found that matches the request URI '{request.url}'.",
            )
        return self.emu.error_response(status, code, text)

    # ----------------------------------------------------------------- auth
    async def token(self, request: Request) -> Response:
        """Entra ID client credentials (reference 5.1), with a secret or a certificate."""
        form = await request.form()
        fields = {k: str(v) for k, v in form.items()}
        return self.emu.entra.token(request.path_params["tenant"], fields)

    async def batch(self, request: Request) -> Response:
        """``$batch``: see :mod:`accord_sandbox.business_central.batch`."""
        return await handle_batch(self.emu, request, await self.body(request))

    # ----------------------------------------------------------------- companies
    async def list_companies(self, request: Request) -> Response:
        rows = self.emu.store.all("companies")
        context = f"{self.api_url(request)}/$metadata#companies"
        return self.collection(request, COMPANIES, rows, context, None)

    async def get_company(self, request: Request) -> Response:
        rec = self.emu.company(request.path_params["company_id"])
        context = f"{self.api_url(request)}/$metadata#companies/$entity"
        return JSONResponse(self.entity(request, COMPANIES, rec, context, None))

    async def no_company(self, request: Request) -> Response:
        raise BCError(
            400,
            "Internal_CompanyNotFound",
            "Cannot process the request because the default company cannot be found. You can "
            "specify a default company in the service configuration file, or specify a company "
            "in the URL: companies({id})/" + request.path_params["entity_set"],
        )

    # ----------------------------------------------------------------- collections
    def scope(self, request: Request, spec: EntitySet) -> tuple[str, Record | None]:
        """(company id, parent record or None), both checked to exist."""
        cid = self.emu.company(request.path_params["company_id"])["id"]
        parent_id = request.path_params.get("parent_id")
        if parent_id is None or spec.parent is None:
            return cid, None
        return cid, self.emu.find(ENTITY_SETS[spec.parent], cid, parent_id)

    def context(self, request: Request, spec: EntitySet, cid: str, parent: Record | None) -> str:
        path = f"companies({cid})/"
        if parent is not None and spec.parent:
            path += f"{spec.parent}({parent['id']})/"
        return f"{self.api_url(request)}/$metadata#{path}{spec.name}"

    def list_(self, spec: EntitySet) -> Handler:
        async def handler(request: Request) -> Response:
            cid, parent = self.scope(request, spec)
            rows: list[Record] | None = None
            text = request.query_params.get("$filter")
            if text:
                probe = equality_lookup(
                    parse_filter(text, spec.names, spec.type_name), spec.indexed
                )
                if probe is not None:
                    rows = self.emu.candidates(spec, cid, *probe)
            if rows is None:
                rows = self.emu.records(spec, cid)
            if parent is not None and spec.parent_key:
                rows = [r for r in rows if r.get(spec.parent_key) == parent["id"]]
            context = self.context(request, spec, cid, parent)
            return self.collection(request, spec, rows, context, cid)

        return handler

    def collection(
        self, request: Request, spec: EntitySet, rows: list[Record], context: str, cid: str | None
    ) -> Response:
        q = request.query_params
        views = [self.emu.view(spec, r) for r in rows]
        if q.get("$filter"):
            expr = parse_filter(q["$filter"], spec.names, spec.type_name)
            views = [v for v in views if evaluate(expr, v)]
        if q.get("$orderby"):
            views = sort_records(views, parse_orderby(q["$orderby"], spec.names, spec.type_name))
        skip, top = _int_option(q.get("$skip"), "$skip"), _int_option(q.get("$top"), "$top")
        window = views[skip or 0 :]
        if top is not None:
            window = window[:top]
        offset = decode_skiptoken(q["$skiptoken"]) if q.get("$skiptoken") else 0
        page = window[offset : offset + self.emu.page_size]
        select, expand = self.shape_options(request, spec)
        body: Record = {
            "@odata.context": context,
            "value": [self.shape(spec, v, select, expand, cid) for v in page],
        }
        if offset + self.emu.page_size < len(window):
            # Server-driven paging: same options plus an opaque $skiptoken (reference 5.2).
            params = [(k, v) for k, v in q.multi_items() if k != "$skiptoken"]
            params.append(("$skiptoken", encode_skiptoken(offset + self.emu.page_size)))
            query = urlencode(params, safe="$,()'", quote_via=quote)
            body["@odata.nextLink"] = f"{self.emu.base_url}{request.url.path}?{query}"
        return JSONResponse(body)

    def shape_options(
        self, request: Request, spec: EntitySet
    ) -> tuple[list[str] | None, list[str]]:
        q = request.query_params
        select = parse_list(q["$select"], spec.names, spec.type_name) if q.get("$select") else None
        expand = parse_list(q["$expand"], spec.expand, spec.type_name) if q.get("$expand") else []
        return select, expand

    def shape(
        self,
        spec: EntitySet,
        view: Record,
        select: list[str] | None,
        expand: list[str],
        cid: str | None,
    ) -> Record:
        out = (
            view
            if select is None
            else {"@odata.etag": view["@odata.etag"], **{k: view[k] for k in select}}
        )
        for nav in expand:
            target = ENTITY_SETS[spec.expand[nav]]
            if cid is None:
                continue
            if target.parent == spec.name and target.parent_key:
                rows = [
                    r
                    for r in self.emu.records(target, cid)
                    if r.get(target.parent_key) == view["id"]
                ]
                key = "sequence" if target.prop("sequence") else "lineNumber"
                out[nav] = [self.emu.view(target, r) for r in sort_records(rows, [(key, False)])]
            else:
                related = self.emu.store.get(target.name, str(view.get(f"{nav}Id")))
                out[nav] = None if related is None else self.emu.view(target, related)
        return out

    def entity(
        self, request: Request, spec: EntitySet, rec: Record, context: str, cid: str | None
    ) -> Record:
        select, expand = self.shape_options(request, spec)
        shaped = self.shape(spec, self.emu.view(spec, rec), select, expand, cid)
        return {"@odata.context": context, **shaped}

    def entity_response(
        self, request: Request, spec: EntitySet, cid: str, rec: Record, status: int = 200
    ) -> Response:
        parent = None
        if spec.parent and spec.parent_key and request.path_params.get("parent_id"):
            parent = self.emu.store.get(spec.parent, rec[spec.parent_key])
        context = self.context(request, spec, cid, parent) + "/$entity"
        headers = None
        if status == 201:
            # OData v4 answers a create with Location [inferred: the reference names only
            # 201 + body].
            headers = {
                "Location": f"{self.api_url(request)}/companies({cid})/{spec.name}({rec['id']})"
            }
        return JSONResponse(self.entity(request, spec, rec, context, cid), status, headers=headers)

    # ----------------------------------------------------------------- single entities
    def get(self, spec: EntitySet) -> Handler:
        async def handler(request: Request) -> Response:
            cid, parent = self.scope(request, spec)
            rec = self.emu.find(spec, cid, request.path_params["record_id"])
            if parent is not None and spec.parent_key and rec.get(spec.parent_key) != parent["id"]:
                raise BCError(404, "BadRequest_NotFound", f"The {spec.type_name} does not exist.")
            return self.entity_response(request, spec, cid, rec)

        return handler

    def create(self, spec: EntitySet) -> Handler:
        async def handler(request: Request) -> Response:
            cid, parent = self.scope(request, spec)
            body = await self.body(request)
            record: Record = {p.name: p.blank() for p in spec.props}
            record.update(self.coerce(spec, body))
            record["id"] = self.emu.new_id()
            record["_companyId"] = cid
            if parent is not None and spec.parent_key:
                record[spec.parent_key] = parent["id"]
            if spec.number_series and not record.get("number"):
                record["number"] = self.emu.next_number(cid, spec.number_series)
            touched = rules.prepare(self.emu, spec.name, cid, record, body, creating=True)
            self.refuse_same_key(request, spec, cid, record, creating=True)
            if spec.name == "journalLines" and rules.staged_duplicate(self.emu, cid, record):
                # Staging a line BC already posted: counted now, not again when it posts.
                self.emu.count_duplicate(request)
                record["_duplicateCounted"] = True
            self.emu.put_version(spec, record)
            self.emu.created(
                request,
                spec.name,
                _scoped(cid, rules.natural_key(spec.name, record, body)),
                record["id"],
            )
            touched += self.deep_insert(request, spec, cid, record, body)
            touched += self.after_line_change(spec, cid, record)
            self.notify(cid, spec, record, "created", touched)
            return self.entity_response(
                request, spec, cid, self.emu.store.get(spec.name, record["id"]) or record, 201
            )

        return handler

    def deep_insert(
        self, request: Request, spec: EntitySet, cid: str, header: Record, body: Record
    ) -> rules.Touched:
        """Lines POSTed inside their header (reference 5.2 "deep insert")."""
        touched: rules.Touched = []
        for nav, set_name in spec.expand.items():
            child = ENTITY_SETS[set_name]
            items = body.get(nav)
            if items is None or child.parent != spec.name or not child.parent_key:
                continue
            if not isinstance(items, list):
                raise BCError(400, "BadRequest", f"'{nav}' must be an array.")
            for item in items:
                line: Record = {p.name: p.blank() for p in child.props}
                line.update(self.coerce(child, item if isinstance(item, dict) else {}))
                line.update(id=self.emu.new_id(), _companyId=cid)
                line[child.parent_key] = header["id"]
                rules.prepare(self.emu, child.name, cid, line, item, creating=True)
                self.emu.put_version(child, line)
                self.emu.count_write(request)
            touched += self.after_line_change(child, cid, {child.parent_key: header["id"]})
        return touched

    def after_line_change(self, spec: EntitySet, cid: str, line: Record) -> rules.Touched:
        if spec.name == "salesInvoiceLines":
            return rules.recompute_invoice(self.emu, cid, line["documentId"])
        if spec.name == "purchaseInvoiceLines":
            return delivery.after_line_change(self.emu, cid, line["documentId"])
        return []

    def refuse_same_key(
        self, request: Request, spec: EntitySet, cid: str, record: Record, *, creating: bool
    ) -> None:
        if spec.unique is None:
            return
        existing = self.emu.find_by(spec, cid, spec.unique, str(record.get(spec.unique)))
        if existing is not None and existing["id"] != record["id"]:
            if creating:  # a rename onto a taken number is a conflict, not a duplicate create
                self.emu.count_duplicate(request)
            # Code per reference 5.2 ([inferred] there); status and text [inferred].
            label = "No." if spec.unique == "number" else "Code"
            raise BCError(
                400,
                "Internal_EntityWithSameKeyExists",
                f"The record already exists. Identification fields and values: "
                f"{label}='{record.get(spec.unique)}'",
            )

    def patch(self, spec: EntitySet) -> Handler:
        async def handler(request: Request) -> Response:
            cid, _ = self.scope(request, spec)
            old = self.emu.find(spec, cid, request.path_params["record_id"])
            self.check_if_match(request, old)
            body = await self.body(request)
            record = {**old, **self.coerce(spec, body)}
            touched = rules.prepare(self.emu, spec.name, cid, record, body, creating=False)
            self.refuse_same_key(request, spec, cid, record, creating=False)
            self.emu.put_version(spec, record, old)
            self.emu.count_write(request)
            touched += self.after_line_change(spec, cid, record)
            self.notify(cid, spec, record, "updated", touched)
            return self.entity_response(request, spec, cid, record)

        return handler

    def delete(self, spec: EntitySet) -> Handler:
        async def handler(request: Request) -> Response:
            cid, _ = self.scope(request, spec)
            rec = self.emu.find(spec, cid, request.path_params["record_id"])
            self.check_if_match(request, rec)
            rules.refuse_delete(self.emu, spec.name, cid, rec)
            self.emu.remove(spec, rec)
            self.emu.count_write(request)
            touched = self.after_line_change(spec, cid, rec)
            self.notify(cid, spec, rec, "deleted", touched)
            return Response(status_code=204)

        return handler

    def action(self, spec: EntitySet, rule: Callable[..., rules.Touched]) -> Handler:
        async def handler(request: Request) -> Response:
            cid, _ = self.scope(request, spec)
            rec = self.emu.find(spec, cid, request.path_params["record_id"])
            touched = rule(self.emu, cid, rec)
            self.emu.count_write(request)
            self.notify(cid, None, None, "updated", touched)
            return Response(status_code=204)

        return handler

    def notify(
        self,
        cid: str,
        spec: EntitySet | None,
        record: Record | None,
        change: str,
        touched: rules.Touched,
    ) -> None:
        events: dict[tuple[str, str], str] = {}
        # A line belongs to its header: subscribers watch the header's collection, and the
        # header's own change arrives through `touched`.
        if spec is not None and record is not None and spec.parent is None:
            events[(spec.name, record["id"])] = change
        for set_name, rec in touched:
            events.setdefault((set_name, rec["id"]), "updated")
        for (set_name, rec_id), kind in events.items():
            self.emu.webhooks.notify(cid, set_name, rec_id, kind)

    # ----------------------------------------------------------------- subscriptions
    def sub_context(self, request: Request, *, single: bool) -> str:
        return f"{self.api_url(request)}/$metadata#subscriptions" + ("/$entity" if single else "")

    def find_sub(self, request: Request) -> Record:
        sub_id = request.path_params["sub_id"].strip("'")
        rec = self.emu.store.get("subscriptions", sub_id)
        if rec is None:
            raise BCError(
                404,
                "BadRequest_NotFound",
                f"The subscription does not exist. Identification fields and values: "
                f"subscriptionId='{sub_id}'",
            )
        return rec

    def user_id(self) -> str:
        return self.emu.stable_id("user", self.emu.client_id)

    async def list_subscriptions(self, request: Request) -> Response:
        rows = [_public(r) for r in self.emu.store.all("subscriptions")]
        return JSONResponse(
            {"@odata.context": self.sub_context(request, single=False), "value": rows}
        )

    async def get_subscription(self, request: Request) -> Response:
        rec = self.find_sub(request)
        return JSONResponse(
            {"@odata.context": self.sub_context(request, single=True), **_public(rec)}
        )

    async def create_subscription(self, request: Request) -> Response:
        body = await self.body(request)
        rec = await self.emu.webhooks.create(
            body, company_ids=self.company_ids(), user_id=self.user_id()
        )
        rec = self.stamp_sub(rec)
        self.emu.created(request, "subscriptions", None, rec["subscriptionId"])
        payload = {"@odata.context": self.sub_context(request, single=True), **_public(rec)}
        return JSONResponse(payload, 201)

    async def renew_subscription(self, request: Request) -> Response:
        old = self.find_sub(request)
        self.check_if_match(request, old)
        body = await self.body(request)
        rec = await self.emu.webhooks.renew(old, body, company_ids=self.company_ids())
        rec = self.stamp_sub(rec)
        self.emu.count_write(request)
        return JSONResponse(
            {"@odata.context": self.sub_context(request, single=True), **_public(rec)}
        )

    async def delete_subscription(self, request: Request) -> Response:
        rec = self.find_sub(request)
        self.check_if_match(request, rec)
        self.emu.store.delete("subscriptions", rec["subscriptionId"])
        self.emu.count_write(request)
        return Response(status_code=204)

    def company_ids(self) -> list[str]:
        return [c["id"] for c in self.emu.store.all("companies")]

    def stamp_sub(self, rec: Record) -> Record:
        """Give a subscription a fresh etag (renewal needs If-Match like any entity)."""
        self.emu.rowversion += 1
        stamped = {**rec, "@odata.etag": make_etag(self.emu.rowversion)}
        self.emu.store.put("subscriptions", rec["subscriptionId"], stamped)
        return stamped


def _public(rec: Record) -> Record:
    return {k: v for k, v in rec.items() if not k.startswith("_")}


def _scoped(cid: str, keys: list[str] | None) -> list[str]:
    # "kind:value" stays "kind:company|value", so the duplicate's kind is still readable.
    return [f"{k.partition(':')[0]}:{cid}|{k.partition(':')[2]}" for k in keys or ()]


def _int_option(text: str | None, name: str) -> int | None:
    if text is None or text == "":
        return None
    if not text.isdigit():
        raise ODataError(f"The value '{text}' of {name} is not a non-negative integer.")
    return int(text)


def _coerce_value(prop: Prop, value: Any) -> Any:  # noqa: ANN401 - JSON value in, JSON value out
    """One property value, type-checked the way BC's OData layer would refuse it."""
    if value is None:
        return prop.blank()
    expected = _TYPES[prop.type]
    ok = isinstance(value, expected) and not (prop.type != "boolean" and isinstance(value, bool))
    if ok and prop.type in ("date", "datetime", "guid"):
        ok = _parses(prop.type, value)
    if not ok:
        edm = {"string": "String", "guid": "Guid", "datetime": "DateTimeOffset"}.get(
            prop.type, prop.type.capitalize()
        )
        raise BCError(
            400,
            "BadRequest",
            f"Cannot convert the literal '{value}' to the expected type 'Edm.{edm}'.",
        )
    if prop.choices and value not in prop.choices:
        raise BCError(
            400,
            "BadRequest",
            f"The value '{value}' is not valid for {prop.name}; valid values: "
            + ", ".join(repr(c) for c in prop.choices),
        )
    if prop.type == "decimal":
        return normalize_number(value)
    return value.lower() if prop.type == "guid" else value


def _parses(kind: str, text: str) -> bool:
    try:
        if kind == "date":
            date.fromisoformat(text)
        elif kind == "datetime":
            datetime.fromisoformat(text)
        else:
            uuid.UUID(text)
    except ValueError:
        return False
    return True
