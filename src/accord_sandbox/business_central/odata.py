"""OData v4 query options as Business Central accepts them: ``$filter``, ``$orderby``, ``$select``.

Pure functions over plain dict records: parsing, evaluation, sorting, projection and the
opaque ``$skiptoken``. Nothing here knows about routes, storage or HTTP; the emulator turns
:class:`ODataError` into BC's ``{"error":{"code":"BadRequest",...}}`` answer.
"""

import base64
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "And",
    "Compare",
    "Expr",
    "Func",
    "Not",
    "ODataError",
    "Or",
    "decode_skiptoken",
    "encode_skiptoken",
    "equality_lookup",
    "evaluate",
    "parse_filter",
    "parse_list",
    "parse_orderby",
    "sort_records",
]

Literal = str | Decimal | bool | date | datetime | None

_COMPARISONS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
_FUNCTIONS = frozenset({"contains", "startswith", "endswith"})

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w-]))
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\w-]))
  | (?P<number>-?\d+(?:\.\d+)?(?![\w-]))
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)


class ODataError(ValueError):
    """A query option the service cannot understand (answered as 400 ``BadRequest``)."""


@dataclass(frozen=True)
class Compare:
    """``field op literal`` (the literal may also stand on the left; it is normalised)."""

    field: str
    op: str
    value: Literal


@dataclass(frozen=True)
class Func:
    """``contains(field,'x')``, ``startswith(...)``, ``endswith(...)``."""

    name: str
    field: str
    value: str


@dataclass(frozen=True)
class And:
    """Both sides hold."""

    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class Or:
    """Either side holds."""

    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class Not:
    """The operand does not hold."""

    operand: "Expr"


Expr = Compare | Func | And | Or | Not

_FLIPPED = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ODataError(f"Syntax error at position {pos} in '{text}'.")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(_Tok(kind, m.group()))
    return tokens


class _Parser:
    """Recursive descent: ``or`` < ``and`` < ``not`` < comparison / function / parentheses."""

    def __init__(self, text: str, fields: frozenset[str], type_name: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.fields = fields
        self.type_name = type_name

    def peek(self) -> _Tok | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise ODataError(f"Unexpected end of the filter expression '{self.text}'.")
        self.pos += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            raise ODataError(f"Expected '{text}' but found '{tok.text}' in '{self.text}'.")

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "name" and tok.text == word:
            self.pos += 1
            return True
        return False

    def parse(self) -> Expr:
        expr = self.or_expr()
        if self.peek() is not None:
            raise ODataError(f"Unexpected '{self.take().text}' in '{self.text}'.")
        return expr

    def or_expr(self) -> Expr:
        left = self.and_expr()
        while self.keyword("or"):
            left = Or(left, self.and_expr())
        return left

    def and_expr(self) -> Expr:
        left = self.unary()
        while self.keyword("and"):
            left = And(left, self.unary())
        return left

    def unary(self) -> Expr:
        if self.keyword("not"):
            return Not(self.unary())
        tok = self.peek()
        if tok is not None and tok.text == "(":
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return inner
        if tok is not None and tok.kind == "name" and tok.text in _FUNCTIONS:
            return self.function()
        return self.comparison()

    def function(self) -> Func:
        name = self.take().text
        self.expect("(")
        field = self.property()
        self.expect(",")
        value = self.literal()
        self.expect(")")
        if not isinstance(value, str):
            raise ODataError(f"The function '{name}' needs a string literal.")
        return Func(name, field, value)

    def comparison(self) -> Compare:
        tok = self.peek()
        left_is_field = tok is not None and tok.kind == "name" and tok.text in self.fields
        if left_is_field:
            field = self.property()
            op = self.operator()
            return Compare(field, op, self.literal())
        value = self.literal()
        op = self.operator()
        return Compare(self.property(), _FLIPPED[op], value)

    def operator(self) -> str:
        tok = self.take()
        if tok.kind != "name" or tok.text not in _COMPARISONS:
            raise ODataError(f"Unknown operator '{tok.text}' in '{self.text}'.")
        return tok.text

    def property(self) -> str:
        tok = self.take()
        if tok.kind != "name":
            raise ODataError(f"Expected a property name but found '{tok.text}'.")
        if tok.text not in self.fields:
            # The message of the OData library BC runs on [inferred wording].
            raise ODataError(
                f"Could not find a property named '{tok.text}' on type "
                f"'Microsoft.NAV.{self.type_name}'."
            )
        return tok.text

    def literal(self) -> Literal:  # noqa: PLR0911 - one return per literal kind
        tok = self.take()
        match tok.kind:
            case "string":
                return tok.text[1:-1].replace("''", "'")
            case "guid":
                return tok.text.lower()
            case "number":
                return Decimal(tok.text)
            case "date":
                return _parse_date(tok.text)
            case "datetime":
                return _parse_datetime(tok.text)
            case "name" if tok.text in {"true", "false"}:
                return tok.text == "true"
            case "name" if tok.text == "null":
                return None
            case _:
                raise ODataError(f"Expected a literal but found '{tok.text}' in '{self.text}'.")


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ODataError(f"'{text}' is not a valid Edm.Date.") from exc


def _parse_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ODataError(f"'{text}' is not a valid Edm.DateTimeOffset.") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_filter(text: str, fields: Iterable[str], type_name: str = "entity") -> Expr:
    """Parse a ``$filter`` expression against the property names of one entity type.

    Raises:
        ODataError: on a syntax error or an unknown property.
    """
    return _Parser(text, frozenset(fields), type_name).parse()


def equality_lookup(expr: Expr, indexed: Iterable[str]) -> tuple[str, str] | None:
    """``(field, value)`` when the filter requires ``field eq 'value'`` on an indexed field.

    Lets the store answer the verify-before-create probes (``number eq 'X'``,
    ``externalDocumentNumber eq 'X'``) from an index instead of a scan; the full filter is
    still evaluated on the candidates.
    """
    names = set(indexed)
    if isinstance(expr, Compare) and expr.op == "eq" and expr.field in names:
        return (expr.field, expr.value) if isinstance(expr.value, str) else None
    if isinstance(expr, And):
        return equality_lookup(expr.left, names) or equality_lookup(expr.right, names)
    return None


def _coerce(value: Any, literal: Literal) -> tuple[Any, Any]:  # noqa: ANN401 - raw record value
    """Bring a record value and a literal to one comparable type, or refuse the comparison."""
    if isinstance(literal, bool):
        if not isinstance(value, bool):
            raise ODataError("A binary operator with incompatible types was detected.")
        return value, literal
    if isinstance(literal, Decimal):
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise ODataError("A binary operator with incompatible types was detected.")
        return Decimal(str(value)), literal
    if isinstance(literal, datetime):
        if not isinstance(value, str):
            raise ODataError("A binary operator with incompatible types was detected.")
        return _parse_datetime(value), literal
    if isinstance(literal, date):
        if not isinstance(value, str):
            raise ODataError("A binary operator with incompatible types was detected.")
        return _parse_date(value[:10]), literal
    if not isinstance(value, str):
        raise ODataError("A binary operator with incompatible types was detected.")
    return value, literal


def _compare(op: str, left: Any, right: Any) -> bool:  # noqa: ANN401 - coerced values
    match op:
        case "eq":
            return bool(left == right)
        case "ne":
            return bool(left != right)
        case "gt":
            return bool(left > right)
        case "ge":
            return bool(left >= right)
        case "lt":
            return bool(left < right)
        case _:
            return bool(left <= right)


def evaluate(expr: Expr, record: dict[str, Any]) -> bool:  # noqa: PLR0911 - one per node kind
    """Whether ``record`` satisfies ``expr``.

    Raises:
        ODataError: when a property is compared with a literal of another type.
    """
    if isinstance(expr, And):
        return evaluate(expr.left, record) and evaluate(expr.right, record)
    if isinstance(expr, Or):
        return evaluate(expr.left, record) or evaluate(expr.right, record)
    if isinstance(expr, Not):
        return not evaluate(expr.operand, record)
    value = record.get(expr.field)
    if isinstance(expr, Func):
        text = value if isinstance(value, str) else ""
        match expr.name:
            case "contains":
                return expr.value in text
            case "startswith":
                return text.startswith(expr.value)
            case _:
                return text.endswith(expr.value)
    if expr.value is None or value is None:
        same = (value is None) == (expr.value is None)
        return same if expr.op == "eq" else (not same if expr.op == "ne" else False)
    left, right = _coerce(value, expr.value)
    if isinstance(expr.value, str) and _looks_like_guid(expr.value):
        left = left.lower()
    return _compare(expr.op, left, right)


def _looks_like_guid(text: str) -> bool:
    return len(text) == 36 and text.count("-") == 4


def parse_list(text: str, allowed: Iterable[str], type_name: str = "entity") -> list[str]:
    """Split ``$select`` / ``$expand`` into names, refusing any the type does not have."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    known = set(allowed)
    for name in names:
        if name not in known:
            raise ODataError(
                f"Could not find a property named '{name}' on type 'Microsoft.NAV.{type_name}'."
            )
    return names


def parse_orderby(
    text: str, fields: Iterable[str], type_name: str = "entity"
) -> list[tuple[str, bool]]:
    """``$orderby=a desc,b`` as ``[("a", True), ("b", False)]`` (True = descending)."""
    known = set(fields)
    keys: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in {"asc", "desc"}):
            raise ODataError(f"The $orderby clause '{text}' is not valid.")
        if words[0] not in known:
            raise ODataError(
                f"Could not find a property named '{words[0]}' on type 'Microsoft.NAV.{type_name}'."
            )
        keys.append((words[0], len(words) == 2 and words[1] == "desc"))
    return keys


def _sort_key(value: Any) -> tuple[int, Any]:  # noqa: ANN401 - raw record value
    """Nulls first, then numbers, then everything else as text (ISO dates sort as text)."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float | Decimal):
        return (1, Decimal(str(value)))
    return (2, str(value))


def sort_records(
    records: Sequence[dict[str, Any]], keys: Sequence[tuple[str, bool]]
) -> list[dict[str, Any]]:
    """Stable multi-key sort; applied from the last key to the first so directions can mix."""
    out = list(records)
    for name, descending in reversed(keys):
        out.sort(key=_key_of(name), reverse=descending)
    return out


def _key_of(name: str) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    def key(record: dict[str, Any]) -> tuple[int, Any]:
        return _sort_key(record.get(name))

    return key


def encode_skiptoken(offset: int) -> str:
    """An opaque ``$skiptoken`` for the next page (clients must not parse it)."""
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def decode_skiptoken(token: str) -> int:
    """The offset inside a ``$skiptoken`` made by :func:`encode_skiptoken`.

    Raises:
        ODataError: when the token was not made by this service.
    """
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, number = raw.partition(":")
        offset = int(number)
    except (ValueError, UnicodeDecodeError, InvalidOperation) as exc:
        raise ODataError("The skip token is not valid.") from exc
    if prefix != "offset" or offset < 0:
        raise ODataError("The skip token is not valid.")
    return offset
