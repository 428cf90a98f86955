"""A small SuiteQL engine: parse one ``SELECT`` over one table and run it over rows.

Supported (reference section 4.4 plus the issue): ``SELECT *`` or a column list (``col``,
``t.col``, ``col AS alias``), ``FROM table [alias]``, ``WHERE`` with ``AND`` / ``OR`` / ``NOT``,
parentheses, ``= != <> < <= > >=``, ``IS [NOT] NULL``, ``[NOT] IN (...)``, ``[NOT] LIKE``,
``BETWEEN x AND y``, literals (``'text'``, numbers) and ``TO_TIMESTAMP('...', 'YYYY-MM-DD
HH24:MI:SS')`` / ``TO_DATE(...)``, and ``ORDER BY col [ASC|DESC], ...``. Comparisons follow SQL's
three-valued logic (``NULL`` never matches). Joins, aggregates and functions other than the two
above answer an error. Pure: rows come in as mappings of lower-case column names to values.
"""

import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["Query", "SuiteQLError", "execute", "format_value", "parse"]

Row = Mapping[str, Any]
Getter = Callable[[Row], Any]
Test = Callable[[Row], bool | None]

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)"
    r"|(?P<op><=|>=|<>|!=|=|<|>|\(|\)|,|\*))"
)
_KEYWORDS = {
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "ORDER", "BY", "ASC", "DESC", "IS", "NULL",
    "IN", "LIKE", "BETWEEN", "AS",
}  # fmt: skip
_ORACLE_FORMAT = (
    ("YYYY", "%Y"), ("HH24", "%H"), ("HH12", "%I"), ("MI", "%M"), ("SS", "%S"), ("MM", "%m"),
    ("DD", "%d"), ("HH", "%I"), ("AM", "%p"), ("PM", "%p"), ('"T"', "T"),
)  # fmt: skip
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%m/%d/%Y", "%d.%m.%Y")


class SuiteQLError(ValueError):
    """The query is invalid; the message completes ``"Search error occurred: "``."""


@dataclass(frozen=True)
class Query:
    """A parsed query: output columns (None = ``*``), table, filter and sort keys."""

    columns: tuple[tuple[str, str], ...] | None
    table: str
    where: Test | None
    order: tuple[tuple[str, bool], ...]
    referenced: frozenset[str]
    """Every column named anywhere, checked against the table before running."""


def _to_datetime(text: str, fmt: str | None = None) -> datetime:
    if fmt is not None:
        py = fmt.upper()
        for oracle, strf in _ORACLE_FORMAT:
            py = py.replace(oracle, strf)
        try:
            return datetime.strptime(text, py)  # noqa: DTZ007 - NetSuite stamps are naive
        except ValueError:
            raise SuiteQLError(f"Invalid date value '{text}' for format '{fmt}'.") from None
    for candidate in _DATE_FORMATS:
        try:
            return datetime.strptime(text, candidate)  # noqa: DTZ007 - NetSuite stamps are naive
        except ValueError:
            continue
    raise SuiteQLError(f"Invalid date value '{text}'.")


def _norm(a: Any, b: Any) -> tuple[Any, Any]:  # noqa: ANN401 - SQL values are dynamic
    """Bring two SQL values to comparable Python types (dates win, then numbers, then text)."""
    if isinstance(a, date | datetime) or isinstance(b, date | datetime):
        a2 = a if isinstance(a, date | datetime) else _to_datetime(str(a))
        b2 = b if isinstance(b, date | datetime) else _to_datetime(str(b))
        if not isinstance(a2, datetime):
            a2 = datetime(a2.year, a2.month, a2.day)  # noqa: DTZ001 - naive like NetSuite
        if not isinstance(b2, datetime):
            b2 = datetime(b2.year, b2.month, b2.day)  # noqa: DTZ001 - naive like NetSuite
        return a2, b2
    if isinstance(a, int | float | Decimal) or isinstance(b, int | float | Decimal):
        try:
            return Decimal(str(a)), Decimal(str(b))
        except InvalidOperation:
            return str(a), str(b)
    return str(a), str(b)


_COMPARATORS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _compare(op: str, a: Any, b: Any) -> bool | None:  # noqa: ANN401 - SQL values are dynamic
    if a is None or b is None:
        return None
    x, y = _norm(a, b)
    return bool(_COMPARATORS[op](x, y))


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def _either(a: Test, b: Test) -> Test:
    return lambda r: _or(a(r), b(r))


def _both(a: Test, b: Test) -> Test:
    return lambda r: _and(a(r), b(r))


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks: list[tuple[str, str]] = []
        pos = 0
        text = text.strip().rstrip(";")
        while pos < len(text):
            if not text[pos:].strip():
                break
            m = _TOKEN.match(text, pos)
            if m is None:
                raise SuiteQLError("Invalid or unsupported search.")
            kind = m.lastgroup or "op"
            self.toks.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0
        self.alias: set[str] = set()
        self.referenced: set[str] = set()

    def peek(self, offset: int = 0) -> tuple[str, str]:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else ("end", "")

    def kw(self, word: str) -> bool:
        kind, val = self.peek()
        if kind == "name" and val.upper() == word:
            self.i += 1
            return True
        return False

    def expect_kw(self, word: str) -> None:
        if not self.kw(word):
            raise SuiteQLError("Invalid or unsupported search.")

    def op(self, value: str) -> bool:
        if self.peek() == ("op", value):
            self.i += 1
            return True
        return False

    def column(self, name: str) -> str:
        prefix, _, col = name.rpartition(".")
        if prefix and prefix.lower() not in self.alias:
            raise SuiteQLError(f"Field '{name}' not found.")
        col = col.lower()
        self.referenced.add(col)
        return col

    # ---------------------------------------------------------------- grammar
    def query(self) -> Query:
        self.expect_kw("SELECT")
        start = self.i
        # Skip the select list to read FROM first: column prefixes need the table alias.
        depth = 0
        while self.peek()[0] != "end" and not (
            depth == 0 and self.peek()[0] == "name" and self.peek()[1].upper() == "FROM"
        ):
            depth += {"(": 1, ")": -1}.get(self.peek()[1], 0) if self.peek()[0] == "op" else 0
            self.i += 1
        self.expect_kw("FROM")
        kind, table = self.peek()
        if kind != "name" or "." in table:
            raise SuiteQLError("Invalid or unsupported search.")
        self.i += 1
        self.alias = {table.lower()}
        kind, alias = self.peek()
        if kind == "name" and alias.upper() not in _KEYWORDS:
            self.alias.add(alias.lower())
            self.i += 1
        after_from = self.i
        self.i = start
        columns = self.select_list()
        self.i = after_from
        where = self.or_expr() if self.kw("WHERE") else None
        order: list[tuple[str, bool]] = []
        if self.kw("ORDER"):
            self.expect_kw("BY")
            while True:
                kind, name = self.peek()
                if kind != "name":
                    raise SuiteQLError("Invalid or unsupported search.")
                self.i += 1
                desc = self.kw("DESC")
                if not desc:
                    self.kw("ASC")
                order.append((name, desc))
                if not self.op(","):
                    break
        if self.peek()[0] != "end":
            raise SuiteQLError("Invalid or unsupported search.")
        return Query(
            columns=columns,
            table=table.lower(),
            where=where,
            order=tuple(order),
            referenced=frozenset(self.referenced),
        )

    def select_list(self) -> tuple[tuple[str, str], ...] | None:
        if self.op("*"):
            return None
        cols: list[tuple[str, str]] = []
        while True:
            kind, name = self.peek()
            if kind != "name" or name.upper() in _KEYWORDS:
                raise SuiteQLError("Invalid or unsupported search.")
            self.i += 1
            col = self.column(name)
            alias = col
            bare_alias = self.peek()[0] == "name" and self.peek()[1].upper() not in _KEYWORDS
            if self.kw("AS") or bare_alias:
                alias = self.peek()[1].lower()
                self.i += 1
            cols.append((col, alias))
            if not self.op(","):
                return tuple(cols)

    def or_expr(self) -> Test:
        left = self.and_expr()
        while self.kw("OR"):
            right = self.and_expr()
            left = _either(left, right)
        return left

    def and_expr(self) -> Test:
        left = self.not_expr()
        while self.kw("AND"):
            right = self.not_expr()
            left = _both(left, right)
        return left

    def not_expr(self) -> Test:
        if self.kw("NOT"):
            inner = self.not_expr()

            def negated(r: Row) -> bool | None:
                v = inner(r)
                return None if v is None else not v

            return negated
        # Operands never start with "(" (no sub-queries), so "(" always opens a condition group.
        if self.peek() == ("op", "("):
            self.i += 1
            inner = self.or_expr()
            if not self.op(")"):
                raise SuiteQLError("Invalid or unsupported search.")
            return inner
        return self.predicate()

    def predicate(self) -> Test:
        left = self.operand()
        if self.kw("IS"):
            negate = self.kw("NOT")
            self.expect_kw("NULL")
            return lambda r: (left(r) is None) != negate
        negate = self.kw("NOT")
        if self.kw("IN"):
            if not self.op("("):
                raise SuiteQLError("Invalid or unsupported search.")
            options = [self.operand()]
            while self.op(","):
                options.append(self.operand())
            if not self.op(")"):
                raise SuiteQLError("Invalid or unsupported search.")

            def within(r: Row) -> bool | None:
                v = left(r)
                hits = [_compare("=", v, o(r)) for o in options]
                found = True if True in hits else (None if None in hits else False)
                return None if found is None else found != negate

            return within
        if self.kw("LIKE"):
            pattern = self.operand()

            def like(r: Row) -> bool | None:
                v, p = left(r), pattern(r)
                if v is None or p is None:
                    return None
                rx = "".join(
                    ".*" if c == "%" else "." if c == "_" else re.escape(c) for c in str(p)
                )
                return (re.fullmatch(rx, str(v), re.DOTALL) is not None) != negate

            return like
        if self.kw("BETWEEN"):
            low = self.operand()
            self.expect_kw("AND")
            high = self.operand()

            def between(r: Row) -> bool | None:
                v = left(r)
                res = _and(_compare(">=", v, low(r)), _compare("<=", v, high(r)))
                return None if res is None else res != negate

            return between
        if negate:
            raise SuiteQLError("Invalid or unsupported search.")
        kind, op = self.peek()
        if kind != "op" or op not in ("=", "!=", "<>", "<", "<=", ">", ">="):
            raise SuiteQLError("Invalid or unsupported search.")
        self.i += 1
        right = self.operand()
        return lambda r: _compare(op, left(r), right(r))

    def operand(self) -> Getter:
        kind, val = self.peek()
        self.i += 1
        if kind == "str":
            text = val[1:-1].replace("''", "'")
            return lambda _r: text
        if kind == "num":
            num = Decimal(val)
            return lambda _r: num
        if kind == "name" and self.peek() == ("op", "("):
            return self.function(val.upper())
        if kind == "name" and val.upper() == "NULL":
            return lambda _r: None
        if kind == "name" and val.upper() not in _KEYWORDS:
            col = self.column(val)
            return lambda r: r.get(col)
        raise SuiteQLError("Invalid or unsupported search.")

    def function(self, name: str) -> Getter:
        self.i += 1  # the "("
        args: list[str] = []
        while True:
            kind, val = self.peek()
            if kind != "str":
                raise SuiteQLError(f"Unsupported function argument in {name}.")
            args.append(val[1:-1].replace("''", "'"))
            self.i += 1
            if not self.op(","):
                break
        if not self.op(")") or name not in ("TO_TIMESTAMP", "TO_DATE") or len(args) > 2:
            raise SuiteQLError(f"Unsupported function {name}.")
        stamp = _to_datetime(args[0], args[1] if len(args) == 2 else None)
        return lambda _r: stamp


def parse(text: str) -> Query:
    """Parse one SuiteQL ``SELECT``.

    Raises:
        SuiteQLError: syntax outside the supported subset.
    """
    if not text.strip():
        raise SuiteQLError("Invalid or unsupported search.")
    return _Parser(text).query()


def _sort_key(value: Any) -> tuple[int, Any]:  # noqa: ANN401 - SQL values are dynamic
    # NULL sorts as the largest value: last ascending, first descending, as in Oracle.
    if value is None:
        return (1, 0)
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)  # noqa: DTZ001 - naive like NetSuite
    if isinstance(value, int | float):
        value = Decimal(str(value))
    return (0, value)


def execute(query: Query, columns: Sequence[str], rows: Iterable[Row]) -> list[dict[str, Any]]:
    """Filter, sort and project ``rows`` of the table whose columns are ``columns``.

    Raises:
        SuiteQLError: a column the table does not have.
    """
    known = set(columns)
    for col in sorted(query.referenced):
        if col not in known:
            raise SuiteQLError(f"Field '{col}' not found.")
    selected = query.columns or tuple((c, c) for c in columns)
    aliases = {alias: col for col, alias in selected}
    result = [r for r in rows if query.where is None or query.where(r) is True]
    for name, desc in reversed(query.order):
        col = name.rpartition(".")[2].lower()
        col = col if col in known else aliases.get(col, "")
        if col not in known:
            raise SuiteQLError(f"Field '{name}' not found.")

        def typed(r: Row, c: str = col) -> tuple[int, Any]:
            return _sort_key(r.get(c))

        def text(r: Row, c: str = col) -> tuple[int, Any]:
            v = r.get(c)
            return _sort_key(None if v is None else str(v))

        try:
            result.sort(key=typed, reverse=desc)
        except TypeError:
            result.sort(key=text, reverse=desc)
    return [{alias: r.get(col) for col, alias in selected} for r in result]


def format_value(value: Any) -> str:  # noqa: ANN401 - SQL values are dynamic
    """A result value as SuiteQL's JSON gives it: text ([inferred] ISO dates, 24 h stamps)."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, float):
        return format(Decimal(str(value)).normalize(), "f")
    return str(value)
