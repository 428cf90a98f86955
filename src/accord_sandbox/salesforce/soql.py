"""SOQL: a parser and evaluator for the subset the connectors use, as pure functions.

Supported: ``SELECT`` field list (parent relationship paths such as ``Account.Name``,
``Owner.Email``), ``COUNT()`` and ``COUNT(field)``, ``FROM``, ``WHERE`` with ``= != <> < > <=
>= LIKE IN NOT IN``, ``AND``/``OR``/``NOT`` and parentheses, ``null``, ``true``/``false``, date
and datetime literals and the date functions ``TODAY YESTERDAY TOMORROW LAST_N_DAYS:n
NEXT_N_DAYS:n THIS_MONTH LAST_MONTH THIS_YEAR``, ``ORDER BY`` (``ASC``/``DESC``, ``NULLS
FIRST``/``LAST``), ``LIMIT`` and ``OFFSET``. Anything else (GROUP BY, semi-joins, child
subqueries) answers ``MALFORMED_QUERY``. Paging and HTTP live in ``app.py``; this module never
sees a request.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from accord_sandbox.salesforce.ids import is_well_formed, to_18
from accord_sandbox.salesforce.schema import (
    NUMBER_TYPES,
    FieldDef,
    ObjectDef,
    Schema,
    read_value,
)

__all__ = ["Query", "SoqlError", "execute", "parse", "parse_datetime", "project"]

Record = dict[str, Any]
Lookup = Callable[[str, str], Record | None]


class SoqlError(Exception):
    """A query the platform would refuse; carries the Salesforce ``errorCode``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<datefn>[A-Za-z_]+:-?\d+)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    | (?P<op>!=|<>|<=|>=|=|<|>)
    | (?P<punct>[(),])
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_DATE_FUNCTIONS = frozenset(
    {"TODAY", "YESTERDAY", "TOMORROW", "THIS_MONTH", "LAST_MONTH", "THIS_YEAR"}
)
_N_FUNCTIONS = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS"})


@dataclass(frozen=True)
class Lit:
    """A literal: kind is string, number, bool, null, date, datetime or datefn."""

    kind: str
    value: Any


@dataclass(frozen=True)
class Cond:
    """``path op value``; value is a tuple of literals for IN / NOT IN."""

    path: tuple[str, ...]
    op: str
    value: Lit | tuple[Lit, ...]


@dataclass(frozen=True)
class BoolOp:
    """AND / OR of conditions, or NOT of one (``items`` has one element)."""

    op: str
    items: tuple["Cond | BoolOp", ...]


@dataclass(frozen=True)
class Order:
    """One ``ORDER BY`` item."""

    path: tuple[str, ...]
    desc: bool
    nulls_last: bool


@dataclass
class Query:
    """A parsed SOQL statement."""

    obj: str
    fields: list[tuple[str, ...]] = field(default_factory=list)
    count: bool = False
    """``SELECT COUNT()``: only ``totalSize`` is answered."""
    count_field: tuple[str, ...] | None = None
    where: Cond | BoolOp | None = None
    order: list[Order] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0


# --------------------------------------------------------------------------- parsing
def _tokenize(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = text[pos:].strip().split(" ", 1)[0]
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{bad}'")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("eof", "")

    def kw(self, *words: str) -> bool:
        kind, value = self.peek()
        if kind == "ident" and value.upper() in words:
            self.i += 1
            return True
        return False

    def expect_kw(self, word: str) -> None:
        if not self.kw(word):
            raise SoqlError(
                "MALFORMED_QUERY", f"unexpected token: '{self.peek()[1]}', expected {word}"
            )

    def expect(self, kind: str, value: str | None = None) -> str:
        k, v = self.peek()
        if k != kind or (value is not None and v != value):
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{v or 'end of query'}'")
        self.i += 1
        return v

    def path(self) -> tuple[str, ...]:
        return tuple(self.expect("ident").split("."))

    def query(self) -> Query:  # noqa: PLR0912 - one branch per clause
        self.expect_kw("SELECT")
        q = Query(obj="")
        while True:
            if self.peek() == ("punct", "("):
                raise SoqlError(
                    "MALFORMED_QUERY", "child relationship subqueries are not supported"
                )
            kind, value = self.peek()
            if kind == "ident" and value.upper() == "COUNT":
                self.i += 1
                self.expect("punct", "(")
                if self.peek() == ("punct", ")"):
                    q.count = True
                else:
                    q.count_field = self.path()
                self.expect("punct", ")")
            else:
                q.fields.append(self.path())
            if self.peek() != ("punct", ","):
                break
            self.i += 1
        self.expect_kw("FROM")
        q.obj = self.expect("ident")
        if self.kw("WHERE"):
            q.where = self.or_expr()
        if self.kw("GROUP", "HAVING"):
            raise SoqlError(
                "MALFORMED_QUERY", "GROUP BY and HAVING are not supported by the emulator"
            )
        if self.kw("ORDER"):
            self.expect_kw("BY")
            q.order.append(self.order_item())
            while self.peek() == ("punct", ","):
                self.i += 1
                q.order.append(self.order_item())
        if self.kw("LIMIT"):
            q.limit = int(self.expect("number"))
        if self.kw("OFFSET"):
            q.offset = int(self.expect("number"))
            if q.offset > 2000:
                raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000")
        if self.peek()[0] != "eof":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{self.peek()[1]}'")
        return q

    def order_item(self) -> Order:
        p = self.path()
        desc = False
        if self.kw("DESC"):
            desc = True
        else:
            self.kw("ASC")
        nulls_last = desc  # the platform's default: nulls first ascending, last descending
        if self.kw("NULLS"):
            if self.kw("LAST"):
                nulls_last = True
            else:
                self.expect_kw("FIRST")
                nulls_last = False
        return Order(p, desc, nulls_last)

    def or_expr(self) -> Cond | BoolOp:
        items = [self.and_expr()]
        while self.kw("OR"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("OR", tuple(items))

    def and_expr(self) -> Cond | BoolOp:
        items = [self.not_expr()]
        while self.kw("AND"):
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else BoolOp("AND", tuple(items))

    def not_expr(self) -> Cond | BoolOp:
        if self.kw("NOT"):
            return BoolOp("NOT", (self.not_expr(),))
        if self.peek() == ("punct", "("):
            self.i += 1
            inner = self.or_expr()
            self.expect("punct", ")")
            return inner
        return self.condition()

    def condition(self) -> Cond:
        p = self.path()
        if self.kw("NOT"):
            self.expect_kw("IN")
            return Cond(p, "NOT IN", self.literal_list())
        if self.kw("IN"):
            return Cond(p, "IN", self.literal_list())
        if self.kw("LIKE"):
            return Cond(p, "LIKE", self.literal())
        if self.kw("INCLUDES", "EXCLUDES"):
            raise SoqlError(
                "MALFORMED_QUERY", "INCLUDES/EXCLUDES are not supported by the emulator"
            )
        op = self.expect("op")
        return Cond(p, "!=" if op == "<>" else op, self.literal())

    def literal_list(self) -> tuple[Lit, ...]:
        self.expect("punct", "(")
        if self.kw("SELECT"):
            raise SoqlError(
                "MALFORMED_QUERY", "semi-join subqueries are not supported by the emulator"
            )
        items = [self.literal()]
        while self.peek() == ("punct", ","):
            self.i += 1
            items.append(self.literal())
        self.expect("punct", ")")
        return tuple(items)

    def literal(self) -> Lit:  # noqa: PLR0911 - one return per literal kind
        kind, value = self.peek()
        self.i += 1
        if kind == "string":
            body = re.sub(
                r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), value[1:-1]
            )
            return Lit("string", body)
        if kind == "number":
            return Lit("number", float(value))
        if kind == "date":
            return Lit("date", date.fromisoformat(value))
        if kind == "datetime":
            return Lit("datetime", parse_datetime(value))
        if kind == "datefn":
            name, n = value.split(":")
            if name.upper() not in _N_FUNCTIONS:
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{value}'")
            return Lit("datefn", (name.upper(), int(n)))
        if kind == "ident":
            upper = value.upper()
            if upper in {"TRUE", "FALSE"}:
                return Lit("bool", upper == "TRUE")
            if upper == "NULL":
                return Lit("null", None)
            if upper in _DATE_FUNCTIONS:
                return Lit("datefn", (upper, 0))
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{value or 'end of query'}'")


def parse(text: str) -> Query:
    """Parse one SOQL statement (raises :class:`SoqlError` as MALFORMED_QUERY)."""
    return _Parser(text).query()


def parse_datetime(value: str) -> datetime:
    """A UTC-aware datetime from the ISO forms Salesforce accepts (``Z``, ``+0000``, ``+00:00``)."""
    text = value.strip().replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# --------------------------------------------------------------------------- resolution
def _resolve(
    schema: Schema, obj: ObjectDef, path: tuple[str, ...]
) -> tuple[list[FieldDef], FieldDef]:
    """The reference fields walked and the final field of a (relationship) path."""
    hops: list[FieldDef] = []
    current = obj
    for name in path[:-1]:
        ref = current.relationship(name)
        target = schema.get(ref.reference_to[0]) if ref is not None else None
        if ref is None or target is None:
            raise SoqlError(
                "INVALID_FIELD",
                f"Didn't understand relationship '{name}' in field path. If you are attempting to "
                "use a custom relationship, be sure to append the '__r' after the custom "
                "relationship name. Please reference your WSDL or the describe call for the "
                "appropriate names.",
            )
        hops.append(ref)
        current = target
    f = current.field(path[-1])
    if f is None:
        raise SoqlError(
            "INVALID_FIELD",
            f"No such column '{path[-1]}' on entity '{current.name}'. If you are attempting to use "
            "a custom field, be sure to append the '__c' after the custom field name. Please "
            "reference your WSDL or the describe call for the appropriate names.",
        )
    return hops, f


def _walk(hops: list[FieldDef], record: Record | None, lookup: Lookup) -> Record | None:
    for ref in hops:
        if record is None:
            return None
        target_id = record.get(ref.name)
        record = lookup(ref.reference_to[0], target_id) if target_id else None
    return record


# --------------------------------------------------------------------------- evaluation
def _typed(f: FieldDef, value: Any) -> Any:  # noqa: ANN401, PLR0911 - one return per type
    """A stored value in a form that compares the way SOQL compares that field type."""
    if value is None:
        return None
    if f.type == "date":
        return date.fromisoformat(value)
    if f.type == "datetime":
        return parse_datetime(value)
    if f.type in NUMBER_TYPES:
        return float(value)
    if f.type == "boolean":
        return bool(value)
    if isinstance(value, str):
        return value.lower()  # text comparisons are case-insensitive
    return value


def _date_range(fn: tuple[str, int], today: date) -> tuple[date, date]:  # noqa: PLR0911
    """Half-open [start, end) of a date function; ``LAST_N_DAYS:n`` spans n days plus today."""
    name, n = fn
    if name == "TODAY":
        return today, today + timedelta(days=1)
    if name == "YESTERDAY":
        return today - timedelta(days=1), today
    if name == "TOMORROW":
        return today + timedelta(days=1), today + timedelta(days=2)
    if name == "LAST_N_DAYS":
        return today - timedelta(days=n), today + timedelta(days=1)
    if name == "NEXT_N_DAYS":
        return today + timedelta(days=1), today + timedelta(days=n + 1)
    first = today.replace(day=1)
    if name == "THIS_MONTH":
        return first, (first + timedelta(days=32)).replace(day=1)
    if name == "LAST_MONTH":
        return (first - timedelta(days=1)).replace(day=1), first
    return today.replace(month=1, day=1), today.replace(year=today.year + 1, month=1, day=1)


def _literal(f: FieldDef, lit: Lit, today: date) -> Any:  # noqa: ANN401, PLR0911 - one per type
    """Check a literal against the field type and convert it like :func:`_typed`."""
    if lit.kind == "null":
        return None
    bad = SoqlError(
        "INVALID_QUERY_FILTER_OPERATOR",
        f"value of filter criterion for field '{f.name}' must be of type {f.type} "
        "and should not be enclosed in quotes"
        if lit.kind != "string"
        else f"value of filter criterion for field '{f.name}' must be of type {f.type}",
    )
    if f.type in {"date", "datetime"}:
        if lit.kind == "datefn":
            start, end = _date_range(lit.value, today)
            if f.type == "datetime":
                return (_midnight(start), _midnight(end))
            return (start, end)
        if lit.kind == "date" and f.type == "date":
            return lit.value
        if lit.kind == "datetime" and f.type == "datetime":
            return lit.value
        raise bad
    if f.type in NUMBER_TYPES:
        if lit.kind != "number":
            raise bad
        return lit.value
    if f.type == "boolean":
        if lit.kind != "bool":
            raise bad
        return lit.value
    if lit.kind != "string":
        raise bad
    if f.type in {"id", "reference"} and is_well_formed(lit.value):
        return to_18(lit.value).lower()
    return lit.value.lower()


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _compare(op: str, left: Any, right: Any) -> bool:  # noqa: ANN401, PLR0911
    if isinstance(right, tuple):  # a date function: compare against its range
        if left is None:
            return op == "!="
        start, end = right
        inside = start <= left < end
        return bool(
            {
                "=": inside,
                "!=": not inside,
                "<": left < start,
                "<=": left < end,
                ">": left >= end,
                ">=": left >= start,
            }[op]
        )
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _like(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _compile(
    node: Cond | BoolOp, schema: Schema, obj: ObjectDef, lookup: Lookup, today: date
) -> Callable[[Record], bool]:
    """A predicate over records; literals are checked once, before any record is read."""
    if isinstance(node, BoolOp):
        parts = [_compile(item, schema, obj, lookup, today) for item in node.items]
        if node.op == "NOT":
            return lambda r: not parts[0](r)
        if node.op == "AND":
            return lambda r: all(p(r) for p in parts)
        return lambda r: any(p(r) for p in parts)
    hops, f = _resolve(schema, obj, node.path)

    def value(r: Record) -> Any:  # noqa: ANN401
        target = _walk(hops, r, lookup)
        return None if target is None else _typed(f, read_value(f, target))

    if node.op in {"IN", "NOT IN"}:
        assert isinstance(node.value, tuple)
        options = {_literal(f, lit, today) for lit in node.value}
        negate = node.op == "NOT IN"
        return lambda r: (value(r) in options) != negate
    assert isinstance(node.value, Lit)
    if node.op == "LIKE":
        if node.value.kind != "string":
            raise SoqlError("MALFORMED_QUERY", "LIKE needs a string value")
        rx = _like(node.value.value)
        return lambda r: isinstance(v := value(r), str) and rx.fullmatch(v) is not None
    right = _literal(f, node.value, today)
    op = node.op
    return lambda r: _compare(op, value(r), right)


def execute(
    query: Query, schema: Schema, rows: list[Record], lookup: Lookup, today: date
) -> list[Record]:
    """The rows that match, ordered, offset and limited (still stored records, not projected)."""
    obj = schema.get(query.obj)
    if obj is None:
        raise SoqlError(
            "INVALID_TYPE",
            f"sObject type '{query.obj}' is not supported. If you are attempting to use a custom "
            "object, be sure to append the '__c' after the entity name. Please reference your "
            "WSDL or the describe call for the appropriate names.",
        )
    seen: set[str] = set()
    for p in query.fields:
        _resolve(schema, obj, p)
        key = ".".join(p).lower()
        if key in seen:
            raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {'.'.join(p)}")
        seen.add(key)
    if query.count_field is not None:
        _resolve(schema, obj, query.count_field)
    if query.where is not None:
        predicate = _compile(query.where, schema, obj, lookup, today)
        rows = [r for r in rows if predicate(r)]
    for item in reversed(query.order):  # stable sorts, last key first
        hops, f = _resolve(schema, obj, item.path)

        def sort_key(r: Record, hops: list[FieldDef] = hops, f: FieldDef = f) -> Any:  # noqa: ANN401
            target = _walk(hops, r, lookup)
            return None if target is None else _typed(f, read_value(f, target))

        present = [r for r in rows if sort_key(r) is not None]
        missing = [r for r in rows if sort_key(r) is None]
        present.sort(key=sort_key, reverse=item.desc)
        rows = present + missing if item.nulls_last else missing + present
    rows = rows[query.offset :]
    if query.limit is not None:
        rows = rows[: query.limit]
    return rows


def project(query: Query, schema: Schema, record: Record, lookup: Lookup, version: str) -> Record:
    """One result row: ``attributes`` plus the selected fields, parents nested by relationship."""
    obj = schema.get(query.obj)
    assert obj is not None
    out = _attributes(obj, record, version)
    for p in query.fields:
        _place(
            schema=schema, obj=obj, record=record, path=p, out=out, lookup=lookup, version=version
        )
    return out


def _attributes(obj: ObjectDef, record: Record, version: str) -> Record:
    url = f"/services/data/v{version}/sobjects/{obj.name}/{record['Id']}"
    return {"attributes": {"type": obj.name, "url": url}}


def _place(
    *,
    schema: Schema,
    obj: ObjectDef,
    record: Record,
    path: tuple[str, ...],
    out: Record,
    lookup: Lookup,
    version: str,
) -> None:
    if len(path) == 1:
        f = obj.field(path[0])
        assert f is not None
        out[f.name] = read_value(f, record)
        return
    ref = obj.relationship(path[0])
    assert ref is not None
    rel = ref.relationship_name or path[0]
    target_obj = schema.get(ref.reference_to[0])
    parent_id = record.get(ref.name)
    parent = lookup(ref.reference_to[0], parent_id) if parent_id else None
    if parent is None or target_obj is None:
        out.setdefault(rel, None)
        return
    nested = out.get(rel)
    if not isinstance(nested, dict):
        nested = _attributes(target_obj, parent, version)
        out[rel] = nested
    _place(
        schema=schema,
        obj=target_obj,
        record=parent,
        path=path[1:],
        out=nested,
        lookup=lookup,
        version=version,
    )
