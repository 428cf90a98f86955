"""Finance and operations' dialect of the OData query options, over the shared grammar.

The ``$filter`` / ``$orderby`` grammar is the one the Business Central emulator parses
(:mod:`accord_sandbox.business_central.odata`); this module adds what finance and operations
does differently (Microsoft, "Open Data Protocol (OData)"):

- enum literals ``Microsoft.Dynamics.DataEntities.NoYes'Yes'`` (compared by member name);
- ``eq`` with ``*`` in a string is a wildcard match (``Name eq '*retail*'``): F&O's
  "contains";
- strings compare case-insensitively, as SQL Server's collation does (:func:`fold` the
  record, the literals are folded when parsed);
- messages name ``Microsoft.Dynamics.DataEntities`` types.

It also finds the candidate records of an equality filter (``Field eq 'x' or Field eq 'y'``)
so that look-ups by key or reference do not scan every record.
"""

import re
from collections.abc import Iterable
from typing import Any

from accord_sandbox.business_central.odata import (
    And,
    Compare,
    Expr,
    Func,
    Not,
    ODataError,
    Or,
    parse_filter,
    parse_orderby,
)
from accord_sandbox.dynamics_finance.entities import NAMESPACE, EntitySet

__all__ = ["ODataError", "equality_values", "fold", "parse", "parse_order", "query_error_text"]

_ENUM = re.compile(re.escape(NAMESPACE) + r"\.\w+'((?:[^']|'')*)'")


def query_error_text(error: ODataError) -> str:
    """The message F&O gives for a query it cannot understand."""
    text = str(error).replace("Microsoft.NAV.", f"{NAMESPACE}.")
    return f"The query specified in the URI is not valid. {text}"


def parse(text: str, spec: EntitySet) -> Expr:
    """Parse a ``$filter`` against the properties of ``spec``, in F&O's dialect.

    Raises:
        ODataError: on a syntax error or an unknown property.
    """
    expr = parse_filter(_ENUM.sub(r"'\1'", text), spec.names, spec.type_name)
    return _dialect(expr)


def parse_order(text: str, spec: EntitySet) -> list[tuple[str, bool]]:
    """Parse ``$orderby`` against the properties of ``spec``."""
    return parse_orderby(text, spec.names, spec.type_name)


def _dialect(expr: Expr) -> Expr:  # noqa: PLR0911 - one per node kind
    if isinstance(expr, And):
        return And(_dialect(expr.left), _dialect(expr.right))
    if isinstance(expr, Or):
        return Or(_dialect(expr.left), _dialect(expr.right))
    if isinstance(expr, Not):
        return Not(_dialect(expr.operand))
    if isinstance(expr, Compare) and isinstance(expr.value, str):
        if expr.op == "eq" and "*" in expr.value:
            return _wildcard(expr.field, expr.value)
        return Compare(expr.field, expr.op, expr.value.casefold())
    if isinstance(expr, Func):
        return Func(expr.name, expr.field, expr.value.casefold())
    return expr


def fold(spec: EntitySet, view: dict[str, Any]) -> dict[str, Any]:
    """A record's string and enum values case-folded, to evaluate a parsed filter against."""
    out = dict(view)
    for prop in spec.props:
        value = out.get(prop.name)
        if prop.type in ("string", "enum") and isinstance(value, str):
            out[prop.name] = value.casefold()
    return out


def _wildcard(field: str, pattern: str) -> Expr:
    inner = pattern.strip("*").casefold()
    if "*" in inner:
        raise ODataError(f"The wildcard pattern '{pattern}' is not supported.")
    if pattern.startswith("*") and pattern.endswith("*"):
        return Func("contains", field, inner)
    if pattern.endswith("*"):
        return Func("startswith", field, inner)
    return Func("endswith", field, inner)


def equality_values(expr: Expr, indexed: Iterable[str]) -> tuple[str, list[str]] | None:
    """``(field, values)`` when the filter requires ``field`` to equal one of ``values``.

    ``a eq 'x' or a eq 'y'`` gives ``("a", ["x", "y"])``; under ``and`` either side may
    narrow. The full filter is still evaluated on the candidates.
    """
    names = frozenset(indexed)
    if isinstance(expr, Compare):
        ok = expr.op == "eq" and expr.field in names and isinstance(expr.value, str)
        return (expr.field, [str(expr.value)]) if ok else None
    if isinstance(expr, Or):
        left, right = equality_values(expr.left, names), equality_values(expr.right, names)
        if left is None or right is None or left[0] != right[0]:
            return None
        return left[0], left[1] + right[1]
    if isinstance(expr, And):
        left = equality_values(expr.left, names)
        right = equality_values(expr.right, names)
        # dataAreaId narrows least; prefer the other side.
        if left is not None and left[0] != "dataAreaId":
            return left
        return right or left
    return None
