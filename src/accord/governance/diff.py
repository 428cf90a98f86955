"""Field-by-field differences between two JSON documents (rules, outbound bodies, bundles).

Documents are flattened to dotted paths (``practices.TECH.netsuite_department_id``, list items
as ``items[0]``), so a difference names exactly the field that changed, whatever the shape.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from typing_extensions import override

__all__ = ["MISSING", "Change", "diff", "flatten"]


class _Missing:
    """The value of a path one side does not have."""

    @override
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""Stands for an absent field in a :class:`Change` (distinct from ``null``)."""


@dataclass(frozen=True)
class Change:
    """One field that differs."""

    path: str
    before: Any
    after: Any

    @property
    def kind(self) -> str:
        """``added``, ``removed`` or ``changed``."""
        if self.before is MISSING:
            return "added"
        if self.after is MISSING:
            return "removed"
        return "changed"

    def as_json(self) -> dict[str, Any]:
        """``{"path", "kind", "before", "after"}`` with absent sides as ``null``."""
        return {
            "path": self.path,
            "kind": self.kind,
            "before": None if self.before is MISSING else self.before,
            "after": None if self.after is MISSING else self.after,
        }


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:  # noqa: ANN401 - any JSON value
    """``{dotted path: leaf value}``; empty mappings and lists are leaves of their own."""
    out: dict[str, Any] = {}
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            out.update(flatten(item, _join(prefix, str(key))))
    elif isinstance(value, list | tuple) and value:
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{i}]"))
    else:
        out[prefix] = list(value) if isinstance(value, tuple) else value
    return out


def diff(before: Any, after: Any) -> list[Change]:  # noqa: ANN401 - any JSON values
    """Every path whose value differs, sorted by path."""
    a, b = flatten(before), flatten(after)
    return [
        Change(path, a.get(path, MISSING), b.get(path, MISSING))
        for path in sorted(set(a) | set(b))
        if a.get(path, MISSING) != b.get(path, MISSING)
    ]
