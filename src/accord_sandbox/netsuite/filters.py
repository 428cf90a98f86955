"""The ``q`` parameter of record collections: ``companyName START_WITH "A" AND isPerson IS false``.

Reference section 4.2 shows ``q=companyName START_WITH "A"`` and ``q=otherRefNum IS X``; the rest
of the operator set follows NetSuite's REST query operators [inferred]. Conditions are joined by
``AND`` / ``OR`` (``AND`` binds tighter), without parentheses. Pure: no I/O, no store.
"""

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

__all__ = ["QueryFilterError", "compile_filter"]

Predicate = Callable[[Mapping[str, Any]], bool]

_TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|(\[[^\]]*\])|([^\s"]+))')
_UNARY = {"EMPTY", "EMPTY_NOT"}
_OPS = {
    "IS", "IS_NOT", "EQUAL", "EQUAL_NOT", "CONTAIN", "CONTAIN_NOT", "START_WITH",
    "START_WITH_NOT", "END_WITH", "END_WITH_NOT", "GREATER", "GREATER_OR_EQUAL", "LESS",
    "LESS_OR_EQUAL", "AFTER", "BEFORE", "ON", "ON_OR_AFTER", "ON_OR_BEFORE", "ANY_OF",
    "ANY_OF_NOT", "BETWEEN", "BETWEEN_NOT",
}  # fmt: skip


class QueryFilterError(ValueError):
    """The ``q`` expression cannot be parsed."""


def _scalar(value: object) -> str | None:
    """A field value as the text ``q`` compares: references by id, flags as true/false."""
    if value is None:
        return None
    if isinstance(value, dict):
        return None if value.get("id") is None else str(value["id"])
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _as_date(text: str) -> date | None:
    for fmt in ("%Y-%m-%d", "%m/%d/%Y", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text[:20], fmt).date()  # noqa: DTZ007 - calendar dates only
        except ValueError:
            continue
    return None


def _order(a: str, b: str) -> int:
    """Compare as numbers, then as dates, then as text."""
    try:
        fa, fb = float(a), float(b)
    except ValueError:
        da, db = _as_date(a), _as_date(b)
        if da is not None and db is not None:
            return (da > db) - (da < db)
        return (a > b) - (a < b)
    return (fa > fb) - (fa < fb)


def _condition(fld: str, op: str, values: list[str]) -> Predicate:
    low = fld.lower()

    def get(rec: Mapping[str, Any]) -> str | None:
        for k, v in rec.items():
            if k.lower() == low:
                return _scalar(v)
        return None

    negate = op.endswith("_NOT") and op != "IS_NOT"
    base = op.removesuffix("_NOT") if negate else op

    def test(rec: Mapping[str, Any]) -> bool:  # noqa: PLR0911 - one branch per operator
        v = get(rec)
        if base == "EMPTY":
            return v in (None, "")
        if v is None:
            return False
        first = values[0] if values else ""
        text_v, text_f = v.lower(), first.lower()
        if base in ("IS", "EQUAL", "ON"):
            return _order(v, first) == 0 if base != "IS" else text_v == text_f
        if base == "IS_NOT":
            return text_v != text_f
        if base == "CONTAIN":
            return text_f in text_v
        if base == "START_WITH":
            return text_v.startswith(text_f)
        if base == "END_WITH":
            return text_v.endswith(text_f)
        if base == "ANY_OF":
            return any(_order(v, x) == 0 or text_v == x.lower() for x in values)
        if base == "BETWEEN":
            return len(values) == 2 and _order(values[0], v) <= 0 <= _order(values[1], v)
        cmp = _order(v, first)
        return {
            "GREATER": cmp > 0,
            "AFTER": cmp > 0,
            "GREATER_OR_EQUAL": cmp >= 0,
            "ON_OR_AFTER": cmp >= 0,
            "LESS": cmp < 0,
            "BEFORE": cmp < 0,
            "LESS_OR_EQUAL": cmp <= 0,
            "ON_OR_BEFORE": cmp <= 0,
        }[base]

    if negate:
        return lambda rec: not test(rec)
    return test


def _tokens(q: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(q):
        if not q[pos:].strip():
            break
        m = _TOKEN.match(q, pos)
        if m is None or m.end() == pos:
            raise QueryFilterError(q[pos:])
        quoted, listed, bare = m.groups()
        if quoted is not None:
            out.append("\x00" + quoted.replace('\\"', '"'))
        elif listed is not None:
            out.append("\x01" + listed[1:-1])
        else:
            out.append(bare)
        pos = m.end()
    return out


def _operands(toks: list[str], i: int, op: str, q: str) -> tuple[list[str], int]:
    """The values after operator ``op`` starting at token ``i``, and the next token index."""
    if op in _UNARY:
        return [], i
    if op not in _OPS:
        raise QueryFilterError(op)
    if i >= len(toks):
        raise QueryFilterError(q)
    raw = toks[i]
    i += 1
    if raw.startswith("\x01"):
        values = [v.strip().strip('"') for v in raw[1:].split(",") if v.strip()]
    else:
        values = [raw.lstrip("\x00")]
    if op.startswith("BETWEEN") and i < len(toks):
        if toks[i].upper() == "AND" and i + 1 < len(toks):
            i += 1
        values.append(toks[i].lstrip("\x00"))
        i += 1
    elif op.startswith("ANY_OF") and len(values) == 1 and "," in values[0]:
        values = [v.strip() for v in values[0].split(",")]
    return values, i


def compile_filter(q: str) -> Predicate:
    """Compile ``q`` into a predicate over a stored record (REST field names, any case).

    Raises:
        QueryFilterError: unknown operator or missing operand.
    """
    toks = _tokens(q)
    groups: list[list[Predicate]] = [[]]
    i = 0
    while i < len(toks):
        if len(toks) - i < 2:
            raise QueryFilterError(q)
        fld, op = toks[i], toks[i + 1].upper()
        i += 2
        values, i = _operands(toks, i, op, q)
        groups[-1].append(_condition(fld, op, values))
        if i < len(toks):
            joiner = toks[i].upper()
            i += 1
            if joiner == "OR":
                groups.append([])
            elif joiner != "AND":
                raise QueryFilterError(joiner)
    if not groups[-1]:
        raise QueryFilterError(q)
    return lambda rec: any(all(p(rec) for p in g) for g in groups)
