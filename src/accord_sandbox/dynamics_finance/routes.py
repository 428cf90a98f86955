"""HTTP routes of the Dynamics 365 Finance emulator (``docs/sandbox/dynamics_finance.md``).

- ``POST /{tenant}/oauth2/v2.0/token``: Entra ID client credentials for the environment.
- ``/data/``: the service document; per entity set ``GET``/``POST`` on ``/data/{Set}`` and
  ``GET``/``PATCH``/``PUT``/``DELETE`` on ``/data/{Set}({key})`` (the full key, e.g.
  ``CustomersV3(dataAreaId='de01',CustomerAccount='C-1')``), bound actions
  ``POST /data/{Set}({key})/Microsoft.Dynamics.DataEntities.{Action}``, and
  ``POST /data/$batch``.

Every OData request, whether it came alone or inside a ``$batch``, runs through
:meth:`_Routes.execute`, which answers a :class:`~.batch.Reply`; refusals are raised as
:class:`~.errors.FinError` (or the grammar's ``ODataError``) and answered in F&O's shape.
"""

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from accord_sandbox.business_central.auth import (
    entra_error,
    token_request_refusal,
    token_response,
    unknown_application,
)
from accord_sandbox.business_central.odata import evaluate, sort_records
from accord_sandbox.dynamics_finance import rules
from accord_sandbox.dynamics_finance.auth import TOKEN_LIFETIME_S
from accord_sandbox.dynamics_finance.batch import (
    BatchError,
    Reply,
    format_batch,
    parse_batch,
)
from accord_sandbox.dynamics_finance.emulator import DEFAULT_COMPANY, INDEXED, entity_set
from accord_sandbox.dynamics_finance.entities import (
    ENTITY_SETS,
    JOURNAL_LINES,
    NAMESPACE,
    EntitySet,
    Prop,
    make_etag,
    normalize_number,
)
from accord_sandbox.dynamics_finance.errors import FinError, write_failed
from accord_sandbox.dynamics_finance.query import (
    ODataError,
    equality_values,
    fold,
    parse,
    parse_order,
    query_error_text,
)

if TYPE_CHECKING:
    from accord_sandbox.dynamics_finance.emulator import DynamicsFinanceEmulator

__all__ = ["register"]

Record = dict[str, Any]
Handler = Callable[[Request], Awaitable[Response]]

_PATH = re.compile(r"^(?P<set>\w+)(?:\((?P<key>[^)]*)\))?(?:/(?P<action>[\w.]+))?/?$")
_KEY_PART = re.compile(r"\s*(?:(?P<name>\w+)\s*=\s*)?(?P<value>'(?:[^']|'')*'|-?\d+(?:\.\d+)?)\s*")
_JSON = "application/json; odata.metadata=minimal; charset=utf-8"


def register(emu: "DynamicsFinanceEmulator", app: FastAPI) -> None:
    """Add every route of the emulator to ``app``."""
    _Routes(emu).register(app)


@dataclass
class _Call:
    """One OData request, from HTTP or from a ``$batch`` part."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    request: Request
    in_changeset: bool = False


class _Routes:
    def __init__(self, emu: "DynamicsFinanceEmulator") -> None:
        self.emu = emu

    # ----------------------------------------------------------------- registration
    def register(self, app: FastAPI) -> None:
        app.add_api_route(
            "/{tenant}/oauth2/v2.0/token", self.token, methods=["POST"], include_in_schema=False
        )
        app.add_exception_handler(StarletteHTTPException, self.http_error)
        self.route(app, "/data/", "GET", self.service_document)
        self.route(app, "/data/$batch", "POST", self.batch)
        for spec in ENTITY_SETS.values():
            base = f"/data/{spec.name}"
            methods = ["GET", "POST"] if spec.writable else ["GET"]
            self.route(app, base, methods, self.single)
            keyed = ["GET", "PATCH", "PUT", "DELETE"] if spec.writable else ["GET"]
            self.route(app, base + "({key})", keyed, self.single)
            for action in spec.actions:
                self.route(app, f"{base}({{key}})/{NAMESPACE}.{action}", "POST", self.single)

    def route(self, app: FastAPI, path: str, methods: str | list[str], fn: Handler) -> None:
        verbs = [methods] if isinstance(methods, str) else methods
        app.add_api_route(path, self.guarded(fn), methods=verbs, include_in_schema=False)

    def guarded(self, fn: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            refused = self.authenticate(request)
            if refused is not None:
                return refused
            return await fn(request)

        return endpoint

    def authenticate(self, request: Request) -> Response | None:
        """401 unless the bearer token is valid and its app is registered [inferred body]."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        client = self.emu.tokens.client_of(token.strip()) if scheme.lower() == "bearer" else None
        if client is None or client not in self.emu.apps:
            return self.emu.error_response(401, "", "Authentication failed.")
        return None

    async def http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
        if status == 405:
            return self.emu.error_response(
                405, "", f"The HTTP verb '{request.method}' is not allowed for this resource."
            )
        return self.emu.error_response(
            status, "", f"No HTTP resource was found that matches the request URI '{request.url}'."
        )

    # ----------------------------------------------------------------- Entra ID
    async def token(self, request: Request) -> Response:
        """Client credentials (Microsoft identity platform); error bodies are [inferred]."""
        tenant = request.path_params["tenant"]
        fields = {k: str(v) for k, v in (await request.form()).items()}
        refusal = token_request_refusal(fields, tenant, self.emu.tenant)
        if refusal is not None:
            return refusal
        if fields["grant_type"] != "client_credentials":
            return entra_error(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant."
            )
        if fields["client_id"] != self.emu.client_id:
            return unknown_application(fields["client_id"], tenant)
        if fields.get("client_secret") != self.emu.client_secret:
            return entra_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        if fields["scope"] != self.emu.tokens.scope:
            return entra_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {fields['scope']} is not valid.",
            )
        return token_response(self.emu.tokens.issue(fields["client_id"]), TOKEN_LIFETIME_S)

    # ----------------------------------------------------------------- HTTP entry points
    async def service_document(self, _request: Request) -> Response:
        value = [{"name": s.name, "kind": "EntitySet", "url": s.name} for s in ENTITY_SETS.values()]
        return JSONResponse({"@odata.context": f"{self.root}/$metadata", "value": value})

    async def single(self, request: Request) -> Response:
        call = _Call(
            method=request.method,
            path=request.url.path.removeprefix("/data/"),
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
            request=request,
        )
        return self.respond(self.execute(call))

    async def batch(self, request: Request) -> Response:
        try:
            groups = parse_batch(request.headers.get("content-type", ""), await request.body())
        except BatchError as exc:
            return self.emu.error_response(400, "", str(exc))
        answers: list[tuple[bool, list[Reply]]] = []
        for group in groups:
            if not group.atomic:
                answers.append((False, [self.execute(self.inner(group.parts[0], request))]))
                continue
            with self.emu.changeset() as rollback:
                replies: list[Reply] = []
                for part in group.parts:
                    reply = self.execute(self.inner(part, request, in_changeset=True))
                    reply.content_id = part.content_id
                    if reply.status >= 400:
                        rollback()
                        replies = [reply]
                        break
                    replies.append(reply)
            answers.append((True, replies))
        content_type, body = format_batch(answers)
        return Response(body, 200, media_type=content_type, headers={"OData-Version": "4.0"})

    @staticmethod
    def inner(part: Any, request: Request, *, in_changeset: bool = False) -> _Call:  # noqa: ANN401
        url = urlsplit(part.url)
        path = unquote(url.path)
        path = path.split("/data/", 1)[1] if "/data/" in path else path.lstrip("/")
        return _Call(
            method=part.method,
            path=path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers=part.headers,
            body=part.body,
            request=request,
            in_changeset=in_changeset,
        )

    @staticmethod
    def respond(reply: Reply) -> Response:
        headers = {"OData-Version": "4.0", **reply.headers}
        if reply.body is None:
            return Response(status_code=reply.status, headers=headers)
        return JSONResponse(reply.body, reply.status, headers=headers, media_type=_JSON)

    @property
    def root(self) -> str:
        return f"{self.emu.base_url}/data"

    # ----------------------------------------------------------------- one OData request
    def execute(self, call: _Call) -> Reply:
        """Answer one OData request; every refusal becomes an error reply."""
        try:
            return self.dispatch(call)
        except FinError as exc:
            status = exc.status
            if call.in_changeset and exc.inner is not None and status == 400:
                # Inside a changeset F&O answers a refused write with 500 (as observed).
                status = 500
            return Reply(status, exc.body())
        except ODataError as exc:
            return Reply(400, FinError(400, query_error_text(exc)).body())

    def dispatch(self, call: _Call) -> Reply:
        match = _PATH.match(call.path)
        if match is None:
            raise FinError(404, f"No HTTP resource was found that matches '{call.path}'.")
        spec = entity_set(match["set"])
        key_text, action = match["key"], match["action"]
        if action is not None:
            if call.method != "POST" or key_text is None:
                raise FinError(405, f"The HTTP verb '{call.method}' is not allowed here.")
            return self.action(spec, self.key(spec, key_text), action, call)
        if key_text is None:
            if call.method == "GET":
                return self.collection(spec, call)
            if call.method == "POST" and spec.writable:
                return self.create(spec, call)
        else:
            key = self.key(spec, key_text)
            if call.method == "GET":
                return self.entity(spec, self.emu.find(spec, key), call)
            if call.method in ("PATCH", "PUT", "MERGE") and spec.writable:
                return self.update(spec, key, call)
            if call.method == "DELETE" and spec.writable:
                return self.delete(spec, key, call)
        raise FinError(405, f"The HTTP verb '{call.method}' is not allowed for {spec.name}.")

    def key(self, spec: EntitySet, text: str) -> dict[str, Any]:
        """The key predicate as field -> value; all fields of the key are required."""
        values: dict[str, Any] = {}
        for n, chunk in enumerate(_split_key(text)):
            found = _KEY_PART.fullmatch(chunk)
            if found is None:
                raise FinError(400, f"The key '{text}' is not valid for {spec.name}.")
            name = found["name"] or (spec.key_fields[n] if n < len(spec.key_fields) else "")
            raw = found["value"]
            values[name] = raw[1:-1].replace("''", "'") if raw.startswith("'") else _number(raw)
        if set(values) != set(spec.key_fields):
            # "All fields in the entity key must be provided" (Microsoft, OData).
            raise FinError(
                400,
                f"The key '{text}' does not name every key field of {spec.name}: "
                + ", ".join(spec.key_fields),
            )
        if spec.company:
            values["dataAreaId"] = str(values["dataAreaId"]).lower()
        return values

    # ----------------------------------------------------------------- reads
    def collection(self, spec: EntitySet, call: _Call) -> Reply:
        q = call.query
        cross = q.get("cross-company", "").lower() == "true"
        expr = parse(q["$filter"], spec) if q.get("$filter") else None
        probe = equality_values(expr, INDEXED) if expr is not None else None
        rows = self.emu.candidates(spec, *probe) if probe is not None else self.emu.records(spec)
        if spec.company and not cross:
            # Without cross-company only the user's default company is read (Microsoft, OData).
            rows = [r for r in rows if r.get("dataAreaId") == DEFAULT_COMPANY]
        # Filters and ordering see case-folded values (SQL Server's collation); the answer
        # shows the values as stored.
        folded = [{**fold(spec, v), "__view": v} for v in (self.emu.view(spec, r) for r in rows)]
        if expr is not None:
            folded = [f for f in folded if evaluate(expr, f)]
        order = parse_order(q["$orderby"], spec) if q.get("$orderby") else None
        folded = sort_records(folded, order or [(k, False) for k in spec.key_fields])
        views: list[Record] = [f["__view"] for f in folded]
        skip, top = _count(q.get("$skip"), "$skip"), _count(q.get("$top"), "$top")
        size = min(self.emu.page_size, _max_page_size(call.headers) or self.emu.page_size)
        window = views[skip or 0 :]
        limit = size if top is None else min(top, size)
        page = window[:limit]
        select = _select(spec, q.get("$select"))
        body: Record = {
            "@odata.context": f"{self.root}/$metadata#{spec.name}",
            "value": [self.shape(v, select) for v in page],
        }
        if q.get("$count", "").lower() == "true":
            body["@odata.count"] = len(views)
        more = len(window) > len(page) and (top is None or top > len(page))
        if more:
            # Server-driven paging: the same options, the next $skip [inferred form].
            params = {k: v for k, v in q.items() if k not in ("$skip", "$top")}
            params["$skip"] = str((skip or 0) + len(page))
            if top is not None:
                params["$top"] = str(top - len(page))
            query = urlencode(params, safe="$,()'*", quote_via=quote)
            body["@odata.nextLink"] = f"{self.root}/{spec.name}?{query}"
        return Reply(200, body)

    @staticmethod
    def shape(view: Record, select: list[str] | None) -> Record:
        if select is None:
            return view
        return {"@odata.etag": view["@odata.etag"], **{k: view[k] for k in select if k in view}}

    def entity(self, spec: EntitySet, record: Record, call: _Call, status: int = 200) -> Reply:
        select = _select(spec, call.query.get("$select"))
        view = self.shape(self.emu.view(spec, record), select)
        body = {"@odata.context": f"{self.root}/$metadata#{spec.name}/$entity", **view}
        headers = {"ETag": str(view["@odata.etag"])}
        if status == 201:
            headers["Location"] = f"{self.root}/{spec.name}({_predicate(spec, record)})"
            if "return=minimal" in call.headers.get("prefer", ""):
                return Reply(204, None, headers)
        return Reply(status, body, headers)

    # ----------------------------------------------------------------- writes
    def create(self, spec: EntitySet, call: _Call) -> Reply:
        body = _json_object(call.body)
        record: Record = {p.name: p.blank() for p in spec.props}
        values = self.coerce(spec, body)
        record.update(values)
        if spec.company:
            given = str(body.get("dataAreaId") or DEFAULT_COMPANY)
            record["dataAreaId"] = self.emu.require_company(given, rules.TABLES[spec.name][0])
        self.assign_key(spec, record)
        rules.prepare(
            self.emu, spec, record, creating=True, sent=frozenset(values), request=call.request
        )
        record_id = self.emu.record_id(spec, record)
        if self.emu.store.get(spec.name, record_id) is not None:
            self.emu.count_duplicate(call.request)
            table, label = rules.TABLES[spec.name]
            shown = ", ".join(f"{k}: {record[k]}" for k in spec.keys)
            raise write_failed(
                table, f"Cannot create a record in {label}. {shown}. The record already exists."
            )
        self.emu.put_version(spec, record)
        self.emu.created(call.request, spec.name, rules.natural_key(spec, record), record_id)
        return self.entity(spec, record, call, 201)

    def assign_key(self, spec: EntitySet, record: Record) -> None:
        last = spec.keys[-1]
        if spec.name == "FreeTextInvoiceHeaders":
            record[last] = self.emu.next_recid()
        elif spec.number_series and not record.get(last):
            area = str(record.get("dataAreaId", ""))
            record[last] = self.emu.next_number(area, spec.number_series)
        missing = [
            k
            for k in spec.keys
            if record.get(k) in (None, "") and not spec.prop(k).read_only  # type: ignore[union-attr]
        ]
        if spec.parent is None and missing:
            raise write_failed(rules.TABLES[spec.name][0], f"{missing[0]} must be filled in.")

    def update(self, spec: EntitySet, key: dict[str, Any], call: _Call) -> Reply:
        old = self.emu.find(spec, key)
        _check_if_match(call.headers, old)
        rules.refuse_change(self.emu, spec, old)
        body = _json_object(call.body)
        values = self.coerce(spec, body)
        changed = [k for k in spec.key_fields if k in values and values[k] != old.get(k)]
        if changed:
            raise write_failed(rules.TABLES[spec.name][0], f"{changed[0]} cannot be changed.")
        record = {**old, **values}
        rules.prepare(
            self.emu, spec, record, creating=False, sent=frozenset(values), request=call.request
        )
        self.emu.put_version(spec, record)
        self.emu.count_write(call.request)
        return Reply(204, None, {"ETag": make_etag(int(record["_rowversion"]))})

    def delete(self, spec: EntitySet, key: dict[str, Any], call: _Call) -> Reply:
        record = self.emu.find(spec, key)
        _check_if_match(call.headers, record)
        rules.refuse_change(self.emu, spec, record)
        lines = JOURNAL_LINES.get(spec.name)
        if lines is not None and lines.parent_key is not None:
            # Deleting a journal deletes its lines.
            line_field = lines.parent_key[0]
            for line in self.emu.candidates(lines, line_field, [record["JournalBatchNumber"]]):
                if line["dataAreaId"] == record["dataAreaId"]:
                    self.emu.remove(lines, line)
        self.emu.remove(spec, record)
        self.emu.count_write(call.request)
        return Reply(204)

    def action(self, spec: EntitySet, key: dict[str, Any], name: str, call: _Call) -> Reply:
        short = name.removeprefix(f"{NAMESPACE}.")
        if short not in spec.actions:
            raise FinError(404, f"The action '{name}' is not bound to {spec.name}.")
        record = self.emu.find(spec, key)
        if short == "PostJournal":
            rules.post_journal(self.emu, spec, record, call.request)
        else:
            rules.post_invoice(self.emu, spec, record, call.request)
        self.emu.count_write(call.request)
        return Reply(204)

    def coerce(self, spec: EntitySet, body: Record) -> Record:
        """The client's property values, type-checked; annotations and read-only fields dropped."""
        values: Record = {}
        for name, value in body.items():
            if name.startswith("@") or "@odata." in name:
                continue
            prop = spec.prop(name)
            if prop is None:
                raise FinError(
                    400,
                    f"The property '{name}' does not exist on type '{NAMESPACE}."
                    f"{spec.type_name}'. Make sure to only use property names that are "
                    "defined by the type.",
                )
            if prop.read_only or name == "dataAreaId":
                continue
            values[name] = _value(spec, prop, value)
        return values


# --------------------------------------------------------------------------- helpers
def _split_key(text: str) -> list[str]:
    """Key parts split at commas outside quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == "'":
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def _predicate(spec: EntitySet, record: Record) -> str:
    parts = []
    for name in spec.key_fields:
        value = record.get(name)
        if isinstance(value, int | float):
            parts.append(f"{name}={normalize_number(value)}")
        else:
            parts.append(f"{name}='{str(value).replace(chr(39), chr(39) * 2)}'")
    return ",".join(parts)


def _json_object(raw: bytes) -> Record:
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise FinError(400, "The request body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise FinError(400, "The request body must be a JSON object.")
    return data


def _value(spec: EntitySet, prop: Prop, value: Any) -> Any:  # noqa: ANN401 - JSON
    """One property value, refused the way the OData layer refuses a bad literal."""
    if value is None:
        return prop.blank()
    bad = FinError(
        400, f"Cannot convert the literal '{value}' to the expected type of '{prop.name}'."
    )
    if prop.type == "string":
        if not isinstance(value, str):
            raise bad
        if prop.length is not None and len(value) > prop.length:
            raise write_failed(
                rules.TABLES.get(spec.name, (spec.type_name, ""))[0],
                f"The value of field '{prop.name}' is longer than {prop.length} characters.",
            )
        return value
    if prop.type in ("decimal", "int"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad
        return normalize_number(value)
    if prop.type == "enum":
        if value not in prop.choices:
            raise FinError(400, f"The value '{value}' is not a member of {NAMESPACE}.{prop.enum}.")
        return value
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise bad from exc
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_if_match(headers: Mapping[str, str], record: Record) -> None:
    """``If-Match`` is optional; a stale one is 412 [inferred text]."""
    header = headers.get("if-match", "").strip()
    if not header or header == "*":
        return
    if header != make_etag(int(record.get("_rowversion", 0))):
        raise FinError(412, "The record has been changed by another user; refresh and try again.")


def _count(text: str | None, name: str) -> int | None:
    if text is None or text == "":
        return None
    if not text.isdigit():
        raise ODataError(f"The value '{text}' of {name} is not a non-negative integer.")
    return int(text)


def _max_page_size(headers: Mapping[str, str]) -> int | None:
    found = re.search(r"odata\.maxpagesize=(\d+)", headers.get("prefer", ""))
    return int(found.group(1)) if found else None


def _select(spec: EntitySet, text: str | None) -> list[str] | None:
    if not text:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if spec.prop(name) is None:
            raise ODataError(
                f"Could not find a property named '{name}' on type "
                f"'Microsoft.NAV.{spec.type_name}'."
            )
    return names
