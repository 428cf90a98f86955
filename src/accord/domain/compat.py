"""Backward-compatibility check between two JSON Schemas of the same model.

A new schema is backward compatible with an old one when every document valid under the
old schema is still valid under the new one, and no field consumers relied on disappears.
This module compares the schema *shapes* pydantic generates (``$ref``/``$defs``,
``anyOf``, ``enum``/``const``, ``properties``/``required``, ``items``, bounds) and reports
each break as a readable line. It is deliberately conservative: a changed ``pattern`` or
``format`` is reported even when the new one happens to accept more, because proving regex
inclusion is not worth it; bump the major version or keep the pattern.

What does not belong here: writing files (:mod:`accord.domain.export`).
"""

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

__all__ = ["incompatibilities"]

JsonSchema = Mapping[str, Any] | bool

# Keywords that restrict what a schema accepts; a schema with none of them accepts anything.
_CONSTRAINING: Final = frozenset(
    [
        "$ref",
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "items",
        "prefixItems",
        "additionalProperties",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "multipleOf",
        "anyOf",
        "oneOf",
        "allOf",
        "not",
    ]
)
_JSON_TYPES: Final[tuple[tuple[type, str], ...]] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
    (type(None), "null"),
)


def incompatibilities(old_schema: Mapping[str, Any], new_schema: Mapping[str, Any]) -> list[str]:
    """List the ways ``new_schema`` breaks documents or consumers of ``old_schema``.

    Detected: a field removed (or renamed, with a hint), a new required field, an optional
    field made required, a type narrowed (``string`` -> ``integer``, a union losing a
    member, enum values removed, a value restricted to an enum), tightened bounds
    (minimum/maximum, lengths, item counts), a changed pattern or format, and additional
    properties forbidden where they were allowed.

    Args:
        old_schema: the checked-in schema (a root with optional ``$defs``).
        new_schema: the schema generated from the current model.

    Returns:
        One human-readable line per problem, ``<path>: <what broke>``; empty if compatible.
    """
    checker = _Checker(old_schema, new_schema)
    checker.compare(old_schema, new_schema, "$")
    return checker.problems


class _Checker:
    def __init__(self, old_root: Mapping[str, Any], new_root: Mapping[str, Any]) -> None:
        self.old_root = old_root
        self.new_root = new_root
        self.problems: list[str] = []
        # Pairs of $refs being compared on the current path: recursive models terminate.
        self._stack: set[tuple[str, str]] = set()

    def compare(self, old: JsonSchema, new: JsonSchema, path: str) -> None:
        pair: tuple[str, str] | None = None
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            old_ref, new_ref = old.get("$ref"), new.get("$ref")
            if isinstance(old_ref, str) and isinstance(new_ref, str):
                pair = (old_ref, new_ref)
                if pair in self._stack:
                    return
                self._stack.add(pair)
        try:
            self._compare_resolved(_resolve(old, self.old_root), _resolve(new, self.new_root), path)
        finally:
            if pair is not None:
                self._stack.discard(pair)

    def accepts(self, old: JsonSchema, new: JsonSchema, path: str) -> bool:
        """Whether ``new`` accepts everything ``old`` does (a trial: records nothing)."""
        saved, self.problems = self.problems, []
        try:
            self.compare(old, new, path)
            return not self.problems
        finally:
            self.problems = saved

    def _compare_resolved(self, old: JsonSchema, new: JsonSchema, path: str) -> None:
        if old is False or new is True:
            return
        if new is False:
            self.problems.append(f"{path}: now accepts nothing")
            return
        if old is True:
            old = {}
        if not _constrains(new):
            return
        old_alts = list(_alternatives(old, self.old_root))
        new_alts = list(_alternatives(new, self.new_root))
        if len(old_alts) > 1 or len(new_alts) > 1:
            self._compare_union(old_alts, new_alts, path)
        elif old_alts[0] is old and new_alts[0] is new:
            self._compare_single(old, new, path)
        else:
            # A single-member allOf wrapper: compare what it wraps (may be a $ref).
            self.compare(old_alts[0], new_alts[0], path)

    def _compare_union(
        self, old_alts: Sequence[JsonSchema], new_alts: Sequence[JsonSchema], path: str
    ) -> None:
        for old_alt in old_alts:
            if any(self.accepts(old_alt, new_alt, path) for new_alt in new_alts):
                continue
            if len(new_alts) == 1:
                # One candidate left: its detailed differences say more than "lost a member".
                self.compare(old_alt, new_alts[0], path)
            else:
                self.problems.append(
                    f"{path}: union no longer accepts {_describe(old_alt, self.old_root)}"
                )

    def _compare_single(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> None:
        if not self._compare_types(old, new, path):
            return
        self._compare_values(old, new, path)
        self._compare_bounds(old, new, path)
        self._compare_object(old, new, path)
        self._compare_array(old, new, path)

    def _compare_types(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> bool:
        """Report a narrowed type; return False when nothing in common is left to compare."""
        old_types, new_types = _types(old), _types(new)
        if new_types is None:
            return True
        if old_types is None:
            self.problems.append(f"{path}: was unconstrained, now type {_fmt(new_types)}")
            return False
        lost = {t for t in old_types if not _type_accepts(new_types, t)}
        if lost:
            self.problems.append(
                f"{path}: type narrowed from {_fmt(old_types)} to {_fmt(new_types)}"
            )
        return lost != old_types

    def _compare_values(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> None:
        new_values = _enum(new)
        if new_values is None:
            return
        old_values = _enum(old)
        if old_values is None:
            self.problems.append(f"{path}: now restricted to {_fmt_values(new_values)}")
            return
        removed = [value for value in old_values if value not in new_values]
        if removed:
            self.problems.append(f"{path}: enum values removed: {_fmt_values(removed)}")

    def _compare_bounds(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> None:
        old_low, new_low = (
            _bound(old, "minimum", "exclusiveMinimum"),
            _bound(new, "minimum", "exclusiveMinimum"),
        )
        if new_low is not None and (old_low is None or _tighter(new_low, old_low, lower=True)):
            self.problems.append(f"{path}: lower bound tightened to {_fmt_bound(new_low, '>')}")
        old_high, new_high = (
            _bound(old, "maximum", "exclusiveMaximum"),
            _bound(new, "maximum", "exclusiveMaximum"),
        )
        if new_high is not None and (old_high is None or _tighter(new_high, old_high, lower=False)):
            self.problems.append(f"{path}: upper bound tightened to {_fmt_bound(new_high, '<')}")
        for key in ("minLength", "minItems", "minProperties"):
            if key in new and new[key] > old.get(key, 0):
                self.problems.append(f"{path}: {key} raised to {new[key]}")
        for key in ("maxLength", "maxItems", "maxProperties"):
            if key in new and (key not in old or new[key] < old[key]):
                self.problems.append(f"{path}: {key} lowered to {new[key]}")
        for key in ("pattern", "format", "multipleOf"):
            if key in new and new[key] != old.get(key):
                self.problems.append(f"{path}: {key} changed from {old.get(key)!r} to {new[key]!r}")
        if new.get("uniqueItems") and not old.get("uniqueItems"):
            self.problems.append(f"{path}: items must now be unique")

    def _compare_object(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> None:
        old_props: Mapping[str, Any] = old.get("properties", {})
        new_props: Mapping[str, Any] = new.get("properties", {})
        added = [name for name in new_props if name not in old_props]
        for name, old_prop in old_props.items():
            field_path = f"{path}.{name}"
            if name in new_props:
                self.compare(old_prop, new_props[name], field_path)
                continue
            renamed = [a for a in added if self.accepts(old_prop, new_props[a], field_path)]
            hint = f" (renamed to {', '.join(repr(a) for a in renamed)}?)" if renamed else ""
            self.problems.append(f"{field_path}: field removed{hint}")
        old_required = set(old.get("required", ()))
        for name in new.get("required", ()):
            if name in old_required:
                continue
            if name in old_props:
                self.problems.append(f"{path}.{name}: optional field made required")
            else:
                self.problems.append(f"{path}.{name}: new required field")
        old_extra = old.get("additionalProperties", True)
        new_extra = new.get("additionalProperties", True)
        if new_extra is False and old_extra is not False:
            self.problems.append(f"{path}: additional properties no longer allowed")
        elif isinstance(new_extra, Mapping):
            self.compare({} if old_extra is True else old_extra, new_extra, f"{path}.*")

    def _compare_array(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> None:
        if "items" in new:
            self.compare(old.get("items", True), new["items"], f"{path}[]")
        old_prefix: Sequence[Any] = old.get("prefixItems", ())
        new_prefix: Sequence[Any] = new.get("prefixItems", ())
        for index, new_item in enumerate(new_prefix):
            old_item = old_prefix[index] if index < len(old_prefix) else old.get("items", True)
            self.compare(old_item, new_item, f"{path}[{index}]")


def _resolve(schema: JsonSchema, root: Mapping[str, Any]) -> JsonSchema:
    seen: set[str] = set()
    while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str):
        ref: str = schema["$ref"]
        if ref in seen or not ref.startswith("#/"):
            # A self-referencing alias or an external ref: treat it as opaque.
            return {"$ref": ref}
        seen.add(ref)
        target: Any = root
        for part in ref[2:].split("/"):
            key = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or key not in target:
                return {"$ref": ref}
            target = target[key]
        schema = target
    return schema


def _alternatives(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Iterator[JsonSchema]:
    """Flatten ``anyOf``/``oneOf`` (and single-member ``allOf``) into a list of members."""
    for key in ("anyOf", "oneOf"):
        if key in schema:
            for member in schema[key]:
                resolved = _resolve(member, root)
                if isinstance(resolved, Mapping) and ("anyOf" in resolved or "oneOf" in resolved):
                    yield from _alternatives(resolved, root)
                else:
                    yield member
            return
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:
        yield all_of[0]
        return
    yield schema


def _constrains(schema: Mapping[str, Any]) -> bool:
    return any(key in _CONSTRAINING for key in schema)


def _json_type(value: object) -> str:
    for python_type, name in _JSON_TYPES:
        if isinstance(value, python_type):
            return name
    return "unknown"


def _types(schema: Mapping[str, Any]) -> frozenset[str] | None:
    declared = schema.get("type")
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list):
        return frozenset(declared)
    values = _enum(schema)
    if values is not None:
        return frozenset(_json_type(value) for value in values)
    if "properties" in schema:
        return frozenset({"object"})
    return None


def _type_accepts(types: frozenset[str], json_type: str) -> bool:
    return json_type in types or (json_type == "integer" and "number" in types)


def _enum(schema: Mapping[str, Any]) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    values = schema.get("enum")
    return list(values) if isinstance(values, list) else None


def _bound(schema: Mapping[str, Any], inclusive: str, exclusive: str) -> tuple[float, bool] | None:
    """Return the effective bound as ``(value, is_exclusive)``, or None when unbounded."""
    bounds = []
    if isinstance(schema.get(inclusive), int | float):
        bounds.append((float(schema[inclusive]), False))
    if isinstance(schema.get(exclusive), int | float):
        bounds.append((float(schema[exclusive]), True))
    if not bounds:
        return None
    is_lower = inclusive == "minimum"
    best = bounds[0]
    for bound in bounds[1:]:
        if _tighter(bound, best, lower=is_lower):
            best = bound
    return best


def _tighter(new: tuple[float, bool], old: tuple[float, bool], *, lower: bool) -> bool:
    if new[0] != old[0]:
        return new[0] > old[0] if lower else new[0] < old[0]
    return new[1] and not old[1]


def _describe(schema: JsonSchema, root: Mapping[str, Any]) -> str:
    if isinstance(schema, bool):
        return "anything" if schema else "nothing"
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return ref.rsplit("/", 1)[-1]
    resolved = _resolve(schema, root)
    if isinstance(resolved, Mapping):
        values = _enum(resolved)
        if values is not None:
            return _fmt_values(values)
        types = _types(resolved)
        if types is not None:
            return _fmt(types)
    return json.dumps(schema, sort_keys=True)[:80]


def _fmt(types: frozenset[str]) -> str:
    return " | ".join(sorted(types))


def _fmt_values(values: Sequence[Any]) -> str:
    return ", ".join(json.dumps(value) for value in values)


def _fmt_bound(bound: tuple[float, bool], sign: str) -> str:
    return f"{sign} {bound[0]:g}" if bound[1] else f"{sign}= {bound[0]:g}"
