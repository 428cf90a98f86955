"""The REST resources under ``/services/data/vNN.0/``, as plain functions of (method, path, body).

One :meth:`RestApi.dispatch` serves both the HTTP routes registered in ``app.py`` and the
subrequests of ``/composite``, so that a subrequest behaves exactly like the same call made on
its own. Auth, the daily limit and ``Sforce-Limit-Info`` are applied before this layer (``app.py``).
"""

import json
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request

from accord_sandbox.common import NaturalKeys
from accord_sandbox.salesforce.engine import Engine, MultipleMatchesError, SfError, not_found
from accord_sandbox.salesforce.ids import make_id
from accord_sandbox.salesforce.schema import ObjectDef
from accord_sandbox.salesforce.soql import SoqlError, execute, parse, project

__all__ = ["Answer", "RestApi"]

Record = dict[str, Any]
MAX_COMPOSITE = 25
MAX_COMPOSITE_HEAVY = 5
"""Subrequests of one ``/composite`` that may be sObject Collections or query operations
(developer.salesforce.com, "Send Multiple Requests Using Composite")."""
MAX_COLLECTION = 200
MAX_CHUNKS = 10
"""Runs of one sObject type a collection may hold (reference 1.4)."""
MAX_CURSORS = 50
"""[inferred] open query cursors kept; the oldest locator then answers INVALID_QUERY_LOCATOR."""
ROLLED_BACK = (
    "Record rolled back because not all records were valid and the request was using AllOrNone "
    "header"
)
HALTED = "The transaction was rolled back since another operation in the same transaction failed."
_LOCATOR = re.compile(r"^(01g[0-9A-Za-z]{15})-(\d+)$")
_REF = re.compile(r"@\{([A-Za-z0-9_]+)\.([^}]+)\}")


@dataclass
class Answer:
    """One REST answer before it becomes an HTTP response (or a composite subresponse)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Cursor:
    records: list[Record]
    batch: int
    endpoint: str


def _error(err: SfError) -> Answer:
    if isinstance(err, MultipleMatchesError):
        # [inferred shape] the 300 body lists the matching records' URLs.
        return Answer(300, [f"/services/data/v{{version}}/sobjects/{err.obj}/{i}" for i in err.ids])
    return Answer(err.status, err.body())


class RestApi:
    """sObject, query, composite and collection resources over one :class:`Engine`."""

    def __init__(
        self,
        engine: Engine,
        on_create: Callable[[Request, str, NaturalKeys, str], None],
        on_write: Callable[[Request], None],
        limits: Callable[[], Record],
    ) -> None:
        self.engine = engine
        self.limits = limits
        self.schema = engine.schema
        self.on_create = on_create
        self.on_write = on_write
        self.cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self.query_seq = 0

    # ------------------------------------------------------------------ routing
    def dispatch(  # noqa: PLR0911 - one branch per resource
        self,
        request: Request,
        method: str,
        version: str,
        rest: str,
        *,
        params: dict[str, str],
        body: Any,  # noqa: ANN401 - the decoded JSON body
        headers: dict[str, str],
    ) -> Answer:
        """Serve one call; ``rest`` is the path after ``/services/data/vNN.0/``."""
        parts = [p for p in rest.split("/") if p]
        try:
            if not parts:
                return Answer(200, self.resources(version)) if method == "GET" else _not_allowed()
            head = parts[0]
            if head == "sobjects":
                return self._sobjects(request, method, version, parts[1:], params=params, body=body)
            if head in {"query", "queryAll"} and method == "GET":
                if len(parts) == 2:
                    return self.query_more(version, head, parts[1])
                if len(parts) == 1:
                    return self.query(version, head, params.get("q", ""), headers)
            if head == "composite":
                if len(parts) == 1 and method == "POST":
                    return self.composite(request, body)
                if len(parts) >= 2 and parts[1] == "sobjects":
                    return self._collections(
                        request, method, version, parts[2:], params=params, body=body
                    )
            if head == "limits" and len(parts) == 1:
                return Answer(200, self.limits())
            raise not_found()
        except SfError as err:
            answer = _error(err)
            if answer.status == 300:
                answer.body = [u.replace("{version}", version) for u in answer.body]
            return answer

    def resources(self, version: str) -> dict[str, str]:
        """``GET /services/data/vNN.0/``: the resources of this version."""
        base = f"/services/data/v{version}"
        names = ("sobjects", "query", "queryAll", "composite", "limits")
        return {n: f"{base}/{n}" for n in names}

    def _sobjects(  # noqa: PLR0911 - one branch per resource
        self,
        request: Request,
        method: str,
        version: str,
        parts: list[str],
        *,
        params: dict[str, str],
        body: Any,  # noqa: ANN401 - the decoded JSON body
    ) -> Answer:
        if not parts:
            if method != "GET":
                return _not_allowed()
            return Answer(200, self.schema.global_describe(version))
        o = self.engine.sobject(parts[0])
        if len(parts) == 1:
            if method == "GET":
                return Answer(200, {"objectDescribe": o.summary(version), "recentItems": []})
            if method == "POST":
                return self.create(request, o, version, _object_body(body))
            return _not_allowed()
        if len(parts) == 2:
            second = parts[1]
            if second == "describe" and method == "GET":
                return Answer(200, self.schema.describe(o.name, version))
            if method == "POST" and second == "Id":
                return self.create(request, o, version, _object_body(body))
            if method == "GET":
                fields = params.get("fields")
                rec = self.engine.get(o, second)
                chosen = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
                return Answer(200, self.engine.render(o, rec, version, chosen))
            if method == "PATCH":
                self.engine.update(o, second, _object_body(body))
                self.on_write(request)
                return Answer(204)
            if method == "DELETE":
                self.engine.delete(o, second)
                self.on_write(request)
                return Answer(204)
            return _not_allowed()
        if len(parts) == 3:
            return self._by_external(
                request,
                method,
                o,
                version=version,
                field_name=parts[1],
                value=parts[2],
                params=params,
                body=body,
            )
        raise not_found()

    def _by_external(
        self,
        request: Request,
        method: str,
        o: ObjectDef,
        *,
        version: str,
        field_name: str,
        value: str,
        params: dict[str, str],
        body: Any,  # noqa: ANN401 - the decoded JSON body
    ) -> Answer:
        f = self.engine.ext_field(o, field_name)
        if method == "PATCH":
            update_only = params.get("updateOnly", "false").lower() == "true"
            rec, created = self.engine.upsert(
                o, f.name, value, _object_body(body), update_only=update_only
            )
            out: Record = {"id": rec["Id"], "success": True, "errors": []}
            if created:
                self.on_create(request, o.name, self.engine.natural_key(o, rec), rec["Id"])
                if _version_number(version) >= 46:
                    out["created"] = True
                return Answer(201, out, {"Location": _url(version, o, rec)})
            self.on_write(request)
            if _version_number(version) < 46:
                return Answer(204)  # reference 1.3: updates answered 204 before v46
            return Answer(200, {**out, "created": False})
        matches = self.engine.by_external(o, f, value)
        if len(matches) > 1:
            raise MultipleMatchesError(o.name, [r["Id"] for r in matches])
        if not matches:
            raise not_found()
        if method == "GET":
            return Answer(200, self.engine.render(o, matches[0], version))
        if method == "DELETE":
            self.engine.delete(o, matches[0]["Id"])
            self.on_write(request)
            return Answer(204)
        return _not_allowed()

    def create(self, request: Request, o: ObjectDef, version: str, body: Record) -> Answer:
        """``POST /sobjects/{X}``: 201 with the SaveResult and a Location header."""
        rec = self.engine.create(o, body)
        self.on_create(request, o.name, self.engine.natural_key(o, rec), rec["Id"])
        return Answer(
            201,
            {"id": rec["Id"], "success": True, "errors": []},
            {"Location": _url(version, o, rec)},
        )

    # ------------------------------------------------------------------ query
    def query(self, version: str, endpoint: str, soql: str, headers: dict[str, str]) -> Answer:
        """``GET /query?q=`` (``queryAll`` also answers deleted rows)."""
        try:
            q = parse(soql)
            o = self.schema.get(q.obj)
            rows = self.engine.store.all(o.name) if o is not None else []
            if endpoint == "query":
                rows = [r for r in rows if not r.get("IsDeleted")]
            today = self.engine.clock().date()
            matched = execute(q, self.schema, rows, self.engine.lookup, today)
            if q.count:
                return Answer(200, {"totalSize": len(matched), "done": True, "records": []})
            if q.count_field is not None:
                agg = {"attributes": {"type": "AggregateResult"}, "expr0": len(matched)}
                return Answer(200, {"totalSize": 1, "done": True, "records": [agg]})
            records = [project(q, self.schema, r, self.engine.lookup, version) for r in matched]
        except SoqlError as err:
            return Answer(400, [{"message": err.message, "errorCode": err.code, "fields": []}])
        batch = _batch_size(headers)
        if len(records) <= batch:
            return Answer(200, {"totalSize": len(records), "done": True, "records": records})
        self.query_seq += 1
        qid = make_id("01g", self.query_seq)
        self.cursors[qid] = _Cursor(records, batch, endpoint)
        while len(self.cursors) > MAX_CURSORS:
            self.cursors.popitem(last=False)
        return Answer(200, self._page(version, qid, 0))

    def query_more(self, version: str, endpoint: str, locator: str) -> Answer:
        """``GET /query/{queryId}-{offset}``: the next batch of an open cursor."""
        m = _LOCATOR.match(locator)
        cursor = self.cursors.get(m.group(1)) if m else None
        if (
            m is None
            or cursor is None
            or cursor.endpoint != endpoint
            or int(m.group(2)) > len(cursor.records)
        ):
            return Answer(
                400,
                [
                    {
                        "message": "invalid query locator",
                        "errorCode": "INVALID_QUERY_LOCATOR",
                        "fields": [],
                    }
                ],
            )
        return Answer(200, self._page(version, m.group(1), int(m.group(2))))

    def _page(self, version: str, qid: str, offset: int) -> Record:
        cursor = self.cursors[qid]
        end = offset + cursor.batch
        page: Record = {"totalSize": len(cursor.records), "done": end >= len(cursor.records)}
        if not page["done"]:
            page["nextRecordsUrl"] = f"/services/data/v{version}/{cursor.endpoint}/{qid}-{end}"
        page["records"] = cursor.records[offset:end]
        return page

    # ------------------------------------------------------------------ composite
    def composite(self, request: Request, body: Any) -> Answer:  # noqa: ANN401
        """``POST /composite``: up to 25 chained subrequests, optionally all-or-none."""
        if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
            raise SfError(400, "JSON_PARSER_ERROR", "compositeRequest is required", [])
        subs: list[Any] = body["compositeRequest"]
        if len(subs) > MAX_COMPOSITE:
            # [inferred code and text] the limit of 25 is from the reference.
            raise SfError(
                400, "LIMIT_EXCEEDED", f"Composite API request limit exceeded: {MAX_COMPOSITE}", []
            )
        heavy = sum(1 for sub in subs if isinstance(sub, dict) and _heavy(str(sub.get("url"))))
        if heavy > MAX_COMPOSITE_HEAVY:
            # [inferred code and text] the limit of 5 is Salesforce's (MAX_COMPOSITE_HEAVY).
            raise SfError(
                400,
                "LIMIT_EXCEEDED",
                f"Composite API request limit exceeded: at most {MAX_COMPOSITE_HEAVY} "
                "subrequests may be sObject Collections or query operations",
                [],
            )
        all_or_none = bool(body.get("allOrNone", False))
        token = self.engine.begin()
        results: dict[str, Answer] = {}
        out: list[Record] = []
        failed = False
        for sub in subs:
            if (
                not isinstance(sub, dict)
                or not sub.get("referenceId")
                or not sub.get("url")
                or not sub.get("method")
            ):
                self.engine.finish(token, rollback=True)
                raise SfError(
                    400,
                    "JSON_PARSER_ERROR",
                    "Each subrequest needs method, url and referenceId",
                    [],
                )
            ref_id = str(sub["referenceId"])
            if failed and all_or_none:
                out.append(_sub(ref_id, Answer(400, [_halted()])))
                continue
            try:
                url = _substitute(sub["url"], results)
                sub_body = _substitute(sub.get("body"), results)
                answer = self._subrequest(
                    request, str(sub["method"]).upper(), url, sub_body, all_or_none=all_or_none
                )
            except SfError as err:
                answer = Answer(err.status, err.body())
            results[ref_id] = answer
            out.append(_sub(ref_id, answer))
            failed = failed or answer.status >= 400
        if failed and all_or_none:
            self.engine.finish(token, rollback=True)
            for item in out:
                if item["httpStatusCode"] < 400:
                    item.update(httpStatusCode=400, body=[_halted()], httpHeaders={})
        else:
            self.engine.finish(token, rollback=False)
        return Answer(200, {"compositeResponse": out})

    def _subrequest(
        self,
        request: Request,
        method: str,
        url: str,
        body: Any,  # noqa: ANN401 - the decoded JSON body
        *,
        all_or_none: bool,
    ) -> Answer:
        parsed = urlsplit(url)
        m = re.match(r"^/services/data/v(\d+\.\d)/(.*)$", parsed.path)
        if m is None or (
            m.group(2).startswith("composite") and not m.group(2).startswith("composite/sobjects")
        ):
            raise SfError(
                400, "INVALID_API_INPUT", f"Unsupported subrequest url: {parsed.path}", []
            )
        params = dict(parse_qsl(parsed.query))
        if all_or_none and isinstance(body, dict) and "allOrNone" in body:
            body = {**body, "allOrNone": True}  # the outer allOrNone overrides the inner one
        return self.dispatch(
            request, method, m.group(1), m.group(2), params=params, body=body, headers={}
        )

    # ------------------------------------------------------------------ collections
    def _collections(
        self,
        request: Request,
        method: str,
        version: str,
        parts: list[str],
        *,
        params: dict[str, str],
        body: Any,  # noqa: ANN401 - the decoded JSON body
    ) -> Answer:
        if method == "DELETE" and not parts:
            ids = [i for i in params.get("ids", "").split(",") if i]
            if len(ids) > MAX_COLLECTION:
                raise _too_many_records()
            all_or_none = params.get("allOrNone", "false").lower() == "true"
            return self._batch(
                request, ids, all_or_none, lambda i: self._delete_any(request, i), keep_id=True
            )
        if method == "GET" and len(parts) == 1:
            o = self.engine.sobject(parts[0])
            ids = [i for i in params.get("ids", "").split(",") if i]
            fields = [f for f in params.get("fields", "").split(",") if f]
            out: list[Record | None] = []
            for i in ids:
                rec = self.engine.lookup(o.name, i)
                out.append(self.engine.render(o, rec, version, fields or None) if rec else None)
            return Answer(200, out)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise SfError(400, "JSON_PARSER_ERROR", "records is required", [])
        records: list[Any] = body["records"]
        if len(records) > MAX_COLLECTION:
            raise _too_many_records()
        if not parts and _chunks(records) > MAX_CHUNKS:
            # Reference 1.4: records of mixed types run as chunks, at most 10 a request. Code
            # [inferred]; the text is the platform's (Apex's System.TypeException).
            raise SfError(
                400,
                "INVALID_BATCH_REQUEST",
                "Cannot have more than 10 chunks in a single operation. Please rearrange the "
                "data to reduce chunking.",
                [],
            )
        all_or_none = bool(body.get("allOrNone", False))
        if method == "POST" and not parts:
            return self._batch(
                request, records, all_or_none, lambda r: self._create_one(request, version, r)
            )
        if method == "PATCH" and not parts:
            return self._batch(
                request, records, all_or_none, lambda r: self._update_one(request, r)
            )
        if method == "PATCH" and len(parts) == 2:
            o = self.engine.sobject(parts[0])
            ext = self.engine.ext_field(o, parts[1])
            return self._batch(
                request, records, all_or_none, lambda r: self._upsert_one(request, o, ext.name, r)
            )
        return _not_allowed()

    def _batch(
        self,
        request: Request,
        items: list[Any],
        all_or_none: bool,
        apply: Callable[[Any], Record],
        *,
        keep_id: bool = False,
    ) -> Answer:
        del request
        token = self.engine.begin()
        results: list[Record] = []
        failed = False
        for item in items:
            try:
                results.append(apply(item))
            except SfError as err:
                failed = True
                res: Record = {"success": False, "errors": [err.collection_error()]}
                if keep_id:
                    res = {"id": item, **res}
                results.append(res)
        if failed and all_or_none:
            self.engine.finish(token, rollback=True)
            rolled = {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": ROLLED_BACK,
                "fields": [],
            }
            results = [
                {"id": None, "success": False, "errors": [rolled]} if r["success"] else r
                for r in results
            ]
        else:
            self.engine.finish(token, rollback=False)
        return Answer(200, results)

    def _typed(self, record: Any) -> tuple[ObjectDef, Record]:  # noqa: ANN401 - one JSON element
        if not isinstance(record, dict):
            raise SfError(400, "JSON_PARSER_ERROR", "Each record must be an object", [])
        attrs = record.get("attributes")
        name = attrs.get("type") if isinstance(attrs, dict) else None
        if not name:
            raise SfError(400, "INVALID_TYPE", "Must specify a type in attributes", [])
        o = self.schema.get(str(name))
        if o is None:
            raise SfError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.", [])
        return o, {k: v for k, v in record.items() if k != "attributes"}

    def _create_one(self, request: Request, version: str, record: Any) -> Record:  # noqa: ANN401
        o, fields = self._typed(record)
        if any(k.lower() == "id" for k in fields):
            raise SfError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                "cannot specify Id in an insert call",
                ["Id"],
            )
        answer = self.create(request, o, version, fields)
        return dict(answer.body)

    def _update_one(self, request: Request, record: Any) -> Record:  # noqa: ANN401
        o, fields = self._typed(record)
        record_id = next((str(v) for k, v in fields.items() if k.lower() == "id"), None)
        if not record_id:
            raise SfError(400, "MISSING_ARGUMENT", "Id not specified in an update call", [])
        body = {k: v for k, v in fields.items() if k.lower() != "id"}
        rec = self.engine.update(o, record_id, body)
        self.on_write(request)
        return {"id": rec["Id"], "success": True, "errors": []}

    def _upsert_one(self, request: Request, o: ObjectDef, ext: str, record: Any) -> Record:  # noqa: ANN401
        typed, fields = self._typed(record)
        if typed.name != o.name:
            raise SfError(400, "INVALID_TYPE", f"Records must all be of type {o.name}", [])
        value = next((v for k, v in fields.items() if k.lower() == ext.lower()), None)
        if value in {None, ""}:
            raise SfError(400, "MISSING_ARGUMENT", f"{ext} not specified", [ext])
        try:
            rec, created = self.engine.upsert(o, ext, str(value), fields)
        except MultipleMatchesError as err:
            # [inferred code] collections report several matches per record, not as HTTP 300.
            raise SfError(
                400, "DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {value}", [ext]
            ) from err
        if created:
            self.on_create(request, o.name, self.engine.natural_key(o, rec), rec["Id"])
        else:
            self.on_write(request)
        return {"id": rec["Id"], "success": True, "errors": [], "created": created}

    def _delete_any(self, request: Request, record_id: Any) -> Record:  # noqa: ANN401
        text = str(record_id)
        o = self.schema.by_prefix.get(text[:3])
        if o is None:
            raise SfError(400, "MALFORMED_ID", f"malformed id {text}", [])
        rec = self.engine.delete(o, text)
        self.on_write(request)
        return {"id": rec["Id"], "success": True, "errors": []}


# ---------------------------------------------------------------------- helpers
def _not_allowed() -> Answer:
    return Answer(
        405,
        [
            {
                "message": "HTTP Method not allowed for this resource",
                "errorCode": "METHOD_NOT_ALLOWED",
                "fields": [],
            }
        ],
    )


def _halted() -> Record:
    # [inferred code] the reference marks PROCESSING_HALTED as inferred.
    return {"message": HALTED, "errorCode": "PROCESSING_HALTED", "fields": []}


def _sub(ref_id: str, answer: Answer) -> Record:
    return {
        "body": answer.body,
        "httpHeaders": answer.headers,
        "httpStatusCode": answer.status,
        "referenceId": ref_id,
    }


def _object_body(body: Any) -> Record:  # noqa: ANN401 - the decoded JSON body
    if not isinstance(body, dict):
        raise SfError(
            400,
            "JSON_PARSER_ERROR",
            "Cannot deserialize instance of sObject from the request body",
            [],
        )
    return body


def _url(version: str, o: ObjectDef, rec: Record) -> str:
    return f"/services/data/v{version}/sobjects/{o.name}/{rec['Id']}"


def _version_number(version: str) -> float:
    return float(version)


def _batch_size(headers: dict[str, str]) -> int:
    """``Sforce-Query-Options: batchSize=N``, kept within the documented 200-2000."""
    raw = next((v for k, v in headers.items() if k.lower() == "sforce-query-options"), "")
    m = re.search(r"batchSize\s*=\s*(\d+)", raw)
    if m is None:
        return 2000
    # [inferred] values outside 200-2000 are clamped rather than refused.
    return max(200, min(2000, int(m.group(1))))


def _lookup_path(value: Any, path: str) -> Any:  # noqa: ANN401 - walking a JSON body
    for part in re.findall(r"[^.\[\]]+", path):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise KeyError(path)
    return value


def _substitute(value: Any, results: dict[str, Answer]) -> Any:  # noqa: ANN401 - JSON in, JSON out
    """Replace ``@{ref.path}`` by values from earlier subresponses (ids, nested fields)."""
    if isinstance(value, dict):
        return {k: _substitute(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, results) for v in value]
    if not isinstance(value, str) or "@{" not in value:
        return value

    def one(m: re.Match[str]) -> str:
        ref, path = m.group(1), m.group(2)
        answer = results.get(ref)
        try:
            return str(_lookup_path(answer.body if answer and answer.status < 400 else None, path))
        except KeyError:
            raise SfError(
                400,
                "PROCESSING_HALTED",
                f"Invalid reference specified. No value for {ref}.{path} found in {ref}. Provided "
                f"referenceId ('{ref}') must be from a preceding subrequest.",
                [],
            ) from None

    whole = _REF.fullmatch(value)
    if whole is not None:
        answer = results.get(whole.group(1))
        if answer is not None and answer.status < 400:
            try:
                found = _lookup_path(answer.body, whole.group(2))
            except KeyError:
                found = None
            if found is not None and not isinstance(found, str):
                return found  # keep numbers and booleans typed
    return _REF.sub(one, value)


def decode_body(raw: bytes) -> Any:  # noqa: ANN401 - the decoded JSON body
    """The JSON body, or JSON_PARSER_ERROR as the platform answers malformed JSON."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise SfError(
            400, "JSON_PARSER_ERROR", f"Unexpected character in request body: {exc}", []
        ) from exc


def _too_many_records() -> SfError:
    """More than :data:`MAX_COLLECTION` records (or ids) in one sObject Collections call."""
    return SfError(
        400,
        "EXCEEDED_ID_LIMIT",
        f"record limit reached. cannot submit more than {MAX_COLLECTION} records into this call",
        [],
    )


def _heavy(url: str) -> bool:
    """Whether a composite subrequest is an sObject Collections or a query operation."""
    path = urlsplit(url).path
    m = re.match(r"^/services/data/v\d+\.\d/(.*)$", path)
    rest = m.group(1) if m else ""
    return rest.startswith(("composite/sobjects", "query", "queryAll"))


def _chunks(records: list[Any]) -> int:
    """Runs of records of one type, in order: ``{a1, a2, c1, a3}`` is three chunks."""
    types = [r.get("attributes", {}).get("type") if isinstance(r, dict) else None for r in records]
    return sum(1 for i, t in enumerate(types) if i == 0 or t != types[i - 1])
